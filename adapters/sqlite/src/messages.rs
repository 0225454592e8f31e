//! Messages and conversations.

use ai_message_core::ports::*;
use ai_message_core::{
    ConversationId, ConversationSummary, Message, MessageContent, MessageId, Page, Timestamp,
    UserId,
};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use crate::SqliteStore;
use crate::helpers::CachedStatements;
use crate::helpers::OrPortError;
use crate::rows::{self, time_text};
use crate::sql;

#[async_trait]
impl MessageRepository for SqliteStore {
    async fn create_message(&self, new: NewMessage) -> Result<Message, PortError> {
        self.db
            .write(move |tx| {
                tx.execute_cached(
                    sql::INSERT_MESSAGE,
                    params![
                        new.sender_id.get(),
                        new.recipient_id.get(),
                        new.content.as_str(),
                        new.parent_id.map(MessageId::get),
                        new.conversation_id.as_str(),
                        time_text(new.created_at)
                    ],
                )
                .or_port()?;
                tx.query_row_cached(sql::MESSAGE_BY_ID, [tx.last_insert_rowid()], rows::message)
                    .or_port()
            })
            .await
    }

    async fn get_message(&self, id: MessageId) -> Result<Option<Message>, PortError> {
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::MESSAGE_BY_ID)?
                    .query_row([id.get()], rows::message)
                    .optional()
            })
            .await
    }

    async fn update_message_content(
        &self,
        id: MessageId,
        content: MessageContent,
        now: Timestamp,
    ) -> Result<Option<Message>, PortError> {
        self.db
            .write(move |tx| {
                let changed = tx
                    .execute_cached(
                        sql::UPDATE_CONTENT,
                        params![id.get(), content.as_str(), time_text(now)],
                    )
                    .or_port()?;
                if changed == 0 {
                    return Ok(None);
                }
                tx.query_row_cached(sql::MESSAGE_BY_ID, [id.get()], rows::message)
                    .optional()
                    .or_port()
            })
            .await
    }

    async fn mark_message_read(&self, id: MessageId, now: Timestamp) -> Result<bool, PortError> {
        self.db
            .write(move |tx| {
                tx.execute_cached(sql::MARK_READ, params![id.get(), time_text(now)])
                    .or_port()?;
                let exists = tx
                    .query_row_cached("SELECT 1 FROM messages WHERE id = ?1", [id.get()], |_| {
                        Ok(())
                    })
                    .optional()
                    .or_port()?;
                Ok(exists.is_some())
            })
            .await
    }

    async fn delete_message(&self, id: MessageId) -> Result<bool, PortError> {
        self.db
            .write(move |tx| {
                Ok(tx
                    .execute_cached(sql::DELETE_MESSAGE, [id.get()])
                    .or_port()?
                    > 0)
            })
            .await
    }

    async fn list_messages(
        &self,
        user_id: UserId,
        scope: MessageScope,
        page: Page,
    ) -> Result<Vec<Message>, PortError> {
        self.db
            .read(move |conn| messages_of(conn, user_id, &scope, page))
            .await
    }

    async fn conversation_membership(
        &self,
        conversation: &ConversationId,
        user_id: UserId,
    ) -> Result<ConversationMembership, PortError> {
        let conversation = conversation.to_string();
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::CONVERSATION_MEMBERSHIP)?
                    .query_row(params![conversation, user_id.get()], |row| {
                        Ok(ConversationMembership::from_flags(row.get(0)?, row.get(1)?))
                    })
            })
            .await
    }

    async fn count_unread(&self, user_id: UserId) -> Result<u64, PortError> {
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::COUNT_UNREAD)?
                    .query_row([user_id.get()], |row| row.get::<_, i64>(0))
                    .map(|n| n.max(0) as u64)
            })
            .await
    }

    async fn mark_all_read(
        &self,
        user_id: UserId,
        conversation: Option<ConversationId>,
        now: Timestamp,
    ) -> Result<Vec<ReadReceipt>, PortError> {
        self.db
            .write(move |tx| {
                let now = time_text(now);
                let receipt = |row: &rusqlite::Row<'_>| {
                    Ok(ReadReceipt {
                        id: MessageId::new(row.get(0)?),
                        sender_id: UserId::new(row.get(1)?),
                    })
                };
                let mut receipts: Vec<ReadReceipt> = match &conversation {
                    Some(cid) => tx
                        .prepare_cached(sql::READ_CONVERSATION)
                        .and_then(|mut stmt| {
                            stmt.query_map(params![user_id.get(), now, cid.as_str()], receipt)?
                                .collect()
                        }),
                    None => tx.prepare_cached(sql::READ_ALL).and_then(|mut stmt| {
                        stmt.query_map(params![user_id.get(), now], receipt)?
                            .collect()
                    }),
                }
                .or_port()?;
                receipts.sort_by_key(|r| r.id);
                Ok(receipts)
            })
            .await
    }

    async fn messages_after(
        &self,
        user_id: UserId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<Message>, PortError> {
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::MESSAGES_AFTER)?
                    .query_map(
                        params![user_id.get(), after.get(), i64::from(limit)],
                        rows::message,
                    )?
                    .collect()
            })
            .await
    }

    async fn messages_between(
        &self,
        a: UserId,
        b: UserId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<Message>, PortError> {
        self.db
            .read(move |conn| {
                let mut newest_first: Vec<Message> = conn
                    .prepare_cached(sql::MESSAGES_BETWEEN)?
                    .query_map(
                        params![a.get(), b.get(), after.get(), i64::from(limit)],
                        rows::message,
                    )?
                    .collect::<rusqlite::Result<_>>()?;
                newest_first.reverse();
                Ok(newest_first)
            })
            .await
    }

    async fn assistant_clear_point(&self, user_id: UserId) -> Result<Option<MessageId>, PortError> {
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::ASSISTANT_CLEAR_POINT)?
                    .query_row([user_id.get()], |row| row.get::<_, i64>(0))
                    .optional()
                    .map(|point| point.map(MessageId::new))
            })
            .await
    }

    async fn set_assistant_clear_point(
        &self,
        user_id: UserId,
        after: MessageId,
        now: Timestamp,
    ) -> Result<(), PortError> {
        self.db
            .write(move |tx| {
                tx.execute_cached(
                    sql::SET_ASSISTANT_CLEAR_POINT,
                    params![user_id.get(), after.get(), time_text(now)],
                )
                .or_port()?;
                Ok(())
            })
            .await
    }

    async fn latest_message_id(&self, user_id: UserId) -> Result<Option<MessageId>, PortError> {
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::LATEST_MESSAGE_ID)?
                    .query_row([user_id.get()], |row| row.get::<_, Option<i64>>(0))
                    .map(|id| id.map(MessageId::new))
            })
            .await
    }

    async fn conversation_summaries(
        &self,
        user_id: UserId,
    ) -> Result<Vec<ConversationSummary>, PortError> {
        self.db.read(move |conn| summaries_of(conn, user_id)).await
    }
}

