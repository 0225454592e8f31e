//! Superuser operations on accounts, with the rules that stop a superuser locking themself out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::accounts::{PhoneOrigin, RegisterError, Registration, create_account};
use super::auth::tell_access_changed;
use super::{Caller, Ports};
use crate::domain::{Page, User, UserId};
use crate::ports::{
    AccountChange, Clock, EventPublisher, PasswordHasher, PortError, SnapshotError,
    StorageSnapshots, UserRepository,
};

/// The caller is not a superuser: what every administrative operation can be refused with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the caller is not a superuser")]
pub struct NotSuperuser;

/// Only superusers administer: the rule shared by every admin capability.
pub(crate) fn require_superuser(caller: &Caller) -> Result<(), NotSuperuser> {
    if caller.user.is_superuser {
        Ok(())
    } else {
        Err(NotSuperuser)
    }
}

/// Declares `From<NotSuperuser>` for error enums with a `NotSuperuser` variant.
macro_rules! refusable_by_non_superusers {
    ($($error:ty),+) => {
        $(impl From<$crate::usecases::admin::NotSuperuser> for $error {
            fn from(_: $crate::usecases::admin::NotSuperuser) -> Self {
                Self::NotSuperuser
            }
        })+
    };
}
pub(crate) use refusable_by_non_superusers;

/// Why an operation that needs nothing but a superuser failed (listing users or roles).
#[derive(Debug, thiserror::Error)]
pub enum SuperuserOnlyError {
    #[error(transparent)]
    NotSuperuser(#[from] NotSuperuser),
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Why a user could not be looked up by a superuser.
#[derive(Debug, thiserror::Error)]
pub enum UserLookupError {
    #[error("the caller is not a superuser")]
    NotSuperuser,
    #[error("no such user")]
    UserNotFound,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Why a superuser could not create an account.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("the caller is not a superuser")]
    NotSuperuser,
    #[error(transparent)]
    Register(#[from] RegisterError),
}

/// What a superuser changes about another account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountAction {
    Delete,
    Disable,
    ChangeSuperuserStatus,
}

impl std::fmt::Display for AccountAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Delete => "delete",
            Self::Disable => "disable",
            Self::ChangeSuperuserStatus => "change the superuser status of",
        })
    }
}

