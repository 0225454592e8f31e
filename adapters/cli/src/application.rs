//! The composition root: ports → use cases → HTTP application, wired in one place. `serve`
//! builds it from the configuration; tests, tools and benchmarks build it from [`Parts`]
//! with the pieces they swap (storage, hasher cost, clock, limits).

use std::sync::Arc;

use ai_message_bcrypt::BcryptHasher;
use ai_message_core::ports::{
    Assistant, Background, ChannelReplies, Clock, PasswordHasher, SecretSource, Storage, Work,
};
use ai_message_core::usecases::{Ports, Services, Settings};
use ai_message_http::limits::{LimitSettings, Limits};
use ai_message_http::{AccessTokens, AppState, CorsOrigins, ExtraRoute, TrustedProxies};
use ai_message_local::{OsSecretSource, SystemClock};
use ai_message_twilio::{TwilioSender, TwilioSettings};
use chrono::TimeDelta;
use poem::{Endpoint, EndpointExt, Response};

/// Everything the application is made of.
pub struct Parts {
    pub storage: Storage,
    pub hasher: Arc<dyn PasswordHasher>,
    pub clock: Arc<dyn Clock>,
    pub secrets: Arc<dyn SecretSource>,
    pub settings: Settings,
    pub limits: LimitSettings,
    /// HS256 key of access tokens.
    pub signing_key: Vec<u8>,
    pub access_token_ttl: TimeDelta,
    pub trusted_proxies: TrustedProxies,
    pub cors: CorsOrigins,
    /// The assistant's language model; `None`: the assistant answers 503.
    pub assistant: Option<Arc<dyn Assistant>>,
    /// WhatsApp and SMS through Twilio; `None`: the webhook is not served (404).
    pub twilio: Option<TwilioSettings>,
}

impl Parts {
    /// The production pieces around `storage` with default settings, bcrypt at its lowest
    /// cost and a fixed signing key: a base for tests and tools to change what they need.
    pub fn around(storage: Storage) -> Self {
        Self {
            storage,
            hasher: Arc::new(
                BcryptHasher::new(BcryptHasher::MIN_COST, 4).expect("the lowest cost is valid"),
            ),
            clock: Arc::new(SystemClock),
            secrets: Arc::new(OsSecretSource),
            settings: Settings::default(),
            limits: LimitSettings::default(),
            signing_key: b"a-key-for-tests-and-tools-only-32b".to_vec(),
            access_token_ttl: TimeDelta::minutes(30),
            trusted_proxies: TrustedProxies::none(),
            cors: CorsOrigins::Any,
            assistant: None,
            twilio: None,
        }
    }
}

/// The sender of replies on WhatsApp and SMS, when the settings allow one.
fn twilio_sender(twilio: &TwilioSettings) -> Option<Arc<dyn ChannelReplies>> {
    match TwilioSender::new(twilio) {
        Ok(sender) => Some(Arc::new(sender)),
        Err(problem) => {
            tracing::warn!("replies to WhatsApp and SMS messages will not be sent: {problem}");
            None
        }
    }
}

/// Background work as Tokio tasks of the server's runtime, tracked so that a shutdown can
/// wait for it (the assistant's replies to questions already stored).
#[derive(Default)]
struct TokioBackground {
    tasks: tokio_util::task::TaskTracker,
}

impl Background for TokioBackground {
    fn spawn(&self, work: Work) {
        self.tasks.spawn(work);
    }
}

/// The wired application.
pub struct Application {
    pub state: AppState,
    cors: CorsOrigins,
    twilio: Option<TwilioSettings>,
    background: Arc<TokioBackground>,
}

impl Application {
    pub fn build(parts: Parts) -> Self {
        let background = Arc::new(TokioBackground::default());
        let channel_replies = parts.twilio.as_ref().and_then(twilio_sender);
        let ports = Ports {
            assistant: parts.assistant,
            channel_replies,
            ..Ports::new(
                parts.storage,
                parts.hasher,
                parts.clock.clone(),
                parts.secrets,
                background.clone(),
            )
        };
        let state = AppState {
            services: Services::new(ports, parts.settings),
            tokens: AccessTokens::new(&parts.signing_key, parts.access_token_ttl, parts.clock),
            limits: Arc::new(Limits::new(parts.limits, &parts.trusted_proxies)),
            trusted_proxies: Arc::new(parts.trusted_proxies),
        };
        Self {
            state,
            cors: parts.cors,
            twilio: parts.twilio,
            background,
        }
    }

    /// Shutting down: model calls under way end with the fallback reply, then background
    /// work (the replies to questions already stored) is waited for, `grace` at most.
    pub async fn finish_background(&self, grace: std::time::Duration) {
        self.state.services.assistant.close();
        self.background.tasks.close();
        if tokio::time::timeout(grace, self.background.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.background.tasks.len(),
                "background work still running at the end of the shutdown grace"
            );
        }
    }

    /// The use cases, for callers that skip HTTP.
    pub fn services(&self) -> &Services {
        &self.state.services
    }

    /// The HTTP application.
    pub fn endpoint(&self) -> impl Endpoint<Output = Response> + use<> {
        let mut extra: Vec<ExtraRoute> = Vec::new();
        if let Some(twilio) = &self.twilio {
            let services = &self.state.services;
            let hook = ai_message_twilio::webhook(
                twilio,
                services.phone_chat.clone(),
                services.phone_rules,
            );
            for path in twilio.webhook_paths() {
                extra.push((path, hook.clone().boxed()));
            }
        }
        ai_message_http::app_with(self.state.clone(), &self.cors, extra)
    }

    /// The budgets of open connections, which the connection layer registers.
    pub fn connection_budgets(&self) -> Arc<ai_message_http::connection_budget::ConnectionBudgets> {
        self.state.limits.connections.clone()
    }

    /// The OpenAPI document, as `/openapi.json` serves it.
    pub fn openapi_document(&self) -> String {
        ai_message_http::openapi_document(&self.state)
    }
}
