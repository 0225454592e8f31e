//! Messages and conversations.

use ai_message_core::ports::*;
use std::sync::Arc;

use ai_message_core::{
    ChannelMessageId, ConversationAccess, ConversationId, ConversationSummary, Delivered, Gated,
    Message, MessageContent, MessageId, Page, Pair, Position, PositionedMessage, Timestamp, UserId,
    conversation_access, conversation_of,
};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::SqliteStore;
use crate::helpers::CachedStatements;
use crate::helpers::OrPortError;
use crate::rows::{self, time_text};
use crate::sessions::session_with_user;
use crate::sql;

/// Inserts a message and gives it its parties' next positions (see
/// [`MessageRepository::create_message`]); the writer's one transaction orders the commits.
fn insert_message(tx: &Transaction<'_>, new: NewMessage) -> rusqlite::Result<Delivered> {
    let message = tx.query_row_cached(
        sql::INSERT_MESSAGE_RETURNING,
        params![
            new.sender_id.get(),
            new.recipient_id.get(),
            new.content.as_str(),
            new.parent_id.map(MessageId::get),
            new.conversation_id.as_str(),
            time_text(new.created_at)
        ],
        rows::message,
    )?;
    let id = message.id.get();
    let sender_position = take_position(tx, new.sender_id, id)?;
    let recipient_position = if new.recipient_id == new.sender_id {
        sender_position
    } else {
        take_position(tx, new.recipient_id, id)?
    };
    Ok(Delivered {
        message: Arc::new(message),
        sender_position,
        recipient_position,
    })
}

/// The user's next position, recorded for message `id` (the assistant takes none).
fn take_position(
    tx: &Transaction<'_>,
    user_id: UserId,
    id: i64,
) -> rusqlite::Result<Option<Position>> {
    if user_id.is_assistant() {
        return Ok(None);
    }
    let position: Position =
        tx.query_row_cached(sql::TAKE_POSITION, [user_id.get()], |row| row.get(0))?;
    tx.execute_cached(sql::INSERT_DELIVERY, params![user_id.get(), position, id])?;
    Ok(Some(position))
}

/// The checks of a send, then the insert (see [`MessageRepository::send_message`]).
fn send(tx: &Transaction<'_>, sender_id: UserId, job: SendJob) -> rusqlite::Result<SendOutcome> {
    let recipient_id = job.recipient_id;
    if !recipient_id.is_assistant()
        && tx
            .query_row_cached(sql::USER_EXISTS, [recipient_id.get()], |_| Ok(()))
            .optional()?
            .is_none()
    {
        return Ok(SendOutcome::RecipientNotFound);
    }
    let mut parent_conversation = None;
    if let Some(parent_id) = job.parent_id {
        let parent = tx
            .query_row_cached(sql::MESSAGE_BY_ID, [parent_id.get()], rows::message)
            .optional()?;
        match parent {
            Some(parent) if parent.is_visible_to(sender_id) => {
                parent_conversation = parent.conversation_id;
            }
            _ => return Ok(SendOutcome::ParentNotFound),
        }
    }
    let pair = Pair::of(sender_id, recipient_id);
    let conversation = conversation_of(
        job.conversation_id.as_ref(),
        parent_conversation.as_ref(),
        pair,
    );
    let bound = if conversation.canonical_pair().is_some() {
        None
    } else {
        tx.query_row_cached(sql::CONVERSATION_PARTIES, [conversation.as_str()], |row| {
            Ok(Pair::of(UserId::new(row.get(0)?), UserId::new(row.get(1)?)))
        })
        .optional()?
    };
    match conversation_access(&conversation, pair, bound) {
        Err(_) => return Ok(SendOutcome::NotAParticipant),
        Ok(ConversationAccess::BindToPair) => {
            tx.execute_cached(
                sql::BIND_CONVERSATION,
                params![conversation.as_str(), pair.low().get(), pair.high().get()],
            )?;
        }
        Ok(ConversationAccess::Theirs) => {}
    }
    let new = job.into_message(sender_id, conversation);
    Ok(SendOutcome::Sent(insert_message(tx, new)?))
}

