//! The session check and a read on one pooled connection, sent together: tokio-postgres
//! pipelines queries that are in flight at once, so both travel in one round trip.

use ai_message_core::ports::*;
use ai_message_core::{ConversationSummary, Message, Page, SessionId, User, UserId};
use async_trait::async_trait;

use crate::PostgresStore;
use crate::messages::{messages_of, summaries_of};
use crate::sessions::session_with_user;
use crate::users::user_by_id;

#[async_trait]
impl SessionReads for PostgresStore {
    async fn messages_with_session(
        &self,
        session_id: SessionId,
        user_id: UserId,
        scope: MessageScope,
        page: Page,
    ) -> Result<WithSession<Vec<Message>>, PortError> {
        let client = self.client().await?;
        let (session, read) = tokio::try_join!(
            session_with_user(&client, session_id),
            messages_of(&client, user_id, &scope, page)
        )?;
        Ok(WithSession { session, read })
    }

    async fn conversations_with_session(
        &self,
        session_id: SessionId,
        user_id: UserId,
    ) -> Result<WithSession<Vec<ConversationSummary>>, PortError> {
        let client = self.client().await?;
        let (session, read) = tokio::try_join!(
            session_with_user(&client, session_id),
            summaries_of(&client, user_id)
        )?;
        Ok(WithSession { session, read })
    }

    async fn user_with_session(
        &self,
        session_id: SessionId,
        other: UserId,
    ) -> Result<WithSession<Option<User>>, PortError> {
        let client = self.client().await?;
        let (session, read) = tokio::try_join!(
            session_with_user(&client, session_id),
            user_by_id(&client, other)
        )?;
        Ok(WithSession { session, read })
    }
}
