//! The AI assistant (user id -1): ask and wait, the chat history, and clearing it.

use ai_message_core::{ConversationId, MessageContent};
use poem_openapi::OpenApi;
use poem_openapi::payload::Json;

use super::ApiTags;
use crate::AppState;
use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::dto::*;
use crate::errors::ApiError;
use crate::reply::JsonReply;

pub struct AssistantApi {
    state: AppState,
}

impl AssistantApi {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/messages", tag = "ApiTags::Messages")]
impl AssistantApi {
    /// Ask the AI assistant
    ///
    /// Stores your message to the assistant (user id -1), waits for the model and answers
    /// with the assistant's reply, also stored. When the model fails the reply says so (and
    /// the answer is still 200). One question at a time per user (429 while the previous one
    /// is being answered); 503 when no model is configured or all model calls are taken;
    /// 404 when you delete the question before the reply (none is stored).
    #[oai(path = "/ai", method = "post", operation_id = "ask_assistant")]
    async fn ask(
        &self,
        auth: Authenticated,
        body: JsonBody<AssistantRequest>,
    ) -> Result<JsonReply<MessageOut>, ApiError> {
        let body = body.0;
        let content = MessageContent::parse(body.content)?;
        let conversation_id = body
            .conversation_id
            .map(ConversationId::parse)
            .transpose()?;
        let reply = self
            .state
            .services
            .assistant
            .ask(&auth.0, content, conversation_id)
            .await?;
        Ok(JsonReply(reply.into()))
    }

    /// Chat history with the assistant
    ///
    /// Your turns with the assistant since your last clear, oldest first, at most
    /// `AI_HISTORY_MAX`: what the model is given.
    #[oai(path = "/history", method = "get", operation_id = "get_chat_history")]
    async fn history(&self, auth: Authenticated) -> Result<Json<ChatHistory>, ApiError> {
        let turns = self.state.services.assistant.history(&auth.0).await?;
        Ok(Json(ChatHistory {
            message_count: turns.len() as u64,
            history: turns
                .into_iter()
                .map(|turn| ChatTurnOut {
                    role: turn.role.as_str().to_string(),
                    content: turn.content,
                })
                .collect(),
        }))
    }

    /// Clear the chat history
    ///
    /// The assistant's context starts again from here; the messages stay.
    #[oai(
        path = "/history/clear",
        method = "delete",
        operation_id = "clear_chat_history"
    )]
    async fn clear(&self, auth: Authenticated) -> Result<Json<MessageResponse>, ApiError> {
        self.state.services.assistant.clear(&auth.0).await?;
        Ok(Json(MessageResponse::new(
            "Chat history cleared successfully",
        )))
    }
}
