//! Replies out through Twilio's Messages API.

use std::time::Duration;

use ai_message_core::ports::{ChannelReplies, ChannelSendError, ReplyRoute};
use async_trait::async_trait;

use crate::TwilioSettings;

/// The longest wait for a connection to Twilio's API.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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
            // Its own bound, so a connection that never opens is told apart from a request
            // that went out unanswered: only the first is tried again.
            .connect_timeout(settings.request_timeout.min(CONNECT_TIMEOUT))
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

    /// One call to the Messages API, and what it came to.
    async fn post(&self, route: &ReplyRoute, body: &str) -> Attempt {
        let (to, from) = same_channel(&route.to, &route.from);
        let sent = self
            .http
            .post(&self.messages_url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&[("To", to.as_str()), ("From", from.as_str()), ("Body", body)])
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            // The connection was never made: nothing reached Twilio.
            Err(error) if error.is_connect() => {
                return Attempt::Retry {
                    problem: format!("Twilio could not be reached: {error}"),
                    after: None,
                };
            }
            // The request went out and its answer did not come back: Twilio may have
            // taken it, and a second try could text the phone twice. The reply stays
            // stored (the web shows it), so at most once is the safer loss.
            Err(error) => {
                return Attempt::Final(format!(
                    "no answer from Twilio once the request was sent ({error}); not sent again, \
                     so the phone never gets it twice"
                ));
            }
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Sent;
        }
        let after = retry_after(response.headers());
        // Twilio explains a refusal in `code` and `message`; never echo more than that.
        let explained = response
            .json::<serde_json::Value>()
            .await
            .ok()
            .map(|error| format!(" (code {}: {})", error["code"], error["message"]))
            .unwrap_or_default();
        let problem = format!("Twilio answered {status}{explained}");
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Attempt::Retry { problem, after }
        } else {
            Attempt::Final(problem)
        }
    }

    /// Tries one part until it goes out, a try cannot help, or the tries are used up,
    /// waiting longer each time (and at least what Twilio's `Retry-After` asks).
    async fn post_with_retries(
        &self,
        route: &ReplyRoute,
        body: &str,
        reference: &str,
    ) -> Result<(), ChannelSendError> {
        let mut delay = self.retry_delay;
        let mut attempt = 0;
        let problem = loop {
            attempt += 1;
            let (problem, after) = match self.post(route, body).await {
                Attempt::Sent => return Ok(()),
                Attempt::Final(problem) => break problem,
                Attempt::Retry { problem, after } => (problem, after),
            };
            if attempt >= self.attempts {
                break format!("{problem}; gave up after {attempt} tries");
            }
            let wait = delay.max(after.unwrap_or_default());
            if wait > MAX_RETRY_AFTER {
                break format!(
                    "{problem}; Twilio asked for {} s before another try, more than a reply \
                     can wait",
                    wait.as_secs()
                );
            }
            tracing::warn!(
                reference,
                attempt,
                problem = %problem,
                retry_in_ms = wait.as_millis() as u64,
                "a reply through Twilio failed; trying again"
            );
            tokio::time::sleep(wait).await;
            delay = delay.saturating_mul(2);
        };
        metrics::counter!(crate::REPLIES, "outcome" => "given_up").increment(1);
        Err(ChannelSendError(problem))
    }
}

/// What one call to the Messages API came to.
enum Attempt {
    Sent,
    /// Another try can succeed: nothing reached Twilio, or Twilio asked for one (429, 5xx),
    /// perhaps naming the wait (`Retry-After`).
    Retry {
        problem: String,
        after: Option<Duration>,
    },
    /// Another try cannot help (any other 4xx) or could deliver the text twice.
    Final(String),
}

/// The longest wait before another try of a reply; a `Retry-After` asking for more gives
/// the reply up.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// `Retry-After` as seconds or an HTTP date (RFC 9110 allows both).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// Twilio refuses a pair of numbers on two channels: the reply goes from the service's
/// number on the recipient's channel (`whatsapp:` for WhatsApp, bare for SMS), whatever the
/// configured number says.
fn same_channel(to: &str, from: &str) -> (String, String) {
    let from = strip_whatsapp(from).unwrap_or(from);
    match strip_whatsapp(to) {
        Some(to) => (format!("{WHATSAPP}{to}"), format!("{WHATSAPP}{from}")),
        None => (to.to_string(), from.to_string()),
    }
}

const WHATSAPP: &str = "whatsapp:";

