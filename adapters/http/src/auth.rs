//! The security scheme: an OAuth2 password flow whose token URL is `/auth/login` (so Swagger
//! UI's Authorize button logs in), carried as `Authorization: Bearer <JWT>`. Every request
//! is checked against its session through the core, so revocation is immediate.

use ai_message_core::usecases::Caller;
use poem::Request;
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
    let (user_id, session_id) = state
        .tokens
        .verify(&bearer.token)
        .ok_or_else(|| ApiError::unauthorized(INVALID_CREDENTIALS).into_poem_error())?;
    state
        .services
        .auth
        .authenticate(user_id, session_id)
        .await
        .map_err(|error| ApiError::from(error).into_poem_error())
}
