//! Registration and the caller's own account: profile and password.

use std::sync::Arc;

use super::auth::tell_access_changed;
use super::{Caller, Ports};
use crate::domain::{Email, FullName, Password, PhoneNumber, User, Username};
use crate::ports::{
    Clock, EventPublisher, InsertError, NewUser, PasswordHasher, PortError, ProfileUpdate,
    UserRepository,
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
    #[error("the phone number is taken")]
    PhoneTaken,
    #[error(transparent)]
    Port(#[from] PortError),
}

impl From<InsertError> for UpdateProfileError {
    fn from(error: InsertError) -> Self {
        match error {
            InsertError::PhoneTaken => Self::PhoneTaken,
            // Only the phone number is unique among the fields a profile change writes.
            InsertError::Duplicate => Self::PhoneTaken,
            InsertError::Port(e) => Self::Port(e),
        }
    }
}

/// Why the caller's password could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    #[error("the current password does not match")]
    WrongCurrentPassword,
    /// The caller's account was deleted while the request ran.
    #[error("the caller's account is gone")]
    AccountGone,
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
    let new_user = NewUser {
        username: registration.username,
        email: registration.email,
        hashed_password,
        is_superuser,
        full_name: registration.full_name,
        phone_number: registration.phone_number,
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
    hasher: Arc<dyn PasswordHasher>,
    events: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
}

impl Accounts {
    pub fn new(ports: &Ports) -> Self {
        Self {
            users: ports.users.clone(),
            hasher: ports.hasher.clone(),
            events: ports.events.clone(),
            clock: ports.clock.clone(),
        }
    }

    /// Self-service sign-up: an active, ordinary user.
    pub async fn register(&self, registration: Registration) -> Result<User, RegisterError> {
        create_account(
            self.users.as_ref(),
            self.hasher.as_ref(),
            self.clock.as_ref(),
            registration,
            false,
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
            .await
            .map_err(UpdateProfileError::from)?
            .ok_or(UpdateProfileError::AccountGone)
    }

    /// Sets the caller's phone number, or removes it with `None`.
    pub async fn set_phone_number(
        &self,
        caller: &Caller,
        phone_number: Option<PhoneNumber>,
    ) -> Result<User, UpdateProfileError> {
        self.users
            .set_phone_number(caller.user.id, phone_number, self.clock.now())
            .await
            .map_err(UpdateProfileError::from)?
            .ok_or(UpdateProfileError::AccountGone)
    }

    /// Checks the current password, stores the new one and ends every other session of the
    /// user (the caller's own session stays).
    pub async fn change_password(
        &self,
        caller: &Caller,
        current_password: &str,
        new_password: &Password,
    ) -> Result<(), ChangePasswordError> {
        let current_ok = self
            .hasher
            .verify(current_password, &caller.user.hashed_password)
            .await?;
        if !current_ok {
            return Err(ChangePasswordError::WrongCurrentPassword);
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
