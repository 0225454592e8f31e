//! Every error answer is `{"detail": "…"}`. This module maps the core's error enums onto status
//! codes and the contract's `detail` strings (in [`domain`]), and keeps internals out of
//! responses.

mod domain;

use ai_message_core::PortError;
use ai_message_core::ValidationError;
use poem::IntoResponse;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct ErrorBody {
    /// What went wrong, for a human.
    #[oai(validator(min_length = 1))]
    pub detail: String,
}

pub const NOT_AUTHENTICATED: &str = "Not authenticated";
pub const INVALID_CREDENTIALS: &str = "Could not validate credentials";
const INTERNAL: &str = "Internal Server Error";
const UNAVAILABLE: &str = "Service temporarily unavailable, please retry";
const OVERLOADED: &str = "Server is busy, please retry";

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECONDS: &str = "1";
const CONNECTION_FULL: &str =
    "This connection holds too many bytes: read the responses already sent, then retry";
const ADDRESS_FULL: &str = "This client address holds too many bytes over its connections: \
                            read the responses already sent, then retry";
const SERVER_FULL: &str = "The server holds too many bytes for its clients right now, please retry";

#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request conflicts with the current state (taken name, wrong current password…).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing or invalid credentials.
    #[oai(status = 401)]
    Unauthorized(
        Json<ErrorBody>,
        /// Always `Bearer`.
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
    /// Authenticated, but not allowed.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such resource (or not one the caller may know of).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The request body took too long to arrive.
    #[oai(status = 408)]
    RequestTimeout(Json<ErrorBody>),
    /// The request body is larger than the server accepts.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// A value in the body, path or query failed validation; `detail` names field and rule.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Too many attempts from this client or for this account; retry after the given delay.
    #[oai(status = 429)]
    TooManyRequests(
        Json<ErrorBody>,
        /// Seconds to wait before retrying.
        #[oai(header = "Retry-After")]
        String,
    ),
    /// A bug on our side; details are in the server log, never here.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database is unreachable or the server is saturated; retry later.
    #[oai(status = 503)]
    Unavailable(
        Json<ErrorBody>,
        /// Seconds to wait before retrying.
        #[oai(header = "Retry-After")]
        String,
    ),
}

pub(crate) fn body(detail: impl Into<String>) -> Json<ErrorBody> {
    Json(ErrorBody {
        detail: detail.into(),
    })
}

impl ApiError {
    /// The connection's budget of held bytes is spent (`connection_budget`).
    pub fn connection_full() -> Self {
        Self::Unavailable(body(CONNECTION_FULL), RETRY_AFTER_SECONDS.into())
    }

    pub fn address_full() -> Self {
        Self::Unavailable(body(ADDRESS_FULL), RETRY_AFTER_SECONDS.into())
    }

    pub fn server_full() -> Self {
        Self::Unavailable(body(SERVER_FULL), RETRY_AFTER_SECONDS.into())
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest(body(detail))
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::Unauthorized(body(detail), "Bearer".into())
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden(body(detail))
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound(body(detail))
    }

    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::Unprocessable(body(detail))
    }

    /// 429 with the whole seconds to wait (at least one).
    pub fn too_many(detail: impl Into<String>, wait: std::time::Duration) -> Self {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self::TooManyRequests(body(detail), seconds.max(1).to_string())
    }

    /// As a `poem::Error`, for places that must return one (the auth checker).
    pub fn into_poem_error(self) -> poem::Error {
        poem::Error::from_response(self.into_response())
    }
}

/// Logs the whole error chain, so the operator sees the cause the client does not.
fn log_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

impl From<PortError> for ApiError {
    fn from(error: PortError) -> Self {
        match &error {
            PortError::Unavailable { .. } => {
                tracing::warn!(error = %log_chain(&error), "dependency unavailable");
                Self::Unavailable(body(UNAVAILABLE), RETRY_AFTER_SECONDS.into())
            }
            PortError::Overloaded { .. } => {
                tracing::warn!(error = %log_chain(&error), "overloaded");
                Self::Unavailable(body(OVERLOADED), RETRY_AFTER_SECONDS.into())
            }
            PortError::Unexpected(_) => {
                tracing::error!(error = %log_chain(&error), "unexpected failure");
                Self::Internal(body(INTERNAL))
            }
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        Self::unprocessable(error.to_string())
    }
}

/// Turns poem's own errors (parsing, routing, a missing `Authorization` header) into the
/// contract's JSON bodies: 422 for bad input, 401 with `WWW-Authenticate` for no credentials.
pub async fn render_framework_error(error: poem::Error) -> poem::Response {
    use poem_openapi::error::{
        AuthorizationError, ContentTypeError, ParseMultipartError, ParseParamError, ParsePathError,
        ParseRequestPayloadError,
    };

    if error.is::<AuthorizationError>() {
        return ApiError::unauthorized(NOT_AUTHENTICATED).into_response();
    }
    match crate::limits::body_limit_breach(&error) {
        Some(crate::limits::BodyBreach::TooLarge(limit)) => {
            return ApiError::PayloadTooLarge(body(format!(
                "body: larger than the limit of {limit} bytes"
            )))
            .into_response();
        }
        Some(crate::limits::BodyBreach::TooSlow) => {
            return ApiError::RequestTimeout(body("body: took too long to arrive")).into_response();
        }
        None => {}
    }
    if error.is::<ParsePathError>() {
        // Every numeric path parameter of the API is an `id`; poem names it `param0`.
        return ApiError::unprocessable("id: must be an integer").into_response();
    }
    if error.is::<ParseParamError>()
        || error.is::<ParseRequestPayloadError>()
        || error.is::<ParseMultipartError>()
        || error.is::<ContentTypeError>()
    {
        return ApiError::unprocessable(error.to_string()).into_response();
    }
    let status = error.status();
    if status.is_server_error() {
        tracing::error!(error = %error, status = %status, "request failed");
    }
    // Our own answers carried as errors are JSON already; anything else (404, 405, 413…)
    // keeps its status and headers and gets a JSON body.
    let response = error.into_response();
    if response
        .content_type()
        .is_some_and(|ct| ct.starts_with("application/json"))
    {
        return response;
    }
    let detail = match status {
        poem::http::StatusCode::NOT_FOUND => "Not Found",
        poem::http::StatusCode::METHOD_NOT_ALLOWED => "Method Not Allowed",
        _ => status.canonical_reason().unwrap_or("Error"),
    };
    let (parts, _) = response.into_parts();
    let mut rendered = poem::Response::from_parts(
        parts,
        poem::Body::from_string(serde_json::json!({ "detail": detail }).to_string()),
    );
    rendered.headers_mut().insert(
        poem::http::header::CONTENT_TYPE,
        poem::http::HeaderValue::from_static("application/json"),
    );
    rendered
}
