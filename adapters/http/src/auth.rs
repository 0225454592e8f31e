//! The security scheme: an OAuth2 password flow whose token URL is `/auth/login` (so Swagger
//! UI's Authorize button logs in), carried as `Authorization: Bearer <JWT>`. Every request
//! is checked against its session through the core, so revocation is immediate.

use std::sync::{Arc, OnceLock};

use ai_message_core::usecases::{AccessClaim, Caller};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::SecurityScheme;
use poem_openapi::auth::{ApiKey, Bearer};

use crate::AppState;
use crate::errors::{ApiError, INVALID_CREDENTIALS};

/// Log in with username and password; the access token is sent as a Bearer token.
#[derive(SecurityScheme)]
#[oai(
    rename = "OAuth2PasswordBearer",
    ty = "oauth2",
    flows(password(token_url = "/auth/login")),
    checker = "check_access_token"
)]
pub struct Authenticated(pub Caller);

// The same token, checked here for signature and expiry only: the route's use case checks
// the session in storage in the same trip as its read, and answers nothing unless the
// session admits the claim. Only for use cases that take an `AccessClaim`. (The doc line
// below is the scheme's description in the document, the same as `Authenticated`'s.)
/// Log in with username and password; the access token is sent as a Bearer token.
#[derive(SecurityScheme)]
#[oai(
    rename = "OAuth2PasswordBearer",
    ty = "oauth2",
    flows(password(token_url = "/auth/login")),
    checker = "check_access_claim"
)]
pub struct Claimed(pub AccessClaim);

/// What a Bearer token claims, once its signature and expiry are checked.
fn verified_claim(state: &AppState, bearer: &Bearer) -> poem::Result<AccessClaim> {
    let (user_id, session_id) = state
        .tokens
        .verify(&bearer.token)
        .ok_or_else(|| ApiError::unauthorized(INVALID_CREDENTIALS).into_poem_error())?;
    Ok(AccessClaim::new(user_id, session_id))
}

async fn check_access_claim(request: &Request, bearer: Bearer) -> poem::Result<AccessClaim> {
    let claim = verified_claim(app_state(request)?, &bearer)?;
    if let Some(ClaimSlot(slot)) = request.data::<ClaimSlot>() {
        let _ = slot.set(claim);
    }
    Ok(claim)
}

/// Where [`Claimed`] leaves the claim of the request, for [`session_before_input_errors`].
#[derive(Clone, Default)]
struct ClaimSlot(Arc<OnceLock<AccessClaim>>);

/// Keeps "authentication before validation" on routes that take a [`Claimed`]: their
/// parameters are validated before the session is looked at, so a refused input from a
/// token whose session has ended would otherwise answer 422 where every other route
/// answers 401. On such an answer the session is checked, and its refusal wins.
pub(crate) async fn session_before_input_errors<E: Endpoint>(
    endpoint: Arc<E>,
    mut request: Request,
    auth: ai_message_core::usecases::auth::Auth,
) -> poem::Result<Response> {
    let slot = ClaimSlot::default();
    request.extensions_mut().insert(slot.clone());
    let response = endpoint.call(request).await?.into_response();
    let input_refused = matches!(response.status().as_u16(), 400 | 413 | 415 | 422);
    match slot.0.get() {
        Some(claim) if input_refused => match auth.check_claim(claim).await {
            Ok(_) => Ok(response),
            Err(refusal) => Ok(ApiError::from(refusal).into_response()),
        },
        _ => Ok(response),
    }
}

/// A live stream is opened with the Bearer token, or, for a browser's `EventSource` (which
/// cannot send headers), with a single-use ticket from `POST /messages/stream/ticket`.
#[derive(SecurityScheme)]
pub enum StreamAuthenticated {
    Bearer(Authenticated),
    Ticket(TicketAuthenticated),
}

impl StreamAuthenticated {
    pub fn into_caller(self) -> Caller {
        match self {
            Self::Bearer(Authenticated(caller)) | Self::Ticket(TicketAuthenticated(caller)) => {
                caller
            }
        }
    }
}

/// A single-use ticket (valid 60 s, bound to the session that asked for it), in the query.
#[derive(SecurityScheme)]
#[oai(
    rename = "StreamTicket",
    ty = "api_key",
    key_name = "ticket",
    key_in = "query",
    checker = "check_stream_ticket"
)]
pub struct TicketAuthenticated(pub Caller);

async fn check_stream_ticket(request: &Request, ticket: ApiKey) -> poem::Result<Caller> {
    let state = app_state(request)?;
    state
        .services
        .live
        .redeem_ticket(&ticket.key)
        .await
        .map_err(|error| ApiError::from(error).into_poem_error())
}

fn app_state(request: &Request) -> poem::Result<&AppState> {
    request.data::<AppState>().ok_or_else(|| {
        poem::Error::from_string(
            "application state missing",
            poem::http::StatusCode::INTERNAL_SERVER_ERROR,
        )
    })
}

async fn check_access_token(request: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let state = app_state(request)?;
    let claim = verified_claim(state, &bearer)?;
    state
        .services
        .auth
        .check_claim(&claim)
        .await
        .map_err(|error| ApiError::from(error).into_poem_error())
}
