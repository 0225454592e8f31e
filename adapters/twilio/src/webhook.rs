//! `POST /twilio_webhook`: a message someone sent to the service's number, as Twilio posts
//! it. Answered at once with an empty TwiML document; the reply goes out later through the
//! Messages API.

use std::sync::Arc;

use ai_message_core::ports::ReplyRoute;
use ai_message_core::usecases::channels::{IncomingText, PhoneChat, Received};
use ai_message_core::{ChannelMessageId, PhoneRules};
use poem::http::StatusCode;
use poem::{Endpoint, Request, Response};
use sha1::{Digest, Sha1};

use crate::TwilioSettings;
use crate::signature::{SIGNATURE_HEADER, signed_by, with_port_variants};

/// An empty TwiML document: nothing to say at once.
const EMPTY_TWIML: &str = "<Response/>";
const WHATSAPP: &str = "whatsapp:";
/// The header Twilio sends with each webhook request, the same on its retries.
pub const IDEMPOTENCY_HEADER: &str = "I-Twilio-Idempotency-Token";
/// The longest `From` taken: Twilio's addresses (`whatsapp:+` and 15 digits) are far
/// shorter, and the address is kept to count its fixed replies.
const MAX_FROM_CHARS: usize = ChannelMessageId::MAX_CHARS;

struct Webhook {
    token: Option<String>,
    allow_unsigned: bool,
    /// The URL Twilio signs (required with a token).
    public_url: Option<String>,
    account_sid: Option<String>,
    phone_number: Option<String>,
    phone_rules: PhoneRules,
    chat: PhoneChat,
}

/// The webhook's endpoint; serve it for POST at each of [`TwilioSettings::webhook_paths`].
#[derive(Clone)]
pub struct TwilioWebhook(Arc<Webhook>);

pub fn webhook(
    settings: &TwilioSettings,
    chat: PhoneChat,
    phone_rules: PhoneRules,
) -> TwilioWebhook {
    if settings.auth_token.is_some() && settings.webhook_url.is_none() {
        tracing::error!(
            "TWILIO_WEBHOOK_URL is not set: no signature can be checked, every signed \
             webhook request is refused"
        );
    }
    TwilioWebhook(Arc::new(Webhook {
        token: settings.auth_token.clone(),
        allow_unsigned: settings.allow_unsigned,
        public_url: settings.webhook_url.clone(),
        account_sid: settings.account_sid.clone(),
        phone_number: settings.phone_number.clone(),
        phone_rules,
        chat,
    }))
}

/// A request that is not taken: its status, its `detail`, and its metric's outcome.
struct Refused {
    status: StatusCode,
    detail: String,
    outcome: &'static str,
}

impl Refused {
    fn bad_request(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            detail: detail.into(),
            outcome: "bad_request",
        }
    }

    fn response(&self) -> Response {
        refusal(self.status, &self.detail)
    }
}

impl Endpoint for TwilioWebhook {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        self.0.handle(request).await
    }
}

fn refusal(status: StatusCode, detail: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(serde_json::json!({ "detail": detail }).to_string())
}

/// The first value of a form field.
fn field<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

impl Webhook {
    async fn handle(&self, mut request: Request) -> poem::Result<Response> {
        let body = request.take_body().into_bytes().await?;
        // Decoded as Twilio encodes it (`+` is a space, `%3A` a colon), every field kept:
        // the signature covers them all.
        let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        if let Some(refused) = self.refuse_unsigned(&request, &params) {
            count("bad_signature");
            return Ok(refused);
        }
        let is_form = request
            .content_type()
            .and_then(|value| value.split(';').next())
            .is_some_and(|media| {
                media
                    .trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            count("bad_request");
            return Ok(refusal(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Twilio posts application/x-www-form-urlencoded",
            ));
        }
        let incoming = match self.incoming(&request, &params) {
            Ok(incoming) => incoming,
            Err(refused) => {
                count(refused.outcome);
                return Ok(refused.response());
            }
        };
        let reference = incoming.id.clone();
        match self.chat.receive(incoming).await {
            Ok(received) => {
                let outcome = match received {
                    Received::Accepted { .. } => "accepted",
                    Received::AlreadyReceived => "already_received",
                    Received::Unregistered { answered: true } => "unregistered",
                    Received::Unregistered { answered: false } => "unregistered_unanswered",
                    Received::NoText => "no_text",
                    Received::PhoneVerified { .. } => "phone_verified",
                    Received::WrongCode => "wrong_code",
                };
                count(outcome);
                tracing::info!(reference = %reference, outcome, "a text came in through Twilio");
                Ok(Response::builder()
                    .content_type("text/xml; charset=utf-8")
                    .body(EMPTY_TWIML))
            }
            Err(error) => {
                // Nothing was taken: Twilio's retry may succeed.
                tracing::error!(reference = %reference, error = %error, "could not take a text");
                count("unavailable");
                let mut response = refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The message could not be stored; try again",
                );
                response
                    .headers_mut()
                    .insert("retry-after", poem::http::HeaderValue::from_static("1"));
                Ok(response)
            }
        }
    }

