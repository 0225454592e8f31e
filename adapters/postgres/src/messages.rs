//! Messages and conversations.

use ai_message_core::ports::*;
use std::sync::Arc;

use ai_message_core::{
    ChannelMessageId, ConversationAccess, ConversationId, ConversationSummary, Delivered, Gated,
    Message, MessageContent, MessageId, Page, Pair, Position, PositionedMessage, Timestamp, UserId,
    conversation_access, conversation_of,
};
use async_trait::async_trait;
use deadpool_postgres::{ClientWrapper, GenericClient};

use crate::PostgresStore;
use crate::helpers::OrPortError;
use crate::rows::{self, naive, pg_id};
use crate::sessions::sender_session_and_recipient;
use crate::sql;

/// Inserts a message with its parties' next positions, in one statement (`stmt`, prepared
/// from [`sql::INSERT_DELIVERED_MESSAGE`] by the caller: see [`insert_and_commit`]).
pub(crate) async fn insert_delivered(
    client: &impl GenericClient,
    stmt: &tokio_postgres::Statement,
    new: NewMessage,
) -> Result<Delivered, PortError> {
    let (Some(sender), Some(recipient)) = (pg_id(new.sender_id), pg_id(new.recipient_id)) else {
        return Err(PortError::unexpected("user id beyond the INTEGER range"));
    };
    let parent = new.parent_id.and_then(pg_id);
    let mut parties: Vec<i32> = [sender, recipient]
        .into_iter()
        .filter(|id| !UserId::new(i64::from(*id)).is_assistant())
        .collect();
    parties.sort_unstable();
    parties.dedup();
    let row = client
        .query_one(
            stmt,
            &[
                &sender,
                &recipient,
                &new.content.as_str(),
                &parent,
                &new.conversation_id.as_str(),
                &naive(new.created_at),
                &parties,
            ],
        )
        .await
        .or_port()?;
    let position = |index| row.try_get::<_, Option<i64>>(index).or_port();
    Ok(Delivered {
        message: Arc::new(rows::message(&row).or_port()?),
        sender_position: position(9)?,
        recipient_position: position(10)?,
    })
}

/// The pair a conversation id is bound to, if it is.
async fn bound_pair(
    tx: &impl GenericClient,
    conversation: &ConversationId,
) -> Result<Option<Pair>, PortError> {
    let stmt = tx
        .prepare_cached(sql::CONVERSATION_PARTIES)
        .await
        .or_port()?;
    let row = tx
        .query_opt(&stmt, &[&conversation.as_str()])
        .await
        .or_port()?;
    row.map(|row| {
        let id = |index| {
            row.try_get::<_, i32>(index)
                .map(|id| UserId::new(id.into()))
        };
        Ok(Pair::of(id(0)?, id(1)?))
    })
    .transpose()
    .or_port()
}

pub(crate) async fn message_in(
    tx: &impl GenericClient,
    id: Option<MessageId>,
) -> Result<Option<Message>, PortError> {
    let Some(id) = id.and_then(pg_id) else {
        return Ok(None);
    };
    let stmt = tx.prepare_cached(sql::MESSAGE_BY_ID).await.or_port()?;
    let row = tx.query_opt(&stmt, &[&id]).await.or_port()?;
    row.as_ref().map(rows::message).transpose().or_port()
}

/// The checks of a send after its session admitted it, inside the job's transaction; the
/// row to insert when they pass.
pub(crate) async fn check_send(
    tx: &impl GenericClient,
    sender_id: UserId,
    job: SendJob,
    recipient_exists: bool,
    parent: Option<Message>,
) -> Result<Result<NewMessage, SendOutcome>, PortError> {
    if !recipient_exists {
        return Ok(Err(SendOutcome::RecipientNotFound));
    }
    let mut parent_conversation = None;
    if job.parent_id.is_some() {
        match parent {
            Some(parent) if parent.is_visible_to(sender_id) => {
                parent_conversation = parent.conversation_id;
            }
            _ => return Ok(Err(SendOutcome::ParentNotFound)),
        }
    }
    let pair = Pair::of(sender_id, job.recipient_id);
    let conversation = conversation_of(
        job.conversation_id.as_ref(),
        parent_conversation.as_ref(),
        pair,
    );
    // A canonical id is judged by its name; another by the pair bound to it.
    let mut bound = match conversation.canonical_pair() {
        Some(_) => None,
        None => bound_pair(tx, &conversation).await?,
    };
    loop {
        match conversation_access(&conversation, pair, bound) {
            Err(_) => return Ok(Err(SendOutcome::NotAParticipant)),
            Ok(ConversationAccess::Theirs) => break,
            Ok(ConversationAccess::BindToPair) => {
                let stmt = tx.prepare_cached(sql::BIND_CONVERSATION).await.or_port()?;
                let low = pg_id(pair.low()).unwrap_or_default();
                let high = pg_id(pair.high()).unwrap_or_default();
                let bound_now = tx
                    .query_opt(&stmt, &[&conversation.as_str(), &low, &high])
                    .await
                    .or_port()?;
                if bound_now.is_some() {
                    break;
                }
                // Another send bound it first (its insert committed while this one
                // waited): judge by its binding.
                bound = bound_pair(tx, &conversation).await?;
                if bound.is_none() {
                    return Err(PortError::unexpected("a conversation binding vanished"));
                }
            }
        }
    }
    Ok(Ok(job.into_message(sender_id, conversation)))
}

