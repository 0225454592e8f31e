//! The inbound HTTP adapter: every route of the API contract on poem + poem-openapi, with
//! Swagger UI at `/docs`, ReDoc at `/redoc` and the document at `/openapi.json`.

mod allocator;
mod auth;
pub mod backup_files;
mod body;
pub mod client_address;
pub mod connection_budget;
pub mod connections;
mod document;
pub mod dto;
pub mod errors;
mod event_stream;
pub mod limits;
pub mod metrics;
mod reply;
mod request_id;
mod routes;
pub mod time;
pub mod tokens;

use std::sync::Arc;
use std::time::Instant;

use ai_message_core::usecases::Services;
use poem::middleware::Cors;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route};
use poem_openapi::OpenApiService;

pub use client_address::{ForwardingHeader, TrustedProxies};
pub use tokens::AccessTokens;

/// What every handler needs: the use cases, the access-token signer, the abuse limits and
/// whom to believe about the client's address.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub tokens: AccessTokens,
    pub limits: std::sync::Arc<limits::Limits>,
    pub trusted_proxies: std::sync::Arc<TrustedProxies>,
}

/// Origins allowed by CORS: any, or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    Any,
    List(Vec<String>),
}

impl CorsOrigins {
    /// Reads `CORS_ALLOW_ORIGINS`: `*` or comma-separated origins.
    pub fn parse(value: &str) -> Self {
        let origins: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect();
        if origins.is_empty() || origins.iter().any(|o| o == "*") {
            Self::Any
        } else {
            Self::List(origins)
        }
    }
}

pub const API_TITLE: &str = "AI Message API";

type Apis = (
    routes::service::ServiceApi,
    routes::auth::AuthApi,
    routes::admin::AdminApi,
    routes::messages::MessagesApi,
    routes::reports::ReportsApi,
    routes::stream::StreamApi,
    routes::assistant::AssistantApi,
    routes::conversations::ConversationsApi,
);

fn api_service(state: &AppState) -> OpenApiService<Apis, ()> {
    let apis = (
        routes::service::ServiceApi::new(state.clone()),
        routes::auth::AuthApi::new(state.clone()),
        routes::admin::AdminApi::new(state.clone()),
        routes::messages::MessagesApi::new(state.clone()),
        routes::reports::ReportsApi::new(state.clone()),
        routes::stream::StreamApi::new(state.clone()),
        routes::assistant::AssistantApi::new(state.clone()),
        routes::conversations::ConversationsApi::new(state.clone()),
    );
    OpenApiService::new(apis, API_TITLE, env!("CARGO_PKG_VERSION")).description(
        "Accounts, roles, login sessions, direct messages and facility reports. Log in with the Authorize \
         button (username or email, and password); every error answers \
         `{\"detail\": \"…\"}`.",
    )
}

/// The OpenAPI document (JSON), exactly as `/openapi.json` serves it.
pub fn openapi_document(state: &AppState) -> String {
    document::corrected(
        &api_service(state).spec(),
        state.services.password_rules.min_bytes(),
    )
}

/// Serves one fixed text with a content type.
fn fixed(content_type: &'static str, text: String) -> impl Endpoint<Output = Response> + use<> {
    // Shared, not copied: a hundred streams asking for it hold one copy.
    let text = bytes::Bytes::from(text);
    poem::endpoint::make_sync(move |_| {
        Response::builder()
            .content_type(content_type)
            .body(text.clone())
    })
}

