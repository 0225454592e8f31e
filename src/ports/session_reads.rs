//! Reads that travel with the session check of an authenticated request.
//!
//! Every authenticated request looks its session up in storage, so that revocation takes
//! effect on the next request. For the requests that then only read, the store may answer
//! both in one trip (one job on a SQLite reader, one pipelined exchange on a PostgreSQL
//! connection). The read is made for the user the access token claims, before the session
//! is judged; the core shows nothing of it unless the session admits that user.

use std::sync::Arc;

use async_trait::async_trait;

use super::{MessageRepository, MessageScope, PortError, SessionRepository, UserRepository};
use crate::domain::{ConversationSummary, Message, Page, Session, SessionId, User, UserId};

/// A read together with the session it was made under (`None`: no such session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithSession<T> {
    pub session: Option<(Session, User)>,
    pub read: T,
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait SessionReads: Send + Sync {
    /// `get_session_with_user(session_id)` and `list_messages(user_id, scope, page)`.
    async fn messages_with_session(
        &self,
        session_id: SessionId,
        user_id: UserId,
        scope: MessageScope,
        page: Page,
    ) -> Result<WithSession<Vec<Message>>, PortError>;

    /// `get_session_with_user(session_id)` and `conversation_summaries(user_id)`.
    async fn conversations_with_session(
        &self,
        session_id: SessionId,
        user_id: UserId,
    ) -> Result<WithSession<Vec<ConversationSummary>>, PortError>;

    /// `get_session_with_user(session_id)` and `get_user(other)`: a send's recipient.
    async fn user_with_session(
        &self,
        session_id: SessionId,
        other: UserId,
    ) -> Result<WithSession<Option<User>>, PortError>;
}

/// [`SessionReads`] as the two calls it stands for, one after the other: for a store with
/// nothing to gain from doing them together (the in-memory one), and for tests that mock
/// the repositories.
#[derive(Clone)]
pub struct SeparateSessionReads {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub messages: Arc<dyn MessageRepository>,
}

#[async_trait]
impl SessionReads for SeparateSessionReads {
    async fn messages_with_session(
        &self,
        session_id: SessionId,
        user_id: UserId,
        scope: MessageScope,
        page: Page,
    ) -> Result<WithSession<Vec<Message>>, PortError> {
        Ok(WithSession {
            session: self.sessions.get_session_with_user(session_id).await?,
            read: self.messages.list_messages(user_id, scope, page).await?,
        })
    }

    async fn conversations_with_session(
        &self,
        session_id: SessionId,
        user_id: UserId,
    ) -> Result<WithSession<Vec<ConversationSummary>>, PortError> {
        Ok(WithSession {
            session: self.sessions.get_session_with_user(session_id).await?,
            read: self.messages.conversation_summaries(user_id).await?,
        })
    }

    async fn user_with_session(
        &self,
        session_id: SessionId,
        other: UserId,
    ) -> Result<WithSession<Option<User>>, PortError> {
        Ok(WithSession {
            session: self.sessions.get_session_with_user(session_id).await?,
            read: self.users.get_user(other).await?,
        })
    }
}
