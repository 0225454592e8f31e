//! A messaging channel outside the app (WhatsApp, SMS): how replies go out on it.

use async_trait::async_trait;

use crate::domain::ChannelMessageId;

/// Where a channel delivers a reply, in the channel's own addresses: opaque to the core,
/// handed back as the inbound adapter gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyRoute {
    /// The person, as the channel names them (`whatsapp:+60123456789`).
    pub to: String,
    /// The address they wrote to, as the channel names it.
    pub from: String,
}

/// Where a message came in from a channel: the channel's own id of it, and where replies to
/// its sender go. Stored with the message, so an answer any instance makes later (after a
/// crash) still goes back out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelOrigin {
    pub receipt: ChannelMessageId,
    pub route: ReplyRoute,
}

impl ChannelOrigin {
    /// What takes the message once: its receipt, and its delivery's id where the channel
    /// gives one.
    pub fn receipts(&self, delivery: Option<ChannelMessageId>) -> Vec<ChannelMessageId> {
        std::iter::once(self.receipt.clone())
            .chain(delivery)
            .collect()
    }
}

/// A reply the channel would not take, after the adapter's retries.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ChannelSendError(pub String);

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait ChannelReplies: Send + Sync {
    /// Sends `text` to `route.to`, split as the channel requires. Retries what may succeed
    /// later a bounded number of times, then returns the last failure. `reference` (the
    /// incoming message's id on the channel) names the exchange in the adapter's logs.
    async fn send(
        &self,
        route: &ReplyRoute,
        text: &str,
        reference: &str,
    ) -> Result<(), ChannelSendError>;
}
