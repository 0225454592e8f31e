//! `/auth/conversations`: the caller's conversations.

use ai_message_core::{ConversationId, MessageContent, UserId};
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;

use super::messages::{MessageCreated, messages_out};
use super::{ApiTags, page};
use crate::AppState;
use crate::auth::{Authenticated, Checked, Claimed};
use crate::body::JsonBody;
use crate::dto::*;
use crate::errors::ApiError;
use crate::reply::JsonReply;

pub struct ConversationsApi {
    state: AppState,
}

impl ConversationsApi {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/auth/conversations", tag = "ApiTags::Conversations")]
impl ConversationsApi {
    /// My conversations
    ///
    /// One entry per conversation the caller takes part in, the newest last message first.
    #[oai(path = "/", method = "get", operation_id = "list_conversations")]
    async fn list(&self, claim: Claimed) -> Result<JsonReply<Vec<ConversationOut>>, ApiError> {
        let conversations = self.state.services.conversations.list(&claim.0).await?;
        Ok(JsonReply(
            conversations
                .into_iter()
                .map(ConversationOut::from)
                .collect(),
        ))
    }

    /// Messages of a conversation
    ///
    /// The caller's messages in it: the newest page, in chronological order.
    #[oai(
        path = "/:conversation_id/messages",
        method = "get",
        operation_id = "get_conversation_messages"
    )]
    async fn messages(
        &self,
        claim: Claimed,
        /// 1 to 100 characters.
        conversation_id: Path<String>,
        /// How many of the newest messages to skip (≥ 0).
        skip: Checked<Query<Option<i64>>>,
        /// At most this many messages (1 to 500, default 100).
        limit: Checked<Query<Option<i64>>>,
    ) -> Result<JsonReply<Vec<MessageOut>>, ApiError> {
        let parsed = ConversationId::parse(conversation_id.0)
            .map_err(ApiError::from)
            .and_then(|id| Ok((id, page(skip.0.0, limit.0.0)?)));
        let (conversation_id, page) = claim.checked(&self.state, parsed).await?;
        let messages = self
            .state
            .services
            .conversations
            .messages(&claim.0, conversation_id, page)
            .await?;
        Ok(messages_out(messages))
    }

    /// Send into a conversation
    ///
    /// Sends a message with this `conversation_id`, with the checks of any send; 201.
    #[oai(
        path = "/:conversation_id/messages",
        method = "post",
        operation_id = "send_conversation_message"
    )]
    async fn send(
        &self,
        claim: Claimed,
        /// 1 to 100 characters.
        conversation_id: Path<String>,
        body: Checked<JsonBody<ConversationMessageRequest>>,
    ) -> Result<MessageCreated, ApiError> {
        let body = body.0.0;
        let parsed = ConversationId::parse(conversation_id.0)
            .and_then(|id| Ok((id, MessageContent::parse(body.content)?)))
            .map_err(ApiError::from);
        let (conversation_id, content) = claim.checked(&self.state, parsed).await?;
        let message = self
            .state
            .services
            .conversations
            .send(
                &claim.0,
                conversation_id,
                UserId::new(body.recipient_id),
                content,
            )
            .await?;
        Ok(message.into())
    }

    /// Mark a conversation read
    ///
    /// Marks the caller's received messages in it as read.
    #[oai(
        path = "/:conversation_id/read",
        method = "put",
        operation_id = "mark_conversation_read"
    )]
    async fn mark_read(
        &self,
        auth: Authenticated,
        /// 1 to 100 characters.
        conversation_id: Path<String>,
    ) -> Result<Json<MessageResponse>, ApiError> {
        let conversation_id = ConversationId::parse(conversation_id.0)?;
        self.state
            .services
            .conversations
            .mark_read(&auth.0, conversation_id)
            .await?;
        Ok(Json(MessageResponse::new("Conversation marked as read")))
    }
}
