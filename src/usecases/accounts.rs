//! Registration and the caller's own account: profile, phone number and password.
//!
//! A phone number a user types in is a *claim* (see [`crate::domain::PhoneCode`]): it routes
//! no texts and blocks nobody until it is proven from the phone. `PUT /auth/me/phone`
//! answers with the one-time code to text; the channel use case takes the proof. A number
//! a superuser gives an account it creates is proven from the start.

use std::sync::Arc;

use super::auth::tell_access_changed;
use super::{Caller, LoginLimits, Ports};
use crate::domain::{
    Email, FullName, PHONE_CODE_LIFETIME, Password, PhoneCode, PhoneNumber, Timestamp, User,
    Username,
};
use crate::ports::{
    Clock, EventPublisher, InsertError, IssuedPhoneCode, LoginAttempts, NewPhoneClaim, NewUser,
    PasswordHasher, PortError, ProfileUpdate, Reservation, SecretSource, SessionRepository,
    ThrottleKey, UserRepository,
};

/// What a new account is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub username: Username,
    pub email: Email,
    pub password: Password,
    pub full_name: Option<FullName>,
    pub phone_number: Option<PhoneNumber>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("the username is taken")]
    UsernameTaken,
    /// Another account's name differs only in case, width, invisible marks or lookalike
    /// letters of another script.
    #[error("the username looks like one that is taken")]
    UsernameLookalike,
    #[error("the email is taken")]
    EmailTaken,
    /// Another account has proven the number (only a proven number can be taken).
    #[error("the phone number is taken")]
    PhoneTaken,
    /// Both checks passed, then a concurrent registration took the username or the email.
    #[error("the username or the email was taken meanwhile")]
    UsernameOrEmailTaken,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Why the caller's profile could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateProfileError {
    /// The caller's account was deleted while the request ran.
    #[error("the caller's account is gone")]
    AccountGone,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Whether a registration's phone number is proven: a superuser's roster is, a user's own
/// sign-up only claims it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PhoneOrigin {
    Proven,
    Claimed,
}

/// The caller's account after `PUT /auth/me/phone`, with the code to text when the number
/// still has to be proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneSet {
    pub user: User,
    pub verification: Option<PhoneVerification>,
}

/// What the user does to prove a number: text `code` from it before `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneVerification {
    pub code: PhoneCode,
    pub expires_at: Timestamp,
}

/// Why the caller's password could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    #[error("the current password does not match")]
    WrongCurrentPassword,
    /// The caller's account was deleted while the request ran.
    #[error("the caller's account is gone")]
    AccountGone,
    /// Too many wrong passwords for this account (from this address, or overall) or from
    /// this address, counted with failed logins; the caller's session was ended.
    #[error("too many wrong passwords; retry after {retry_after}")]
    Throttled { retry_after: chrono::TimeDelta },
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Creates a user after checking that username and email are free. Shared by self-service
/// registration, the admin route and superuser bootstrap.
pub(crate) async fn create_account(
    users: &dyn UserRepository,
    hasher: &dyn PasswordHasher,
    clock: &dyn Clock,
    registration: Registration,
    is_superuser: bool,
    phone: PhoneOrigin,
) -> Result<User, RegisterError> {
    if users
        .find_user_by_username(registration.username.as_str())
        .await?
        .is_some()
    {
        return Err(RegisterError::UsernameTaken);
    }
    // The holder of the key may be this very name, registered since the exact check above.
    if let Some(holder) = users
        .find_user_by_username_key(&registration.username.key())
        .await?
    {
        return Err(if holder.username == registration.username {
            RegisterError::UsernameTaken
        } else {
            RegisterError::UsernameLookalike
        });
    }
    if users
        .find_user_by_email(registration.email.as_str())
        .await?
        .is_some()
        || users
            .find_user_by_email_key(&registration.email.key())
            .await?
            .is_some()
    {
        return Err(RegisterError::EmailTaken);
    }
    let hashed_password = hasher.hash(&registration.password).await?;
    let (phone_number, unverified_phone_number) = match phone {
        PhoneOrigin::Proven => (registration.phone_number, None),
        PhoneOrigin::Claimed => (None, registration.phone_number),
    };
    let new_user = NewUser {
        username: registration.username,
        email: registration.email,
        hashed_password,
        is_superuser,
        full_name: registration.full_name,
        phone_number,
        unverified_phone_number,
        created_at: clock.now(),
    };
    users.create_user(new_user).await.map_err(|e| match e {
        InsertError::Duplicate => RegisterError::UsernameOrEmailTaken,
        InsertError::PhoneTaken => RegisterError::PhoneTaken,
        InsertError::Port(e) => RegisterError::Port(e),
    })
}

#[derive(Clone)]
pub struct Accounts {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    hasher: Arc<dyn PasswordHasher>,
    attempts: Arc<dyn LoginAttempts>,
    events: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
    secrets: Arc<dyn SecretSource>,
    login_limits: LoginLimits,
    ipv6_limit_prefix: u8,
}

