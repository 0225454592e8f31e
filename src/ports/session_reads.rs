//! Reads that travel with the session check of an authenticated request.
//!
//! Every authenticated request looks its session up in storage, so that revocation takes
//! effect on the next request. For the requests that then only read, the store answers both
//! in one trip (one job on a SQLite reader, one pipelined exchange on a PostgreSQL
//! connection). The read may be made for the user the access token claims before the
//! session is judged, but it can only be returned beside the [`Admitted`] proof that the
//! [`SessionGate`] made from the session row.

use std::sync::Arc;

use async_trait::async_trait;

use super::{MessageRepository, MessageScope, PortError, SessionRepository};
use crate::domain::{Admitted, ConversationSummary, Gated, Message, Page, SessionGate};

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait SessionReads: Send + Sync {
    /// The gate's session check and `list_messages(gate.user_id(), scope, page)`.
    async fn messages_with_session(
        &self,
        gate: SessionGate,
        scope: MessageScope,
        page: Page,
    ) -> Result<Gated<Vec<Message>>, PortError>;

    /// The gate's session check and `conversation_summaries(gate.user_id())`.
    async fn conversations_with_session(
        &self,
        gate: SessionGate,
    ) -> Result<Gated<Vec<ConversationSummary>>, PortError>;
}

/// [`SessionReads`] as the two calls it stands for, one after the other: for a store with
/// nothing to gain from doing them together (the in-memory one), and for tests that mock
/// the repositories.
#[derive(Clone)]
pub struct SeparateSessionReads {
    pub sessions: Arc<dyn SessionRepository>,
    pub messages: Arc<dyn MessageRepository>,
}

impl SeparateSessionReads {
    async fn check(
        &self,
        gate: &SessionGate,
    ) -> Result<Result<Admitted, crate::domain::SessionRefusal>, PortError> {
        let found = self
            .sessions
            .get_session_with_user(gate.session_id())
            .await?;
        Ok(gate.check(found))
    }
}

#[async_trait]
impl SessionReads for SeparateSessionReads {
    async fn messages_with_session(
        &self,
        gate: SessionGate,
        scope: MessageScope,
        page: Page,
    ) -> Result<Gated<Vec<Message>>, PortError> {
        Ok(match self.check(&gate).await? {
            Ok(admitted) => {
                let read = self
                    .messages
                    .list_messages(gate.user_id(), scope, page)
                    .await?;
                Gated::Admitted(admitted, read)
            }
            Err(refusal) => Gated::Refused(refusal),
        })
    }

    async fn conversations_with_session(
        &self,
        gate: SessionGate,
    ) -> Result<Gated<Vec<ConversationSummary>>, PortError> {
        Ok(match self.check(&gate).await? {
            Ok(admitted) => {
                let read = self.messages.conversation_summaries(gate.user_id()).await?;
                Gated::Admitted(admitted, read)
            }
            Err(refusal) => Gated::Refused(refusal),
        })
    }
}
