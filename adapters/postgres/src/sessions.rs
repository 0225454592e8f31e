//! Sessions and their refresh tokens.

use ai_message_core::ports::*;
use ai_message_core::{
    RefreshToken, RefreshTokenHash, RefreshTokenId, Session, SessionId, StreamTicketHash,
    Timestamp, User, UserId,
};
use ai_message_sql::optional_str;
use async_trait::async_trait;

use crate::PostgresStore;
use crate::helpers::{OrPortError, end_sessions_of_user};
use crate::rows::{self, SESSION_WIDTH, naive, pg_id};
use crate::sql;

#[async_trait]
impl SessionRepository for PostgresStore {
    async fn create_session(
        &self,
        new: NewSession,
        first_token: NewRefreshToken,
    ) -> Result<Option<(Session, RefreshToken)>, PortError> {
        let Some(user) = pg_id(new.user_id) else {
            return Ok(None);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        let state = tx
            .query_opt(sql::USER_LOGIN_STATE, &[&user])
            .await
            .or_port()?
            .map(|row| {
                Ok::<_, tokio_postgres::Error>((row.try_get::<_, String>(0)?, row.try_get(1)?))
            })
            .transpose()
            .or_port()?;
        let still_verified = state
            .is_some_and(|(hash, active)| active && hash == new.verified_password_hash.expose());
        if !still_verified {
            return Ok(None);
        }
        let row = tx
            .query_one(
                sql::INSERT_SESSION,
                &[
                    &user,
                    &new.session_token.expose(),
                    &optional_str(&new.device_info),
                    &optional_str(&new.ip_address),
                    &naive(new.expires_at),
                    &naive(new.created_at),
                ],
            )
            .await
            .or_port()?;
        let session = rows::session(&row).or_port()?;
        let session_id = pg_id(session.id).unwrap_or_default();
        let row = tx
            .query_one(
                sql::INSERT_TOKEN,
                &[
                    &user,
                    &first_token.token_hash.expose(),
                    &naive(first_token.expires_at),
                    &Some(session_id),
                    &naive(first_token.created_at),
                ],
            )
            .await
            .or_port()?;
        let token = rows::refresh_token(&row).or_port()?;
        tx.commit().await.or_port()?;
        Ok(Some((session, token)))
    }

    async fn get_session_with_user(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, User)>, PortError> {
        // The check of every authenticated request: on the shared connection.
        let client = self.reads.client().await?;
        session_with_user(client.as_ref(), id).await
    }

    async fn list_live_sessions(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> Result<Vec<Session>, PortError> {
        let Some(user) = pg_id(user_id) else {
            return Ok(Vec::new());
        };
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::LIVE_SESSIONS).await.or_port()?;
        let found = client.query(&stmt, &[&user, &naive(now)]).await.or_port()?;
        found
            .iter()
            .map(rows::session)
            .collect::<Result<_, _>>()
            .or_port()
    }

    async fn end_session(
        &self,
        user_id: UserId,
        session_id: SessionId,
        now: Timestamp,
    ) -> Result<bool, PortError> {
        let (Some(user), Some(session)) = (pg_id(user_id), pg_id(session_id)) else {
            return Ok(false);
        };
        let now = naive(now);
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        tx.execute(sql::LOCK_USER_FOR_SESSIONS, &[&user])
            .await
            .or_port()?;
        let ended = tx
            .execute(sql::END_SESSION, &[&session, &user, &now])
            .await
            .or_port()?;
        if ended == 0 {
            return Ok(false);
        }
        tx.execute(sql::USE_UP_SESSION_TOKENS, &[&session, &now])
            .await
            .or_port()?;
        tx.commit().await.or_port()?;
        Ok(true)
    }

    async fn end_all_sessions(&self, user_id: UserId, now: Timestamp) -> Result<u64, PortError> {
        let Some(user) = pg_id(user_id) else {
            return Ok(0);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        tx.execute(sql::LOCK_USER_FOR_SESSIONS, &[&user])
            .await
            .or_port()?;
        let ended = end_sessions_of_user(&tx, user, None, naive(now)).await?;
        tx.commit().await.or_port()?;
        Ok(ended)
    }

    async fn find_refresh_token(
        &self,
        token_hash: &RefreshTokenHash,
    ) -> Result<Option<RefreshToken>, PortError> {
        let token_hash = token_hash.expose();
        if token_hash.contains('\0') {
            return Ok(None);
        }
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::TOKEN_BY_HASH).await.or_port()?;
        let row = client.query_opt(&stmt, &[&token_hash]).await.or_port()?;
        row.as_ref().map(rows::refresh_token).transpose().or_port()
    }

    async fn rotate_refresh_token(
        &self,
        used: RefreshTokenId,
        next: NewRefreshToken,
        now: Timestamp,
    ) -> Result<Rotation, PortError> {
        let Some(used) = pg_id(used) else {
            return Ok(Rotation::AlreadyUsed);
        };
        let now = naive(now);
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        // The owner's row first, as every session-ending transaction does (no deadlock with
        // logout-all). Concurrent claims of one token then queue on it; the later ones see
        // `is_used = true` and claim nothing.
        tx.execute(sql::LOCK_USER_OF_TOKEN, &[&used])
            .await
            .or_port()?;
        let Some(claimed) = tx
            .query_opt(sql::CLAIM_TOKEN, &[&used, &now])
            .await
            .or_port()?
        else {
            return Ok(Rotation::AlreadyUsed);
        };
        let user: i32 = claimed.try_get(0).or_port()?;
        let session: Option<i32> = claimed.try_get(1).or_port()?;
        let row = tx
            .query_one(
                sql::INSERT_TOKEN,
                &[
                    &user,
                    &next.token_hash.expose(),
                    &naive(next.expires_at),
                    &session,
                    &naive(next.created_at),
                ],
            )
            .await
            .or_port()?;
        let token = rows::refresh_token(&row).or_port()?;
        if let Some(session) = session {
            tx.execute(
                sql::EXTEND_SESSION,
                &[&session, &naive(next.expires_at), &now],
            )
            .await
            .or_port()?;
        }
        tx.commit().await.or_port()?;
        Ok(Rotation::Rotated(token))
    }

    async fn revoke_refresh_token(
        &self,
        id: RefreshTokenId,
        now: Timestamp,
    ) -> Result<(), PortError> {
        let Some(id) = pg_id(id) else {
            return Ok(());
        };
        let client = self.client().await?;
        client
            .execute(sql::MARK_TOKEN_USED, &[&id, &naive(now)])
            .await
            .or_port()?;
        Ok(())
    }

    async fn create_stream_ticket(
        &self,
        ticket: NewStreamTicket,
        now: Timestamp,
    ) -> Result<(), PortError> {
        let (Some(user), Some(session)) = (pg_id(ticket.user_id), pg_id(ticket.session_id)) else {
            return Err(PortError::unexpected(
                "stream ticket for an id beyond INTEGER",
            ));
        };
        let client = self.client().await?;
        client
            .execute(sql::FORGET_EXPIRED_TICKETS, &[&naive(now)])
            .await
            .or_port()?;
        client
            .execute(
                sql::INSERT_TICKET,
                &[
                    &ticket.ticket_hash.expose(),
                    &user,
                    &session,
                    &naive(ticket.expires_at),
                ],
            )
            .await
            .or_port()?;
        Ok(())
    }

    async fn redeem_stream_ticket(
        &self,
        ticket_hash: &StreamTicketHash,
        now: Timestamp,
    ) -> Result<Option<(UserId, SessionId)>, PortError> {
        let ticket_hash = ticket_hash.expose();
        if ticket_hash.contains('\0') {
            return Ok(None);
        }
        let client = self.client().await?;
        let Some(row) = client
            .query_opt(sql::TAKE_TICKET, &[&ticket_hash])
            .await
            .or_port()?
        else {
            return Ok(None);
        };
        let read = || -> Result<_, tokio_postgres::Error> {
            Ok((
                UserId::new(i64::from(row.try_get::<_, i32>(0)?)),
                SessionId::new(i64::from(row.try_get::<_, i32>(1)?)),
                row.try_get::<_, chrono::NaiveDateTime>(2)?.and_utc(),
            ))
        };
        let (user_id, session_id, expires_at) = read().or_port()?;
        Ok((expires_at > now).then_some((user_id, session_id)))
    }
}

pub(crate) async fn session_with_user(
    client: &impl deadpool_postgres::GenericClient,
    id: SessionId,
) -> Result<Option<(Session, User)>, PortError> {
    let Some(id) = pg_id(id) else {
        return Ok(None);
    };
    let stmt = client
        .prepare_cached(sql::SESSION_WITH_USER)
        .await
        .or_port()?;
    let Some(row) = client.query_opt(&stmt, &[&id]).await.or_port()? else {
        return Ok(None);
    };
    let session = rows::session(&row).or_port()?;
    let user = rows::user_at(&row, SESSION_WIDTH).or_port()?;
    Ok(Some((session, user)))
}

/// The sender's session with its user, and whether the recipient exists (the assistant
/// always does): one statement where a send asked twice. The recipient reads as missing when
/// the session is unknown; a send stops at the session then.
pub(crate) async fn sender_session_and_recipient(
    client: &impl deadpool_postgres::GenericClient,
    session: SessionId,
    recipient: UserId,
) -> Result<(Option<(Session, User)>, bool), PortError> {
    let Some(session) = pg_id(session) else {
        return Ok((None, false));
    };
    let stmt = client
        .prepare_cached(sql::SESSION_WITH_USER_AND_RECIPIENT)
        .await
        .or_port()?;
    let Some(row) = client
        .query_opt(&stmt, &[&session, &pg_id(recipient)])
        .await
        .or_port()?
    else {
        return Ok((None, false));
    };
    let found = (
        rows::session(&row).or_port()?,
        rows::user_at(&row, SESSION_WIDTH).or_port()?,
    );
    let recipient_exists =
        recipient.is_assistant() || row.try_get::<_, bool>(row.len() - 1).or_port()?;
    Ok((Some(found), recipient_exists))
}
