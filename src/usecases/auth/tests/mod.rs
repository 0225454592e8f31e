use super::*;
use crate::usecases::test_support::*;
use chrono::TimeDelta;

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
                id: sid(5),
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
                id: tid(1),
                user_id: new.user_id,
                token_hash: first.token_hash,
                expires_at: first.expires_at,
                is_used: false,
                session_id: Some(sid(5)),
                created_at: first.created_at,
                updated_at: first.created_at,
            };
            Ok(Some((session, token)))
        });
}

fn token_row(session_id: Option<i64>) -> RefreshToken {
    RefreshToken {
        id: tid(3),
        user_id: uid(1),
        token_hash: hash_refresh_token("presented"),
        expires_at: fixed_now() + TimeDelta::days(1),
        is_used: false,
        session_id: session_id.map(SessionId::new),
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

mod login;
mod sessions;