/// A send as one transaction in two round trips: `BEGIN` with the session, recipient and
/// parent reads, then (once the core's rules passed) the insert with `COMMIT`. tokio-postgres
/// pipelines requests in flight together on one connection. Every statement sent is awaited
/// (`join!`, not `try_join!`), so the transaction always ends before the connection goes
/// back to the pool.
pub(crate) async fn send_in_transaction(
    client: &deadpool_postgres::Object,
    job: SendJob,
) -> Result<Gated<SendOutcome>, PortError> {
    let (begun, checks, parent) = tokio::join!(
        client.batch_execute("BEGIN"),
        sender_session_and_recipient(client, job.gate.session_id(), job.recipient_id),
        message_in(client, job.parent_id),
    );
    begun.or_port()?;
    let checked = async {
        let (found, recipient_exists) = checks?;
        let admitted = match job.gate.check(found) {
            Ok(admitted) => admitted,
            Err(refusal) => return Ok(Err(Gated::Refused(refusal))),
        };
        let sender_id = admitted.caller().user.id;
        Ok(
            match check_send(client, sender_id, job, recipient_exists, parent?).await? {
                Ok(new) => Ok((admitted, new)),
                Err(refused) => Err(Gated::Admitted(admitted, refused)),
            },
        )
    }
    .await;
    let (admitted, new) = match checked {
        Ok(Ok(passed)) => passed,
        // Nothing to keep: the transaction ends empty.
        Ok(Err(refused)) => {
            client.batch_execute("ROLLBACK").await.or_port()?;
            return Ok(refused);
        }
        Err(error) => {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(error);
        }
    };
    let delivered = insert_and_commit(client, new).await?;
    Ok(Gated::Admitted(admitted, SendOutcome::Sent(delivered)))
}

/// Ends a transaction whose checks passed: the insert, pipelined with its COMMIT. The
/// statement is prepared first: a preparation still in flight would let the COMMIT go out
/// before the insert, which then ran outside the transaction and its locks (seen as two
/// replies to one forgotten question on a connection's first use).
async fn insert_and_commit(
    client: &deadpool_postgres::Object,
    new: NewMessage,
) -> Result<Delivered, PortError> {
    let stmt = client
        .prepare_cached(sql::INSERT_DELIVERED_MESSAGE)
        .await
        .or_port()?;
    let (inserted, committed) = tokio::join!(
        insert_delivered(client, &stmt, new),
        client.batch_execute("COMMIT")
    );
    // A failed insert aborts the transaction; its COMMIT then only ends it.
    let delivered = inserted?;
    committed.or_port()?;
    Ok(delivered)
}

/// [`MessageRepository::reply_if_unanswered`] in one transaction: the asker's delivery
/// counter is locked first (every send involving them updates it), so the check reads every
/// message committed before and none can commit until the reply has.
async fn reply_in_transaction(
    client: &deadpool_postgres::Object,
    question: (i32, i32),
    reply: NewMessage,
) -> Result<Option<Delivered>, PortError> {
    let (question_id, asker) = question;
    let assistant = pg_id(UserId::ASSISTANT).unwrap_or(-1);
    client.batch_execute("BEGIN").await.or_port()?;
    let checked = async {
        client
            .query(sql::LOCK_DELIVERY_COUNTER, &[&asker])
            .await
            .or_port()?;
        let newest: Option<i32> = client
            .query_one(sql::NEWEST_WITH_ASSISTANT, &[&asker, &assistant])
            .await
            .or_port()?
            .try_get(0)
            .or_port()?;
        Ok::<_, PortError>(newest == Some(question_id))
    }
    .await;
    match checked {
        Ok(true) => {}
        Ok(false) => {
            client.batch_execute("ROLLBACK").await.or_port()?;
            return Ok(None);
        }
        Err(error) => {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(error);
        }
    }
    insert_and_commit(client, reply).await.map(Some)
}

/// [`MessageRepository::reply_if_question_stored`] in one transaction: the question's row is
/// locked against deletes first, so a delete either committed before (the row is not found)
/// or waits until the reply has committed.
async fn reply_to_stored_question(
    client: &deadpool_postgres::Object,
    question_id: i32,
    reply: NewMessage,
) -> Result<Option<Delivered>, PortError> {
    client.batch_execute("BEGIN").await.or_port()?;
    let stored = client
        .query_opt(sql::LOCK_MESSAGE_AGAINST_DELETE, &[&question_id])
        .await
        .or_port();
    match stored {
        Ok(Some(_)) => insert_and_commit(client, reply).await.map(Some),
        Ok(None) => {
            client.batch_execute("ROLLBACK").await.or_port()?;
            Ok(None)
        }
        Err(error) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(error)
        }
    }
}

