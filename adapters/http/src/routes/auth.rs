//! `/auth`: registration, login, token refresh, logout, the caller's account and sessions.

use ai_message_core::ports::ProfileUpdate;
use ai_message_core::usecases::accounts::Registration;
use ai_message_core::usecases::auth::LoginRequest as LoginCommand;
use ai_message_core::{
    Bio, Email, FullName, PasswordRules, PhoneNumber, PhoneRules, SessionId, User, Username,
    ValidationError,
};
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{ApiRequest, ApiResponse, OpenApi};

use super::{ApiTags, client_ip, user_agent};
use crate::AppState;
use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::dto::*;
use crate::errors::ApiError;

pub struct AuthApi {
    state: AppState,
}

impl AuthApi {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    fn token_error(error: jsonwebtoken::errors::Error) -> ApiError {
        ApiError::from(ai_message_core::PortError::unexpected(error))
    }
}

/// Validates a registration body into the core's values. Shared with the admin route.
pub(crate) fn registration(
    request: RegisterRequest,
    password_rules: &PasswordRules,
    phone_rules: &PhoneRules,
) -> Result<Registration, ValidationError> {
    Ok(Registration {
        username: Username::parse(request.username)?,
        email: Email::parse(request.email)?,
        password: password_rules.parse("password", request.password)?,
        full_name: request.full_name.map(FullName::parse).transpose()?,
        phone_number: phone(phone_rules, request.phone_number)?,
    })
}

/// A phone number from a body: absent, null or blank is none.
fn phone(
    rules: &PhoneRules,
    value: Option<String>,
) -> Result<Option<PhoneNumber>, ValidationError> {
    value
        .filter(|text| !text.trim().is_empty())
        .map(|text| rules.parse(&text))
        .transpose()
}

#[derive(ApiResponse)]
pub(crate) enum UserCreated {
    /// The new account.
    #[oai(status = 201)]
    Created(Json<UserOut>),
}

impl From<User> for UserCreated {
    fn from(user: User) -> Self {
        Self::Created(Json(user.into()))
    }
}

/// JSON, or the OAuth2 password form that Swagger UI's Authorize button posts.
#[derive(ApiRequest)]
enum LoginPayload {
    Json(JsonBody<LoginRequest>),
    Form(Form<LoginForm>),
}

impl LoginPayload {
    fn into_credentials(self) -> Result<(String, String), ApiError> {
        match self {
            Self::Json(JsonBody(body)) => Ok((body.username, body.password)),
            Self::Form(Form(form)) => {
                if form.grant_type.as_deref().is_some_and(|g| g != "password") {
                    return Err(ApiError::unprocessable("grant_type: must be \"password\""));
                }
                Ok((form.username, form.password))
            }
        }
    }
}

