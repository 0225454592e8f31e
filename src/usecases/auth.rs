//! Logging in and out, authenticating requests, refresh-token rotation and session management.

use std::fmt::Write as _;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{Caller, Ports, Settings};
use crate::domain::{
    Password, RefreshToken, Session, SessionId, User, UserId, email_key, username_key,
};
use crate::ports::{
    AttemptId, Clock, LoginAttempts, NewRefreshToken, NewSession, PasswordHasher, PortError,
    Reservation, Rotation, SecretSource, SessionRepository, ThrottleKey, UserRepository,
};

/// What a login form carries, with the request's context.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginRequest {
    /// A username, or the email of the account.
    pub login: String,
    pub password: String,
    /// The client's `User-Agent`, if it sent one.
    pub device_info: Option<String>,
    pub ip_address: Option<String>,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("login", &self.login)
            .field("password", &"<redacted>")
            .field("device_info", &self.device_info)
            .field("ip_address", &self.ip_address)
            .finish()
    }
}

/// A new session and the refresh token to hand to the client (shown once, stored hashed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginOutcome {
    pub user: User,
    pub session: Session,
    pub refresh_token: String,
}

/// A rotated refresh token and what an access token for it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshOutcome {
    pub user: User,
    pub session_id: SessionId,
    pub refresh_token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("unknown account or wrong password")]
    InvalidCredentials,
    #[error("the user is disabled")]
    UserDisabled,
    /// Too many wrong passwords for this account (from this address, or overall) or from this
    /// address; the password was not checked.
    #[error("too many failed logins; retry after {retry_after}")]
    Throttled { retry_after: chrono::TimeDelta },
    #[error(transparent)]
    Port(#[from] PortError),
}

