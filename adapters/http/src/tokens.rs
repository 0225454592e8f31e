//! Access tokens: HS256 JWTs naming a user and a session. The signature proves who issued
//! them; whether they still work is decided by the session, on every request.

use std::sync::Arc;

use ai_message_core::ports::Clock;
use ai_message_core::{SessionId, User, UserId};
use chrono::TimeDelta;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

const ACCESS_TYPE: &str = "access";

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id, as a string.
    pub sub: String,
    pub username: String,
    /// Always `"access"`.
    #[serde(rename = "type")]
    pub token_type: String,
    /// The session the token belongs to.
    pub sid: i64,
    /// Random, so that two tokens issued in one second differ.
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// A signed access token and its lifetime in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: i64,
}

/// Issues and checks access tokens with one HS256 key.
#[derive(Clone)]
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: TimeDelta,
    /// Issue and expiry times come from the core's clock, so tokens agree with sessions.
    clock: Arc<dyn Clock>,
}

impl AccessTokens {
    pub fn new(secret: &[u8], ttl: TimeDelta, clock: Arc<dyn Clock>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // `exp` and `nbf` are required and checked below against `clock`, not the wall clock
        // jsonwebtoken would read.
        validation.leeway = 0;
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "nbf", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
            clock,
        }
    }

    pub fn issue(
        &self,
        user: &User,
        session_id: SessionId,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let now = self.clock.now().timestamp();
        let claims = AccessClaims {
            sub: user.id.to_string(),
            username: user.username.to_string(),
            token_type: ACCESS_TYPE.to_string(),
            sid: session_id.get(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            iat: now,
            nbf: now,
            exp: now + self.ttl.num_seconds(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(IssuedToken {
            token,
            expires_in: self.ttl.num_seconds(),
        })
    }

    /// The (user id, session id) a valid access token names; `None` for anything else: a bad
    /// signature, another algorithm, expired or not yet valid, or not an access token.
    pub fn verify(&self, token: &str) -> Option<(UserId, SessionId)> {
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation).ok()?;
        let claims = data.claims;
        if claims.token_type != ACCESS_TYPE {
            return None;
        }
        let now = self.clock.now().timestamp();
        if now < claims.nbf || now >= claims.exp {
            return None;
        }
        let user_id = UserId::new(claims.sub.parse().ok()?);
        Some((user_id, SessionId::new(claims.sid)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn user() -> User {
        User {
            id: UserId::new(42),
            username: ai_message_core::Username::parse("alice").unwrap(),
            email: ai_message_core::Email::parse("alice@example.com").unwrap(),
            hashed_password: ai_message_core::PasswordHash::new("x"),
            is_active: true,
            is_superuser: false,
            full_name: None,
            bio: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            phone_number: None,
            unverified_phone_number: None,
        }
    }

    fn tokens() -> AccessTokens {
        AccessTokens::new(
            b"test-secret",
            TimeDelta::minutes(30),
            Arc::new(ai_message_local::SystemClock),
        )
    }

    fn sign(claims: &serde_json::Value, algorithm: Algorithm, secret: &[u8]) -> String {
        jsonwebtoken::encode(
            &Header::new(algorithm),
            claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    fn claims(token_type: &str, iat: i64, exp: i64) -> serde_json::Value {
        serde_json::json!({
            "sub": "42", "username": "alice", "type": token_type, "sid": 7,
            "jti": "j", "iat": iat, "nbf": iat, "exp": exp
        })
    }

    /// What a valid token with the test claims names: user 42, session 7.
    fn alice_in_session_7() -> Option<(UserId, SessionId)> {
        Some((UserId::new(42), SessionId::new(7)))
    }

    #[test]
    fn an_issued_token_names_user_and_session() {
        let tokens = tokens();
        let issued = tokens.issue(&user(), SessionId::new(7)).unwrap();
        assert_eq!(issued.expires_in, 1800);
        assert_eq!(tokens.verify(&issued.token), alice_in_session_7());
    }

    #[test]
    fn two_tokens_issued_at_once_differ() {
        let tokens = tokens();
        let a = tokens.issue(&user(), SessionId::new(7)).unwrap();
        let b = tokens.issue(&user(), SessionId::new(7)).unwrap();
        assert_ne!(a.token, b.token);
    }

    #[test]
    fn foreign_expired_premature_and_non_access_tokens_are_refused() {
        let tokens = tokens();
        let now = Utc::now().timestamp();
        let good = claims("access", now, now + 60);
        assert_eq!(
            tokens.verify(&sign(&good, Algorithm::HS256, b"test-secret")),
            alice_in_session_7()
        );
        assert_eq!(
            tokens.verify(&sign(&good, Algorithm::HS256, b"other-key")),
            None
        );
        assert_eq!(
            tokens.verify(&sign(&good, Algorithm::HS512, b"test-secret")),
            None
        );
        let expired = claims("access", now - 120, now - 60);
        assert_eq!(
            tokens.verify(&sign(&expired, Algorithm::HS256, b"test-secret")),
            None
        );
        let premature = claims("access", now + 600, now + 1200);
        assert_eq!(
            tokens.verify(&sign(&premature, Algorithm::HS256, b"test-secret")),
            None
        );
        let refresh = claims("refresh", now, now + 60);
        assert_eq!(
            tokens.verify(&sign(&refresh, Algorithm::HS256, b"test-secret")),
            None
        );
        assert_eq!(tokens.verify("not.a.jwt"), None);
    }

    #[test]
    fn alg_none_is_refused() {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let now = Utc::now().timestamp();
        let header = engine.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = engine.encode(claims("access", now, now + 60).to_string());
        let unsigned = format!("{header}.{payload}.");
        assert_eq!(tokens().verify(&unsigned), None);
    }
}
