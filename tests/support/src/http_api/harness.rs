//! An in-process client for the HTTP application: requests go straight to the poem endpoint,
//! with the real core, the given storage, bcrypt at cost 4 and a clock the test can move.

use std::sync::Arc;

use ai_message_bcrypt::BcryptHasher;
use ai_message_cli::{Application, Parts};
use ai_message_core::ports::Storage;
use ai_message_core::usecases::accounts::Registration;
use ai_message_core::usecases::assistant::AssistantSettings;
use ai_message_core::usecases::{LoginLimits, Services, Settings};
use ai_message_core::{Email, Password, Username};
use ai_message_http::TrustedProxies;
use ai_message_http::limits::LimitSettings;
use ai_message_local::ManualClock;
use poem::http::{HeaderMap, Method, StatusCode};
use poem::{Endpoint, EndpointExt, Request, Response};
use serde_json::{Value, json};

pub const SECRET: &[u8] = b"test-signing-key";

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl TestResponse {
    pub fn detail(&self) -> &str {
        self.json["detail"].as_str().unwrap_or("<no detail>")
    }

    /// Asserts status and `detail` together, showing the body when they differ.
    #[track_caller]
    pub fn assert_error(&self, status: u16, detail: &str) {
        assert_eq!(
            (self.status.as_u16(), self.detail()),
            (status, detail),
            "body: {}",
            self.text
        );
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        &self.json
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: i64,
    pub username: String,
    pub access: String,
    pub refresh: String,
}

pub enum Body {
    Empty,
    Json(Value),
    Raw(&'static str, String),
}

type App = Arc<poem::endpoint::BoxEndpoint<'static, Response>>;

pub struct TestServer {
    app: App,
    pub services: Services,
    pub clock: Arc<ManualClock>,
    storage: Storage,
}

impl TestServer {
    /// A server without rate limits (the suite hammers one client address on purpose).
    pub fn new(storage: Storage) -> Self {
        Self::build(
            storage,
            Settings {
                login_limits: LoginLimits::off(),
                ..Settings::default()
            },
            LimitSettings::without_rate_limits(),
            Arc::new(ManualClock::following_system()),
        )
    }

    /// Another server on the same storage and clock, with other policy settings.
    pub fn with_settings(&self, settings: Settings) -> Self {
        Self::build(
            self.storage.clone(),
            settings,
            LimitSettings::without_rate_limits(),
            self.clock.clone(),
        )
    }

    /// Another server on the same storage and clock, with these abuse limits.
    pub fn with_limits(&self, limits: LimitSettings) -> Self {
        Self::build(
            self.storage.clone(),
            Settings {
                login_limits: LoginLimits::off(),
                ..Settings::default()
            },
            limits,
            self.clock.clone(),
        )
    }

    /// Another server on the same storage and clock, with these login limits.
    pub fn with_login_limits(&self, login_limits: LoginLimits) -> Self {
        self.with_settings(Settings {
            login_limits,
            ..Settings::default()
        })
    }

    /// A server whose password hashing takes real time (a login in flight can be overtaken).
    pub fn with_bcrypt_cost(storage: Storage, cost: u32) -> Self {
        Self::build_with_cost(
            storage,
            Settings {
                login_limits: LoginLimits::off(),
                ..Settings::default()
            },
            LimitSettings::without_rate_limits(),
            Arc::new(ManualClock::following_system()),
            cost,
        )
    }

    fn build(
        storage: Storage,
        settings: Settings,
        limits: LimitSettings,
        clock: Arc<ManualClock>,
    ) -> Self {
        Self::build_with_cost(storage, settings, limits, clock, 4)
    }

    /// Another server on the same storage and clock whose assistant asks `model` (key
    /// `sk-test`, model `openai/test-model`, `timeout`), with these assistant settings.
    pub fn with_assistant(
        &self,
        model: &crate::fake_model::FakeModel,
        assistant: AssistantSettings,
        timeout: std::time::Duration,
    ) -> Self {
        let settings = Settings {
            login_limits: LoginLimits::off(),
            assistant,
            ..Settings::default()
        };
        self.with_parts(settings, Some(openai(model, timeout)), None)
    }

    /// Another server on the same storage and clock with WhatsApp and SMS through
    /// `twilio`, its assistant asking `model` when one is given.
    pub fn with_twilio(
        &self,
        twilio: ai_message_twilio::TwilioSettings,
        model: Option<&crate::fake_model::FakeModel>,
        settings: Settings,
    ) -> Self {
        let assistant = model.map(|model| openai(model, std::time::Duration::from_secs(10)));
        self.with_parts(settings, assistant, Some(twilio))
    }

    fn with_parts(
        &self,
        settings: Settings,
        assistant: Option<Arc<dyn ai_message_core::ports::Assistant>>,
        twilio: Option<ai_message_twilio::TwilioSettings>,
    ) -> Self {
        let application = Application::build(Parts {
            hasher: Arc::new(BcryptHasher::new(4, 4).unwrap()),
            clock: self.clock.clone(),
            settings,
            limits: LimitSettings::without_rate_limits(),
            signing_key: SECRET.to_vec(),
            trusted_proxies: TrustedProxies::any(),
            assistant,
            twilio,
            ..Parts::around(self.storage.clone())
        });
        Self {
            app: Arc::new(application.endpoint().boxed()),
            services: application.services().clone(),
            clock: self.clock.clone(),
            storage: self.storage.clone(),
        }
    }

    fn build_with_cost(
        storage: Storage,
        settings: Settings,
        limits: LimitSettings,
        clock: Arc<ManualClock>,
        bcrypt_cost: u32,
    ) -> Self {
        let application = Application::build(Parts {
            hasher: Arc::new(BcryptHasher::new(bcrypt_cost, 4).unwrap()),
            clock: clock.clone(),
            settings,
            limits,
            signing_key: SECRET.to_vec(),
            // In process there is no peer address: tests name the client with
            // `X-Forwarded-For`, as a trusted proxy would.
            trusted_proxies: TrustedProxies::any(),
            ..Parts::around(storage.clone())
        });
        let app: App = Arc::new(application.endpoint().boxed());
        Self {
            app,
            services: application.services().clone(),
            clock,
            storage,
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Body,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path.parse().unwrap());
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = match body {
            Body::Empty => builder.finish(),
            Body::Json(value) => builder
                .content_type("application/json")
                .body(value.to_string()),
            Body::Raw(content_type, text) => builder.content_type(content_type).body(text),
        };
        let response = self.app.get_response(request).await;
        let status = response.status();
        let headers = response.headers().clone();
        // Lossy: a binary answer (a backup file) still shows its ASCII parts.
        let bytes = response.into_body().into_bytes().await.unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        let result = TestResponse {
            status,
            headers,
            text,
            json,
        };
        // A 5xx is a bug, except the documented 503 of a service that is not there (an
        // unconfigured assistant), which always says when to come back.
        let documented_unavailable = result.status == StatusCode::SERVICE_UNAVAILABLE
            && result.headers.contains_key("retry-after");
        assert!(
            !result.status.is_server_error() || documented_unavailable,
            "{path} answered {}: {}",
            result.status,
            result.text
        );
        result
    }

    /// Opens a live stream: the reader when the server answers 200, else the error answer.
    pub async fn open_stream(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<crate::sse::SseReader, TestResponse> {
        let mut builder = Request::builder()
            .method(Method::GET)
            .uri(path.parse().unwrap());
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let response = self.app.get_response(builder.finish()).await;
        let status = response.status();
        if status == StatusCode::OK {
            assert_eq!(
                response.content_type(),
                Some("text/event-stream"),
                "a stream answers text/event-stream"
            );
            return Ok(crate::sse::SseReader::new(
                response.into_body().into_bytes_stream(),
            ));
        }
        let headers = response.headers().clone();
        // Lossy: a binary answer (a backup file) still shows its ASCII parts.
        let bytes = response.into_body().into_bytes().await.unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(
            !status.is_server_error(),
            "{path} answered {status}: {text}"
        );
        Err(TestResponse {
            status,
            headers,
            text,
            json,
        })
    }

    /// A stream of the client's messages, open and past its `stream.open` event (whose
    /// cursor is returned).
    pub async fn stream_of(&self, client: &Client) -> (crate::sse::SseReader, String) {
        let mut reader = match self
            .open_stream("/messages/stream", Some(&client.access), &[])
            .await
        {
            Ok(reader) => reader,
            Err(response) => panic!("stream refused: {} {}", response.status, response.text),
        };
        let opened = reader.next_event().await;
        assert_eq!(opened.event, "stream.open");
        let cursor = opened
            .id
            .clone()
            .expect("stream.open carries the cursor as id");
        (reader, cursor)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.send(Method::GET, path, token, Body::Empty, &[]).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.send(Method::DELETE, path, token, Body::Empty, &[])
            .await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> TestResponse {
        self.send(Method::POST, path, token, Body::Json(body), &[])
            .await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> TestResponse {
        self.send(Method::PUT, path, token, Body::Json(body), &[])
            .await
    }

    pub async fn put_empty(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.send(Method::PUT, path, token, Body::Empty, &[]).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &'static str,
        text: &str,
    ) -> TestResponse {
        self.send(
            Method::POST,
            path,
            token,
            Body::Raw(content_type, text.to_string()),
            &[],
        )
        .await
    }

    pub async fn register(&self, name: &str) -> Value {
        let response = self
            .post(
                "/auth/register",
                None,
                json!({
                    "username": name,
                    "email": format!("{name}@example.com"),
                    "password": password_of(name),
                }),
            )
            .await;
        response.assert_status(201).clone()
    }

    pub async fn login_as(&self, login: &str, password: &str) -> TestResponse {
        self.post(
            "/auth/login",
            None,
            json!({ "username": login, "password": password }),
        )
        .await
    }

    /// A login from `address`, as a trusted proxy would name the client.
    pub async fn login_from(&self, login: &str, password: &str, address: &str) -> TestResponse {
        let body = json!({ "username": login, "password": password });
        self.send(
            Method::POST,
            "/auth/login",
            None,
            Body::Json(body),
            &[("x-forwarded-for", address)],
        )
        .await
    }

    pub async fn login(&self, name: &str) -> Client {
        let response = self.login_as(name, &password_of(name)).await;
        let body = response.assert_status(200);
        Client {
            id: body["user"]["id"].as_i64().unwrap(),
            username: name.to_string(),
            access: body["access_token"].as_str().unwrap().to_string(),
            refresh: body["refresh_token"].as_str().unwrap().to_string(),
        }
    }

    /// Registers and logs in.
    pub async fn user(&self, name: &str) -> Client {
        self.register(name).await;
        self.login(name).await
    }

    /// Creates a superuser (as the operator would) and logs in.
    pub async fn superuser(&self, name: &str) -> Client {
        self.services
            .admin
            .create_superuser(Registration {
                username: Username::parse(name).unwrap(),
                email: Email::parse(format!("{name}@example.com")).unwrap(),
                password: Password::parse(password_of(name)).unwrap(),
                full_name: None,
                phone_number: None,
            })
            .await
            .unwrap();
        self.login(name).await
    }

    pub async fn send_message(&self, from: &Client, to: i64, content: &str) -> Value {
        self.post(
            "/messages",
            Some(&from.access),
            json!({ "recipient_id": to, "content": content }),
        )
        .await
        .assert_status(201)
        .clone()
    }
}

pub fn password_of(name: &str) -> String {
    format!("{name}-password")
}

/// Ids of a JSON array of objects.
pub fn ids(value: &Value) -> Vec<i64> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}

/// The assistant over the fake model: key `sk-test`, model `openai/test-model`.
fn openai(
    model: &crate::fake_model::FakeModel,
    timeout: std::time::Duration,
) -> Arc<dyn ai_message_core::ports::Assistant> {
    Arc::new(
        ai_message_openai::OpenAiAssistant::new(ai_message_openai::ModelConfig {
            base_url: model.base_url.clone(),
            api_key: Some("sk-test".into()),
            model: "openai/test-model".into(),
            timeout,
            max_reply_bytes: ai_message_openai::DEFAULT_MAX_REPLY_BYTES,
        })
        .unwrap(),
    )
}
