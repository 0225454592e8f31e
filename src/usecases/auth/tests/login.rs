//! Logging in: throttling, hashing, the session a login opens.

use super::*;
use crate::domain::{DeviceInfo, PasswordHash};
use mockall::predicate::eq;

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
        .with(eq("pw"), eq(sample_hash()))
        .returning(|_, _| Ok(true));
    mocks
        .sessions
        .expect_create_session()
        .withf(|new, first| {
            new.user_id == uid(1)
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
    assert_eq!(outcome.session.id, sid(5));
    assert_eq!(outcome.user.id, uid(1));
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
        .with(eq(sample_hash()))
        .returning(|_| true);
    mocks
        .hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok(PasswordHash::new("$2b$12$upgraded")));
    mocks
        .users
        .expect_upgrade_password_hash()
        .with(
            eq(uid(1)),
            eq(sample_hash()),
            eq(PasswordHash::new("$2b$12$upgraded")),
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
    mocks.attempts_refused_after(2);
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
    assert_eq!(outcome.user.id, uid(1));
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
        DeviceInfo::MAX_CHARS
    );
}

#[tokio::test]
async fn login_debug_output_hides_the_password() {
    let request = login_request("user1", "super-secret-pw");
    assert!(!format!("{request:?}").contains("super-secret-pw"));
}
