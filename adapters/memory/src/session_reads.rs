//! The session check and a read: both come from the same tables in one step.

use ai_message_core::ports::*;
use ai_message_core::{ConversationSummary, Message, Page, SessionId, User, UserId};
use async_trait::async_trait;

use crate::MemoryStore;

#[async_trait]
impl SessionReads for MemoryStore {
    async fn messages_with_session(
        &self,
        session_id: SessionId,
        user_id: UserId,
        scope: MessageScope,
        page: Page,
    ) -> Result<WithSession<Vec<Message>>, PortError> {
        Ok(WithSession {
            session: self.get_session_with_user(session_id).await?,
            read: self.list_messages(user_id, scope, page).await?,
        })
    }

    async fn conversations_with_session(
        &self,
        session_id: SessionId,
        user_id: UserId,
    ) -> Result<WithSession<Vec<ConversationSummary>>, PortError> {
        Ok(WithSession {
            session: self.get_session_with_user(session_id).await?,
            read: self.conversation_summaries(user_id).await?,
        })
    }

    async fn user_with_session(
        &self,
        session_id: SessionId,
        other: UserId,
    ) -> Result<WithSession<Option<User>>, PortError> {
        Ok(WithSession {
            session: self.get_session_with_user(session_id).await?,
            read: self.get_user(other).await?,
        })
    }
}