/// An endpoint another inbound adapter serves beside the API (a channel's webhook), for
/// POST at its path, behind the same limits, access log and error rendering. It is not part
/// of the OpenAPI document: it speaks to one outside service, not to API clients.
pub type ExtraRoute = (String, poem::endpoint::BoxEndpoint<'static, Response>);

/// The whole HTTP application: API routes, documentation, CORS, error rendering, access log.
pub fn app(state: AppState, cors: &CorsOrigins) -> impl Endpoint<Output = Response> + use<> {
    app_with(state, cors, Vec::new())
}

/// [`app`] with other adapters' endpoints beside the API.
pub fn app_with(
    state: AppState,
    cors: &CorsOrigins,
    extra: Vec<ExtraRoute>,
) -> impl Endpoint<Output = Response> + use<> {
    let api = api_service(&state);
    // poem-openapi embeds its own document in both UIs; swap in the corrected one.
    let original = api.spec();
    let corrected = document::corrected(&original, state.services.password_rules.min_bytes());
    let swagger_html = api.swagger_ui_html().replacen(&original, &corrected, 1);
    let redoc_html = api.redoc_html().replacen(&original, &corrected, 1);
    // Browsers may read the request id of an answer (to quote it in a bug report).
    let exposing = Cors::new().expose_header(request_id::HEADER);
    let cors = match cors {
        CorsOrigins::Any => exposing,
        CorsOrigins::List(origins) => origins
            .iter()
            .fold(exposing, |cors, origin| cors.allow_origin(origin.as_str())),
    };
    let outside_document = ["/docs", "/redoc", "/openapi.json"]
        .into_iter()
        .map(str::to_string)
        .chain(extra.iter().map(|(path, _)| path.clone()));
    let allowed = Arc::new(AllowedMethods::from_document(&corrected, outside_document));
    let routes = Arc::new(metrics::RouteNames::from_document(&corrected));
    let max_body = state.limits.settings.max_body_bytes;
    let body_timeout = state.limits.settings.body_read_timeout;
    let trusted_proxies = state.trusted_proxies.clone();
    let budgets = state.limits.connections.clone();
    let routes_of_app = Route::new()
        .nest("/", api)
        .at("/docs", fixed("text/html; charset=utf-8", swagger_html))
        .at("/redoc", fixed("text/html; charset=utf-8", redoc_html))
        .at("/openapi.json", fixed("application/json", corrected));
    extra
        .into_iter()
        .fold(routes_of_app, |routes, (path, endpoint)| {
            routes.at(path, poem::post(endpoint))
        })
        // Shared, not copied: poem clones the data into every request.
        .data(Arc::new(state))
        .catch_all_error(|error: poem::Error| async move {
            // Keep the route template on the rendered error, for the request metrics.
            let pattern = error.data::<poem::PathPattern>().cloned();
            let mut response = errors::render_framework_error(error).await;
            if let Some(pattern) = pattern {
                response.set_data(pattern);
            }
            response
        })
        .around(move |endpoint, request| {
            let allowed = allowed.clone();
            async move {
                if let Some(redirect) = allowed.without_trailing_slash(&request) {
                    return Ok(redirect);
                }
                allowed.add_allow_header(endpoint, request).await
            }
        })
        .with(cors)
        .around(move |endpoint, request| {
            limits::limit_body(endpoint, request, max_body, body_timeout, budgets.clone())
        })
        .around(move |endpoint, request| log_request(endpoint, request, routes.clone()))
        .around(move |endpoint, mut request| {
            client_address::record_client(&mut request, &trusted_proxies);
            async move { endpoint.call(request).await }
        })
        .map_to_response()
}

/// The methods each path of the document serves, for the `Allow` header that RFC 9110
/// requires on a 405, and which paths exist at all, for the trailing-slash redirect.
struct AllowedMethods {
    /// (path segments, with `None` for a parameter; methods, upper case)
    paths: Vec<(Vec<Option<String>>, Vec<String>)>,
    /// Routes served beside the document (its UIs, other adapters' endpoints).
    outside_document: Vec<String>,
}

impl AllowedMethods {
    fn from_document(document: &str, outside_document: impl Iterator<Item = String>) -> Self {
        let parsed: serde_json::Value = serde_json::from_str(document).unwrap_or_default();
        let mut paths = Vec::new();
        if let Some(entries) = parsed["paths"].as_object() {
            for (path, operations) in entries {
                let segments = path
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| (!s.starts_with('{')).then(|| s.to_string()))
                    .collect();
                let mut methods: Vec<String> = operations
                    .as_object()
                    .map(|ops| ops.keys().map(|m| m.to_ascii_uppercase()).collect())
                    .unwrap_or_default();
                const ORDER: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
                methods.sort_by_key(|m| ORDER.iter().position(|o| o == m).unwrap_or(ORDER.len()));
                paths.push((segments, methods));
            }
        }
        Self {
            paths,
            outside_document: outside_document.collect(),
        }
    }

    /// A 307 to the route without the trailing slash, as the original (FastAPI) answers:
    /// the method, body and query are kept. Only for a path that is a route once its
    /// trailing slashes go, and is written without empty segments, so the `Location` is
    /// always a path on this server (`//host/` would be another host's address).
    fn without_trailing_slash(&self, request: &Request) -> Option<Response> {
        let path = request.uri().path();
        let trimmed = path.trim_end_matches('/');
        if trimmed.len() == path.len() || trimmed.is_empty() || trimmed.contains("//") {
            return None;
        }
        let routed = self.outside_document.iter().any(|p| p == trimmed)
            || self.methods_for(trimmed).is_some();
        if !routed {
            return None;
        }
        let location = match request.uri().query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_string(),
        };
        let location = poem::http::HeaderValue::from_str(&location).ok()?;
        Some(
            Response::builder()
                .status(poem::http::StatusCode::TEMPORARY_REDIRECT)
                .header(poem::http::header::LOCATION, location)
                .finish(),
        )
    }

    /// The methods of the most specific path matching `path` (literal segments win, as
    /// they do in routing).
    fn methods_for(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        self.paths
            .iter()
            .filter(|(pattern, _)| {
                pattern.len() == segments.len()
                    && pattern
                        .iter()
                        .zip(&segments)
                        .all(|(p, s)| p.as_deref().is_none_or(|literal| literal == *s))
            })
            .max_by_key(|(pattern, _)| pattern.iter().filter(|p| p.is_some()).count())
            .map(|(_, methods)| methods.join(", "))
    }

    async fn add_allow_header<E: Endpoint>(
        &self,
        endpoint: Arc<E>,
        request: Request,
    ) -> poem::Result<Response> {
        let path = request.uri().path().to_string();
        let mut response = endpoint.call(request).await?.into_response();
        if response.status() == poem::http::StatusCode::METHOD_NOT_ALLOWED
            && let Some(methods) = self.methods_for(&path)
            && let Ok(value) = poem::http::HeaderValue::from_str(&methods)
        {
            response
                .headers_mut()
                .insert(poem::http::header::ALLOW, value);
        }
        Ok(response)
    }
}

