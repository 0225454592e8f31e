//! The security scheme: an OAuth2 password flow whose token URL is `/auth/login` (so Swagger
//! UI's Authorize button logs in), carried as `Authorization: Bearer <JWT>`. Every request
//! is checked against its session through the core, so revocation is immediate, and before
//! any verdict on its other inputs.

use std::sync::Arc;

use ai_message_core::usecases::{AccessClaim, Caller};
use poem::{Request, RequestBody};
use poem_openapi::auth::{ApiKey, Bearer};
use poem_openapi::registry::{MetaParamIn, MetaRequest, MetaSchemaRef, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, SecurityScheme};

use crate::AppState;
use crate::errors::{ApiError, INVALID_CREDENTIALS};

// The one security scheme of the API: a Bearer access token, checked here for signature
// and expiry. Its session is checked next, before any other input of the request is looked
// at: by `Authenticated` as it is extracted, or, on routes whose use case checks the
// session in the same storage trip as its read or send, in that trip, with every other
// input of the route taken through `Checked` (whose refusals wait for the session's
// verdict). The doc line below is the scheme's description in the document.
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
fn verified_claim(state: &AppState, token: &str) -> poem::Result<AccessClaim> {
    let (user_id, session_id) = state
        .tokens
        .verify(token)
        .ok_or_else(|| ApiError::unauthorized(INVALID_CREDENTIALS).into_poem_error())?;
    Ok(AccessClaim::new(user_id, session_id))
}

async fn check_access_claim(request: &Request, bearer: Bearer) -> poem::Result<AccessClaim> {
    verified_claim(app_state(request)?, &bearer.token)
}

/// The caller of a request whose token's session still holds: [`Claimed`], with the
/// session checked as it is extracted (so before every input declared after it).
pub struct Authenticated(pub Caller);

impl<'a> ApiExtractor<'a> for Authenticated {
    const TYPES: &'static [ApiExtractorType] = Claimed::TYPES;
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        Claimed::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        Claimed::security_schemes()
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        param_opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let Claimed(claim) = Claimed::from_request(request, body, param_opts).await?;
        let caller = app_state(request)?
            .services
            .auth
            .check_claim(&claim)
            .await
            .map_err(|refusal| ApiError::from(refusal).into_poem_error())?;
        Ok(Self(caller))
    }
}

/// An input of a route that takes a [`Claimed`] (its session checked later, in the use
/// case's storage trip). Extracted as `T`; when `T` refuses, the session is checked first,
/// and its refusal wins: a token whose session ended hears 401 whatever it sent, as on
/// routes that take [`Authenticated`]. Such inputs carry no `#[oai(validator)]` (the
/// operation would apply it after extraction, unchecked): their rules are the domain's.
/// Not for `Path`: poem-openapi finds path parameters by the type's name (and a `String`
/// path cannot fail to extract).
pub struct Checked<T>(pub T);

impl<'a, T: ApiExtractor<'a> + Send> ApiExtractor<'a> for Checked<T> {
    const TYPES: &'static [ApiExtractorType] = T::TYPES;
    const PARAM_IS_REQUIRED: bool = T::PARAM_IS_REQUIRED;
    type ParamType = T::ParamType;
    type ParamRawType = T::ParamRawType;

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn param_in() -> Option<MetaParamIn> {
        T::param_in()
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        T::param_schema_ref()
    }

    fn request_meta() -> Option<MetaRequest> {
        T::request_meta()
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        param_opts: ExtractParamOptions<T::ParamType>,
    ) -> poem::Result<Self> {
        // Boxed: the compiler cannot yet prove the bounds of a generic extractor's future
        // here (rust-lang/rust#100013, the workaround poem uses too).
        let extracted =
            futures_util::FutureExt::boxed(T::from_request(request, body, param_opts)).await;
        let refused = match extracted {
            Ok(input) => return Ok(Self(input)),
            Err(refused) => refused,
        };
        Err(session_first(request, refused).await)
    }
}

impl Claimed {
    /// `parsed`, or its refusal once the session has been checked (see [`Checked`]): for
    /// what a route parses itself.
    pub async fn checked<T>(
        &self,
        state: &AppState,
        parsed: Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        match parsed {
            Ok(input) => Ok(input),
            Err(refused) => match state.services.auth.check_claim(&self.0).await {
                Ok(_) => Err(refused),
                Err(refusal) => Err(refusal.into()),
            },
        }
    }
}

/// The refusal of an input, unless the request's session refuses first.
async fn session_first(request: &Request, refused: poem::Error) -> poem::Error {
    let Ok(state) = app_state(request) else {
        return refused;
    };
    // The route's `Claimed` was extracted before this input: the token is there and valid.
    let Some(token) = request
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
    else {
        return refused;
    };
    let claim = match verified_claim(state, token) {
        Ok(claim) => claim,
        Err(invalid) => return invalid,
    };
    match state.services.auth.check_claim(&claim).await {
        Ok(_) => refused,
        Err(refusal) => ApiError::from(refusal).into_poem_error(),
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
    request
        .data::<Arc<AppState>>()
        .map(Arc::as_ref)
        .ok_or_else(|| {
            poem::Error::from_string(
                "application state missing",
                poem::http::StatusCode::INTERNAL_SERVER_ERROR,
            )
        })
}
