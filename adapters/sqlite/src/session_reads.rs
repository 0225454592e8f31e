//! The session check and a read as one job on a reader connection: one hand-off to the
//! reader threads per authenticated read instead of two.

use ai_message_core::ports::*;
use ai_message_core::{ConversationSummary, Message, Page, SessionId, User, UserId};
use async_trait::async_trait;

use crate::SqliteStore;
use crate::messages::{messages_of, summaries_of};
use crate::sessions::session_with_user;
use crate::sql;
use crate::users::user_by;

#[async_trait]
impl SessionReads for SqliteStore {
    async fn messages_with_session(
        &self,
        session_id: SessionId,
        user_id: UserId,
        scope: MessageScope,
        page: Page,
    ) -> Result<WithSession<Vec<Message>>, PortError> {
        self.db
            .read(move |conn| {
                Ok(WithSession {
                    session: session_with_user(conn, session_id)?,
                    read: messages_of(conn, user_id, &scope, page)?,
                })
            })
            .await
    }

    async fn conversations_with_session(
        &self,
        session_id: SessionId,
        user_id: UserId,
    ) -> Result<WithSession<Vec<ConversationSummary>>, PortError> {
        self.db
            .read(move |conn| {
                Ok(WithSession {
                    session: session_with_user(conn, session_id)?,
                    read: summaries_of(conn, user_id)?,
                })
            })
            .await
    }

    async fn user_with_session(
        &self,
        session_id: SessionId,
        other: UserId,
    ) -> Result<WithSession<Option<User>>, PortError> {
        self.db
            .read(move |conn| {
                Ok(WithSession {
                    session: session_with_user(conn, session_id)?,
                    read: user_by(conn, sql::USER_BY_ID, other.get().into())?,
                })
            })
            .await
    }
}
