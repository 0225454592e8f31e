//! Sessions and their refresh tokens.

use ai_message_core::ports::*;
use ai_message_core::{
    RefreshToken, RefreshTokenHash, RefreshTokenId, Session, SessionId, StreamTicketHash,
    Timestamp, User, UserId,
};
use ai_message_sql::optional_str;
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use crate::SqliteStore;
use crate::helpers::CachedStatements;
use crate::helpers::{OrPortError, end_sessions_of_user};
use crate::rows::{self, SESSION_WIDTH, time_at, time_text};
use crate::sql;

#[async_trait]
impl SessionRepository for SqliteStore {
    async fn create_session(
        &self,
        new: NewSession,
        first_token: NewRefreshToken,
    ) -> Result<Option<(Session, RefreshToken)>, PortError> {
        self.db
            .write(move |tx| {
                // The write transaction serialises this check with password changes,
                // disabling and deleting.
                let state: Option<(String, bool)> = tx
                    .query_row_cached(sql::USER_LOGIN_STATE, [new.user_id.get()], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .optional()
                    .or_port()?;
                let still_verified = state.is_some_and(|(hash, active)| {
                    active && hash == new.verified_password_hash.expose()
                });
                if !still_verified {
                    return Ok(None);
                }
                tx.execute_cached(
                    sql::INSERT_SESSION,
                    params![
                        new.user_id.get(),
                        new.session_token.expose(),
                        optional_str(&new.device_info),
                        optional_str(&new.ip_address),
                        time_text(new.expires_at),
                        time_text(new.created_at)
                    ],
                )
                .or_port()?;
                let session_id = tx.last_insert_rowid();
                tx.execute_cached(
                    sql::INSERT_TOKEN,
                    params![
                        new.user_id.get(),
                        first_token.token_hash.expose(),
                        time_text(first_token.expires_at),
                        session_id,
                        time_text(first_token.created_at)
                    ],
                )
                .or_port()?;
                let token_id = tx.last_insert_rowid();
                let session = tx
                    .query_row_cached(sql::SESSION_BY_ID, [session_id], rows::session)
                    .or_port()?;
                let token = tx
                    .query_row_cached(sql::TOKEN_BY_ID, [token_id], rows::refresh_token)
                    .or_port()?;
                Ok(Some((session, token)))
            })
            .await
    }

    async fn get_session_with_user(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, User)>, PortError> {
        self.db.read(move |conn| session_with_user(conn, id)).await
    }

    async fn list_live_sessions(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> Result<Vec<Session>, PortError> {
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::LIVE_SESSIONS)?
                    .query_map(params![user_id.get(), time_text(now)], rows::session)?
                    .collect()
            })
            .await
    }

    async fn end_session(
        &self,
        user_id: UserId,
        session_id: SessionId,
        now: Timestamp,
    ) -> Result<bool, PortError> {
        self.db
            .write(move |tx| {
                let now = time_text(now);
                let ended = tx
                    .execute_cached(
                        sql::END_SESSION,
                        params![session_id.get(), user_id.get(), now],
                    )
                    .or_port()?;
                if ended == 0 {
                    return Ok(false);
                }
                tx.execute_cached(sql::USE_UP_SESSION_TOKENS, params![session_id.get(), now])
                    .or_port()?;
                Ok(true)
            })
            .await
    }

    async fn end_all_sessions(&self, user_id: UserId, now: Timestamp) -> Result<u64, PortError> {
        self.db
            .write(move |tx| end_sessions_of_user(tx, user_id, None, &time_text(now)).or_port())
            .await
    }

    async fn find_refresh_token(
        &self,
        token_hash: &RefreshTokenHash,
    ) -> Result<Option<RefreshToken>, PortError> {
        let token_hash = token_hash.expose().to_string();
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::TOKEN_BY_HASH)?
                    .query_row([token_hash], rows::refresh_token)
                    .optional()
            })
            .await
    }

    async fn rotate_refresh_token(
        &self,
        used: RefreshTokenId,
        next: NewRefreshToken,
        now: Timestamp,
    ) -> Result<Rotation, PortError> {
        self.db
            .write(move |tx| {
                let now = time_text(now);
                // The compare-and-set: only one transaction finds the token unused.
                let claimed = tx
                    .execute_cached(sql::MARK_TOKEN_USED, params![used.get(), now])
                    .or_port()?;
                if claimed == 0 {
                    return Ok(Rotation::AlreadyUsed);
                }
                let old = tx
                    .query_row_cached(sql::TOKEN_BY_ID, [used.get()], rows::refresh_token)
                    .or_port()?;
                tx.execute_cached(
                    sql::INSERT_TOKEN,
                    params![
                        old.user_id.get(),
                        next.token_hash.expose(),
                        time_text(next.expires_at),
                        old.session_id.map(SessionId::get),
                        time_text(next.created_at)
                    ],
                )
                .or_port()?;
                let token = tx
                    .query_row_cached(
                        sql::TOKEN_BY_ID,
                        [tx.last_insert_rowid()],
                        rows::refresh_token,
                    )
                    .or_port()?;
                if let Some(session_id) = old.session_id {
                    tx.execute_cached(
                        sql::EXTEND_SESSION,
                        params![session_id.get(), time_text(next.expires_at), now],
                    )
                    .or_port()?;
                }
                Ok(Rotation::Rotated(token))
            })
            .await
    }

    async fn revoke_refresh_token(
        &self,
        id: RefreshTokenId,
        now: Timestamp,
    ) -> Result<(), PortError> {
        self.db
            .write(move |tx| {
                tx.execute_cached(sql::MARK_TOKEN_USED, params![id.get(), time_text(now)])
                    .or_port()?;
                Ok(())
            })
            .await
    }

    async fn create_stream_ticket(
        &self,
        ticket: NewStreamTicket,
        now: Timestamp,
    ) -> Result<(), PortError> {
        self.db
            .write(move |tx| {
                tx.execute_cached(sql::FORGET_EXPIRED_TICKETS, [time_text(now)])
                    .or_port()?;
                tx.execute_cached(
                    sql::INSERT_TICKET,
                    params![
                        ticket.ticket_hash.expose(),
                        ticket.user_id.get(),
                        ticket.session_id.get(),
                        time_text(ticket.expires_at)
                    ],
                )
                .or_port()?;
                Ok(())
            })
            .await
    }

    async fn redeem_stream_ticket(
        &self,
        ticket_hash: &StreamTicketHash,
        now: Timestamp,
    ) -> Result<Option<(UserId, SessionId)>, PortError> {
        let ticket_hash = ticket_hash.expose().to_string();
        self.db
            .write(move |tx| {
                let taken = tx
                    .query_row_cached(sql::TAKE_TICKET, [ticket_hash], |row| {
                        Ok((
                            UserId::new(row.get(0)?),
                            SessionId::new(row.get(1)?),
                            time_at(row, 2)?,
                        ))
                    })
                    .optional()
                    .or_port()?;
                Ok(taken
                    .filter(|(_, _, expires_at)| *expires_at > now)
                    .map(|(user_id, session_id, _)| (user_id, session_id)))
            })
            .await
    }
}

pub(crate) fn session_with_user(
    conn: &rusqlite::Connection,
    id: SessionId,
) -> rusqlite::Result<Option<(Session, User)>> {
    conn.prepare_cached(sql::SESSION_WITH_USER)?
        .query_row([id.get()], |row| {
            Ok((rows::session(row)?, rows::user_at(row, SESSION_WIDTH)?))
        })
        .optional()
}
