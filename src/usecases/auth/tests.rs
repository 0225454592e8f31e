use super::login::DEVICE_INFO_MAX_CHARS;
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