/// Why a superuser could not delete, disable, enable or promote/demote an account.
#[derive(Debug, thiserror::Error)]
pub enum AccountActionError {
    #[error("the caller is not a superuser")]
    NotSuperuser,
    /// A superuser may not delete, disable or demote their own account.
    #[error("a superuser may not {0} their own account")]
    OwnAccount(AccountAction),
    #[error("no such user")]
    UserNotFound,
    /// The change would leave no active superuser (another superuser was demoted, disabled
    /// or deleted at the same time).
    #[error("the change would leave no active superuser")]
    LastSuperuser,
    #[error(transparent)]
    Port(#[from] PortError),
}

refusable_by_non_superusers!(
    UserLookupError,
    CreateUserError,
    AccountActionError,
    BackupError
);

#[derive(Clone)]
pub struct Admin {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    events: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
    snapshots: Arc<dyn StorageSnapshots>,
    /// Whether a [`BackupTurn`] is held.
    backup_under_way: Arc<AtomicBool>,
}

/// One backup at a time: the turn is held from the snapshot until its copy is delivered
/// (dropped), since each copy holds a reader while it is taken and disk space until its
/// download ends, and several at once starved other users' reads.
#[derive(Debug)]
pub struct BackupTurn {
    under_way: Arc<AtomicBool>,
}

impl Drop for BackupTurn {
    fn drop(&mut self) {
        self.under_way.store(false, Ordering::Release);
    }
}

/// Why no backup was taken.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("the caller is not a superuser")]
    NotSuperuser,
    /// Another backup is being taken or delivered: one at a time.
    #[error("another backup is under way")]
    UnderWay,
    /// The store is backed up with other tools; the text names them.
    #[error("{0}")]
    Unsupported(&'static str),
    #[error(transparent)]
    Port(#[from] PortError),
}

impl Admin {
    pub fn new(ports: &Ports) -> Self {
        Self {
            users: ports.users.clone(),
            hasher: ports.hasher.clone(),
            events: ports.events.clone(),
            clock: ports.clock.clone(),
            snapshots: ports.snapshots.clone(),
            backup_under_way: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A superuser's turn to back up, while no other backup is under way.
    pub fn backup_turn(&self, caller: &Caller) -> Result<BackupTurn, BackupError> {
        require_superuser(caller)?;
        self.backup_under_way
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .map_err(|_| BackupError::UnderWay)?;
        Ok(BackupTurn {
            under_way: self.backup_under_way.clone(),
        })
    }

    /// Writes a consistent copy of the whole database, taken while it serves, to the new
    /// (or empty) file `to`, in the turn taken.
    pub async fn back_up(
        &self,
        _turn: &BackupTurn,
        to: &std::path::Path,
    ) -> Result<(), BackupError> {
        self.snapshots
            .snapshot(to)
            .await
            .map_err(|error| match error {
                SnapshotError::Unsupported(how) => BackupError::Unsupported(how),
                SnapshotError::Port(error) => BackupError::Port(error),
            })
    }

    /// A deleted or disabled user's streams close.
    async fn cut_off(
        &self,
        change: AccountChange,
        user_id: UserId,
    ) -> Result<(), AccountActionError> {
        applied(change)?;
        tell_access_changed(self.events.as_ref(), user_id).await;
        Ok(())
    }

    pub async fn list_users(
        &self,
        caller: &Caller,
        page: Page,
    ) -> Result<Vec<User>, SuperuserOnlyError> {
        require_superuser(caller)?;
        Ok(self.users.list_users(page).await?)
    }

    pub async fn get_user(&self, caller: &Caller, id: UserId) -> Result<User, UserLookupError> {
        require_superuser(caller)?;
        self.users
            .get_user(id)
            .await?
            .ok_or(UserLookupError::UserNotFound)
    }

    /// Creates an ordinary, active user, with the checks of registration.
    pub async fn create_user(
        &self,
        caller: &Caller,
        registration: Registration,
    ) -> Result<User, CreateUserError> {
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
            // A superuser's roster (or the operator's) counts as proof of the number.
            PhoneOrigin::Proven,
        )
        .await
    }

    /// Deletes the user with sessions, tokens and role links; their messages stay.
    pub async fn delete_user(&self, caller: &Caller, id: UserId) -> Result<(), AccountActionError> {
        require_superuser(caller)?;
        if id == caller.user.id {
            return Err(AccountActionError::OwnAccount(AccountAction::Delete));
        }
        let change = self.users.delete_user(id).await?;
        self.cut_off(change, id).await
    }

    /// Disables the account and ends all its sessions.
    pub async fn disable_user(
        &self,
        caller: &Caller,
        id: UserId,
    ) -> Result<(), AccountActionError> {
        require_superuser(caller)?;
        if id == caller.user.id {
            return Err(AccountActionError::OwnAccount(AccountAction::Disable));
        }
        let change = self
            .users
            .set_user_active(id, false, self.clock.now())
            .await?;
        self.cut_off(change, id).await
    }

    pub async fn enable_user(&self, caller: &Caller, id: UserId) -> Result<(), AccountActionError> {
        require_superuser(caller)?;
        applied(
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
    ) -> Result<(), AccountActionError> {
        require_superuser(caller)?;
        if id == caller.user.id {
            return Err(AccountActionError::OwnAccount(
                AccountAction::ChangeSuperuserStatus,
            ));
        }
        applied(
            self.users
                .set_user_superuser(id, superuser, self.clock.now())
                .await?,
        )
    }
}

fn applied(change: AccountChange) -> Result<(), AccountActionError> {
    match change {
        AccountChange::Changed => Ok(()),
        AccountChange::UserNotFound => Err(AccountActionError::UserNotFound),
        AccountChange::LastSuperuser => Err(AccountActionError::LastSuperuser),
    }
}

#[cfg(test)]
mod tests;