#[async_trait]
impl MessageRepository for SqliteStore {
    async fn send_message(&self, job: SendJob) -> Result<Gated<SendOutcome>, PortError> {
        self.db
            .write(move |tx| {
                let found = session_with_user(tx, job.gate.session_id()).or_port()?;
                let checked = job.gate.check(found);
                Gated::after(checked, |admitted| {
                    send(tx, admitted.caller().user.id, job).or_port()
                })
            })
            .await
    }

    async fn create_message(&self, new: NewMessage) -> Result<Delivered, PortError> {
        self.db
            .write(move |tx| insert_message(tx, new).or_port())
            .await
    }

    async fn create_message_once(
        &self,
        receipt: &ChannelMessageId,
        new: NewMessage,
    ) -> Result<Option<Delivered>, PortError> {
        let receipt = receipt.as_str().to_string();
        self.db
            .write(move |tx| {
                let taken = tx
                    .execute_cached(
                        sql::TAKE_CHANNEL_RECEIPT,
                        params![receipt, time_text(new.created_at)],
                    )
                    .or_port()?;
                if taken == 0 {
                    return Ok(None);
                }
                insert_message(tx, new).or_port().map(Some)
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
                // Explicit, like every delete here: adopted databases may lack the cascade.
                tx.execute_cached(sql::DELETE_MESSAGE_DELIVERIES, [id.get()])
                    .or_port()?;
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
        after: Position,
        limit: u32,
    ) -> Result<Vec<PositionedMessage>, PortError> {
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::MESSAGES_AFTER)?
                    .query_map(params![user_id.get(), after, i64::from(limit)], |row| {
                        Ok(PositionedMessage {
                            message: rows::message(row)?,
                            position: row.get(9)?,
                        })
                    })?
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

    async fn unanswered_questions(
        &self,
        asked_before: Timestamp,
        scan: u32,
    ) -> Result<Vec<Message>, PortError> {
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::UNANSWERED_QUESTIONS)?
                    .query_map(
                        params![
                            UserId::ASSISTANT.get(),
                            time_text(asked_before),
                            i64::from(scan)
                        ],
                        rows::message,
                    )?
                    .collect()
            })
            .await
    }

    async fn reply_if_unanswered(
        &self,
        question: &Message,
        reply: NewMessage,
    ) -> Result<Option<Delivered>, PortError> {
        let (question_id, asker) = (question.id.get(), question.sender_id.get());
        // The single writer runs one write at a time: nothing lands between check and insert.
        self.db
            .write(move |tx| {
                let newest: Option<i64> = tx
                    .prepare_cached(sql::NEWEST_WITH_ASSISTANT)
                    .and_then(|mut stmt| {
                        stmt.query_row(params![asker, UserId::ASSISTANT.get()], |row| row.get(0))
                    })
                    .or_port()?;
                if newest != Some(question_id) {
                    return Ok(None);
                }
                insert_message(tx, reply).or_port().map(Some)
            })
            .await
    }

    async fn reply_if_question_stored(
        &self,
        question: MessageId,
        reply: NewMessage,
    ) -> Result<Option<Delivered>, PortError> {
        let question_id = question.get();
        // The single writer runs one write at a time: no delete lands between check and
        // insert.
        self.db
            .write(move |tx| {
                let stored = tx
                    .prepare_cached(sql::MESSAGE_EXISTS)
                    .and_then(|mut stmt| stmt.exists([question_id]))
                    .or_port()?;
                if !stored {
                    return Ok(None);
                }
                insert_message(tx, reply).or_port().map(Some)
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

    async fn count_messages_after(
        &self,
        user_id: UserId,
        after: Position,
        limit: u32,
    ) -> Result<u32, PortError> {
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::COUNT_AFTER)?
                    .query_row(params![user_id.get(), after, i64::from(limit)], |row| {
                        row.get::<_, i64>(0)
                    })
            })
            .await
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn latest_position(&self, user_id: UserId) -> Result<Position, PortError> {
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::LATEST_POSITION)?
                    .query_row([user_id.get()], |row| row.get::<_, i64>(0))
                    .optional()
                    .map(Option::unwrap_or_default)
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
