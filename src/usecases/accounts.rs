//! Registration and the caller's own account: profile and password.

use std::sync::Arc;

use super::{Caller, Ports};
use crate::domain::{Email, FullName, Password, User, Username};
use crate::ports::{
    Clock, InsertError, NewUser, PasswordHasher, PortError, ProfileUpdate, UserRepository,
};

/// What a new account is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub username: Username,
    pub email: Email,
    pub password: Password,
    pub full_name: Option<FullName>,
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
    /// Both checks passed, then a concurrent registration took the username or the email.
    #[error("the username or the email was taken meanwhile")]
    UsernameOrEmailTaken,
    #[error(transparent)]
    Port(#[from] PortError),
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("the current password does not match")]
    IncorrectCurrentPassword,
    /// The caller's account was deleted while the request ran.
    #[error("the caller's account is gone")]
    UserGone,
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
        return Err(if holder.username == registration.username.as_str() {
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
        created_at: clock.now(),
    };
    users.create_user(new_user).await.map_err(|e| match e {
        InsertError::Duplicate => RegisterError::UsernameOrEmailTaken,
        InsertError::Port(e) => RegisterError::Port(e),
    })
}

#[derive(Clone)]
pub struct Accounts {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
}

impl Accounts {
    pub fn new(ports: &Ports) -> Self {
        Self {
            users: ports.users.clone(),
            hasher: ports.hasher.clone(),
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
    ) -> Result<User, AccountError> {
        self.users
            .update_profile(caller.user.id, update, self.clock.now())
            .await?
            .ok_or(AccountError::UserGone)
    }

    /// Checks the current password, stores the new one and ends every other session of the
    /// user (the caller's own session stays).
    pub async fn change_password(
        &self,
        caller: &Caller,
        current_password: &str,
        new_password: &Password,
    ) -> Result<(), AccountError> {
        let current_ok = self
            .hasher
            .verify(current_password, &caller.user.hashed_password)
            .await?;
        if !current_ok {
            return Err(AccountError::IncorrectCurrentPassword);
        }
        let hashed = self.hasher.hash(new_password).await?;
        let changed = self
            .users
            .change_password(caller.user.id, hashed, caller.session_id, self.clock.now())
            .await?;
        if changed {
            Ok(())
        } else {
            Err(AccountError::UserGone)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::test_support::*;
    use mockall::predicate::eq;

    fn registration() -> Registration {
        Registration {
            username: Username::parse("alice").unwrap(),
            email: Email::parse("alice@example.com").unwrap(),
            password: Password::parse("correct horse").unwrap(),
            full_name: Some(FullName::parse("Alice A").unwrap()),
        }
    }

    #[tokio::test]
    async fn register_stores_the_hash_not_the_password() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_user_by_username()
            .returning(|_| Ok(None));
        mocks
            .users
            .expect_find_user_by_email()
            .returning(|_| Ok(None));
        mocks
            .hasher
            .expect_hash()
            .returning(|_| Ok("$2b$04$hash".to_string()));
        mocks
            .users
            .expect_create_user()
            .withf(|new| {
                new.hashed_password == "$2b$04$hash"
                    && !new.is_superuser
                    && new.username.as_str() == "alice"
                    && new.created_at == fixed_now()
            })
            .returning(|new| Ok(user_from(1, &new)));
        let user = Accounts::new(&mocks.into_ports())
            .register(registration())
            .await
            .unwrap();
        assert_eq!(user.username, "alice");
        assert!(user.is_active);
    }

    #[tokio::test]
    async fn register_refuses_a_taken_username() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_user_by_username()
            .with(eq("alice"))
            .returning(|_| Ok(Some(sample_user(9))));
        mocks.users.expect_create_user().never();
        let err = Accounts::new(&mocks.into_ports())
            .register(registration())
            .await
            .unwrap_err();
        assert!(matches!(err, RegisterError::UsernameTaken));
        assert_eq!(err.to_string(), "the username is taken");
    }

    /// The key lookup finds `holder`; the exact lookup (before it) found nothing.
    async fn register_against_a_key_holder(holder: &'static str) -> RegisterError {
        let mut mocks = Mocks::new();
        mocks.users.checkpoint();
        mocks
            .users
            .expect_find_user_by_username()
            .returning(|_| Ok(None));
        mocks
            .users
            .expect_find_user_by_username_key()
            .returning(move |_| {
                let mut user = sample_user(9);
                user.username = holder.into();
                Ok(Some(user))
            });
        mocks.users.expect_create_user().never();
        Accounts::new(&mocks.into_ports())
            .register(registration())
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn a_lookalike_of_a_taken_name_is_refused_as_too_similar() {
        let err = register_against_a_key_holder("Alice").await;
        assert!(matches!(err, RegisterError::UsernameLookalike), "{err:?}");
    }

    #[tokio::test]
    async fn the_same_name_registered_meanwhile_is_reported_taken_not_similar() {
        let err = register_against_a_key_holder("alice").await;
        assert!(matches!(err, RegisterError::UsernameTaken), "{err:?}");
    }

    #[tokio::test]
    async fn register_refuses_a_taken_email() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_user_by_username()
            .returning(|_| Ok(None));
        mocks
            .users
            .expect_find_user_by_email()
            .with(eq("alice@example.com"))
            .returning(|_| Ok(Some(sample_user(9))));
        mocks.users.expect_create_user().never();
        let err = Accounts::new(&mocks.into_ports())
            .register(registration())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "the email is taken");
    }

