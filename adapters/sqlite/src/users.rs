//! Users, roles, sessions and refresh tokens.

use std::collections::BTreeSet;

use ai_message_core::ports::*;
use ai_message_core::{
    Page, RefreshToken, RefreshTokenId, Role, RoleId, Session, SessionId, Timestamp, User, UserId,
};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::SqliteStore;
use crate::connection::port_error;
use crate::rows::{self, SESSION_WIDTH, time_text};
use crate::sql;

/// rusqlite results as port results.
pub(crate) trait OrPortError<T> {
    fn or_port(self) -> Result<T, PortError>;
}

impl<T> OrPortError<T> for rusqlite::Result<T> {
    fn or_port(self) -> Result<T, PortError> {
        self.map_err(port_error)
    }
}

/// SQLite counts offsets and limits in signed 64-bit integers.
pub(crate) fn limit_offset(page: Page) -> (i64, i64) {
    (
        i64::from(page.limit()),
        i64::try_from(page.skip()).unwrap_or(i64::MAX),
    )
}

/// The outcome of an insert guarded by unique constraints: the new row, read back by its id
/// with `select`, or `Duplicate` when a constraint refused it.
fn inserted_row<T>(
    tx: &Transaction<'_>,
    inserted: rusqlite::Result<usize>,
    select: &str,
    row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<T, InsertError> {
    match inserted {
        Err(error) if rows::is_unique_violation(&error) => Err(InsertError::Duplicate),
        Err(error) => Err(InsertError::Port(port_error(error))),
        Ok(_) => Ok(tx
            .query_row(select, [tx.last_insert_rowid()], row)
            .or_port()?),
    }
}

/// Ends the user's sessions except `keep`, and uses up their other refresh tokens.
fn end_sessions_of_user(
    tx: &Transaction<'_>,
    user_id: UserId,
    keep: Option<SessionId>,
    now: &str,
) -> rusqlite::Result<u64> {
    let ended = match keep {
        Some(keep) => tx.execute(sql::END_OTHER_SESSIONS, params![user_id, keep, now])?,
        None => tx.execute(sql::END_USER_SESSIONS, params![user_id, now])?,
    };
    match keep {
        Some(keep) => tx.execute(sql::USE_UP_OTHER_TOKENS, params![user_id, keep, now])?,
        None => tx.execute(sql::USE_UP_USER_TOKENS, params![user_id, now])?,
    };
    Ok(ended as u64)
}

/// Whether taking `user_id` out of the active superusers would leave none. The caller holds
/// the write transaction, so no other change interleaves.
fn is_last_active_superuser(tx: &Transaction<'_>, user_id: UserId) -> rusqlite::Result<bool> {
    tx.query_row(sql::IS_LAST_ACTIVE_SUPERUSER, [user_id], |row| row.get(0))
}

fn changed_if(rows: usize) -> AccountChange {
    if rows > 0 {
        AccountChange::Changed
    } else {
        AccountChange::UserNotFound
    }
}

impl SqliteStore {
    /// The user a one-parameter lookup finds, if any.
    async fn one_user(
        &self,
        statement: &'static str,
        key: rusqlite::types::Value,
    ) -> Result<Option<User>, PortError> {
        self.db
            .read(move |conn| {
                conn.prepare_cached(statement)?
                    .query_row([key], rows::user)
                    .optional()
            })
            .await
    }
}

#[async_trait]
impl UserRepository for SqliteStore {
    async fn create_user(&self, new: NewUser) -> Result<User, InsertError> {
        self.db
            .write(move |tx| {
                let inserted = tx.execute(
                    sql::INSERT_USER,
                    params![
                        new.username.as_str(),
                        new.email.as_str(),
                        new.hashed_password,
                        new.is_superuser,
                        new.full_name.as_ref().map(|f| f.as_str()),
                        time_text(new.created_at),
                    ],
                );
                let user = inserted_row(tx, inserted, sql::USER_BY_ID, rows::user)?;
                let keyed = tx.execute(
                    sql::INSERT_IDENTITY_KEYS,
                    params![user.id, new.username.key(), new.email.key()],
                );
                match keyed {
                    Err(error) if rows::is_unique_violation(&error) => Err(InsertError::Duplicate),
                    Err(error) => Err(InsertError::Port(port_error(error))),
                    Ok(_) => Ok(user),
                }
            })
            .await
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, PortError> {
        self.one_user(sql::USER_BY_ID, rusqlite::types::Value::Integer(id))
            .await
    }

    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, PortError> {
        self.one_user(sql::USER_BY_USERNAME, username.to_string().into())
            .await
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, PortError> {
        self.one_user(sql::USER_BY_EMAIL, email.to_string().into())
            .await
    }

    async fn find_user_by_username_key(&self, key: &str) -> Result<Option<User>, PortError> {
        self.one_user(sql::USER_BY_USERNAME_KEY, key.to_string().into())
            .await
    }

    async fn find_user_by_email_key(&self, key: &str) -> Result<Option<User>, PortError> {
        self.one_user(sql::USER_BY_EMAIL_KEY, key.to_string().into())
            .await
    }

    async fn list_users(&self, page: Page) -> Result<Vec<User>, PortError> {
        let (limit, offset) = limit_offset(page);
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::LIST_USERS)?
                    .query_map([limit, offset], rows::user)?
                    .collect()
            })
            .await
    }

    async fn update_profile(
        &self,
        id: UserId,
        update: ProfileUpdate,
        now: Timestamp,
    ) -> Result<Option<User>, PortError> {
        self.db
            .write(move |tx| {
                let changed = tx
                    .execute(
                        sql::UPDATE_PROFILE,
                        params![
                            id,
                            update.full_name.as_ref().map(|f| f.as_str()),
                            update.bio.as_ref().map(|b| b.as_str()),
                            time_text(now)
                        ],
                    )
                    .or_port()?;
                if changed == 0 {
                    return Ok(None);
                }
                tx.query_row(sql::USER_BY_ID, [id], rows::user)
                    .optional()
                    .or_port()
            })
            .await
    }

    async fn change_password(
        &self,
        id: UserId,
        hashed_password: String,
        keep_session: SessionId,
        now: Timestamp,
    ) -> Result<bool, PortError> {
        self.db
            .write(move |tx| {
                let now = time_text(now);
                let changed = tx
                    .execute(sql::UPDATE_PASSWORD, params![id, hashed_password, now])
                    .or_port()?;
                if changed == 0 {
                    return Ok(false);
                }
                end_sessions_of_user(tx, id, Some(keep_session), &now).or_port()?;
                Ok(true)
            })
            .await
    }

    async fn upgrade_password_hash(
        &self,
        id: UserId,
        old_hash: String,
        new_hash: String,
    ) -> Result<bool, PortError> {
        self.db
            .write(move |tx| {
                let changed = tx
                    .execute(sql::UPGRADE_PASSWORD_HASH, params![id, old_hash, new_hash])
                    .or_port()?;
                Ok(changed > 0)
            })
            .await
    }

    async fn set_user_active(
        &self,
        id: UserId,
        active: bool,
        now: Timestamp,
    ) -> Result<AccountChange, PortError> {
        self.db
            .write(move |tx| {
                if !active && is_last_active_superuser(tx, id).or_port()? {
                    return Ok(AccountChange::LastSuperuser);
                }
                let now = time_text(now);
                let changed = tx
                    .execute(sql::UPDATE_ACTIVE, params![id, active, now])
                    .or_port()?;
                if changed > 0 && !active {
                    end_sessions_of_user(tx, id, None, &now).or_port()?;
                }
                Ok(changed_if(changed))
            })
            .await
    }

    async fn set_user_superuser(
        &self,
        id: UserId,
        superuser: bool,
        now: Timestamp,
    ) -> Result<AccountChange, PortError> {
        self.db
            .write(move |tx| {
                if !superuser && is_last_active_superuser(tx, id).or_port()? {
                    return Ok(AccountChange::LastSuperuser);
                }
                let changed = tx
                    .execute(
                        sql::UPDATE_SUPERUSER,
                        params![id, superuser, time_text(now)],
                    )
                    .or_port()?;
                Ok(changed_if(changed))
            })
            .await
    }

    async fn delete_user(&self, id: UserId) -> Result<AccountChange, PortError> {
        // Explicit deletes, not only ON DELETE CASCADE: databases adopted from the original
        // implementation have foreign keys without it.
        self.db
            .write(move |tx| {
                if is_last_active_superuser(tx, id).or_port()? {
                    return Ok(AccountChange::LastSuperuser);
                }
                tx.execute(sql::DELETE_USER_TOKENS, [id]).or_port()?;
                tx.execute(sql::DELETE_USER_SESSIONS, [id]).or_port()?;
                tx.execute(sql::DELETE_USER_ROLE_LINKS, [id]).or_port()?;
                tx.execute(sql::DELETE_USER_KEYS, [id]).or_port()?;
                Ok(changed_if(tx.execute(sql::DELETE_USER, [id]).or_port()?))
            })
            .await
    }
}

