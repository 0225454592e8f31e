//! `/messages`: send, read, edit, mark read, delete, and the lists.

use ai_message_core::ports::MessageScope;
use ai_message_core::usecases::messages::Outgoing;
use ai_message_core::{ConversationId, Message, MessageContent, MessageId, UserId};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::{ApiTags, page};
use crate::AppState;
use crate::auth::{Authenticated, Checked, Claimed};
use crate::body::JsonBody;
use crate::dto::*;
use crate::errors::ApiError;
use crate::reply::JsonReply;

pub struct MessagesApi {
    state: AppState,
}

impl MessagesApi {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    async fn list(
        &self,
        claim: &Claimed,
        scope: MessageScope,
        skip: Option<i64>,
        limit: Option<i64>,
    ) -> Result<JsonReply<Vec<MessageOut>>, ApiError> {
        let page = claim.checked(&self.state, page(skip, limit)).await?;
        let messages = self
            .state
            .services
            .messages
            .list(&claim.0, scope, page)
            .await?;
        Ok(messages_out(messages))
    }
}

/// The most message content one page carries, as JSON writes it: a page of 500 messages of
/// 65,536 control characters would otherwise be 197 MB to hold for one request.
pub(crate) const MAX_PAGE_CONTENT_BYTES: usize = 8 * 1024 * 1024;

/// How many bytes JSON takes to write `text` (escapes included).
pub(crate) fn json_text_len(text: &str) -> usize {
    text.chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum()
}

/// A page of messages (the newest, oldest first), as many as fit in
/// [`MAX_PAGE_CONTENT_BYTES`]: when content fills it first, the oldest of the page give way
/// and the client pages on by the count it received.
pub(crate) fn messages_out(messages: Vec<Message>) -> JsonReply<Vec<MessageOut>> {
    let mut budget = MAX_PAGE_CONTENT_BYTES;
    let first_kept = messages
        .iter()
        .rposition(|message| {
            let size = json_text_len(message.content.as_str());
            let over = size > budget;
            budget = budget.saturating_sub(size);
            over
        })
        .map_or(0, |index| index + 1);
    JsonReply(
        messages
            .into_iter()
            .skip(first_kept)
            .map(MessageOut::from)
            .collect(),
    )
}

#[derive(ApiResponse)]
pub(crate) enum MessageCreated {
    /// The stored message.
    #[oai(status = 201)]
    Created(JsonReply<MessageOut>),
}

