//! The session check and a read sent together: tokio-postgres pipelines queries that are in
//! flight at once, so both travel in one round trip. The read is returned only beside the
//! gate's admission. A page of messages goes on the connection the hot reads share
//! ([`crate::shared_reads`]); a conversation list, up to thousands of rows, keeps a pooled
//! connection so that no short read waits behind it.

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
        // A page of the default size or less shares; a larger one (up to 500 messages) is
        // long enough to hold up the reads behind it, so it keeps a connection of its own.
        let (shared, pooled);
        let client: &deadpool_postgres::Object = if page.limit() <= Page::DEFAULT_LIMIT {
            shared = self.reads.client().await?;
            &shared
        } else {
            pooled = self.client().await?;
            &pooled
        };
        let (session, read) = tokio::try_join!(
            session_with_user(client, gate.session_id()),
            messages_of(client, gate.user_id(), &scope, page)
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
