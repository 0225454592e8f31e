//! Authenticating requests, refresh-token rotation, logout and the session list.

use super::*;
use mockall::predicate::{always, eq};

#[tokio::test]
async fn authenticate_accepts_a_live_session_of_an_active_user() {
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_get_session_with_user()
        .with(eq(sid(5)))
        .returning(|_| Ok(Some((sample_session(5, 1), sample_user(1)))));
    let caller = auth(mocks).authenticate(uid(1), sid(5)).await.unwrap();
    assert_eq!(caller.user.id, uid(1));
    assert_eq!(caller.session_id, sid(5));
}

#[tokio::test]
async fn authenticate_refuses_an_unknown_session() {
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_get_session_with_user()
        .returning(|_| Ok(None));
    let err = auth(mocks).authenticate(uid(1), sid(5)).await.unwrap_err();
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
    let err = auth(mocks).authenticate(uid(1), sid(5)).await.unwrap_err();
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
    let err = auth(mocks).authenticate(uid(1), sid(5)).await.unwrap_err();
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
    let err = auth(mocks).authenticate(uid(1), sid(5)).await.unwrap_err();
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
    let err = auth(mocks).authenticate(uid(1), sid(5)).await.unwrap_err();
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
            *used == tid(3)
                && next.token_hash == hash_refresh_token("secret-1")
                && next.expires_at == fixed_now() + TimeDelta::days(7)
                && *now == fixed_now()
        })
        .times(1)
        .returning(|_, _, _| Ok(Rotation::Rotated(token_row(Some(5)))));
    let outcome = auth(mocks).refresh("presented").await.unwrap();
    assert_eq!(outcome.refresh_token, "secret-1");
    assert_eq!(outcome.session_id, sid(5));
    assert_eq!(outcome.user.id, uid(1));
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
        .with(eq(uid(1)), eq(sid(5)), always())
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
        .with(eq(uid(1)), eq(sid(100)), eq(fixed_now()))
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
        .with(eq(uid(1)), eq(sid(100)), always())
        .times(1)
        .returning(|_, _, _| Ok(true));
    mocks
        .sessions
        .expect_find_refresh_token()
        .returning(|_| Ok(Some(token_row(Some(6)))));
    mocks
        .sessions
        .expect_end_session()
        .with(eq(uid(1)), eq(sid(6)), always())
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
        .with(eq(uid(2)), eq(sid(100)), always())
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
        .with(eq(tid(3)), always())
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
        .with(eq(uid(1)), eq(fixed_now()))
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
        .with(eq(uid(1)), eq(fixed_now()))
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
        .with(eq(uid(1)), eq(sid(42)), always())
        .returning(|_, _, _| Ok(false));
    let err = auth(mocks)
        .end_session(&caller(1), sid(42))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "no such live session of the caller");
}

#[tokio::test]
async fn ending_an_own_session_succeeds() {
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_end_session()
        .with(eq(uid(1)), eq(sid(42)), always())
        .returning(|_, _, _| Ok(true));
    auth(mocks).end_session(&caller(1), sid(42)).await.unwrap();
}
