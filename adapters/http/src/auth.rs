//! The security scheme: an OAuth2 password flow whose token URL is `/auth/login` (so Swagger
//! UI's Authorize button logs in), carried as `Authorization: Bearer <JWT>`. Every request
//! is checked against its session through the core, so revocation is immediate.

use ai_message_core::usecases::Caller;
use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

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

async fn check_access_token(request: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let state = request.data::<AppState>().ok_or_else(|| {
        poem::Error::from_string(
            "application state missing",
            poem::http::StatusCode::INTERNAL_SERVER_ERROR,
        )
    })?;
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