impl From<Message> for MessageCreated {
    fn from(message: Message) -> Self {
        Self::Created(JsonReply(message.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_len_counts_escapes() {
        for text in [
            "plain",
            "é✓",
            "quote \" and \\",
            "line\nbreak\ttab",
            "\u{1}\u{1f}",
        ] {
            assert_eq!(
                json_text_len(text),
                serde_json::to_string(text).unwrap().len() - 2,
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_page_of_large_messages_keeps_the_newest_that_fit() {
        let big = "\u{1}".repeat(MessageContent::MAX_CHARS);
        let message = |id: i64| Message {
            id: MessageId::new(id),
            sender_id: UserId::new(1),
            recipient_id: UserId::new(2),
            content: MessageContent::parse(big.clone()).unwrap(),
            is_read: false,
            parent_id: None,
            conversation_id: None,
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        };
        let page: Vec<Message> = (1..=500).map(message).collect();
        let JsonReply(kept) = messages_out(page);
        let per_message = big.len() * 6;
        assert_eq!(kept.len(), MAX_PAGE_CONTENT_BYTES / per_message);
        assert_eq!(kept.last().unwrap().id, 500, "the newest stay");
        let bytes = serde_json::to_vec(&kept).unwrap().len();
        assert!(bytes <= MAX_PAGE_CONTENT_BYTES + 500 * 400, "{bytes}");
        let small: Vec<Message> = (1..=3)
            .map(|id| Message {
                content: MessageContent::parse("hi").unwrap(),
                ..message(id)
            })
            .collect();
        assert_eq!(messages_out(small).0.len(), 3);
    }
}

#[OpenApi(prefix_path = "/messages", tag = "ApiTags::Messages")]
impl MessagesApi {
    /// My messages
    ///
    /// Sent and received, the newest page in chronological order. With `unread_only=true`,
    /// only received messages not yet read.
    #[oai(path = "/", method = "get", operation_id = "list_messages")]
    async fn list_all(
        &self,
        claim: Claimed,
        /// How many of the newest messages to skip (≥ 0).
        skip: Checked<Query<Option<i64>>>,
        /// At most this many messages (1 to 500, default 100).
        limit: Checked<Query<Option<i64>>>,
        /// Only received messages not yet read.
        unread_only: Checked<Query<Option<bool>>>,
    ) -> Result<JsonReply<Vec<MessageOut>>, ApiError> {
        let scope = if unread_only.0.0.unwrap_or(false) {
            MessageScope::UnreadReceived
        } else {
            MessageScope::SentOrReceived
        };
        self.list(&claim, scope, skip.0.0, limit.0.0).await
    }

    /// Messages I sent
    ///
    /// The newest page of the caller's sent messages, in chronological order.
    #[oai(path = "/sent", method = "get", operation_id = "list_sent_messages")]
    async fn list_sent(
        &self,
        claim: Claimed,
        /// How many of the newest messages to skip (≥ 0).
        skip: Checked<Query<Option<i64>>>,
        /// At most this many messages (1 to 500, default 100).
        limit: Checked<Query<Option<i64>>>,
    ) -> Result<JsonReply<Vec<MessageOut>>, ApiError> {
        self.list(&claim, MessageScope::Sent, skip.0.0, limit.0.0)
            .await
    }

    /// Messages I received
    ///
    /// The newest page of the caller's received messages, in chronological order; with
    /// `unread_only=true`, only those not yet read.
    #[oai(
        path = "/received",
        method = "get",
        operation_id = "list_received_messages"
    )]
    async fn list_received(
        &self,
        claim: Claimed,
        /// How many of the newest messages to skip (≥ 0).
        skip: Checked<Query<Option<i64>>>,
        /// At most this many messages (1 to 500, default 100).
        limit: Checked<Query<Option<i64>>>,
        /// Only messages not yet read.
        unread_only: Checked<Query<Option<bool>>>,
    ) -> Result<JsonReply<Vec<MessageOut>>, ApiError> {
        let scope = if unread_only.0.0.unwrap_or(false) {
            MessageScope::UnreadReceived
        } else {
            MessageScope::Received
        };
        self.list(&claim, scope, skip.0.0, limit.0.0).await
    }

    /// How many unread
    ///
    /// The number of messages the caller received and has not read.
    #[oai(
        path = "/unread/count",
        method = "get",
        operation_id = "get_unread_count"
    )]
    async fn unread_count(&self, auth: Authenticated) -> Result<Json<UnreadCount>, ApiError> {
        let unread_count = self.state.services.messages.unread_count(&auth.0).await?;
        Ok(Json(UnreadCount { unread_count }))
    }

    /// Mark everything read
    ///
    /// Marks every message the caller received as read.
    #[oai(path = "/read-all", method = "put", operation_id = "mark_all_read")]
    async fn read_all(&self, auth: Authenticated) -> Result<Json<MessageResponse>, ApiError> {
        self.state.services.messages.read_all(&auth.0).await?;
        Ok(Json(MessageResponse::new("All messages marked as read")))
    }

    /// Send a message
    ///
    /// To any existing user, oneself included. Without `conversation_id` it joins the
    /// parent's conversation (for a reply) or `conv_<smaller id>_<larger id>`.
    #[oai(path = "/", method = "post", operation_id = "send_message")]
    async fn send(
        &self,
        claim: Claimed,
        body: Checked<JsonBody<MessageCreateRequest>>,
    ) -> Result<MessageCreated, ApiError> {
        let body = body.0.0;
        let parsed = (|| {
            Ok::<_, ApiError>(Outgoing {
                recipient_id: UserId::new(body.recipient_id),
                content: MessageContent::parse(body.content)?,
                conversation_id: body
                    .conversation_id
                    .map(ConversationId::parse)
                    .transpose()?,
                parent_id: body.parent_id.map(MessageId::new),
            })
        })();
        let outgoing = claim.checked(&self.state, parsed).await?;
        let message = self
            .state
            .services
            .messages
            .send(&claim.0, outgoing)
            .await?;
        Ok(message.into())
    }

    /// Get a message
    ///
    /// Only its sender and its recipient may read it.
    #[oai(path = "/:id", method = "get", operation_id = "get_message")]
    async fn get(
        &self,
        auth: Authenticated,
        id: Path<i64>,
    ) -> Result<JsonReply<MessageOut>, ApiError> {
        let message = self
            .state
            .services
            .messages
            .get(&auth.0, MessageId::new(id.0))
            .await?;
        Ok(JsonReply(message.into()))
    }

    /// Edit a message
    ///
    /// Sender only. `{}` changes nothing.
    #[oai(path = "/:id", method = "put", operation_id = "update_message")]
    async fn update(
        &self,
        auth: Authenticated,
        id: Path<i64>,
        body: JsonBody<MessageUpdateRequest>,
    ) -> Result<JsonReply<MessageOut>, ApiError> {
        let content = body.0.content.map(MessageContent::parse).transpose()?;
        let message = self
            .state
            .services
            .messages
            .update(&auth.0, MessageId::new(id.0), content)
            .await?;
        Ok(JsonReply(message.into()))
    }

    /// Mark a message read
    ///
    /// Recipient only.
    #[oai(path = "/:id/read", method = "put", operation_id = "mark_message_read")]
    async fn mark_read(
        &self,
        auth: Authenticated,
        id: Path<i64>,
    ) -> Result<Json<MessageResponse>, ApiError> {
        self.state
            .services
            .messages
            .mark_read(&auth.0, MessageId::new(id.0))
            .await?;
        Ok(Json(MessageResponse::new("Message marked as read")))
    }

    /// Delete a message
    ///
    /// Its sender or its recipient may delete it.
    #[oai(path = "/:id", method = "delete", operation_id = "delete_message")]
    async fn delete(
        &self,
        auth: Authenticated,
        id: Path<i64>,
    ) -> Result<Json<MessageResponse>, ApiError> {
        self.state
            .services
            .messages
            .delete(&auth.0, MessageId::new(id.0))
            .await?;
        Ok(Json(MessageResponse::new("Message deleted successfully")))
    }
}
