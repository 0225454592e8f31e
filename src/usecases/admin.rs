//! Superuser operations on accounts, with the rules that stop a superuser locking themself out.

use std::sync::Arc;

use super::accounts::{RegisterError, Registration, create_account};
use super::{Caller, Ports};
use crate::domain::{Page, User, UserId};
use crate::ports::{AccountChange, Clock, PasswordHasher, PortError, UserRepository};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the caller is not a superuser")]
    NotSuperuser,
    #[error("no such user")]
    UserNotFound,
    #[error("a superuser may not delete their own account")]
    CannotDeleteSelf,
    #[error("a superuser may not disable their own account")]
    CannotDisableSelf,
    #[error("a superuser may not change their own superuser status")]
    CannotChangeOwnSuperuser,
    /// The change would leave no active superuser (another superuser was demoted, disabled
    /// or deleted at the same time).
    #[error("the change would leave no active superuser")]
    LastSuperuser,
    #[error(transparent)]
    Register(#[from] RegisterError),
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Only superusers administer: the rule shared by every admin capability.
pub(crate) fn require_superuser(caller: &Caller) -> Result<(), AdminError> {
    if caller.user.is_superuser {
        Ok(())
    } else {
        Err(AdminError::NotSuperuser)
    }
}

#[derive(Clone)]
pub struct Admin {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
}

impl Admin {
    pub fn new(ports: &Ports) -> Self {
        Self {
            users: ports.users.clone(),
            hasher: ports.hasher.clone(),
            clock: ports.clock.clone(),
        }
    }

    pub async fn list_users(&self, caller: &Caller, page: Page) -> Result<Vec<User>, AdminError> {
        require_superuser(caller)?;
        Ok(self.users.list_users(page).await?)
    }

    pub async fn get_user(&self, caller: &Caller, id: UserId) -> Result<User, AdminError> {
        require_superuser(caller)?;
        self.users
            .get_user(id)
            .await?
            .ok_or(AdminError::UserNotFound)
    }

    /// Creates an ordinary, active user, with the checks of registration.
    pub async fn create_user(
        &self,
        caller: &Caller,
        registration: Registration,
    ) -> Result<User, AdminError> {
        require_superuser(caller)?;
        Ok(self.create(registration, false).await?)
    }

    /// Creates a superuser without a caller: for the operator's command line.
    pub async fn create_superuser(
        &self,
        registration: Registration,
    ) -> Result<User, RegisterError> {
        self.create(registration, true).await
    }

    /// Creates the configured first superuser unless its username exists already (then
    /// `None`, and the existing account is left as it is).
    pub async fn ensure_superuser(
        &self,
        registration: Registration,
    ) -> Result<Option<User>, RegisterError> {
        match self.create(registration, true).await {
            Ok(user) => Ok(Some(user)),
            Err(RegisterError::UsernameTaken) => Ok(None),
            Err(other) => Err(other),
        }
    }

    async fn create(
        &self,
        registration: Registration,
        superuser: bool,
    ) -> Result<User, RegisterError> {
        create_account(
            self.users.as_ref(),
            self.hasher.as_ref(),
            self.clock.as_ref(),
            registration,
            superuser,
        )
        .await
    }

    /// Deletes the user with sessions, tokens and role links; their messages stay.
    pub async fn delete_user(&self, caller: &Caller, id: UserId) -> Result<(), AdminError> {
        require_superuser(caller)?;
        if id == caller.user.id {
            return Err(AdminError::CannotDeleteSelf);
        }
        found(self.users.delete_user(id).await?)
    }

    /// Disables the account and ends all its sessions.
    pub async fn disable_user(&self, caller: &Caller, id: UserId) -> Result<(), AdminError> {
        require_superuser(caller)?;
        if id == caller.user.id {
            return Err(AdminError::CannotDisableSelf);
        }
        found(
            self.users
                .set_user_active(id, false, self.clock.now())
                .await?,
        )
    }

    pub async fn enable_user(&self, caller: &Caller, id: UserId) -> Result<(), AdminError> {
        require_superuser(caller)?;
        found(
            self.users
                .set_user_active(id, true, self.clock.now())
                .await?,
        )
    }

    pub async fn set_superuser(
        &self,
        caller: &Caller,
        id: UserId,
        superuser: bool,
    ) -> Result<(), AdminError> {
        require_superuser(caller)?;
        if id == caller.user.id {
            return Err(AdminError::CannotChangeOwnSuperuser);
        }
        found(
            self.users
                .set_user_superuser(id, superuser, self.clock.now())
                .await?,
        )
    }
}

fn found(change: AccountChange) -> Result<(), AdminError> {
    match change {
        AccountChange::Changed => Ok(()),
        AccountChange::UserNotFound => Err(AdminError::UserNotFound),
        AccountChange::LastSuperuser => Err(AdminError::LastSuperuser),
    }
}

#[cfg(test)]
mod tests;