    #[tokio::test]
    async fn register_that_loses_a_race_reports_username_or_email() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_user_by_username()
            .returning(|_| Ok(None));
        mocks
            .users
            .expect_find_user_by_email()
            .returning(|_| Ok(None));
        mocks.hasher.expect_hash().returning(|_| Ok("h".into()));
        mocks
            .users
            .expect_create_user()
            .returning(|_| Err(InsertError::Duplicate));
        let err = Accounts::new(&mocks.into_ports())
            .register(registration())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the username or the email was taken meanwhile"
        );
    }

    #[tokio::test]
    async fn register_passes_storage_failures_through() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_user_by_username()
            .returning(|_| Err(PortError::unexpected("disk on fire")));
        let err = Accounts::new(&mocks.into_ports())
            .register(registration())
            .await
            .unwrap_err();
        assert!(matches!(err, RegisterError::Port(PortError::Unexpected(_))));
    }

    #[tokio::test]
    async fn update_profile_writes_only_the_given_fields() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_update_profile()
            .withf(|id, update, now| {
                *id == 1
                    && update.full_name.is_none()
                    && update.bio.as_ref().map(|b| b.as_str()) == Some("hi")
                    && *now == fixed_now()
            })
            .returning(|_, _, _| {
                let mut user = sample_user(1);
                user.bio = Some("hi".into());
                Ok(Some(user))
            });
        let update = ProfileUpdate {
            full_name: None,
            bio: Some(crate::domain::Bio::parse("hi").unwrap()),
        };
        let user = Accounts::new(&mocks.into_ports())
            .update_profile(&caller(1), update)
            .await
            .unwrap();
        assert_eq!(user.bio.as_deref(), Some("hi"));
    }

    #[tokio::test]
    async fn update_profile_of_a_deleted_user_is_user_gone() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_update_profile()
            .returning(|_, _, _| Ok(None));
        let err = Accounts::new(&mocks.into_ports())
            .update_profile(&caller(1), ProfileUpdate::default())
            .await
            .unwrap_err();
        assert!(matches!(err, AccountError::UserGone));
    }

    #[tokio::test]
    async fn change_password_keeps_the_callers_session_and_ends_the_others() {
        let mut mocks = Mocks::new();
        mocks
            .hasher
            .expect_verify()
            .withf(|candidate, hash| candidate == "old password" && hash == SAMPLE_HASH)
            .returning(|_, _| Ok(true));
        mocks
            .hasher
            .expect_hash()
            .returning(|_| Ok("new-hash".into()));
        mocks
            .users
            .expect_change_password()
            .withf(|id, hash, keep, _| *id == 1 && hash == "new-hash" && *keep == 77)
            .times(1)
            .returning(|_, _, _, _| Ok(true));
        let caller = Caller {
            user: sample_user(1),
            session_id: 77,
        };
        Accounts::new(&mocks.into_ports())
            .change_password(
                &caller,
                "old password",
                &Password::parse("new password").unwrap(),
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn change_password_with_a_wrong_current_password_changes_nothing() {
        let mut mocks = Mocks::new();
        mocks.hasher.expect_verify().returning(|_, _| Ok(false));
        mocks.hasher.expect_hash().never();
        mocks.users.expect_change_password().never();
        let err = Accounts::new(&mocks.into_ports())
            .change_password(
                &caller(1),
                "nope",
                &Password::parse("new password").unwrap(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "the current password does not match");
    }

    #[tokio::test]
    async fn change_password_of_a_deleted_user_is_user_gone() {
        let mut mocks = Mocks::new();
        mocks.hasher.expect_verify().returning(|_, _| Ok(true));
        mocks.hasher.expect_hash().returning(|_| Ok("h".into()));
        mocks
            .users
            .expect_change_password()
            .returning(|_, _, _, _| Ok(false));
        let err = Accounts::new(&mocks.into_ports())
            .change_password(&caller(1), "old", &Password::parse("new password").unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, AccountError::UserGone));
    }
}
