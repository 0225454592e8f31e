use super::*;
use crate::domain::PasswordHash;
use crate::usecases::test_support::*;
use mockall::predicate::eq;

fn registration() -> Registration {
    Registration {
        username: Username::parse("alice").unwrap(),
        email: Email::parse("alice@example.com").unwrap(),
        password: Password::parse("correct horse").unwrap(),
        full_name: Some(FullName::parse("Alice A").unwrap()),
        phone_number: None,
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
        .returning(|_| Ok(PasswordHash::new("$2b$04$hash")));
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
    let user = Accounts::new(&mocks.into_ports(), LoginLimits::default(), 64)
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
    let err = Accounts::new(&mocks.into_ports(), LoginLimits::default(), 64)
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
            user.username = Username::from_storage(holder.to_string());
            Ok(Some(user))
        });
    mocks.users.expect_create_user().never();
    Accounts::new(&mocks.into_ports(), LoginLimits::default(), 64)
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
    let err = Accounts::new(&mocks.into_ports(), LoginLimits::default(), 64)
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
    mocks
        .hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new("h")));
    mocks
        .users
        .expect_create_user()
        .returning(|_| Err(InsertError::Duplicate));
    let err = Accounts::new(&mocks.into_ports(), LoginLimits::default(), 64)
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
    let err = Accounts::new(&mocks.into_ports(), LoginLimits::default(), 64)
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
            *id == uid(1)
                && update.full_name.is_none()
                && update.bio.as_ref().map(|b| b.as_str()) == Some("hi")
                && *now == fixed_now()
        })
        .returning(|_, _, _| {
            let mut user = sample_user(1);
            user.bio = Some(crate::domain::Bio::from_storage("hi".into()));
            Ok(Some(user))
        });
    let update = ProfileUpdate {
        full_name: None,
        bio: Some(crate::domain::Bio::parse("hi").unwrap()),
        phone_number: None,
    };
    let user = Accounts::new(&mocks.into_ports(), LoginLimits::default(), 64)
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
    let err = Accounts::new(&mocks.into_ports(), LoginLimits::default(), 64)
        .update_profile(&caller(1), ProfileUpdate::default())
        .await
        .unwrap_err();
    assert!(matches!(err, UpdateProfileError::AccountGone));
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
        .returning(|_| Ok(PasswordHash::new("new-hash")));
    mocks
        .users
        .expect_change_password()
        .withf(|id, hash, keep, _| *id == uid(1) && hash == "new-hash" && *keep == sid(77))
        .times(1)
        .returning(|_, _, _, _| Ok(true));
    let caller = Caller {
        user: sample_user(1),
        session_id: sid(77),
    };
    Accounts::new(&mocks.into_ports(), LoginLimits::default(), 64)
        .change_password(
            &caller,
            Some("10.0.0.1"),
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
    let err = Accounts::new(&mocks.into_ports(), LoginLimits::default(), 64)
        .change_password(
            &caller(1),
            Some("10.0.0.1"),
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
    mocks
        .hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new("h")));
    mocks
        .users
        .expect_change_password()
        .returning(|_, _, _, _| Ok(false));
    let err = Accounts::new(&mocks.into_ports(), LoginLimits::default(), 64)
        .change_password(
            &caller(1),
            None,
            "old",
            &Password::parse("new password").unwrap(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ChangePasswordError::AccountGone));
}

/// A stolen access token is no way around the login limits: wrong current passwords count
/// like failed logins, and the session that goes past the quota is ended.
#[tokio::test]
async fn wrong_current_passwords_are_throttled_and_end_the_session() {
    let mut mocks = Mocks::new();
    mocks
        .hasher
        .expect_verify()
        .returning(|guess, _| Ok(guess == "right"));
    mocks.hasher.expect_hash().never();
    mocks.users.expect_change_password().never();
    mocks
        .sessions
        .expect_end_session()
        .with(eq(uid(1)), eq(sid(100)), eq(fixed_now()))
        .times(1)
        .returning(|_, _, _| Ok(true));
    mocks.attempts_refused_after(5);
    let events = mocks.events.clone();
    let accounts = Accounts::new(&mocks.into_ports(), LoginLimits::default(), 64);
    let new = Password::parse("new password").unwrap();
    for guess in 0..5 {
        let err = accounts
            .change_password(
                &caller(1),
                Some("10.0.0.1"),
                &format!("guess {guess}"),
                &new,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, ChangePasswordError::WrongCurrentPassword),
            "{err:?}"
        );
    }
    let err = accounts
        .change_password(&caller(1), Some("10.0.0.1"), "right", &new)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChangePasswordError::Throttled { .. }),
        "even the right password is not checked past the quota: {err:?}"
    );
    assert!(
        events
            .published()
            .contains(&crate::domain::DomainEvent::AccessChanged { user_id: uid(1) }),
        "the ended session's streams are told"
    );
}
