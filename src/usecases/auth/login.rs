//! Logging in: the account an identifier names, the attempt counted before any hashing,
//! the password check, and the session it opens.

use super::Auth;
use super::hash_refresh_token;
use crate::domain::{DeviceInfo, IpAddress, Session, SessionToken, User, email_key, username_key};
use crate::ports::{AttemptId, NewRefreshToken, NewSession, PortError, Reservation, ThrottleKey};

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

/// The counters of one login attempt: every key with a quota on, and which of them counts
/// the account at this address (the one a right password forgives).
pub(crate) struct LoginCounters {
    pub pair: String,
    pub keys: Vec<ThrottleKey>,
}

impl LoginCounters {
    /// The counters of a password guess for `account` (`user:<id>`, or `name:<digest>` for
    /// an unknown identifier) from `address`, under `limits`. Logins and current-password
    /// checks share them, so no way of guessing is cheaper than another.
    pub(crate) fn new(
        limits: crate::usecases::LoginLimits,
        account: &str,
        address: &str,
        ipv6_prefix: u8,
    ) -> Self {
        let address = crate::domain::address_limit_key(address, ipv6_prefix);
        let pair = format!("pair:{account}|{address}");
        let keys = [
            (pair.clone(), limits.per_account_and_address),
            (format!("account:{account}"), limits.per_account),
            (format!("address:{address}"), limits.per_address),
        ]
        .into_iter()
        .filter(|(_, quota)| !quota.is_off())
        .map(|(key, quota)| ThrottleKey { key, quota })
        .collect();
        Self { pair, keys }
    }
}

impl Auth {
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
    fn counters(&self, user: Option<&User>, login: &str, address: &str) -> LoginCounters {
        // An unknown identifier counts under the digest of its normalised form: a key of
        // fixed length and plain characters, whatever the client sent (NUL bytes and 600+
        // characters made storage refuse the counter's row).
        let account = match user {
            Some(user) => format!("user:{}", user.id),
            None => format!("name:{}", super::sha256_hex(&username_key(login))),
        };
        LoginCounters::new(
            self.settings.login_limits,
            &account,
            address,
            self.settings.ipv6_limit_prefix,
        )
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
        let counters = self.counters(user.as_ref(), &request.login, address);
        let attempt = match self
            .attempts
            .reserve(&counters.keys, self.clock.now())
            .await?
        {
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
                self.forget_attempt(attempt, &counters).await?;
                user
            }
            Err(error) => {
                self.attempts.release(attempt, &counters.keys).await?;
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
        counters: &LoginCounters,
    ) -> Result<(), PortError> {
        self.attempts.release(attempt, &counters.keys).await?;
        if !self.settings.login_limits.per_account_and_address.is_off() {
            self.attempts.clear(&counters.pair).await?;
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
        let Ok(password) = self.settings.password_rules.parse("password", password) else {
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
            .map(|d| DeviceInfo::recorded(&d))
            .unwrap_or_else(DeviceInfo::unknown);
        let new_session = NewSession {
            user_id: user.id,
            verified_password_hash: user.hashed_password.clone(),
            session_token: SessionToken::new(self.secrets.secret()?),
            device_info: Some(device_info),
            ip_address: ip_address.map(|ip| IpAddress::recorded(&ip)),
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
}
