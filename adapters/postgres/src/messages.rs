//! Messages and conversations.

use ai_message_core::ports::*;
use ai_message_core::{
    ConversationId, ConversationSummary, Message, MessageContent, MessageId, Page, Timestamp,
    UserId,
};
use async_trait::async_trait;
use deadpool_postgres::ClientWrapper;

use crate::PostgresStore;
use crate::helpers::OrPortError;
use crate::rows::{self, naive, pg_id};
use crate::sql;

#[async_trait]
impl MessageRepository for PostgresStore {
    async fn create_message(&self, new: NewMessage) -> Result<Message, PortError> {
        let (Some(sender), Some(recipient)) = (pg_id(new.sender_id), pg_id(new.recipient_id))
        else {
            return Err(PortError::unexpected("user id beyond the INTEGER range"));
        };
        let parent = new.parent_id.and_then(pg_id);
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::INSERT_MESSAGE).await.or_port()?;
        let row = client
            .query_one(
                &stmt,
                &[
                    &sender,
                    &recipient,
                    &new.content.as_str(),
                    &parent,
                    &new.conversation_id.as_str(),
                    &naive(new.created_at),
                ],
            )
            .await
            .or_port()?;
        rows::message(&row).or_port()
    }

    async fn get_message(&self, id: MessageId) -> Result<Option<Message>, PortError> {
        let Some(id) = pg_id(id) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::MESSAGE_BY_ID).await.or_port()?;
        let row = client.query_opt(&stmt, &[&id]).await.or_port()?;
        row.as_ref().map(rows::message).transpose().or_port()
    }

    async fn update_message_content(
        &self,
        id: MessageId,
        content: MessageContent,
        now: Timestamp,
    ) -> Result<Option<Message>, PortError> {
        let Some(id) = pg_id(id) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let row = client
            .query_opt(sql::UPDATE_CONTENT, &[&id, &content.as_str(), &naive(now)])
            .await
            .or_port()?;
        row.as_ref().map(rows::message).transpose().or_port()
    }

    async fn mark_message_read(&self, id: MessageId, now: Timestamp) -> Result<bool, PortError> {
        let Some(id) = pg_id(id) else {
            return Ok(false);
        };
        let client = self.client().await?;
        let changed = client
            .execute(sql::MARK_READ, &[&id, &naive(now)])
            .await
            .or_port()?;
        Ok(changed > 0)
    }

    async fn delete_message(&self, id: MessageId) -> Result<bool, PortError> {
        let Some(id) = pg_id(id) else {
            return Ok(false);
        };
        let client = self.client().await?;
        Ok(client
            .execute(sql::DELETE_MESSAGE, &[&id])
            .await
            .or_port()?
            > 0)
    }

    async fn list_messages(
        &self,
        user_id: UserId,
        scope: MessageScope,
        page: Page,
    ) -> Result<Vec<Message>, PortError> {
        let client = self.client().await?;
        messages_of(&client, user_id, &scope, page).await
    }

    async fn conversation_membership(
        &self,
        conversation: &ConversationId,
        user_id: UserId,
    ) -> Result<ConversationMembership, PortError> {
        let user = pg_id(user_id).unwrap_or_default();
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(sql::CONVERSATION_MEMBERSHIP)
            .await
            .or_port()?;
        let row = client
            .query_one(&stmt, &[&conversation.as_str(), &user])
            .await
            .or_port()?;
        Ok(ConversationMembership::from_flags(
            row.try_get(0).or_port()?,
            row.try_get(1).or_port()?,
        ))
    }

    async fn count_unread(&self, user_id: UserId) -> Result<u64, PortError> {
        let Some(user) = pg_id(user_id) else {
            return Ok(0);
        };
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::COUNT_UNREAD).await.or_port()?;
        let row = client.query_one(&stmt, &[&user]).await.or_port()?;
        Ok(row.try_get::<_, i64>(0).or_port()?.max(0) as u64)
    }

    async fn mark_all_read(
        &self,
        user_id: UserId,
        conversation: Option<ConversationId>,
        now: Timestamp,
    ) -> Result<Vec<ReadReceipt>, PortError> {
        let Some(user) = pg_id(user_id) else {
            return Ok(Vec::new());
        };
        let now = naive(now);
        let client = self.client().await?;
        let changed = match &conversation {
            Some(cid) => {
                client
                    .query(sql::READ_CONVERSATION, &[&user, &now, &cid.as_str()])
                    .await
            }
            None => client.query(sql::READ_ALL, &[&user, &now]).await,
        }
        .or_port()?;
        let mut receipts: Vec<ReadReceipt> = changed
            .iter()
            .map(|row| {
                Ok(ReadReceipt {
                    id: MessageId::new(i64::from(row.try_get::<_, i32>(0)?)),
                    sender_id: UserId::new(i64::from(row.try_get::<_, i32>(1)?)),
                })
            })
            .collect::<Result<_, tokio_postgres::Error>>()
            .or_port()?;
        receipts.sort_by_key(|r| r.id);
        Ok(receipts)
    }

    async fn messages_after(
        &self,
        user_id: UserId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<Message>, PortError> {
        let Some(user) = pg_id(user_id) else {
            return Ok(Vec::new());
        };
        // Ids are INTEGER: a cursor beyond that range has nothing after it.
        let Some(after) = pg_id(after) else {
            return Ok(Vec::new());
        };
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::MESSAGES_AFTER).await.or_port()?;
        let found = client
            .query(&stmt, &[&user, &after, &i64::from(limit)])
            .await
            .or_port()?;
        found
            .iter()
            .map(rows::message)
            .collect::<Result<_, _>>()
            .or_port()
    }

    async fn messages_between(
        &self,
        a: UserId,
        b: UserId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<Message>, PortError> {
        let (Some(a), Some(b)) = (pg_id(a), pg_id(b)) else {
            return Ok(Vec::new());
        };
        let Some(after) = pg_id(after) else {
            return Ok(Vec::new());
        };
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(sql::MESSAGES_BETWEEN)
            .await
            .or_port()?;
        let found = client
            .query(&stmt, &[&a, &b, &after, &i64::from(limit)])
            .await
            .or_port()?;
        oldest_first(&found)
    }

    async fn assistant_clear_point(&self, user_id: UserId) -> Result<Option<MessageId>, PortError> {
        let Some(user) = pg_id(user_id) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let row = client
            .query_opt(sql::ASSISTANT_CLEAR_POINT, &[&user])
            .await
            .or_port()?;
        let point: Option<i32> = row.map(|row| row.try_get(0)).transpose().or_port()?;
        Ok(point.map(|id| MessageId::new(i64::from(id))))
    }

    async fn set_assistant_clear_point(
        &self,
        user_id: UserId,
        after: MessageId,
        now: Timestamp,
    ) -> Result<(), PortError> {
        let (Some(user), Some(after)) = (pg_id(user_id), pg_id(after)) else {
            return Ok(());
        };
        let client = self.client().await?;
        client
            .execute(
                sql::SET_ASSISTANT_CLEAR_POINT,
                &[&user, &after, &naive(now)],
            )
            .await
            .or_port()?;
        Ok(())
    }

    async fn latest_message_id(&self, user_id: UserId) -> Result<Option<MessageId>, PortError> {
        let Some(user) = pg_id(user_id) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(sql::LATEST_MESSAGE_ID)
            .await
            .or_port()?;
        let latest: Option<i32> = client
            .query_one(&stmt, &[&user])
            .await
            .or_port()?
            .try_get(0)
            .or_port()?;
        Ok(latest.map(|id| MessageId::new(i64::from(id))))
    }

    async fn conversation_summaries(
        &self,
        user_id: UserId,
    ) -> Result<Vec<ConversationSummary>, PortError> {
        let client = self.client().await?;
        summaries_of(&client, user_id).await
    }
}