    /// The 403 for a request whose signature is missing or wrong; `None` when it may pass.
    fn refuse_unsigned(&self, request: &Request, params: &[(String, String)]) -> Option<Response> {
        let claimed = request.header(SIGNATURE_HEADER);
        let Some(token) = &self.token else {
            // Unsigned mode without a token: nothing to check against.
            return None;
        };
        let valid = match claimed {
            Some(claimed) => signed_by(token, &self.signed_urls(request), params, claimed),
            None if self.allow_unsigned => return None,
            None => false,
        };
        if valid {
            return None;
        }
        tracing::warn!(
            signed = claimed.is_some(),
            "refused a Twilio webhook whose signature does not match"
        );
        Some(refusal(StatusCode::FORBIDDEN, "Invalid Twilio signature"))
    }

    /// The URLs Twilio may have signed: the configured public URL, and its origin with the
    /// path this request came to (both webhook paths are served), each with the configured
    /// query. None when the request's query is another (the query is part of what is
    /// signed, and a caller could shift bytes between it and the form), or when no public
    /// URL is configured: the URL a request names (its `Host`) is the caller's to choose.
    fn signed_urls(&self, request: &Request) -> Vec<String> {
        let Some(url) = &self.public_url else {
            return Vec::new();
        };
        let query = query_of(url);
        if request.uri().query() != query {
            return Vec::new();
        }
        let mut urls = vec![url.clone()];
        if let Some(origin) = origin_of(url) {
            let path = request.uri().path();
            urls.push(match query {
                Some(query) => format!("{origin}{path}?{query}"),
                None => format!("{origin}{path}"),
            });
        }
        urls.dedup();
        urls.iter()
            .flat_map(|url| with_port_variants(url))
            .collect()
    }

    /// The text in the form, refused when Twilio could not have posted it so: Twilio's
    /// signature runs names and values together, so a captured request can be re-cut
    /// (one field's name and value moved into its neighbour's value) and still be signed.
    fn incoming(
        &self,
        request: &Request,
        params: &[(String, String)],
    ) -> Result<IncomingText, Refused> {
        if let Some(name) = repeated_name(params) {
            return Err(Refused::bad_request(format!(
                "{name} is given more than once"
            )));
        }
        let id =
            field(params, "MessageSid").ok_or(Refused::bad_request("MessageSid is required"))?;
        if !is_message_sid(id) {
            return Err(Refused::bad_request(
                "MessageSid: must be SM or MM followed by 32 hexadecimal digits",
            ));
        }
        for other in ["SmsMessageSid", "SmsSid"] {
            if field(params, other).is_some_and(|value| value != id) {
                return Err(Refused::bad_request(format!(
                    "{other} must equal MessageSid"
                )));
            }
        }
        let id = ChannelMessageId::parse(id)
            .map_err(|e| Refused::bad_request(format!("{}: {}", e.field, e.rule)))?;
        let from = field(params, "From")
            .filter(|from| !from.trim().is_empty())
            .ok_or(Refused::bad_request("From is required"))?;
        if from.chars().count() > MAX_FROM_CHARS {
            return Err(Refused::bad_request(format!(
                "From: at most {MAX_FROM_CHARS} characters"
            )));
        }
        if let Some(ours) = &self.account_sid
            && field(params, "AccountSid") != Some(ours.as_str())
        {
            return Err(Refused {
                status: StatusCode::FORBIDDEN,
                detail: "AccountSid is not this service's Twilio account".into(),
                outcome: "other_account",
            });
        }
        let (whatsapp, number) = match from.get(..WHATSAPP.len()) {
            Some(prefix) if prefix.eq_ignore_ascii_case(WHATSAPP) => {
                (true, &from[WHATSAPP.len()..])
            }
            _ => (false, from),
        };
        // Normalised as stored numbers are, so the match is exact. A sender that is no
        // phone number (a short code) matches nobody.
        let sender = self.phone_rules.parse(number).ok();
        let ours = match &self.phone_number {
            Some(number) if whatsapp && !number.starts_with(WHATSAPP) => {
                format!("{WHATSAPP}{number}")
            }
            Some(number) => number.clone(),
            None => field(params, "To").unwrap_or_default().to_string(),
        };
        Ok(IncomingText {
            id,
            delivery: request.header(IDEMPOTENCY_HEADER).and_then(delivery_id),
            sender,
            route: ReplyRoute {
                to: from.to_string(),
                from: ours,
            },
            text: field(params, "Body").unwrap_or_default().to_string(),
        })
    }
}

