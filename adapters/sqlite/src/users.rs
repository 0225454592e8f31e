//! Users: accounts, their identity keys, and the changes that guard the last superuser.

use ai_message_core::ports::*;
use ai_message_core::{Page, PasswordHash, PhoneNumber, SessionId, Timestamp, User, UserId};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::SqliteStore;
use crate::helpers::CachedStatements;
use crate::helpers::{OrPortError, end_sessions_of_user, unique};
use crate::rows::{self, time_text};
use crate::sql;

/// Whether taking `user_id` out of the active superusers would leave none. The caller holds
/// the write transaction, so no other change interleaves.
fn is_last_active_superuser(tx: &Transaction<'_>, user_id: UserId) -> rusqlite::Result<bool> {
    tx.query_row_cached(sql::IS_LAST_ACTIVE_SUPERUSER, [user_id.get()], |row| {
        row.get(0)
    })
}

impl SqliteStore {
    /// The user a one-parameter lookup finds, if any.
    async fn one_user(
        &self,
        statement: &'static str,
        key: rusqlite::types::Value,
    ) -> Result<Option<User>, PortError> {
        self.db
            .read(move |conn| user_by(conn, statement, key))
            .await
    }
}

/// The user as an update left it; `None` when the update found no such user.
fn user_after_update(
    tx: &Transaction<'_>,
    changed: usize,
    id: UserId,
) -> Result<Option<User>, InsertError> {
    if changed == 0 {
        return Ok(None);
    }
    Ok(tx
        .query_row_cached(sql::USER_BY_ID, [id.get()], rows::user)
        .optional()
        .or_port()?)
}

#[async_trait]
impl UserRepository for SqliteStore {
    async fn create_user(&self, new: NewUser) -> Result<User, InsertError> {
        self.db
            .write(move |tx| {
                let user = unique(tx.query_row_cached(
                    sql::INSERT_USER,
                    params![
                        new.username.as_str(),
                        new.email.as_str(),
                        new.hashed_password.expose(),
                        new.is_superuser,
                        new.full_name.as_ref().map(|f| f.as_str()),
                        time_text(new.created_at),
                        new.phone_number.as_ref().map(|p| p.as_str()),
                    ],
                    rows::user,
                ))?;
                unique(tx.execute_cached(
                    sql::INSERT_IDENTITY_KEYS,
                    params![user.id.get(), new.username.key(), new.email.key()],
                ))?;
                Ok(user)
            })
            .await
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, PortError> {
        self.one_user(sql::USER_BY_ID, rusqlite::types::Value::Integer(id.get()))
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

    async fn find_user_by_phone(&self, phone: &PhoneNumber) -> Result<Option<User>, PortError> {
        self.one_user(sql::USER_BY_PHONE, phone.as_str().to_string().into())
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
        let (limit, offset) = page.sql_limit_offset();
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
    ) -> Result<Option<User>, InsertError> {
        self.db
            .write(move |tx| {
                let changed = unique(tx.execute_cached(
                    sql::UPDATE_PROFILE,
                    params![
                        id.get(),
                        update.full_name.as_ref().map(|f| f.as_str()),
                        update.bio.as_ref().map(|b| b.as_str()),
                        time_text(now),
                        update.phone_number.as_ref().map(|p| p.as_str()),
                    ],
                ))?;
                user_after_update(tx, changed, id)
            })
            .await
    }

    async fn set_phone_number(
        &self,
        id: UserId,
        phone_number: Option<PhoneNumber>,
        now: Timestamp,
    ) -> Result<Option<User>, InsertError> {
        self.db
            .write(move |tx| {
                let changed = unique(tx.execute_cached(
                    sql::SET_PHONE_NUMBER,
                    params![
                        id.get(),
                        phone_number.as_ref().map(|p| p.as_str()),
                        time_text(now)
                    ],
                ))?;
                user_after_update(tx, changed, id)
            })
            .await
    }

    async fn change_password(
        &self,
        id: UserId,
        hashed_password: PasswordHash,
        keep_session: SessionId,
        now: Timestamp,
    ) -> Result<bool, PortError> {
        self.db
            .write(move |tx| {
                let now = time_text(now);
                let changed = tx
                    .execute_cached(
                        sql::UPDATE_PASSWORD,
                        params![id.get(), hashed_password.expose(), now],
                    )
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
        old_hash: PasswordHash,
        new_hash: PasswordHash,
    ) -> Result<bool, PortError> {
        self.db
            .write(move |tx| {
                let changed = tx
                    .execute_cached(
                        sql::UPGRADE_PASSWORD_HASH,
                        params![id.get(), old_hash.expose(), new_hash.expose()],
                    )
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
                    .execute_cached(sql::UPDATE_ACTIVE, params![id.get(), active, now])
                    .or_port()?;
                if changed > 0 && !active {
                    end_sessions_of_user(tx, id, None, &now).or_port()?;
                }
                Ok(AccountChange::from_affected_rows(changed as u64))
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
                    .execute_cached(
                        sql::UPDATE_SUPERUSER,
                        params![id.get(), superuser, time_text(now)],
                    )
                    .or_port()?;
                Ok(AccountChange::from_affected_rows(changed as u64))
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
                tx.execute_cached(sql::DELETE_USER_TOKENS, [id.get()])
                    .or_port()?;
                tx.execute_cached(sql::DELETE_USER_SESSIONS, [id.get()])
                    .or_port()?;
                tx.execute_cached(sql::DELETE_USER_ROLE_LINKS, [id.get()])
                    .or_port()?;
                tx.execute_cached(sql::DELETE_USER_KEYS, [id.get()])
                    .or_port()?;
                tx.execute_cached(sql::DELETE_USER_DELIVERIES, [id.get()])
                    .or_port()?;
                tx.execute_cached(sql::DELETE_USER_COUNTER, [id.get()])
                    .or_port()?;
                tx.execute_cached(sql::DELETE_USER_REPORTS, [id.get()])
                    .or_port()?;
                tx.execute_cached(sql::FORGET_RESOLVER, [id.get()])
                    .or_port()?;
                let deleted = tx.execute_cached(sql::DELETE_USER, [id.get()]).or_port()?;
                Ok(AccountChange::from_affected_rows(deleted as u64))
            })
            .await
    }
}

/// The user a unique key names (`statement` is one of the `USER_BY_…` lookups).
pub(crate) fn user_by(
    conn: &rusqlite::Connection,
    statement: &'static str,
    key: rusqlite::types::Value,
) -> rusqlite::Result<Option<User>> {
    conn.prepare_cached(statement)?
        .query_row([key], rows::user)
        .optional()
}