/// The newest page of the user's messages in `scope`, oldest first.
pub(crate) async fn messages_of(
    client: &ClientWrapper,
    user_id: UserId,
    scope: &MessageScope,
    page: Page,
) -> Result<Vec<Message>, PortError> {
    let Some(user) = pg_id(user_id) else {
        return Ok(Vec::new());
    };
    let (limit, offset) = page.sql_limit_offset();
    let found = match scope {
        MessageScope::Sent | MessageScope::Received | MessageScope::UnreadReceived => {
            let statement = match scope {
                MessageScope::Sent => sql::LIST_SENT,
                MessageScope::Received => sql::LIST_RECEIVED,
                _ => sql::LIST_UNREAD,
            };
            let stmt = client.prepare_cached(statement).await.or_port()?;
            client.query(&stmt, &[&user, &limit, &offset]).await
        }
        MessageScope::SentOrReceived => {
            let window = limit.saturating_add(offset);
            let stmt = client
                .prepare_cached(sql::LIST_SENT_OR_RECEIVED)
                .await
                .or_port()?;
            client
                .query(&stmt, &[&user, &limit, &offset, &window])
                .await
        }
        MessageScope::Conversation(cid) => {
            let stmt = client
                .prepare_cached(sql::LIST_CONVERSATION)
                .await
                .or_port()?;
            client
                .query(&stmt, &[&user, &limit, &offset, &cid.as_str()])
                .await
        }
    }
    .or_port()?;
    oldest_first(&found)
}

/// Rows read newest first, as messages oldest first.
fn oldest_first(newest_first: &[tokio_postgres::Row]) -> Result<Vec<Message>, PortError> {
    newest_first
        .iter()
        .rev()
        .map(rows::message)
        .collect::<Result<_, _>>()
        .or_port()
}

pub(crate) async fn summaries_of(
    client: &ClientWrapper,
    user_id: UserId,
) -> Result<Vec<ConversationSummary>, PortError> {
    let Some(user) = pg_id(user_id) else {
        return Ok(Vec::new());
    };
    let stmt = client
        .prepare_cached(sql::CONVERSATION_SUMMARIES)
        .await
        .or_port()?;
    let found = client.query(&stmt, &[&user]).await.or_port()?;
    found
        .iter()
        .map(rows::conversation_summary)
        .collect::<Result<_, tokio_postgres::Error>>()
        .or_port()
}