/// The number after a `whatsapp:` prefix, in any case.
fn strip_whatsapp(address: &str) -> Option<&str> {
    address
        .get(..WHATSAPP.len())
        .filter(|prefix| prefix.eq_ignore_ascii_case(WHATSAPP))
        .map(|_| &address[WHATSAPP.len()..])
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
    use std::sync::{Arc, Mutex};
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// What the fake Messages API does with one call.
    #[derive(Clone, Copy)]
    enum Script {
        Answer(u16, Option<&'static str>),
        /// Reads the request and never answers.
        Silent,
    }

    /// A Messages API on 127.0.0.1 that plays `script` (then takes every call with 201) and
    /// records each call's form and when it came.
    async fn fake_api(script: Vec<Script>) -> (String, Arc<Mutex<Vec<(String, Instant)>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let recorded = calls.clone();
        tokio::spawn(async move {
            let mut script = script.into_iter();
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let step = script.next().unwrap_or(Script::Answer(201, None));
                let calls = recorded.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let body = loop {
                        let read = socket.read(&mut chunk).await.unwrap_or(0);
                        if read == 0 {
                            return;
                        }
                        request.extend_from_slice(&chunk[..read]);
                        let text = String::from_utf8_lossy(&request).into_owned();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let length: usize = head
                                .lines()
                                .find_map(|l| {
                                    let (name, value) = l.split_once(':')?;
                                    name.eq_ignore_ascii_case("content-length")
                                        .then(|| value.trim().parse().ok())?
                                })
                                .unwrap_or(0);
                            if body.len() >= length {
                                break body.to_string();
                            }
                        }
                    };
                    calls.lock().unwrap().push((body, Instant::now()));
                    let (status, retry_after) = match step {
                        Script::Answer(status, retry_after) => (status, retry_after),
                        Script::Silent => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            return;
                        }
                    };
                    let json = format!(r#"{{"code": 21211, "message": "scripted {status}"}}"#);
                    let extra = retry_after
                        .map(|value| format!("retry-after: {value}\r\n"))
                        .unwrap_or_default();
                    let response = format!(
                        "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\n{extra}connection: close\r\n\r\n{json}",
                        json.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        (base, calls)
    }

    fn sender(api_base: &str) -> TwilioSender {
        TwilioSender::new(&TwilioSettings {
            account_sid: Some("AC00000000000000000000000000000001".into()),
            auth_token: Some("token".into()),
            phone_number: Some("whatsapp:+14155238886".into()),
            api_base: api_base.to_string(),
            send_attempts: 3,
            retry_delay: Duration::from_millis(10),
            request_timeout: Duration::from_millis(500),
            ..TwilioSettings::default()
        })
        .unwrap()
    }

    fn route(to: &str) -> ReplyRoute {
        ReplyRoute {
            to: to.to_string(),
            from: "whatsapp:+14155238886".to_string(),
        }
    }

    fn field(form: &str, name: &str) -> String {
        form_urlencoded::parse(form.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn a_reply_goes_from_the_service_number_on_the_recipients_channel() {
        let (base, calls) = fake_api(Vec::new()).await;
        let sender = sender(&base);
        for to in [
            "+60123456789",
            "whatsapp:+60123456789",
            "WhatsApp:+60123456789",
        ] {
            sender.send(&route(to), "hi", "SMtest").await.unwrap();
        }
        let pairs: Vec<(String, String)> = calls
            .lock()
            .unwrap()
            .iter()
            .map(|(form, _)| (field(form, "To"), field(form, "From")))
            .collect();
        let pair = |to: &str, from: &str| (to.to_string(), from.to_string());
        assert_eq!(
            pairs,
            [
                pair("+60123456789", "+14155238886"),
                pair("whatsapp:+60123456789", "whatsapp:+14155238886"),
                pair("whatsapp:+60123456789", "whatsapp:+14155238886"),
            ]
        );
    }

    #[tokio::test]
    async fn a_refusal_other_than_429_is_final_after_one_call() {
        for status in [400, 401, 404] {
            let (base, calls) = fake_api(vec![Script::Answer(status, None)]).await;
            let error = sender(&base)
                .send(&route("+60123456789"), "hi", "SMtest")
                .await
                .unwrap_err();
            assert_eq!(calls.lock().unwrap().len(), 1, "{status}: {error}");
            assert!(
                error.0.contains("code 21211"),
                "Twilio's code is logged: {error}"
            );
        }
    }

    #[tokio::test]
    async fn throttling_and_server_errors_are_retried_honouring_retry_after() {
        let script = vec![
            Script::Answer(429, Some("1")),
            Script::Answer(503, None),
            Script::Answer(201, None),
        ];
        let (base, calls) = fake_api(script).await;
        sender(&base)
            .send(&route("+60123456789"), "hi", "SMtest")
            .await
            .unwrap();
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 3);
        let waited = calls[1].1 - calls[0].1;
        assert!(
            waited >= Duration::from_secs(1),
            "Retry-After: 1 honoured: {waited:?}"
        );
    }

    #[tokio::test]
    async fn a_retry_after_longer_than_a_reply_can_wait_gives_up_at_once() {
        let (base, calls) = fake_api(vec![Script::Answer(429, Some("3600"))]).await;
        let error = sender(&base)
            .send(&route("+60123456789"), "hi", "SMtest")
            .await
            .unwrap_err();
        assert_eq!(calls.lock().unwrap().len(), 1, "{error}");
    }

    #[tokio::test]
    async fn a_request_sent_without_an_answer_is_not_sent_again() {
        let (base, calls) = fake_api(vec![Script::Silent]).await;
        let error = sender(&base)
            .send(&route("+60123456789"), "hi", "SMtest")
            .await
            .unwrap_err();
        assert_eq!(calls.lock().unwrap().len(), 1, "at most once: {error}");
        assert!(error.0.contains("not sent again"), "{error}");
    }

    #[tokio::test]
    async fn a_connection_that_never_opens_is_tried_again() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let error = sender(&base)
            .send(&route("+60123456789"), "hi", "SMtest")
            .await
            .unwrap_err();
        assert!(error.0.contains("gave up after 3 tries"), "{error}");
    }

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