/// [`MessageRepository::create_message_once`] in one transaction: of two instances taking
/// one receipt at once, the second waits on the first's row and then finds it taken.
async fn create_once_in_transaction(
    client: &deadpool_postgres::Object,
    receipt: &str,
    new: NewMessage,
) -> Result<Option<Delivered>, PortError> {
    client.batch_execute("BEGIN").await.or_port()?;
    let taken = client
        .execute(
            sql::TAKE_CHANNEL_RECEIPT,
            &[&receipt, &naive(new.created_at)],
        )
        .await
        .or_port();
    match taken {
        Ok(1) => insert_and_commit(client, new).await.map(Some),
        Ok(_) => {
            client.batch_execute("ROLLBACK").await.or_port()?;
            Ok(None)
        }
        Err(error) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(error)
        }
    }
}

#[async_trait]
impl MessageRepository for PostgresStore {
    async fn send_message(&self, job: SendJob) -> Result<Gated<SendOutcome>, PortError> {
        // Committed with the sends queued beside it, by a worker task: a caller who goes
        // away cannot stop the job between `BEGIN` and its end.
        self.sends.send(job).await
    }

    async fn create_message(&self, new: NewMessage) -> Result<Delivered, PortError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(sql::INSERT_DELIVERED_MESSAGE)
            .await
            .or_port()?;
        insert_delivered(&client, &stmt, new).await
    }

    async fn create_message_once(
        &self,
        receipt: &ChannelMessageId,
        new: NewMessage,
    ) -> Result<Option<Delivered>, PortError> {
        let client = self.client().await?;
        let receipt = receipt.as_str().to_string();
        // Run to its end even if the caller goes away, as `send_message` does.
        tokio::spawn(async move { create_once_in_transaction(&client, &receipt, new).await })
            .await
            .map_err(|e| PortError::unexpected(format!("the insert task failed: {e}")))?
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
        after: Position,
        limit: u32,
    ) -> Result<Vec<PositionedMessage>, PortError> {
        let Some(user) = pg_id(user_id) else {
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
            .map(|row| {
                Ok(PositionedMessage {
                    message: rows::message(row)?,
                    position: row.try_get(9)?,
                })
            })
            .collect::<Result<_, tokio_postgres::Error>>()
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

    async fn unanswered_questions(
        &self,
        asked_before: Timestamp,
        scan: u32,
    ) -> Result<Vec<Message>, PortError> {
        let assistant = pg_id(UserId::ASSISTANT).unwrap_or(-1);
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(sql::UNANSWERED_QUESTIONS)
            .await
            .or_port()?;
        let rows = client
            .query(&stmt, &[&assistant, &naive(asked_before), &i64::from(scan)])
            .await
            .or_port()?;
        rows.iter()
            .map(rows::message)
            .collect::<Result<_, _>>()
            .or_port()
    }

    async fn reply_if_unanswered(
        &self,
        question: &Message,
        reply: NewMessage,
    ) -> Result<Option<Delivered>, PortError> {
        let (Some(question_id), Some(asker)) = (pg_id(question.id), pg_id(question.sender_id))
        else {
            return Ok(None);
        };
        let client = self.client().await?;
        // Run to its end even if the caller goes away, as `send_message` does.
        tokio::spawn(
            async move { reply_in_transaction(&client, (question_id, asker), reply).await },
        )
        .await
        .map_err(|e| PortError::unexpected(format!("the reply task failed: {e}")))?
    }

    async fn reply_if_question_stored(
        &self,
        question: MessageId,
        reply: NewMessage,
    ) -> Result<Option<Delivered>, PortError> {
        let Some(question_id) = pg_id(question) else {
            return Ok(None);
        };
        let client = self.client().await?;
        // Run to its end even if the caller goes away, as `send_message` does.
        tokio::spawn(async move { reply_to_stored_question(&client, question_id, reply).await })
            .await
            .map_err(|e| PortError::unexpected(format!("the reply task failed: {e}")))?
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

    async fn count_messages_after(
        &self,
        user_id: UserId,
        after: Position,
        limit: u32,
    ) -> Result<u32, PortError> {
        let Some(user) = pg_id(user_id) else {
            return Ok(0);
        };
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::COUNT_AFTER).await.or_port()?;
        let count: i64 = client
            .query_one(&stmt, &[&user, &after, &i64::from(limit)])
            .await
            .or_port()?
            .try_get(0)
            .or_port()?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn latest_position(&self, user_id: UserId) -> Result<Position, PortError> {
        let Some(user) = pg_id(user_id) else {
            return Ok(0);
        };
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(sql::LATEST_POSITION)
            .await
            .or_port()?;
        let row = client.query_opt(&stmt, &[&user]).await.or_port()?;
        row.map_or(Ok(0), |row| row.try_get(0)).or_port()
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
