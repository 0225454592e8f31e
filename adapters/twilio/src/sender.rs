//! Replies out through Twilio's Messages API.

use std::time::Duration;

use ai_message_core::ports::{ChannelReplies, ChannelSendError, ReplyRoute};
use async_trait::async_trait;

use crate::TwilioSettings;

/// Twilio refuses a message body longer than this (characters, as UTF-16 counts them).
pub const MAX_BODY_CHARS: usize = 1_600;

/// Why the sender cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("needs {0} to send replies")]
    Missing(&'static str),
    #[error("TWILIO_API_BASE: {0}")]
    ApiBase(String),
    #[error("the HTTP client: {0}")]
    Client(String),
}

/// Sends texts through `POST {api}/2010-04-01/Accounts/{sid}/Messages.json`.
pub struct TwilioSender {
    http: reqwest::Client,
    messages_url: String,
    account_sid: String,
    auth_token: String,
    attempts: u32,
    retry_delay: Duration,
}

impl TwilioSender {
    pub fn new(settings: &TwilioSettings) -> Result<Self, SetupError> {
        let account_sid = settings
            .account_sid
            .clone()
            .ok_or(SetupError::Missing("TWILIO_ACCOUNT_SID"))?;
        let auth_token = settings
            .auth_token
            .clone()
            .ok_or(SetupError::Missing("TWILIO_AUTH_TOKEN"))?;
        let base = settings.api_base.trim_end_matches('/');
        let parsed = reqwest::Url::parse(base).map_err(|e| SetupError::ApiBase(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SetupError::ApiBase(format!(
                "'{base}' is not an http(s) URL"
            )));
        }
        let sid_in_path: String = form_urlencoded::byte_serialize(account_sid.as_bytes()).collect();
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .build()
            .map_err(|e| SetupError::Client(e.to_string()))?;
        Ok(Self {
            http,
            messages_url: format!("{base}/2010-04-01/Accounts/{sid_in_path}/Messages.json"),
            account_sid,
            auth_token,
            attempts: settings.send_attempts.max(1),
            retry_delay: settings.retry_delay,
        })
    }

    /// One call: `Ok` when Twilio took the message.
    async fn post(&self, route: &ReplyRoute, body: &str) -> Result<(), String> {
        let response = self
            .http
            .post(&self.messages_url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&[
                ("To", route.to.as_str()),
                ("From", route.from.as_str()),
                ("Body", body),
            ])
            .send()
            .await
            .map_err(|e| format!("Twilio could not be reached: {e}"))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // Twilio explains a refusal in `code` and `message`; never echo more than that.
        let explained = response
            .json::<serde_json::Value>()
            .await
            .ok()
            .map(|error| format!(" (code {}: {})", error["code"], error["message"]))
            .unwrap_or_default();
        Err(format!("Twilio answered {status}{explained}"))
    }

    /// Tries one part until it goes out or the tries are used up, waiting longer each time.
    async fn post_with_retries(
        &self,
        route: &ReplyRoute,
        body: &str,
        reference: &str,
    ) -> Result<(), ChannelSendError> {
        let mut delay = self.retry_delay;
        for attempt in 1..=self.attempts {
            match self.post(route, body).await {
                Ok(()) => return Ok(()),
                Err(problem) if attempt == self.attempts => {
                    metrics::counter!(crate::REPLIES, "outcome" => "given_up").increment(1);
                    return Err(ChannelSendError(format!(
                        "{problem}; gave up after {attempt} tries"
                    )));
                }
                Err(problem) => {
                    tracing::warn!(
                        reference,
                        attempt,
                        problem = %problem,
                        retry_in_ms = delay.as_millis() as u64,
                        "a reply through Twilio failed; trying again"
                    );
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                }
            }
        }
        unreachable!("at least one attempt is made")
    }
}

#[async_trait]
impl ChannelReplies for TwilioSender {
    async fn send(
        &self,
        route: &ReplyRoute,
        text: &str,
        reference: &str,
    ) -> Result<(), ChannelSendError> {
        // In order, one after the other: the parts arrive as one reply reads.
        for part in split_for_twilio(text, MAX_BODY_CHARS) {
            self.post_with_retries(route, &part, reference).await?;
        }
        metrics::counter!(crate::REPLIES, "outcome" => "sent").increment(1);
        tracing::info!(reference, "a reply went out through Twilio");
        Ok(())
    }
}

/// `text` in parts of at most `max` UTF-16 units (Twilio's count), cut after a line or a
/// word where one ends in the second half of a part, else between characters.
pub fn split_for_twilio(text: &str, max: usize) -> Vec<String> {
    let max = max.max(2);
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let mut units = 0;
        let mut end = rest.len();
        for (index, c) in rest.char_indices() {
            units += c.len_utf16();
            if units > max {
                end = index;
                break;
            }
        }
        if end < rest.len() {
            let window = &rest[..end];
            let cut = window
                .rfind('\n')
                .or_else(|| window.rfind(char::is_whitespace))
                .filter(|&at| at >= end / 2);
            if let Some(at) = cut {
                end = at;
            }
        }
        parts.push(rest[..end].trim_end().to_string());
        rest = rest[end..].trim_start();
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16_len(text: &str) -> usize {
        text.encode_utf16().count()
    }

    #[test]
    fn a_short_reply_is_one_part() {
        assert_eq!(
            split_for_twilio("Hello there", MAX_BODY_CHARS),
            ["Hello there"]
        );
        assert!(split_for_twilio("  ", MAX_BODY_CHARS).is_empty());
    }

    #[test]
    fn a_long_reply_is_cut_between_words_within_the_limit_and_loses_no_word() {
        let words: Vec<String> = (0..900).map(|i| format!("word{i}")).collect();
        let text = words.join(" ");
        let parts = split_for_twilio(&text, MAX_BODY_CHARS);
        assert!(parts.len() >= 4, "{} parts", parts.len());
        for part in &parts {
            assert!(utf16_len(part) <= MAX_BODY_CHARS);
            assert!(!part.starts_with(' ') && !part.ends_with(' '));
        }
        assert_eq!(parts.join(" "), text, "cut only at spaces");
    }

    #[test]
    fn text_without_spaces_and_wide_characters_are_cut_between_characters() {
        let text = "😀".repeat(1_000);
        let parts = split_for_twilio(&text, MAX_BODY_CHARS);
        assert_eq!(parts.len(), 2);
        assert_eq!(
            utf16_len(&parts[0]),
            MAX_BODY_CHARS,
            "800 emoji are 1,600 units"
        );
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn lines_are_preferred_to_words() {
        let first = "a ".repeat(600);
        let text = format!("{}\n{}", first.trim_end(), "b ".repeat(600).trim_end());
        let parts = split_for_twilio(&text, MAX_BODY_CHARS);
        assert_eq!(parts[0], first.trim_end());
    }
}