#[async_trait]
impl RoleRepository for SqliteStore {
    async fn create_role(&self, new: NewRole) -> Result<Role, InsertError> {
        self.db
            .write(move |tx| {
                let inserted = tx.execute(
                    sql::INSERT_ROLE,
                    params![
                        new.name.as_str(),
                        new.description.as_ref().map(|d| d.as_str()),
                        time_text(new.created_at)
                    ],
                );
                inserted_row(tx, inserted, sql::ROLE_BY_ID, rows::role)
            })
            .await
    }

    async fn list_roles(&self) -> Result<Vec<Role>, PortError> {
        self.db
            .read(|conn| {
                conn.prepare_cached(sql::LIST_ROLES)?
                    .query_map([], rows::role)?
                    .collect()
            })
            .await
    }

    async fn get_role(&self, id: RoleId) -> Result<Option<Role>, PortError> {
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::ROLE_BY_ID)?
                    .query_row([id], rows::role)
                    .optional()
            })
            .await
    }

    async fn delete_role(&self, id: RoleId) -> Result<bool, PortError> {
        self.db
            .write(move |tx| {
                tx.execute(sql::DELETE_ROLE_LINKS, [id]).or_port()?;
                Ok(tx.execute(sql::DELETE_ROLE, [id]).or_port()? > 0)
            })
            .await
    }

    async fn replace_user_roles(
        &self,
        user_id: UserId,
        role_ids: Vec<RoleId>,
        now: Timestamp,
    ) -> Result<RoleReplacement, PortError> {
        self.db
            .write(move |tx| {
                let user_exists = tx
                    .query_row(sql::USER_EXISTS, [user_id], |_| Ok(()))
                    .optional()
                    .or_port()?
                    .is_some();
                if !user_exists {
                    return Ok(RoleReplacement::UserNotFound);
                }
                let wanted: BTreeSet<RoleId> = role_ids.into_iter().collect();
                let mut unknown = Vec::new();
                {
                    let mut exists = tx.prepare_cached(sql::ROLE_EXISTS).or_port()?;
                    for id in &wanted {
                        if exists
                            .query_row([id], |_| Ok(()))
                            .optional()
                            .or_port()?
                            .is_none()
                        {
                            unknown.push(*id);
                        }
                    }
                }
                if !unknown.is_empty() {
                    return Ok(RoleReplacement::UnknownRoles(unknown));
                }
                tx.execute(sql::DELETE_USER_ROLE_LINKS, [user_id])
                    .or_port()?;
                let now = time_text(now);
                let mut insert = tx.prepare_cached(sql::INSERT_USER_ROLE).or_port()?;
                for role_id in wanted {
                    insert.execute(params![user_id, role_id, now]).or_port()?;
                }
                Ok(RoleReplacement::Replaced)
            })
            .await
    }

    async fn roles_of_user(&self, user_id: UserId) -> Result<Vec<Role>, PortError> {
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::ROLES_OF_USER)?
                    .query_map([user_id], rows::role)?
                    .collect()
            })
            .await
    }
}

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
                    .query_row(sql::USER_LOGIN_STATE, [new.user_id], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .optional()
                    .or_port()?;
                if state != Some((new.verified_password_hash.clone(), true)) {
                    return Ok(None);
                }
                tx.execute(
                    sql::INSERT_SESSION,
                    params![
                        new.user_id,
                        new.session_token,
                        new.device_info,
                        new.ip_address,
                        time_text(new.expires_at),
                        time_text(new.created_at)
                    ],
                )
                .or_port()?;
                let session_id = tx.last_insert_rowid();
                tx.execute(
                    sql::INSERT_TOKEN,
                    params![
                        new.user_id,
                        first_token.token_hash,
                        time_text(first_token.expires_at),
                        session_id,
                        time_text(first_token.created_at)
                    ],
                )
                .or_port()?;
                let token_id = tx.last_insert_rowid();
                let session = tx
                    .query_row(sql::SESSION_BY_ID, [session_id], rows::session)
                    .or_port()?;
                let token = tx
                    .query_row(sql::TOKEN_BY_ID, [token_id], rows::refresh_token)
                    .or_port()?;
                Ok(Some((session, token)))
            })
            .await
    }

    async fn get_session_with_user(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, User)>, PortError> {
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::SESSION_WITH_USER)?
                    .query_row([id], |row| {
                        Ok((rows::session(row)?, rows::user_at(row, SESSION_WIDTH)?))
                    })
                    .optional()
            })
            .await
    }

    async fn list_live_sessions(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> Result<Vec<Session>, PortError> {
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::LIVE_SESSIONS)?
                    .query_map(params![user_id, time_text(now)], rows::session)?
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
                    .execute(sql::END_SESSION, params![session_id, user_id, now])
                    .or_port()?;
                if ended == 0 {
                    return Ok(false);
                }
                tx.execute(sql::USE_UP_SESSION_TOKENS, params![session_id, now])
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
        token_hash: &str,
    ) -> Result<Option<RefreshToken>, PortError> {
        let token_hash = token_hash.to_string();
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
                    .execute(sql::MARK_TOKEN_USED, params![used, now])
                    .or_port()?;
                if claimed == 0 {
                    return Ok(Rotation::AlreadyUsed);
                }
                let old = tx
                    .query_row(sql::TOKEN_BY_ID, [used], rows::refresh_token)
                    .or_port()?;
                tx.execute(
                    sql::INSERT_TOKEN,
                    params![
                        old.user_id,
                        next.token_hash,
                        time_text(next.expires_at),
                        old.session_id,
                        time_text(next.created_at)
                    ],
                )
                .or_port()?;
                let token = tx
                    .query_row(
                        sql::TOKEN_BY_ID,
                        [tx.last_insert_rowid()],
                        rows::refresh_token,
                    )
                    .or_port()?;
                if let Some(session_id) = old.session_id {
                    tx.execute(
                        sql::EXTEND_SESSION,
                        params![session_id, time_text(next.expires_at), now],
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
                tx.execute(sql::MARK_TOKEN_USED, params![id, time_text(now)])
                    .or_port()?;
                Ok(())
            })
            .await
    }
}
