//! The session check and a read as one job on a reader connection: one hand-off to the
//! reader threads per authenticated read instead of two.

use ai_message_core::ports::*;
use ai_message_core::{ConversationSummary, Gated, Message, Page, SessionGate};
use async_trait::async_trait;

use crate::SqliteStore;
use crate::messages::{messages_of, summaries_of};
use crate::sessions::session_with_user;

#[async_trait]
impl SessionReads for SqliteStore {
    async fn messages_with_session(
        &self,
        gate: SessionGate,
        scope: MessageScope,
        page: Page,
    ) -> Result<Gated<Vec<Message>>, PortError> {
        self.db
            .read(move |conn| {
                let checked = gate.check(session_with_user(conn, gate.session_id())?);
                Gated::after(checked, |_| messages_of(conn, gate.user_id(), &scope, page))
            })
            .await
    }

    async fn conversations_with_session(
        &self,
        gate: SessionGate,
    ) -> Result<Gated<Vec<ConversationSummary>>, PortError> {
        self.db
            .read(move |conn| {
                let checked = gate.check(session_with_user(conn, gate.session_id())?);
                Gated::after(checked, |_| summaries_of(conn, gate.user_id()))
            })
            .await
    }
}