impl Accounts {
    pub fn new(ports: &Ports, login_limits: LoginLimits, ipv6_limit_prefix: u8) -> Self {
        Self {
            users: ports.users.clone(),
            sessions: ports.sessions.clone(),
            hasher: ports.hasher.clone(),
            attempts: ports.login_attempts.clone(),
            events: ports.events.clone(),
            clock: ports.clock.clone(),
            secrets: ports.secrets.clone(),
            login_limits,
            ipv6_limit_prefix,
        }
    }

    /// The counters a current-password check is held to: the ones a login of this account
    /// from this address counts under, so guessing through a stolen token is no cheaper
    /// than guessing at the login.
    fn password_counters(&self, caller: &Caller, address: &str) -> (String, Vec<ThrottleKey>) {
        let counters = super::auth::login::LoginCounters::new(
            self.login_limits,
            &format!("user:{}", caller.user.id),
            address,
            self.ipv6_limit_prefix,
        );
        (counters.pair, counters.keys)
    }

    /// Self-service sign-up: an active, ordinary user.
    pub async fn register(&self, registration: Registration) -> Result<User, RegisterError> {
        create_account(
            self.users.as_ref(),
            self.hasher.as_ref(),
            self.clock.as_ref(),
            registration,
            false,
            PhoneOrigin::Claimed,
        )
        .await
    }

    /// Changes the fields present in `update`; the others stay as they are.
    pub async fn update_profile(
        &self,
        caller: &Caller,
        update: ProfileUpdate,
    ) -> Result<User, UpdateProfileError> {
        self.users
            .update_profile(caller.user.id, update, self.clock.now())
            .await?
            .ok_or(UpdateProfileError::AccountGone)
    }

    /// Claims a phone number for the caller, with a fresh one-time code to text from it
    /// (any earlier code of the caller's is void), or removes the caller's number with
    /// `None`. The caller's proven number claimed again stays proven, without a code.
    pub async fn set_phone_number(
        &self,
        caller: &Caller,
        phone_number: Option<PhoneNumber>,
    ) -> Result<PhoneSet, UpdateProfileError> {
        let now = self.clock.now();
        let Some(number) = phone_number else {
            let user = self
                .users
                .claim_phone_number(caller.user.id, None, now)
                .await?;
            let user = user.ok_or(UpdateProfileError::AccountGone)?;
            return Ok(PhoneSet {
                user,
                verification: None,
            });
        };
        if caller.user.phone_number.as_ref() == Some(&number) {
            return Ok(PhoneSet {
                user: caller.user.clone(),
                verification: None,
            });
        }
        let code = PhoneCode::from_secret(&self.secrets.secret()?);
        let expires_at = now + PHONE_CODE_LIFETIME;
        let claim = NewPhoneClaim {
            code: IssuedPhoneCode {
                code_hash: code.hash_for(&number),
                expires_at,
            },
            phone_number: number,
        };
        let claimed = claim.phone_number.clone();
        let user = self
            .users
            .claim_phone_number(caller.user.id, Some(claim), now)
            .await?
            .ok_or(UpdateProfileError::AccountGone)?;
        // Proven meanwhile (another request of the caller's): the code is not needed.
        let verification = (user.unverified_phone_number.as_ref() == Some(&claimed))
            .then_some(PhoneVerification { code, expires_at });
        Ok(PhoneSet { user, verification })
    }

    /// Checks the current password, stores the new one and ends every other session of the
    /// user (the caller's own session stays).
    ///
    /// Wrong current passwords count like failed logins of the account from `address`; the
    /// session that goes past a quota is ended (its token was likely stolen), and answered
    /// `Throttled`.
    pub async fn change_password(
        &self,
        caller: &Caller,
        address: Option<&str>,
        current_password: &str,
        new_password: &Password,
    ) -> Result<(), ChangePasswordError> {
        let (pair, keys) = self.password_counters(caller, address.unwrap_or("unknown"));
        let now = self.clock.now();
        let attempt = match self.attempts.reserve(&keys, now).await? {
            Reservation::Admitted(attempt) => attempt,
            Reservation::Refused { retry_after } => {
                self.sessions
                    .end_session(caller.user.id, caller.session_id, now)
                    .await?;
                tell_access_changed(self.events.as_ref(), caller.user.id).await;
                return Err(ChangePasswordError::Throttled { retry_after });
            }
        };
        let current_ok = match self
            .hasher
            .verify(current_password, &caller.user.hashed_password)
            .await
        {
            Ok(matches) => matches,
            Err(error) => {
                self.attempts.release(attempt, &keys).await?;
                return Err(error.into());
            }
        };
        if !current_ok {
            // Kept: a counted failure.
            return Err(ChangePasswordError::WrongCurrentPassword);
        }
        self.attempts.release(attempt, &keys).await?;
        if !self.login_limits.per_account_and_address.is_off() {
            self.attempts.clear(&pair).await?;
        }
        let hashed = self.hasher.hash(new_password).await?;
        let changed = self
            .users
            .change_password(caller.user.id, hashed, caller.session_id, self.clock.now())
            .await?;
        if changed {
            // The user's other sessions ended: their streams close.
            tell_access_changed(self.events.as_ref(), caller.user.id).await;
            Ok(())
        } else {
            Err(ChangePasswordError::AccountGone)
        }
    }
}

#[cfg(test)]
mod tests;
