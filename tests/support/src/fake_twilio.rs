//! A fake Twilio Messages API on 127.0.0.1, port 0: it records every
//! `POST /2010-04-01/Accounts/{sid}/Messages.json` and can be told to fail, so tests see
//! what the channel sends without any network. Also: webhook requests signed as Twilio
//! documents it, written here apart from the adapter so one mistake cannot hide in both.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use poem::http::StatusCode;
use poem::web::Path;
use poem::{EndpointExt, Response, Route, handler, post};

use ai_message_twilio::TwilioSettings;

pub const ACCOUNT_SID: &str = "AC00000000000000000000000000000001";
pub const AUTH_TOKEN: &str = "twilio-test-auth-token";
/// The service's number, as `TWILIO_PHONE_NUMBER` names it.
pub const SERVICE_NUMBER: &str = "+14155238886";
/// The URL configured in the Twilio console (`TWILIO_WEBHOOK_URL`).
pub const WEBHOOK_URL: &str = "https://school.example/twilio_webhook";

/// One call to the Messages API as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub account_sid: String,
    pub authorization: Option<String>,
    pub to: String,
    pub from: String,
    pub body: String,
    /// Whether the fake took it (2xx) or answered with an error.
    pub accepted: bool,
}

#[derive(Default)]
struct State {
    failures: Mutex<VecDeque<u16>>,
    calls: Mutex<Vec<SentMessage>>,
}

pub struct FakeTwilio {
    /// `http://127.0.0.1:<port>`: what `TWILIO_API_BASE` would be.
    pub api_base: String,
    state: Arc<State>,
    _server: crate::loopback::LoopbackServer,
}

impl FakeTwilio {
    pub async fn start() -> Self {
        let state = Arc::new(State::default());
        let app = Route::new()
            .at("/2010-04-01/Accounts/:sid/Messages.json", post(messages))
            .data(state.clone());
        let server = crate::loopback::LoopbackServer::start(app).await;
        Self {
            api_base: format!("http://127.0.0.1:{}", server.port),
            state,
            _server: server,
        }
    }

    /// Channel settings that send here: the test account, token and number, the public URL
    /// [`WEBHOOK_URL`], three tries 10 ms apart.
    pub fn settings(&self) -> TwilioSettings {
        TwilioSettings {
            account_sid: Some(ACCOUNT_SID.into()),
            auth_token: Some(AUTH_TOKEN.into()),
            phone_number: Some(SERVICE_NUMBER.into()),
            api_base: self.api_base.clone(),
            webhook_url: Some(WEBHOOK_URL.into()),
            send_attempts: 3,
            retry_delay: Duration::from_millis(10),
            ..TwilioSettings::default()
        }
    }

    /// The next calls answer these statuses, in order.
    pub fn fail_next(&self, statuses: impl IntoIterator<Item = u16>) {
        self.state.failures.lock().unwrap().extend(statuses);
    }

    /// Every call so far, failed ones included.
    pub fn calls(&self) -> Vec<SentMessage> {
        self.state.calls.lock().unwrap().clone()
    }

    /// The messages taken so far.
    pub fn delivered(&self) -> Vec<SentMessage> {
        self.calls().into_iter().filter(|m| m.accepted).collect()
    }

    /// Waits (5 s at most) until `count` messages were taken, and returns them all.
    pub async fn wait_for_delivered(&self, count: usize) -> Vec<SentMessage> {
        self.wait_until(|calls| calls.iter().filter(|m| m.accepted).count() >= count)
            .await;
        self.delivered()
    }

    /// Waits (5 s at most) until `count` calls were made, taken or not.
    pub async fn wait_for_calls(&self, count: usize) -> Vec<SentMessage> {
        self.wait_until(|calls| calls.len() >= count).await;
        self.calls()
    }

    async fn wait_until(&self, done: impl Fn(&[SentMessage]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !done(&self.calls()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the fake Twilio waited in vain; calls: {:?}",
                self.calls()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[handler]
async fn messages(
    request: &poem::Request,
    Path(sid): Path<String>,
    body: String,
    state: poem::web::Data<&Arc<State>>,
) -> Response {
    let field = |name: &str| {
        form_urlencoded::parse(body.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    let failure = state.failures.lock().unwrap().pop_front();
    state.calls.lock().unwrap().push(SentMessage {
        account_sid: sid,
        authorization: request.header("authorization").map(str::to_string),
        to: field("To"),
        from: field("From"),
        body: field("Body"),
        accepted: failure.is_none(),
    });
    match failure {
        Some(status) => Response::builder()
            .status(StatusCode::from_u16(status).unwrap())
            .content_type("application/json")
            .body(
                serde_json::json!({"code": 20500, "message": "fake failure", "status": status})
                    .to_string(),
            ),
        None => Response::builder()
            .status(StatusCode::CREATED)
            .content_type("application/json")
            .body(serde_json::json!({"sid": "SMfake", "status": "queued"}).to_string()),
    }
}

/// The `Authorization` header Twilio's API expects of the test account.
pub fn basic_auth() -> String {
    let credentials = format!("{ACCOUNT_SID}:{AUTH_TOKEN}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

/// `X-Twilio-Signature` for a POST of `params` to `url`: HMAC-SHA1 keyed with `token` over
/// the URL and then each parameter's name and value, sorted by name; base64.
pub fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut signed = url.to_string();
    for (name, value) in sorted {
        signed.push_str(name);
        signed.push_str(value);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `params` as Twilio encodes a form body.
pub fn form_body(params: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// A `MessageSid` of Twilio's shape (`SM` and 32 hex digits) that ends in `$digits` (four).
#[macro_export]
macro_rules! message_sid {
    ($digits:literal) => {
        concat!("SM0000000000000000000000000000", $digits)
    };
}

/// The header Twilio sends with each webhook request, the same on its retries.
pub const IDEMPOTENCY_HEADER: &str = "I-Twilio-Idempotency-Token";

/// The fields Twilio posts for a text from `from` (`whatsapp:+60…` or `+60…`).
pub fn incoming_text<'a>(
    message_sid: &'a str,
    from: &'a str,
    body: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let to = if from.starts_with("whatsapp:") {
        "whatsapp:+14155238886"
    } else {
        SERVICE_NUMBER
    };
    vec![
        ("MessageSid", message_sid),
        ("SmsMessageSid", message_sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", from),
        ("To", to),
        ("Body", body),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("ApiVersion", "2010-04-01"),
    ]
}