/// The newest page of the user's messages in `scope`, oldest first.
pub(crate) fn messages_of(
    conn: &rusqlite::Connection,
    user_id: UserId,
    scope: &MessageScope,
    page: Page,
) -> rusqlite::Result<Vec<Message>> {
    let (limit, offset) = page.sql_limit_offset();
    let mut newest_first: Vec<Message> = match scope {
        MessageScope::Sent => conn
            .prepare_cached(sql::LIST_SENT)?
            .query_map(params![user_id.get(), limit, offset], rows::message)?
            .collect::<rusqlite::Result<_>>()?,
        MessageScope::Received => conn
            .prepare_cached(sql::LIST_RECEIVED)?
            .query_map(params![user_id.get(), limit, offset], rows::message)?
            .collect::<rusqlite::Result<_>>()?,
        MessageScope::UnreadReceived => conn
            .prepare_cached(sql::LIST_UNREAD)?
            .query_map(params![user_id.get(), limit, offset], rows::message)?
            .collect::<rusqlite::Result<_>>()?,
        MessageScope::SentOrReceived => {
            let window = limit.saturating_add(offset);
            conn.prepare_cached(sql::LIST_SENT_OR_RECEIVED)?
                .query_map(params![user_id.get(), limit, offset, window], rows::message)?
                .collect::<rusqlite::Result<_>>()?
        }
        MessageScope::Conversation(cid) => conn
            .prepare_cached(sql::LIST_CONVERSATION)?
            .query_map(
                params![user_id.get(), limit, offset, cid.as_str()],
                rows::message,
            )?
            .collect::<rusqlite::Result<_>>()?,
    };
    newest_first.reverse();
    Ok(newest_first)
}

pub(crate) fn summaries_of(
    conn: &rusqlite::Connection,
    user_id: UserId,
) -> rusqlite::Result<Vec<ConversationSummary>> {
    conn.prepare_cached(sql::CONVERSATION_SUMMARIES)?
        .query_map([user_id.get()], rows::conversation_summary)?
        .collect()
}