/// A name that appears twice in the form: Twilio sends each field once, and with a name
/// twice the signed text no longer says which value is which.
fn repeated_name(params: &[(String, String)]) -> Option<&str> {
    let mut names: Vec<&str> = params.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    names
        .windows(2)
        .find(|pair| pair[0] == pair[1])
        .map(|pair| pair[0])
}

/// Twilio's message SID: `SM` (or `MM` with media) and 32 hexadecimal digits.
fn is_message_sid(value: &str) -> bool {
    value.len() == 34
        && (value.starts_with("SM") || value.starts_with("MM"))
        && value[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The receipt of one delivery from Twilio's idempotency token: a digest, as the token's
/// length is Twilio's to choose and a receipt's is bounded; prefixed so that it can never be
/// a message SID.
fn delivery_id(token: &str) -> Option<ChannelMessageId> {
    let token = token.trim();
    if token.is_empty() {
        return None;
    }
    let digest = Sha1::digest(token.as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    ChannelMessageId::parse(format!("delivery:{hex}")).ok()
}

fn count(outcome: &'static str) {
    metrics::counter!(crate::TEXTS, "outcome" => outcome).increment(1);
}

/// The query of a URL (what follows `?`, up to a `#`), if it has one.
fn query_of(url: &str) -> Option<&str> {
    let without_fragment = url.split('#').next().unwrap_or(url);
    without_fragment.split_once('?').map(|(_, query)| query)
}

/// `scheme://authority` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    Some(format!("{scheme}://{}", &rest[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_sid_is_sm_or_mm_and_32_hex_digits() {
        let hex = "0123456789abcdef0123456789ABCDEF";
        assert!(is_message_sid(&format!("SM{hex}")));
        assert!(is_message_sid(&format!("MM{hex}")));
        for other in [
            format!("SM{hex}MessageTypetext"),
            format!("SM{}", &hex[1..]),
            format!("MG{hex}"),
            format!("sm{hex}"),
            format!("SM{}g", &hex[1..]),
            "SM1000".to_string(),
            String::new(),
        ] {
            assert!(!is_message_sid(&other), "{other}");
        }
    }

    #[test]
    fn a_name_given_twice_is_found() {
        let params = |names: &[&str]| -> Vec<(String, String)> {
            names.iter().map(|n| (n.to_string(), "v".into())).collect()
        };
        assert_eq!(repeated_name(&params(&["Body", "From", "To"])), None);
        assert_eq!(
            repeated_name(&params(&["Body", "From", "Body"])),
            Some("Body")
        );
    }

    #[test]
    fn the_query_of_a_url_stops_at_its_fragment() {
        assert_eq!(query_of("https://a.example/hook"), None);
        assert_eq!(query_of("https://a.example/hook?x=1"), Some("x=1"));
        assert_eq!(query_of("https://a.example/hook?x=1#rc=2"), Some("x=1"));
        assert_eq!(query_of("https://a.example/hook#rc=2"), None);
    }

    #[test]
    fn a_delivery_id_is_a_digest_that_no_message_sid_can_equal() {
        let id = delivery_id("AC123-some-token").unwrap();
        assert_eq!(id, delivery_id(" AC123-some-token ").unwrap());
        assert_ne!(id, delivery_id("AC123-other-token").unwrap());
        assert!(id.as_str().starts_with("delivery:") && !is_message_sid(id.as_str()));
        assert!(delivery_id(&"x".repeat(10_000)).is_some(), "any length");
        assert_eq!(delivery_id("  "), None);
    }
}
