//! `POST /twilio_webhook`: a message someone sent to the service's number, as Twilio posts
//! it. Answered at once with an empty TwiML document; the reply goes out later through the
//! Messages API.

use std::sync::Arc;

use ai_message_core::ports::ReplyRoute;
use ai_message_core::usecases::channels::{IncomingText, PhoneChat, Received};
use ai_message_core::{ChannelMessageId, PhoneRules};
use poem::http::StatusCode;
use poem::{Endpoint, Request, Response};

use crate::TwilioSettings;
use crate::signature::{SIGNATURE_HEADER, signed_by, with_port_variants};

/// An empty TwiML document: nothing to say at once.
const EMPTY_TWIML: &str = "<Response/>";
const WHATSAPP: &str = "whatsapp:";

struct Webhook {
    token: Option<String>,
    allow_unsigned: bool,
    public_url: Option<String>,
    /// The server listens with TLS: a URL rebuilt from `Host` starts `https`.
    tls: bool,
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
    tls: bool,
) -> TwilioWebhook {
    TwilioWebhook(Arc::new(Webhook {
        token: settings.auth_token.clone(),
        allow_unsigned: settings.allow_unsigned,
        public_url: settings.webhook_url.clone(),
        tls,
        phone_number: settings.phone_number.clone(),
        phone_rules,
        chat,
    }))
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
        let incoming = match self.incoming(&params) {
            Ok(incoming) => incoming,
            Err(detail) => {
                count("bad_request");
                return Ok(refusal(StatusCode::BAD_REQUEST, &detail));
            }
        };
        let reference = incoming.id.clone();
        match self.chat.receive(incoming).await {
            Ok(received) => {
                let outcome = match received {
                    Received::Accepted { .. } => "accepted",
                    Received::AlreadyReceived => "already_received",
                    Received::Unregistered => "unregistered",
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

    /// The URLs Twilio may have signed: the configured public URL (and its origin with the
    /// path this request came to, as both webhook paths are served), else the URL this
    /// request names.
    fn signed_urls(&self, request: &Request) -> Vec<String> {
        let path_and_query = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let mut urls = Vec::new();
        match &self.public_url {
            Some(url) => {
                urls.push(url.clone());
                if let Some(origin) = origin_of(url) {
                    urls.push(format!("{origin}{path_and_query}"));
                }
            }
            None => {
                let host = request
                    .header("host")
                    .map(str::to_string)
                    .or_else(|| request.uri().authority().map(|a| a.to_string()));
                if let Some(host) = host {
                    let scheme = if self.tls { "https" } else { "http" };
                    urls.push(format!("{scheme}://{host}{path_and_query}"));
                }
            }
        }
        urls.dedup();
        urls.iter()
            .flat_map(|url| with_port_variants(url))
            .collect()
    }

    fn incoming(&self, params: &[(String, String)]) -> Result<IncomingText, String> {
        let id = ["MessageSid", "SmsMessageSid", "SmsSid"]
            .iter()
            .find_map(|name| field(params, name))
            .ok_or("MessageSid is required")?;
        let id = ChannelMessageId::parse(id).map_err(|e| format!("{}: {}", e.field, e.rule))?;
        let from = field(params, "From")
            .filter(|from| !from.trim().is_empty())
            .ok_or("From is required")?;
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
            sender,
            route: ReplyRoute {
                to: from.to_string(),
                from: ours,
            },
            text: field(params, "Body").unwrap_or_default().to_string(),
        })
    }
}

fn count(outcome: &'static str) {
    metrics::counter!(crate::TEXTS, "outcome" => outcome).increment(1);
}

/// `scheme://authority` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    Some(format!("{scheme}://{}", &rest[..end]))
}