#[OpenApi(prefix_path = "/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Register
    ///
    /// Creates an active, ordinary account. Username and email must be free. A phone
    /// number is an unverified claim (see `PUT /auth/me/phone`).
    #[oai(path = "/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        request: &Request,
        body: JsonBody<RegisterRequest>,
    ) -> Result<UserCreated, ApiError> {
        let address = ai_message_core::address_limit_key(
            &client_ip(request).unwrap_or_default(),
            self.state.limits.settings.ipv6_limit_prefix,
        );
        if let Some(wait) = self.state.limits.register_by_address.hit(&address) {
            return Err(ApiError::too_many(
                "Too many registrations from this address, retry later",
                wait,
            ));
        }
        let registration = registration(
            body.0,
            &self.state.services.password_rules,
            &self.state.services.phone_rules,
        )?;
        let user = self.state.services.accounts.register(registration).await?;
        Ok(user.into())
    }

    /// Log in
    ///
    /// Checks username (or email) and password, opens a session and returns an access token
    /// with the session's first refresh token. Takes JSON or the OAuth2 password form.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        request: &Request,
        body: LoginPayload,
    ) -> Result<Json<AuthResponse>, ApiError> {
        let (login, password) = body.into_credentials()?;
        // Throttling is the login use case's: it counts per account, per client address and
        // per pair, before any hashing.
        let outcome = self
            .state
            .services
            .auth
            .login(LoginCommand {
                login,
                password,
                device_info: user_agent(request),
                ip_address: client_ip(request),
            })
            .await?;
        let access = self
            .state
            .tokens
            .issue(&outcome.user, outcome.session.id)
            .map_err(Self::token_error)?;
        Ok(Json(AuthResponse {
            access_token: access.token,
            refresh_token: outcome.refresh_token,
            token_type: "bearer".into(),
            expires_in: access.expires_in,
            user: outcome.user.into(),
        }))
    }

    /// Refresh tokens
    ///
    /// Trades a refresh token for a new access token and a new refresh token in the same
    /// session. Each refresh token works once; one presented again later than 10 seconds
    /// after its use ends the whole session.
    #[oai(path = "/refresh", method = "post", operation_id = "refresh_token")]
    async fn refresh(
        &self,
        request: &Request,
        body: JsonBody<RefreshRequest>,
    ) -> Result<Json<Token>, ApiError> {
        let address = ai_message_core::address_limit_key(
            &client_ip(request).unwrap_or_default(),
            self.state.limits.settings.ipv6_limit_prefix,
        );
        if let Some(wait) = self.state.limits.refresh_by_address.hit(&address) {
            return Err(ApiError::too_many(
                "Too many refreshes from this address, retry later",
                wait,
            ));
        }
        let outcome = self
            .state
            .services
            .auth
            .refresh(&body.0.refresh_token)
            .await?;
        let access = self
            .state
            .tokens
            .issue(&outcome.user, outcome.session_id)
            .map_err(Self::token_error)?;
        Ok(Json(Token {
            access_token: access.token,
            refresh_token: outcome.refresh_token,
            token_type: "bearer".into(),
            expires_in: access.expires_in,
        }))
    }

    /// Log out
    ///
    /// Ends the caller's session: its access tokens are refused from the next request on
    /// and its refresh tokens are used up. The body is optional.
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        auth: Authenticated,
        body: JsonBody<Option<LogoutRequest>>,
    ) -> Result<Json<MessageResponse>, ApiError> {
        let refresh_token = body.0.and_then(|b| b.refresh_token);
        self.state
            .services
            .auth
            .logout(&auth.0, refresh_token.as_deref())
            .await?;
        Ok(Json(MessageResponse::new("Successfully logged out")))
    }

    /// Log out everywhere
    ///
    /// Ends every session of the caller, this one included.
    #[oai(path = "/logout-all", method = "post", operation_id = "logout_all")]
    async fn logout_all(&self, auth: Authenticated) -> Result<Json<MessageResponse>, ApiError> {
        self.state.services.auth.logout_all(&auth.0).await?;
        Ok(Json(MessageResponse::new(
            "Successfully logged out from all devices",
        )))
    }

    /// My account
    ///
    /// The caller's own account, as of this request.
    #[oai(path = "/me", method = "get", operation_id = "get_me")]
    async fn me(&self, auth: Authenticated) -> Result<Json<UserOut>, ApiError> {
        Ok(Json(auth.0.user.into()))
    }

    /// Update my profile
    ///
    /// Changes `full_name`, `bio` and `phone_number`; absent or null fields stay as they
    /// are. A new phone number is an unverified claim: `PUT /auth/me/phone` gives the code
    /// that proves it.
    #[oai(path = "/me", method = "put", operation_id = "update_me")]
    async fn update_me(
        &self,
        auth: Authenticated,
        body: JsonBody<ProfileUpdateRequest>,
    ) -> Result<Json<UserOut>, ApiError> {
        let update = ProfileUpdate {
            full_name: body.0.full_name.map(FullName::parse).transpose()?,
            bio: body.0.bio.map(Bio::parse).transpose()?,
            phone_number: phone(&self.state.services.phone_rules, body.0.phone_number)?,
        };
        let user = self
            .state
            .services
            .accounts
            .update_profile(&auth.0, update)
            .await?;
        Ok(Json(user.into()))
    }

    /// Set my phone number
    ///
    /// Claims a phone number for the caller (E.164), or removes the caller's number with
    /// `null`. A claim routes no texts until it is proven: the answer's `verification.code`
    /// is to be texted from that phone (WhatsApp or SMS) to the service's number within 15
    /// minutes. Anyone may claim any number, so a claim blocks nobody; the proof makes the
    /// number the caller's (`phone_verified`) and removes every other claim of it. The
    /// caller's proven number set again stays proven, without a code.
    #[oai(path = "/me/phone", method = "put", operation_id = "update_my_phone")]
    async fn update_phone(
        &self,
        auth: Authenticated,
        body: JsonBody<PhoneUpdateRequest>,
    ) -> Result<Json<PhoneSetOut>, ApiError> {
        let phone_number = phone(&self.state.services.phone_rules, body.0.phone_number)?;
        let user = self
            .state
            .services
            .accounts
            .set_phone_number(&auth.0, phone_number)
            .await?;
        Ok(Json(user.into()))
    }

    /// Change my password
    ///
    /// Needs the current password; ends every other session of the account.
    #[oai(
        path = "/me/password",
        method = "put",
        operation_id = "change_password"
    )]
    async fn change_password(
        &self,
        request: &Request,
        auth: Authenticated,
        body: JsonBody<PasswordChangeRequest>,
    ) -> Result<Json<MessageResponse>, ApiError> {
        let new_password = self
            .state
            .services
            .password_rules
            .parse("new_password", body.0.new_password)?;
        self.state
            .services
            .accounts
            .change_password(
                &auth.0,
                client_ip(request).as_deref(),
                &body.0.current_password,
                &new_password,
            )
            .await?;
        Ok(Json(MessageResponse::new("Password changed successfully")))
    }

    /// My sessions
    ///
    /// The caller's active, unexpired sessions, newest first; `current` marks this one.
    #[oai(path = "/sessions", method = "get", operation_id = "list_sessions")]
    async fn sessions(&self, auth: Authenticated) -> Result<Json<Vec<SessionOut>>, ApiError> {
        let sessions = self.state.services.auth.list_sessions(&auth.0).await?;
        Ok(Json(
            sessions
                .into_iter()
                .map(|s| SessionOut::new(s, auth.0.session_id))
                .collect(),
        ))
    }

    /// End one of my sessions
    ///
    /// Its tokens stop working at once. Someone else's session is "not found".
    #[oai(
        path = "/sessions/:id",
        method = "delete",
        operation_id = "delete_session"
    )]
    async fn delete_session(
        &self,
        auth: Authenticated,
        id: Path<i64>,
    ) -> Result<Json<MessageResponse>, ApiError> {
        self.state
            .services
            .auth
            .end_session(&auth.0, SessionId::new(id.0))
            .await?;
        Ok(Json(MessageResponse::new("Session deleted successfully")))
    }
}
