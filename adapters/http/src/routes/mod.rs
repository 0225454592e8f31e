//! The operations, one module per tag.

pub mod admin;
pub mod assistant;
pub mod auth;
pub mod conversations;
pub mod messages;
pub mod reports;
pub mod service;
pub mod stream;

use ai_message_core::Page;
use poem::Request;
use poem_openapi::Tags;

use crate::errors::ApiError;

#[derive(Tags)]
#[oai(rename_all = "lowercase")]
pub enum ApiTags {
    /// Liveness and database checks.
    Service,
    /// Registration, login, tokens, the caller's account and sessions.
    Auth,
    /// User and role management (superusers only).
    Admin,
    /// Direct messages.
    Messages,
    /// Messages grouped by conversation.
    Conversations,
    /// Facility reports: filed by users, answered by superusers.
    #[oai(rename = "Reports")]
    Reports,
}

/// `skip` and `limit` query values as a validated page (defaults 0 and 100).
pub(crate) fn page(skip: Option<i64>, limit: Option<i64>) -> Result<Page, ApiError> {
    Ok(Page::from_query(skip, limit)?)
}

/// The client's address as the application resolved it (the peer, or what a trusted proxy
/// forwarded); the peer when the request did not pass the resolving middleware.
pub(crate) fn client_ip(request: &Request) -> Option<String> {
    match request.data::<crate::client_address::ClientAddress>() {
        Some(resolved) => resolved.0.map(|ip| ip.to_canonical().to_string()),
        None => request
            .remote_addr()
            .as_socket_addr()
            .map(|addr| addr.ip().to_canonical().to_string()),
    }
}

pub(crate) fn user_agent(request: &Request) -> Option<String> {
    request
        .headers()
        .get(poem::http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}
