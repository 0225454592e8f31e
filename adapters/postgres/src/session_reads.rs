//! The session check and a read on one pooled connection, sent together: tokio-postgres
//! pipelines queries that are in flight at once, so both travel in one round trip. The read
//! is returned only beside the gate's admission.

use ai_message_core::ports::*;
use ai_message_core::{ConversationSummary, Gated, Message, Page, SessionGate};
use async_trait::async_trait;

use crate::PostgresStore;
use crate::messages::{messages_of, summaries_of};
use crate::sessions::session_with_user;

#[async_trait]
impl SessionReads for PostgresStore {
    async fn messages_with_session(
        &self,
        gate: SessionGate,
        scope: MessageScope,
        page: Page,
    ) -> Result<Gated<Vec<Message>>, PortError> {
        let client = self.client().await?;
        let (session, read) = tokio::try_join!(
            session_with_user(&client, gate.session_id()),
            messages_of(&client, gate.user_id(), &scope, page)
        )?;
        Gated::after(gate.check(session), |_| Ok(read))
    }

    async fn conversations_with_session(
        &self,
        gate: SessionGate,
    ) -> Result<Gated<Vec<ConversationSummary>>, PortError> {
        let client = self.client().await?;
        let (session, read) = tokio::try_join!(
            session_with_user(&client, gate.session_id()),
            summaries_of(&client, gate.user_id())
        )?;
        Gated::after(gate.check(session), |_| Ok(read))
    }
}