#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    /// Unknown session or user, a session of someone else, or a session that ended or expired.
    #[error("the session is unknown, ended, expired or someone else's")]
    InvalidCredentials,
    #[error("the user is disabled")]
    UserDisabled,
    #[error(transparent)]
    Port(#[from] PortError),
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("the refresh token is unknown or used")]
    NotFoundOrUsed,
    #[error("the refresh token expired")]
    Expired,
    #[error("the refresh token's session has ended")]
    SessionEnded,
    #[error("the user is disabled")]
    UserDisabled,
    #[error(transparent)]
    Port(#[from] PortError),
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no such live session of the caller")]
    SessionNotFound,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Storage keeps only this: the hex SHA-256 of a refresh token.
pub fn hash_refresh_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Column limits of `sessions.device_info` and `sessions.ip_address`.
const DEVICE_INFO_MAX_CHARS: usize = 255;
const IP_ADDRESS_MAX_CHARS: usize = 50;

fn cut_to_chars(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

#[derive(Clone)]
pub struct Auth {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    hasher: Arc<dyn PasswordHasher>,
    attempts: Arc<dyn LoginAttempts>,
    clock: Arc<dyn Clock>,
    secrets: Arc<dyn SecretSource>,
    settings: Settings,
}

impl Auth {
    pub fn new(ports: &Ports, settings: Settings) -> Self {
        Self {
            users: ports.users.clone(),
            sessions: ports.sessions.clone(),
            hasher: ports.hasher.clone(),
            attempts: ports.login_attempts.clone(),
            clock: ports.clock.clone(),
            secrets: ports.secrets.clone(),
            settings,
        }
    }

    /// The account an identifier names: with an `@` it is an email first (exactly, then
    /// ignoring case), else a username, so no username can shadow another account's email.
    async fn find_login_account(&self, login: &str) -> Result<Option<User>, PortError> {
        if login.contains('@') {
            if let Some(user) = self.users.find_user_by_email(login).await? {
                return Ok(Some(user));
            }
            if let Some(user) = self.users.find_user_by_email_key(&email_key(login)).await? {
                return Ok(Some(user));
            }
        }
        self.users.find_user_by_username(login).await
    }

    /// The counters one login attempt is held to.
    fn throttle_keys(&self, user: Option<&User>, login: &str, address: &str) -> Vec<ThrottleKey> {
        let account = match user {
            Some(user) => format!("user:{}", user.id),
            None => format!("name:{}", username_key(login)),
        };
        let limits = self.settings.login_limits;
        [
            (
                format!("pair:{account}|{address}"),
                limits.per_account_and_address,
            ),
            (format!("account:{account}"), limits.per_account),
            (format!("address:{address}"), limits.per_address),
        ]
        .into_iter()
        .filter(|(_, quota)| !quota.is_off())
        .map(|(key, quota)| ThrottleKey { key, quota })
        .collect()
    }

    /// Checks the password and opens a session with its first refresh token.
    ///
    /// Throttled before any hashing: the attempt is reserved atomically under each of its
    /// counters first, so simultaneous guesses can never exceed a quota, and a right
    /// password takes its reservation back. An unknown login spends the same lookups and
    /// hashing time as a wrong password and gets the same answers.
    pub async fn login(&self, request: LoginRequest) -> Result<LoginOutcome, LoginError> {
        let user = self.find_login_account(&request.login).await?;
        let address = request.ip_address.as_deref().unwrap_or("unknown");
        let keys = self.throttle_keys(user.as_ref(), &request.login, address);
        let attempt = match self.attempts.reserve(&keys, self.clock.now()).await? {
            Reservation::Admitted(attempt) => attempt,
            Reservation::Refused { retry_after } => {
                return Err(LoginError::Throttled { retry_after });
            }
        };
        let verified = match user {
            Some(user) => self
                .hasher
                .verify(&request.password, &user.hashed_password)
                .await
                .map(|matches| matches.then_some(user)),
            None => self
                .hasher
                .verify_dummy(&request.password)
                .await
                .map(|()| None),
        };
        let user = match verified {
            // A wrong password keeps its reservation: it is a counted failure.
            Ok(None) => return Err(LoginError::InvalidCredentials),
            Ok(Some(user)) => {
                self.forget_attempt(attempt, &keys).await?;
                user
            }
            Err(error) => {
                self.attempts.release(attempt, &keys).await?;
                return Err(error.into());
            }
        };
        if !user.is_active {
            return Err(LoginError::UserDisabled);
        }
        let outcome = self
            .open_session(user, request.device_info, request.ip_address)
            .await?;
        self.upgrade_hash_if_stale(&outcome.user, &request.password)
            .await;
        Ok(outcome)
    }

    /// A right password: its attempt is no failure, and the failures of its account from its
    /// address are forgiven (the account-wide and address-wide counts stay).
    async fn forget_attempt(
        &self,
        attempt: AttemptId,
        keys: &[ThrottleKey],
    ) -> Result<(), PortError> {
        self.attempts.release(attempt, keys).await?;
        if let Some(pair) = keys.iter().find(|k| k.key.starts_with("pair:")) {
            self.attempts.clear(&pair.key).await?;
        }
        Ok(())
    }

    /// Stores a hash at the current settings when the stored one was made with others (a
    /// raised cost), so old accounts cost what new ones do. Best effort: the login has
    /// succeeded either way, and the next one tries again.
    async fn upgrade_hash_if_stale(&self, user: &User, password: &str) {
        if !self.hasher.needs_rehash(&user.hashed_password) {
            return;
        }
        // Passwords set before today's rules (adopted databases) cannot be re-hashed as
        // `Password`; they keep their old hash.
        let Ok(password) = Password::parse(password) else {
            return;
        };
        if let Ok(new_hash) = self.hasher.hash(&password).await {
            let _ = self
                .users
                .upgrade_password_hash(user.id, user.hashed_password.clone(), new_hash)
                .await;
        }
    }

    async fn open_session(
        &self,
        user: User,
        device_info: Option<String>,
        ip_address: Option<String>,
    ) -> Result<LoginOutcome, LoginError> {
        let now = self.clock.now();
        let expires_at = now + self.settings.refresh_token_ttl;
        let refresh_token = self.secrets.secret()?;
        let device_info = device_info
            .map(|d| cut_to_chars(&d, DEVICE_INFO_MAX_CHARS))
            .unwrap_or_else(|| "Unknown".to_string());
        let new_session = NewSession {
            user_id: user.id,
            verified_password_hash: user.hashed_password.clone(),
            session_token: self.secrets.secret()?,
            device_info: Some(device_info),
            ip_address: ip_address.map(|ip| cut_to_chars(&ip, IP_ADDRESS_MAX_CHARS)),
            expires_at,
            created_at: now,
        };
        let first_token = NewRefreshToken {
            token_hash: hash_refresh_token(&refresh_token),
            expires_at,
            created_at: now,
        };
        // `None`: the password changed, or the user was disabled or deleted, while the
        // password was being checked; the old password no longer opens anything.
        let (session, _) = self
            .sessions
            .create_session(new_session, first_token)
            .await?
            .ok_or(LoginError::InvalidCredentials)?;
        Ok(LoginOutcome {
            user,
            session,
            refresh_token,
        })
    }

    /// Accepts a request that presents (user id, session id) from a verified access token
    /// only while the session is active and unexpired and its user exists and is active.
    pub async fn authenticate(
        &self,
        user_id: UserId,
        session_id: SessionId,
    ) -> Result<Caller, AuthenticateError> {
        let (session, user) = self
            .sessions
            .get_session_with_user(session_id)
            .await?
            .ok_or(AuthenticateError::InvalidCredentials)?;
        if session.user_id != user_id {
            return Err(AuthenticateError::InvalidCredentials);
        }
        if !user.is_active {
            return Err(AuthenticateError::UserDisabled);
        }
        if !session.is_live(self.clock.now()) {
            return Err(AuthenticateError::InvalidCredentials);
        }
        Ok(Caller { user, session_id })
    }

    /// Exchanges a refresh token for a new one in the same session. A token presented again
    /// after its rotation, later than the grace window, is taken as stolen: its whole session
    /// ends.
    pub async fn refresh(&self, presented: &str) -> Result<RefreshOutcome, RefreshError> {
        let now = self.clock.now();
        let token = self
            .sessions
            .find_refresh_token(&hash_refresh_token(presented))
            .await?
            .ok_or(RefreshError::NotFoundOrUsed)?;
        if token.is_used {
            self.end_session_if_reused(&token).await?;
            return Err(RefreshError::NotFoundOrUsed);
        }
        if token.expires_at <= now {
            return Err(RefreshError::Expired);
        }
        // Rows adopted from the original implementation belong to no session.
        let session_id = token.session_id.ok_or(RefreshError::NotFoundOrUsed)?;
        let (session, user) = self
            .sessions
            .get_session_with_user(session_id)
            .await?
            .ok_or(RefreshError::SessionEnded)?;
        if !session.is_live(now) {
            return Err(RefreshError::SessionEnded);
        }
        if !user.is_active {
            return Err(RefreshError::UserDisabled);
        }

        let refresh_token = self.secrets.secret()?;
        let next = NewRefreshToken {
            token_hash: hash_refresh_token(&refresh_token),
            expires_at: now + self.settings.refresh_token_ttl,
            created_at: now,
        };
        match self
            .sessions
            .rotate_refresh_token(token.id, next, now)
            .await?
        {
            Rotation::Rotated(_) => Ok(RefreshOutcome {
                user,
                session_id,
                refresh_token,
            }),
            // A concurrent refresh of the same token won: that is the grace case.
            Rotation::AlreadyUsed => Err(RefreshError::NotFoundOrUsed),
        }
    }

    async fn end_session_if_reused(&self, token: &RefreshToken) -> Result<(), PortError> {
        let used_at = token.updated_at;
        if self.clock.now() - used_at <= self.settings.refresh_reuse_grace {
            return Ok(());
        }
        if let Some(session_id) = token.session_id {
            self.sessions
                .end_session(token.user_id, session_id, self.clock.now())
                .await?;
        }
        Ok(())
    }

    /// Ends the caller's session with all its tokens. A refresh token given with the logout
    /// is also put out of use, with the session it belongs to, when it is the caller's.
    pub async fn logout(
        &self,
        caller: &Caller,
        refresh_token: Option<&str>,
    ) -> Result<(), PortError> {
        let now = self.clock.now();
        self.sessions
            .end_session(caller.user.id, caller.session_id, now)
            .await?;
        let Some(presented) = refresh_token else {
            return Ok(());
        };
        let token = self
            .sessions
            .find_refresh_token(&hash_refresh_token(presented))
            .await?;
        match token {
            Some(token) if token.user_id == caller.user.id => match token.session_id {
                Some(sid) if sid != caller.session_id => {
                    self.sessions.end_session(caller.user.id, sid, now).await?;
                }
                Some(_) => {}
                None => self.sessions.revoke_refresh_token(token.id, now).await?,
            },
            _ => {}
        }
        Ok(())
    }

    /// Ends every session of the caller, this one included.
    pub async fn logout_all(&self, caller: &Caller) -> Result<u64, PortError> {
        self.sessions
            .end_all_sessions(caller.user.id, self.clock.now())
            .await
    }

    /// The caller's active, unexpired sessions, newest first.
    pub async fn list_sessions(&self, caller: &Caller) -> Result<Vec<Session>, PortError> {
        self.sessions
            .list_live_sessions(caller.user.id, self.clock.now())
            .await
    }

    /// Ends one of the caller's sessions; anyone else's, or an ended one, is "not found".
    pub async fn end_session(
        &self,
        caller: &Caller,
        session_id: SessionId,
    ) -> Result<(), SessionError> {
        let ended = self
            .sessions
            .end_session(caller.user.id, session_id, self.clock.now())
            .await?;
        if ended {
            Ok(())
        } else {
            Err(SessionError::SessionNotFound)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::test_support::*;
    use chrono::TimeDelta;
    use mockall::predicate::{always, eq};

    fn login_request(login: &str, password: &str) -> LoginRequest {
        LoginRequest {
            login: login.into(),
            password: password.into(),
            device_info: Some("curl/8".into()),
            ip_address: Some("10.0.0.1".into()),
        }
    }

    fn auth(mocks: Mocks) -> Auth {
        Auth::new(&mocks.into_ports(), Settings::default())
    }

    fn expect_session_created(mocks: &mut Mocks) {
        mocks
            .sessions
            .expect_create_session()
            .returning(|new, first| {
                let session = Session {
                    id: 5,
                    user_id: new.user_id,
                    session_token: new.session_token.clone(),
                    device_info: new.device_info.clone(),
                    ip_address: new.ip_address.clone(),
                    is_active: true,
                    expires_at: new.expires_at,
                    created_at: new.created_at,
                    updated_at: new.created_at,
                };
                let token = RefreshToken {
                    id: 1,
                    user_id: new.user_id,
                    token_hash: first.token_hash,
                    expires_at: first.expires_at,
                    is_used: false,
                    session_id: Some(5),
                    created_at: first.created_at,
                    updated_at: first.created_at,
                };
                Ok(Some((session, token)))
            });
    }

    fn token_row(session_id: Option<i64>) -> RefreshToken {
        RefreshToken {
            id: 3,
            user_id: 1,
            token_hash: hash_refresh_token("presented"),
            expires_at: fixed_now() + TimeDelta::days(1),
            is_used: false,
            session_id,
            created_at: fixed_now() - TimeDelta::days(6),
            updated_at: fixed_now() - TimeDelta::days(6),
        }
    }

    #[test]
    fn refresh_tokens_are_stored_as_sha256_hex() {
        assert_eq!(
            hash_refresh_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[tokio::test]
    async fn login_opens_a_session_with_a_hashed_refresh_token() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_user_by_username()
            .with(eq("user1"))
            .returning(|_| Ok(Some(sample_user(1))));
        mocks
            .hasher
            .expect_verify()
            .with(eq("pw"), eq(SAMPLE_HASH))
            .returning(|_, _| Ok(true));
        mocks
            .sessions
            .expect_create_session()
            .withf(|new, first| {
                new.user_id == 1
                    && new.device_info.as_deref() == Some("curl/8")
                    && new.ip_address.as_deref() == Some("10.0.0.1")
                    && new.expires_at == fixed_now() + TimeDelta::days(7)
                    && new.session_token == "secret-2"
                    && first.token_hash == hash_refresh_token("secret-1")
                    && first.expires_at == new.expires_at
                    && new.verified_password_hash == SAMPLE_HASH
            })
            .times(1)
            .returning(|_, _| Ok(Some((sample_session(5, 1), token_row(Some(5))))));
        let outcome = auth(mocks)
            .login(login_request("user1", "pw"))
            .await
            .unwrap();
        assert_eq!(outcome.refresh_token, "secret-1");
        assert_eq!(outcome.session.id, 5);
        assert_eq!(outcome.user.id, 1);
    }

    #[tokio::test]
    async fn a_login_upgrades_a_hash_made_at_another_cost() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_user_by_username()
            .returning(|_| Ok(Some(sample_user(1))));
        mocks.hasher.checkpoint();
        mocks.hasher.expect_verify().returning(|_, _| Ok(true));
        mocks
            .hasher
            .expect_needs_rehash()
            .with(eq(SAMPLE_HASH))
            .returning(|_| true);
        mocks
            .hasher
            .expect_hash()
            .times(1)
            .returning(|_| Ok("$2b$12$upgraded".into()));
        mocks
            .users
            .expect_upgrade_password_hash()
            .with(
                eq(1),
                eq(SAMPLE_HASH.to_string()),
                eq("$2b$12$upgraded".to_string()),
            )
            .times(1)
            .returning(|_, _, _| Ok(true));
        expect_session_created(&mut mocks);
        auth(mocks)
            .login(login_request("user1", "password1"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_wrong_password_is_refused_before_hashing_once_over_the_limit() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_user_by_username()
            .returning(|_| Ok(Some(sample_user(1))));
        mocks
            .hasher
            .expect_verify()
            .times(2)
            .returning(|_, _| Ok(false));
        let limits = crate::usecases::LoginLimits {
            per_account_and_address: crate::ports::Quota::new(2, TimeDelta::minutes(15)),
            ..crate::usecases::LoginLimits::off()
        };
        let auth = Auth::new(
            &mocks.into_ports(),
            Settings {
                login_limits: limits,
                ..Settings::default()
            },
        );
        for _ in 0..2 {
            let result = auth.login(login_request("user1", "bad")).await;
            assert!(
                matches!(result, Err(LoginError::InvalidCredentials)),
                "{result:?}"
            );
        }
        let result = auth.login(login_request("user1", "bad")).await;
        assert!(
            matches!(result, Err(LoginError::Throttled { retry_after }) if retry_after == TimeDelta::minutes(15)),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn login_whose_password_changed_while_hashing_opens_no_session() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_user_by_username()
            .returning(|_| Ok(Some(sample_user(1))));
        mocks.hasher.expect_verify().returning(|_, _| Ok(true));
        mocks
            .sessions
            .expect_create_session()
            .times(1)
            .returning(|_, _| Ok(None));
        let result = auth(mocks).login(login_request("user1", "pw")).await;
        assert!(
            matches!(result, Err(LoginError::InvalidCredentials)),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn login_accepts_the_email_in_place_of_the_username() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_user_by_username()
            .returning(|_| Ok(None));
        mocks
            .users
            .expect_find_user_by_email()
            .with(eq("user1@example.com"))
            .returning(|_| Ok(Some(sample_user(1))));
        mocks.hasher.expect_verify().returning(|_, _| Ok(true));
        expect_session_created(&mut mocks);
        let outcome = auth(mocks)
            .login(login_request("user1@example.com", "pw"))
            .await
            .unwrap();
        assert_eq!(outcome.user.id, 1);
    }

    #[tokio::test]
    async fn login_for_an_unknown_user_still_spends_a_hash_and_says_incorrect() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_user_by_username()
            .returning(|_| Ok(None));
        mocks
            .hasher
            .expect_verify_dummy()
            .with(eq("pw"))
            .times(1)
            .returning(|_| Ok(()));
        mocks.sessions.expect_create_session().never();
        let err = auth(mocks)
            .login(login_request("ghost", "pw"))
            .await
            .unwrap_err();
        assert!(matches!(err, LoginError::InvalidCredentials));
        assert_eq!(err.to_string(), "unknown account or wrong password");
    }

    #[tokio::test]
    async fn login_with_a_wrong_password_says_incorrect() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_user_by_username()
            .returning(|_| Ok(Some(sample_user(1))));
        mocks.hasher.expect_verify().returning(|_, _| Ok(false));
        mocks.sessions.expect_create_session().never();
        let err = auth(mocks)
            .login(login_request("user1", "bad"))
            .await
            .unwrap_err();
        assert!(matches!(err, LoginError::InvalidCredentials));
    }

    #[tokio::test]
    async fn login_of_a_disabled_user_with_the_right_password_is_refused_as_disabled() {
        let mut mocks = Mocks::new();
        mocks.users.expect_find_user_by_username().returning(|_| {
            let mut user = sample_user(1);
            user.is_active = false;
            Ok(Some(user))
        });
        mocks.hasher.expect_verify().returning(|_, _| Ok(true));
        mocks.sessions.expect_create_session().never();
        let err = auth(mocks)
            .login(login_request("user1", "pw"))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "the user is disabled");
    }

    #[tokio::test]
    async fn login_records_unknown_device_and_cuts_long_user_agents() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_user_by_username()
            .returning(|_| Ok(Some(sample_user(1))));
        mocks.hasher.expect_verify().returning(|_, _| Ok(true));
        expect_session_created(&mut mocks);
        let auth = auth(mocks);
        let mut request = login_request("user1", "pw");
        request.device_info = None;
        let outcome = auth.login(request).await.unwrap();
        assert_eq!(outcome.session.device_info.as_deref(), Some("Unknown"));

        let mut request = login_request("user1", "pw");
        request.device_info = Some("é".repeat(300));
        let outcome = auth.login(request).await.unwrap();
        assert_eq!(
            outcome.session.device_info.unwrap().chars().count(),
            DEVICE_INFO_MAX_CHARS
        );
    }

    #[tokio::test]
    async fn login_debug_output_hides_the_password() {
        let request = login_request("user1", "super-secret-pw");
        assert!(!format!("{request:?}").contains("super-secret-pw"));
    }

    #[tokio::test]
    async fn authenticate_accepts_a_live_session_of_an_active_user() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_get_session_with_user()
            .with(eq(5))
            .returning(|_| Ok(Some((sample_session(5, 1), sample_user(1)))));
        let caller = auth(mocks).authenticate(1, 5).await.unwrap();
        assert_eq!(caller.user.id, 1);
        assert_eq!(caller.session_id, 5);
    }

    #[tokio::test]
    async fn authenticate_refuses_an_unknown_session() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_get_session_with_user()
            .returning(|_| Ok(None));
        let err = auth(mocks).authenticate(1, 5).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "the session is unknown, ended, expired or someone else's"
        );
    }

    #[tokio::test]
    async fn authenticate_refuses_a_session_of_another_user() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_get_session_with_user()
            .returning(|_| Ok(Some((sample_session(5, 2), sample_user(2)))));
        let err = auth(mocks).authenticate(1, 5).await.unwrap_err();
        assert!(matches!(err, AuthenticateError::InvalidCredentials));
    }

    #[tokio::test]
    async fn authenticate_refuses_an_ended_session() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_get_session_with_user()
            .returning(|_| {
                let mut session = sample_session(5, 1);
                session.is_active = false;
                Ok(Some((session, sample_user(1))))
            });
        let err = auth(mocks).authenticate(1, 5).await.unwrap_err();
        assert!(matches!(err, AuthenticateError::InvalidCredentials));
    }

    #[tokio::test]
    async fn authenticate_refuses_an_expired_session() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_get_session_with_user()
            .returning(|_| {
                let mut session = sample_session(5, 1);
                session.expires_at = fixed_now();
                Ok(Some((session, sample_user(1))))
            });
        let err = auth(mocks).authenticate(1, 5).await.unwrap_err();
        assert!(matches!(err, AuthenticateError::InvalidCredentials));
    }

    #[tokio::test]
    async fn authenticate_reports_a_disabled_user() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_get_session_with_user()
            .returning(|_| {
                let mut user = sample_user(1);
                user.is_active = false;
                Ok(Some((sample_session(5, 1), user)))
            });
        let err = auth(mocks).authenticate(1, 5).await.unwrap_err();
        assert_eq!(err.to_string(), "the user is disabled");
    }

    #[tokio::test]
    async fn refresh_rotates_the_token_within_its_session() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_find_refresh_token()
            .with(eq(hash_refresh_token("presented")))
            .returning(|_| Ok(Some(token_row(Some(5)))));
        mocks
            .sessions
            .expect_get_session_with_user()
            .returning(|_| Ok(Some((sample_session(5, 1), sample_user(1)))));
        mocks
            .sessions
            .expect_rotate_refresh_token()
            .withf(|used, next, now| {
                *used == 3
                    && next.token_hash == hash_refresh_token("secret-1")
                    && next.expires_at == fixed_now() + TimeDelta::days(7)
                    && *now == fixed_now()
            })
            .times(1)
            .returning(|_, _, _| Ok(Rotation::Rotated(token_row(Some(5)))));
        let outcome = auth(mocks).refresh("presented").await.unwrap();
        assert_eq!(outcome.refresh_token, "secret-1");
        assert_eq!(outcome.session_id, 5);
        assert_eq!(outcome.user.id, 1);
    }

    #[tokio::test]
    async fn refresh_with_an_unknown_token_is_not_found() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_find_refresh_token()
            .returning(|_| Ok(None));
        let err = auth(mocks).refresh("nope").await.unwrap_err();
        assert_eq!(err.to_string(), "the refresh token is unknown or used");
    }

    #[tokio::test]
    async fn refresh_with_an_expired_token_says_expired() {
        let mut mocks = Mocks::new();
        mocks.sessions.expect_find_refresh_token().returning(|_| {
            let mut token = token_row(Some(5));
            token.expires_at = fixed_now() - TimeDelta::seconds(1);
            Ok(Some(token))
        });
        mocks.sessions.expect_rotate_refresh_token().never();
        let err = auth(mocks).refresh("presented").await.unwrap_err();
        assert_eq!(err.to_string(), "the refresh token expired");
    }

    #[tokio::test]
    async fn refresh_token_reused_within_grace_is_refused_but_the_session_lives() {
        let mut mocks = Mocks::new();
        mocks.sessions.expect_find_refresh_token().returning(|_| {
            let mut token = token_row(Some(5));
            token.is_used = true;
            token.updated_at = fixed_now() - TimeDelta::seconds(10);
            Ok(Some(token))
        });
        mocks.sessions.expect_end_session().never();
        let err = auth(mocks).refresh("presented").await.unwrap_err();
        assert!(matches!(err, RefreshError::NotFoundOrUsed));
    }

    #[tokio::test]
    async fn refresh_token_reused_after_grace_ends_the_session() {
        let mut mocks = Mocks::new();
        mocks.sessions.expect_find_refresh_token().returning(|_| {
            let mut token = token_row(Some(5));
            token.is_used = true;
            token.updated_at = fixed_now() - TimeDelta::seconds(11);
            Ok(Some(token))
        });
        mocks
            .sessions
            .expect_end_session()
            .with(eq(1), eq(5), always())
            .times(1)
            .returning(|_, _, _| Ok(true));
        mocks.sessions.expect_rotate_refresh_token().never();
        let err = auth(mocks).refresh("presented").await.unwrap_err();
        assert!(matches!(err, RefreshError::NotFoundOrUsed));
    }

    #[tokio::test]
    async fn refresh_token_without_a_session_is_refused() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_find_refresh_token()
            .returning(|_| Ok(Some(token_row(None))));
        mocks.sessions.expect_rotate_refresh_token().never();
        let err = auth(mocks).refresh("presented").await.unwrap_err();
        assert!(matches!(err, RefreshError::NotFoundOrUsed));
    }

    #[tokio::test]
    async fn refresh_in_an_ended_session_is_refused() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_find_refresh_token()
            .returning(|_| Ok(Some(token_row(Some(5)))));
        mocks
            .sessions
            .expect_get_session_with_user()
            .returning(|_| {
                let mut session = sample_session(5, 1);
                session.is_active = false;
                Ok(Some((session, sample_user(1))))
            });
        mocks.sessions.expect_rotate_refresh_token().never();
        let err = auth(mocks).refresh("presented").await.unwrap_err();
        assert!(matches!(err, RefreshError::SessionEnded));
    }

    #[tokio::test]
    async fn refresh_for_a_disabled_user_is_refused() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_find_refresh_token()
            .returning(|_| Ok(Some(token_row(Some(5)))));
        mocks
            .sessions
            .expect_get_session_with_user()
            .returning(|_| {
                let mut user = sample_user(1);
                user.is_active = false;
                Ok(Some((sample_session(5, 1), user)))
            });
        mocks.sessions.expect_rotate_refresh_token().never();
        let err = auth(mocks).refresh("presented").await.unwrap_err();
        assert!(matches!(err, RefreshError::UserDisabled));
    }

    #[tokio::test]
    async fn refresh_that_loses_a_concurrent_rotation_is_refused() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_find_refresh_token()
            .returning(|_| Ok(Some(token_row(Some(5)))));
        mocks
            .sessions
            .expect_get_session_with_user()
            .returning(|_| Ok(Some((sample_session(5, 1), sample_user(1)))));
        mocks
            .sessions
            .expect_rotate_refresh_token()
            .returning(|_, _, _| Ok(Rotation::AlreadyUsed));
        let err = auth(mocks).refresh("presented").await.unwrap_err();
        assert!(matches!(err, RefreshError::NotFoundOrUsed));
    }

    #[tokio::test]
    async fn logout_ends_the_callers_session() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_end_session()
            .with(eq(1), eq(100), eq(fixed_now()))
            .times(1)
            .returning(|_, _, _| Ok(true));
        auth(mocks).logout(&caller(1), None).await.unwrap();
    }

    #[tokio::test]
    async fn logout_with_a_refresh_token_of_another_session_ends_that_one_too() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_end_session()
            .with(eq(1), eq(100), always())
            .times(1)
            .returning(|_, _, _| Ok(true));
        mocks
            .sessions
            .expect_find_refresh_token()
            .returning(|_| Ok(Some(token_row(Some(6)))));
        mocks
            .sessions
            .expect_end_session()
            .with(eq(1), eq(6), always())
            .times(1)
            .returning(|_, _, _| Ok(true));
        auth(mocks)
            .logout(&caller(1), Some("presented"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn logout_ignores_a_refresh_token_of_someone_else() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_end_session()
            .with(eq(2), eq(100), always())
            .times(1)
            .returning(|_, _, _| Ok(true));
        // token_row belongs to user 1; the caller is user 2.
        mocks
            .sessions
            .expect_find_refresh_token()
            .returning(|_| Ok(Some(token_row(Some(6)))));
        mocks.sessions.expect_revoke_refresh_token().never();
        auth(mocks)
            .logout(&caller(2), Some("presented"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn logout_revokes_an_adopted_refresh_token_without_session() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_end_session()
            .returning(|_, _, _| Ok(true));
        mocks
            .sessions
            .expect_find_refresh_token()
            .returning(|_| Ok(Some(token_row(None))));
        mocks
            .sessions
            .expect_revoke_refresh_token()
            .with(eq(3), always())
            .times(1)
            .returning(|_, _| Ok(()));
        auth(mocks)
            .logout(&caller(1), Some("presented"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn logout_all_ends_every_session_of_the_caller() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_end_all_sessions()
            .with(eq(1), eq(fixed_now()))
            .times(1)
            .returning(|_, _| Ok(3));
        assert_eq!(auth(mocks).logout_all(&caller(1)).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn list_sessions_asks_for_the_callers_live_sessions() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_list_live_sessions()
            .with(eq(1), eq(fixed_now()))
            .returning(|_, _| Ok(vec![sample_session(100, 1)]));
        let sessions = auth(mocks).list_sessions(&caller(1)).await.unwrap();
        assert_eq!(sessions.len(), 1);
    }

    #[tokio::test]
    async fn ending_a_session_that_is_not_the_callers_is_not_found() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_end_session()
            .with(eq(1), eq(42), always())
            .returning(|_, _, _| Ok(false));
        let err = auth(mocks).end_session(&caller(1), 42).await.unwrap_err();
        assert_eq!(err.to_string(), "no such live session of the caller");
    }

    #[tokio::test]
    async fn ending_an_own_session_succeeds() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_end_session()
            .with(eq(1), eq(42), always())
            .returning(|_, _, _| Ok(true));
        auth(mocks).end_session(&caller(1), 42).await.unwrap();
    }
}
