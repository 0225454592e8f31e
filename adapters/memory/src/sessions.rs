//! Sessions and their refresh tokens.

use ai_message_core::ports::*;
use ai_message_core::{
    RefreshToken, RefreshTokenHash, RefreshTokenId, Session, SessionId, StreamTicketHash,
    Timestamp, User, UserId,
};
use async_trait::async_trait;

use crate::MemoryStore;

#[async_trait]
impl SessionRepository for MemoryStore {
    async fn create_session(
        &self,
        new: NewSession,
        first_token: NewRefreshToken,
    ) -> Result<Option<(Session, RefreshToken)>, PortError> {
        let mut t = self.tables.write();
        let still_valid = t.users.get(&new.user_id).is_some_and(|user| {
            user.is_active && user.hashed_password == new.verified_password_hash
        });
        if !still_valid {
            return Ok(None);
        }
        if t.session_by_token.contains_key(&new.session_token)
            || t.refresh_by_hash.contains_key(&first_token.token_hash)
        {
            return Err(PortError::unexpected(
                "unique violation: token already stored",
            ));
        }
        let session = Session {
            id: t.sequences.next_session(),
            user_id: new.user_id,
            session_token: new.session_token,
            device_info: new.device_info,
            ip_address: new.ip_address,
            is_active: true,
            expires_at: new.expires_at,
            created_at: new.created_at,
            updated_at: new.created_at,
        };
        let token = RefreshToken {
            id: t.sequences.next_refresh_token(),
            user_id: session.user_id,
            token_hash: first_token.token_hash,
            expires_at: first_token.expires_at,
            is_used: false,
            session_id: Some(session.id),
            created_at: first_token.created_at,
            updated_at: first_token.created_at,
        };
        t.session_by_token
            .insert(session.session_token.clone(), session.id);
        t.sessions.insert(session.id, session.clone());
        t.refresh_by_hash.insert(token.token_hash.clone(), token.id);
        t.refresh_tokens.insert(token.id, token.clone());
        Ok(Some((session, token)))
    }

    async fn get_session_with_user(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, User)>, PortError> {
        Ok(self.tables.read().session_with_user(id))
    }

    async fn list_live_sessions(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> Result<Vec<Session>, PortError> {
        let t = self.tables.read();
        let mut sessions: Vec<Session> = t
            .sessions
            .values()
            .filter(|s| s.user_id == user_id && s.is_live(now))
            .cloned()
            .collect();
        sessions.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
        Ok(sessions)
    }

    async fn end_session(
        &self,
        user_id: UserId,
        session_id: SessionId,
        now: Timestamp,
    ) -> Result<bool, PortError> {
        let mut t = self.tables.write();
        match t.sessions.get(&session_id) {
            Some(session) if session.user_id == user_id => Ok(t.end_session(session_id, now)),
            _ => Ok(false),
        }
    }

    async fn end_all_sessions(&self, user_id: UserId, now: Timestamp) -> Result<u64, PortError> {
        Ok(self.tables.write().end_sessions_of_user(user_id, None, now))
    }

    async fn find_refresh_token(
        &self,
        token_hash: &RefreshTokenHash,
    ) -> Result<Option<RefreshToken>, PortError> {
        let t = self.tables.read();
        Ok(t.refresh_by_hash
            .get(token_hash)
            .and_then(|id| t.refresh_tokens.get(id))
            .cloned())
    }

    async fn rotate_refresh_token(
        &self,
        used: RefreshTokenId,
        next: NewRefreshToken,
        now: Timestamp,
    ) -> Result<Rotation, PortError> {
        let mut t = self.tables.write();
        if t.refresh_by_hash.contains_key(&next.token_hash) {
            return Err(PortError::unexpected(
                "unique violation: token already stored",
            ));
        }
        let Some(old) = t.refresh_tokens.get_mut(&used) else {
            return Ok(Rotation::AlreadyUsed);
        };
        if old.is_used {
            return Ok(Rotation::AlreadyUsed);
        }
        old.is_used = true;
        old.updated_at = now;
        let (user_id, session_id) = (old.user_id, old.session_id);
        let token = RefreshToken {
            id: t.sequences.next_refresh_token(),
            user_id,
            token_hash: next.token_hash,
            expires_at: next.expires_at,
            is_used: false,
            session_id,
            created_at: next.created_at,
            updated_at: next.created_at,
        };
        if let Some(session) = session_id.and_then(|id| t.sessions.get_mut(&id)) {
            session.expires_at = next.expires_at;
            session.updated_at = now;
        }
        t.refresh_by_hash.insert(token.token_hash.clone(), token.id);
        t.refresh_tokens.insert(token.id, token.clone());
        Ok(Rotation::Rotated(token))
    }

    async fn revoke_refresh_token(
        &self,
        id: RefreshTokenId,
        now: Timestamp,
    ) -> Result<(), PortError> {
        let mut t = self.tables.write();
        if let Some(token) = t.refresh_tokens.get_mut(&id)
            && !token.is_used
        {
            token.is_used = true;
            token.updated_at = now;
        }
        Ok(())
    }

    async fn create_stream_ticket(
        &self,
        ticket: NewStreamTicket,
        now: Timestamp,
    ) -> Result<(), PortError> {
        let mut t = self.tables.write();
        t.stream_tickets.retain(|_, stored| stored.expires_at > now);
        t.stream_tickets.insert(ticket.ticket_hash.clone(), ticket);
        Ok(())
    }

    async fn redeem_stream_ticket(
        &self,
        ticket_hash: &StreamTicketHash,
        now: Timestamp,
    ) -> Result<Option<(UserId, SessionId)>, PortError> {
        let mut t = self.tables.write();
        Ok(t.stream_tickets
            .remove(ticket_hash)
            .filter(|ticket| ticket.expires_at > now)
            .map(|ticket| (ticket.user_id, ticket.session_id)))
    }
}
