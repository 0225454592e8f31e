//! Logging in and out, authenticating requests, refresh-token rotation and session management.

use std::fmt::Write as _;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{AccessClaim, Caller, Ports, Settings};
use crate::domain::{
    DomainEvent, RefreshToken, RefreshTokenHash, Session, SessionId, Timestamp, User, UserId,
};
use crate::ports::{
    Clock, EventPublisher, LoginAttempts, NewRefreshToken, PasswordHasher, PortError, Rotation,
    SecretSource, SessionRepository, UserRepository,
};

/// A rotated refresh token and what an access token for it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshOutcome {
    pub user: User,
    pub session_id: SessionId,
    pub refresh_token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    /// Unknown session or user, a session of someone else, or a session that ended or expired.
    #[error("the session is unknown, ended, expired or someone else's")]
    InvalidCredentials,
    #[error("the user is disabled")]
    UserDisabled,
    #[error(transparent)]
    Port(#[from] PortError),
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("the refresh token is unknown or used")]
    NotFoundOrUsed,
    #[error("the refresh token expired")]
    Expired,
    #[error("the refresh token's session has ended")]
    SessionEnded,
    #[error("the user is disabled")]
    UserDisabled,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Why one of the caller's sessions could not be ended.
#[derive(Debug, thiserror::Error)]
pub enum EndSessionError {
    #[error("no such live session of the caller")]
    SessionNotFound,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Storage keeps only this: the hex SHA-256 of a refresh token.
pub fn hash_refresh_token(token: &str) -> RefreshTokenHash {
    RefreshTokenHash::new(sha256_hex(token))
}

/// Hex SHA-256: how bearer secrets (refresh tokens, stream tickets) are stored.
pub(crate) fn sha256_hex(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

#[derive(Clone)]
pub struct Auth {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    hasher: Arc<dyn PasswordHasher>,
    attempts: Arc<dyn LoginAttempts>,
    events: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
    secrets: Arc<dyn SecretSource>,
    settings: Settings,
}

/// Tells the user's live streams to check their session again (it may have ended).
pub(crate) async fn tell_access_changed(events: &dyn EventPublisher, user_id: UserId) {
    events
        .publish(&[DomainEvent::AccessChanged { user_id }])
        .await;
}

/// [`crate::domain::admit`], as this module's error.
pub(crate) fn admit(
    found: Option<(Session, User)>,
    claim: AccessClaim,
    now: Timestamp,
) -> Result<Caller, AuthenticateError> {
    Ok(crate::domain::admit(found, claim, now)?)
}

impl From<crate::domain::SessionRefusal> for AuthenticateError {
    fn from(refusal: crate::domain::SessionRefusal) -> Self {
        match refusal {
            crate::domain::SessionRefusal::InvalidCredentials => Self::InvalidCredentials,
            crate::domain::SessionRefusal::UserDisabled => Self::UserDisabled,
        }
    }
}

impl Auth {
    pub fn new(ports: &Ports, settings: Settings) -> Self {
        Self {
            users: ports.users.clone(),
            sessions: ports.sessions.clone(),
            hasher: ports.hasher.clone(),
            attempts: ports.login_attempts.clone(),
            events: ports.events.clone(),
            clock: ports.clock.clone(),
            secrets: ports.secrets.clone(),
            settings,
        }
    }

    /// [`Self::authenticate`] for a claim.
    pub async fn check_claim(&self, claim: &AccessClaim) -> Result<Caller, AuthenticateError> {
        self.authenticate(claim.user_id, claim.session_id).await
    }

    /// Accepts a request that presents (user id, session id) from a verified access token
    /// only while the session is active and unexpired and its user exists and is active.
    pub async fn authenticate(
        &self,
        user_id: UserId,
        session_id: SessionId,
    ) -> Result<Caller, AuthenticateError> {
        let found = self.sessions.get_session_with_user(session_id).await?;
        admit(
            found,
            AccessClaim::new(user_id, session_id),
            self.clock.now(),
        )
    }

    /// Exchanges a refresh token for a new one in the same session. A token presented again
    /// after its rotation, later than the grace window, is taken as stolen: its whole session
    /// ends.
    pub async fn refresh(&self, presented: &str) -> Result<RefreshOutcome, RefreshError> {
        let now = self.clock.now();
        let token = self
            .sessions
            .find_refresh_token(&hash_refresh_token(presented))
            .await?
            .ok_or(RefreshError::NotFoundOrUsed)?;
        if token.is_used {
            self.end_session_if_reused(&token).await?;
            return Err(RefreshError::NotFoundOrUsed);
        }
        if token.expires_at <= now {
            return Err(RefreshError::Expired);
        }
        // Rows adopted from the original implementation belong to no session.
        let session_id = token.session_id.ok_or(RefreshError::NotFoundOrUsed)?;
        let (session, user) = self
            .sessions
            .get_session_with_user(session_id)
            .await?
            .ok_or(RefreshError::SessionEnded)?;
        if !session.is_live(now) {
            return Err(RefreshError::SessionEnded);
        }
        if !user.is_active {
            return Err(RefreshError::UserDisabled);
        }

        let refresh_token = self.secrets.secret()?;
        let next = NewRefreshToken {
            token_hash: hash_refresh_token(&refresh_token),
            expires_at: now + self.settings.refresh_token_ttl,
            created_at: now,
        };
        match self
            .sessions
            .rotate_refresh_token(token.id, next, now)
            .await?
        {
            Rotation::Rotated(_) => Ok(RefreshOutcome {
                user,
                session_id,
                refresh_token,
            }),
            // A concurrent refresh of the same token won: that is the grace case.
            Rotation::AlreadyUsed => Err(RefreshError::NotFoundOrUsed),
        }
    }

    async fn end_session_if_reused(&self, token: &RefreshToken) -> Result<(), PortError> {
        let used_at = token.updated_at;
        if self.clock.now() - used_at <= self.settings.refresh_reuse_grace {
            return Ok(());
        }
        if let Some(session_id) = token.session_id {
            self.sessions
                .end_session(token.user_id, session_id, self.clock.now())
                .await?;
            tell_access_changed(self.events.as_ref(), token.user_id).await;
        }
        Ok(())
    }

    /// Ends the caller's session with all its tokens. A refresh token given with the logout
    /// is also put out of use, with the session it belongs to, when it is the caller's.
    pub async fn logout(
        &self,
        caller: &Caller,
        refresh_token: Option<&str>,
    ) -> Result<(), PortError> {
        let now = self.clock.now();
        self.sessions
            .end_session(caller.user.id, caller.session_id, now)
            .await?;
        let result = self.end_presented_token(caller, refresh_token, now).await;
        tell_access_changed(self.events.as_ref(), caller.user.id).await;
        result
    }

    /// The refresh token given with a logout: its session ends too, when it is the caller's.
    async fn end_presented_token(
        &self,
        caller: &Caller,
        refresh_token: Option<&str>,
        now: crate::domain::Timestamp,
    ) -> Result<(), PortError> {
        let Some(presented) = refresh_token else {
            return Ok(());
        };
        let token = self
            .sessions
            .find_refresh_token(&hash_refresh_token(presented))
            .await?;
        match token {
            Some(token) if token.user_id == caller.user.id => match token.session_id {
                Some(sid) if sid != caller.session_id => {
                    self.sessions.end_session(caller.user.id, sid, now).await?;
                }
                Some(_) => {}
                None => self.sessions.revoke_refresh_token(token.id, now).await?,
            },
            _ => {}
        }
        Ok(())
    }

    /// Ends every session of the caller, this one included.
    pub async fn logout_all(&self, caller: &Caller) -> Result<u64, PortError> {
        let ended = self
            .sessions
            .end_all_sessions(caller.user.id, self.clock.now())
            .await?;
        tell_access_changed(self.events.as_ref(), caller.user.id).await;
        Ok(ended)
    }

    /// The caller's active, unexpired sessions, newest first.
    pub async fn list_sessions(&self, caller: &Caller) -> Result<Vec<Session>, PortError> {
        self.sessions
            .list_live_sessions(caller.user.id, self.clock.now())
            .await
    }

    /// Ends one of the caller's sessions; anyone else's, or an ended one, is "not found".
    pub async fn end_session(
        &self,
        caller: &Caller,
        session_id: SessionId,
    ) -> Result<(), EndSessionError> {
        let ended = self
            .sessions
            .end_session(caller.user.id, session_id, self.clock.now())
            .await?;
        if ended {
            tell_access_changed(self.events.as_ref(), caller.user.id).await;
            Ok(())
        } else {
            Err(EndSessionError::SessionNotFound)
        }
    }
}

pub(crate) mod login;

pub use login::{LoginError, LoginOutcome, LoginRequest};

#[cfg(test)]
mod tests;
