//! WhatsApp and SMS through Twilio: a channel of the AI Message backend.
//!
//! Inbound, [`webhook`] takes the form Twilio posts for each incoming message, checks its
//! `X-Twilio-Signature` and hands the text to the core's phone chat; it answers an empty
//! TwiML document at once. Outbound, [`TwilioSender`] sends the replies through the Messages
//! API, split at Twilio's length limit and retried with back-off.

mod sender;
mod signature;
mod webhook;

use std::time::Duration;

pub use sender::{MAX_BODY_CHARS, SetupError, TwilioSender, split_for_twilio};
pub use signature::{SIGNATURE_HEADER, signature};
pub use webhook::{IDEMPOTENCY_HEADER, TwilioWebhook, webhook};

/// Texts that reached the webhook, by what became of them.
pub const TEXTS: &str = "twilio_webhook_texts_total";
/// Replies sent through the Messages API, or given up after the retries.
pub const REPLIES: &str = "twilio_replies_total";

/// Describes the channel's metrics for the exposition's `# HELP` lines.
pub fn describe_metrics() {
    metrics::describe_counter!(
        TEXTS,
        "Twilio webhook requests by outcome (accepted, already_received, unregistered, \
         unregistered_unanswered, no_text, bad_signature, other_account, bad_request, \
         unavailable)"
    );
    metrics::describe_counter!(
        REPLIES,
        "Replies through Twilio by outcome (sent, given_up)"
    );
}

/// The path Twilio posts to unless `TWILIO_WEBHOOK_PATH` names another (both are served).
pub const DEFAULT_WEBHOOK_PATH: &str = "/twilio_webhook";
/// Twilio's REST API.
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";

/// The channel's settings (`TWILIO_*`).
#[derive(Clone, PartialEq, Eq)]
pub struct TwilioSettings {
    /// `TWILIO_ACCOUNT_SID`: whose Messages API sends the replies; set, a webhook request
    /// naming another `AccountSid` is refused.
    pub account_sid: Option<String>,
    /// `TWILIO_AUTH_TOKEN`: signs the webhooks and authenticates the sends. Without it the
    /// channel is off unless `allow_unsigned`.
    pub auth_token: Option<String>,
    /// `TWILIO_PHONE_NUMBER`: the number replies come from (`whatsapp:` added for WhatsApp);
    /// unset, the number the person wrote to.
    pub phone_number: Option<String>,
    /// `TWILIO_API_BASE`.
    pub api_base: String,
    /// `TWILIO_WEBHOOK_URL`: the URL Twilio calls, as Twilio signs it (behind a proxy the
    /// server cannot know it). Required with a token: without it no signature is taken, as
    /// the URL a request names (its `Host`) is the caller's to choose.
    pub webhook_url: Option<String>,
    /// `TWILIO_WEBHOOK_PATH`: a path to serve the webhook at besides the default.
    pub webhook_path: Option<String>,
    /// `TWILIO_ALLOW_UNSIGNED`: requests without a signature are taken (a forged one is
    /// still refused when a token is set).
    pub allow_unsigned: bool,
    /// `TWILIO_SEND_ATTEMPTS`: tries of one send before giving up.
    pub send_attempts: u32,
    /// `TWILIO_RETRY_DELAY_MS`: the wait after the first failed try; doubled after each.
    pub retry_delay: Duration,
    /// One call to the Messages API at most.
    pub request_timeout: Duration,
}

impl Default for TwilioSettings {
    fn default() -> Self {
        Self {
            account_sid: None,
            auth_token: None,
            phone_number: None,
            api_base: DEFAULT_API_BASE.to_string(),
            webhook_url: None,
            webhook_path: None,
            allow_unsigned: false,
            send_attempts: 4,
            retry_delay: Duration::from_secs(2),
            request_timeout: Duration::from_secs(15),
        }
    }
}

impl std::fmt::Debug for TwilioSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioSettings")
            .field("account_sid", &self.account_sid)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("phone_number", &self.phone_number)
            .field("api_base", &self.api_base)
            .field("webhook_url", &self.webhook_url)
            .field("webhook_path", &self.webhook_path)
            .field("allow_unsigned", &self.allow_unsigned)
            .field("send_attempts", &self.send_attempts)
            .field("retry_delay", &self.retry_delay)
            .finish_non_exhaustive()
    }
}

impl TwilioSettings {
    /// Whether the webhook is served: with a token to check signatures, or when the
    /// operator chose to take unsigned requests.
    pub fn webhook_enabled(&self) -> bool {
        self.auth_token.is_some() || self.allow_unsigned
    }

    /// The paths the webhook is served at.
    pub fn webhook_paths(&self) -> Vec<String> {
        let mut paths = vec![DEFAULT_WEBHOOK_PATH.to_string()];
        if let Some(path) = &self.webhook_path
            && path != DEFAULT_WEBHOOK_PATH
        {
            paths.push(path.clone());
        }
        paths
    }
}