/// One line per request: client, method, path, status, latency. Never the query, headers or
/// body, where tokens and passwords travel.
async fn log_request<E: Endpoint>(
    endpoint: std::sync::Arc<E>,
    request: Request,
    routes: Arc<metrics::RouteNames>,
) -> poem::Result<Response> {
    use tracing::Instrument as _;

    let request_id = request_id::of(&request);
    let span = tracing::info_span!("request", request_id = %request_id);
    let client = routes::client_ip(&request).unwrap_or_else(|| "-".to_string());
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = Instant::now();
    let in_flight = metrics::Occupied::take(metrics::IN_FLIGHT);
    let mut response = async {
        let response = match endpoint.call(request).await {
            Ok(output) => output.into_response(),
            Err(error) => error.into_response(),
        };
        let status = response.status();
        let elapsed = started.elapsed();
        metrics::record(&routes, &response, &method, status.as_u16(), elapsed);
        let latency_ms = (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0;
        if status.is_server_error() {
            tracing::error!(%client, %method, %path, status = status.as_u16(), latency_ms, "request");
        } else {
            tracing::info!(%client, %method, %path, status = status.as_u16(), latency_ms, "request");
        }
        response
    }
    .instrument(span)
    .await;
    drop(in_flight);
    if let Some(value) = request_id::header_value(&request_id) {
        response.headers_mut().insert(request_id::HEADER, value);
    }
    Ok(response)
}
