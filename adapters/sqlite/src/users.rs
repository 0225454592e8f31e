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
                if let Some(proven) = &new.phone_number {
                    tx.execute_cached(
                        sql::DROP_PHONE_CLAIMS,
                        params![proven.as_str(), user.id.get()],
                    )
                    .or_port()?;
                }
                let Some(claimed) = &new.unverified_phone_number else {
                    return Ok(user);
                };
                tx.execute_cached(
                    sql::PUT_PHONE_CLAIM,
                    params![
                        user.id.get(),
                        claimed.as_str(),
                        None::<String>,
                        None::<String>
                    ],
                )
                .or_port()?;
                Ok(user_after_update(tx, 1, user.id)?.unwrap_or(user))
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
    ) -> Result<Option<User>, PortError> {
        self.db
            .write(move |tx| {
                let changed = tx
                    .execute_cached(
                        sql::UPDATE_PROFILE,
                        params![
                            id.get(),
                            update.full_name.as_ref().map(|f| f.as_str()),
                            update.bio.as_ref().map(|b| b.as_str()),
                            time_text(now),
                        ],
                    )
                    .or_port()?;
                if changed == 0 {
                    return Ok(None);
                }
                if let Some(number) = &update.phone_number {
                    let claimed: Option<String> = tx
                        .query_row_cached(sql::CLAIMED_PHONE_OF, [id.get()], |row| row.get(0))
                        .optional()
                        .or_port()?;
                    if claimed.as_deref() != Some(number.as_str()) {
                        claim(tx, id, number, None, now).or_port()?;
                    }
                }
                user_by_id(tx, id)
            })
            .await
    }

    async fn claim_phone_number(
        &self,
        id: UserId,
        claim_of: Option<NewPhoneClaim>,
        now: Timestamp,
    ) -> Result<Option<User>, PortError> {
        self.db
            .write(move |tx| {
                let exists = tx
                    .query_row_cached(sql::PROVEN_PHONE_OF, [id.get()], |_| Ok(()))
                    .optional()
                    .or_port()?;
                if exists.is_none() {
                    return Ok(None);
                }
                match &claim_of {
                    None => {
                        tx.execute_cached(
                            sql::SET_PHONE_NUMBER,
                            params![id.get(), None::<String>, time_text(now)],
                        )
                        .or_port()?;
                        tx.execute_cached(sql::DELETE_PHONE_CLAIM, [id.get()])
                            .or_port()?;
                    }
                    Some(new) => {
                        claim(tx, id, &new.phone_number, Some(&new.code), now).or_port()?;
                    }
                }
                user_by_id(tx, id)
            })
            .await
    }

    async fn prove_phone_number(
        &self,
        proof: PhoneProof,
        now: Timestamp,
        max_failures: u32,
    ) -> Result<ProofOutcome, PortError> {
        self.db
            .write(move |tx| {
                let taken: bool = tx
                    .query_row_cached(sql::RECEIPT_TAKEN, [proof.receipt.as_str()], |row| {
                        row.get(0)
                    })
                    .or_port()?;
                if taken {
                    return Ok(ProofOutcome::AlreadyReceived);
                }
                let now_text = time_text(now);
                let number = proof.phone_number.as_str();
                let live = params![number, now_text, max_failures];
                let claimant: Option<i64> = tx
                    .prepare_cached(sql::LIVE_PHONE_CLAIMS)
                    .or_port()?
                    .query_map(live, |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, bool>(2)?,
                        ))
                    })
                    .or_port()?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .or_port()?
                    .into_iter()
                    .find(|(_, hash, active)| *active && proof.code_hash == hash.as_str())
                    .map(|(user_id, _, _)| user_id);
                let Some(claimant) = claimant else {
                    let counted = tx
                        .execute_cached(sql::COUNT_PHONE_CODE_FAILURE, live)
                        .or_port()?;
                    return Ok(ProofOutcome::NotProven {
                        counted: counted > 0,
                    });
                };
                tx.execute_cached(sql::RELEASE_PROVEN_PHONE, params![number, now_text])
                    .or_port()?;
                tx.execute_cached(sql::DROP_PHONE_CLAIMS, params![number, None::<i64>])
                    .or_port()?;
                tx.execute_cached(sql::SET_PHONE_NUMBER, params![claimant, number, now_text])
                    .or_port()?;
                tx.execute_cached(
                    sql::TAKE_CHANNEL_RECEIPT,
                    params![proof.receipt.as_str(), now_text],
                )
                .or_port()?;
                let user = user_by_id(tx, UserId::new(claimant))?
                    .ok_or_else(|| PortError::unexpected("the proven user is gone"))?;
                Ok(ProofOutcome::Proven(Box::new(user)))
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
                tx.execute_cached(sql::DELETE_USER_PHONE_CLAIM, [id.get()])
                    .or_port()?;
                tx.execute_cached(sql::FORGET_RESOLVER, [id.get()])
                    .or_port()?;
                let deleted = tx.execute_cached(sql::DELETE_USER, [id.get()]).or_port()?;
                Ok(AccountChange::from_affected_rows(deleted as u64))
            })
            .await
    }
}

/// The user by id, in the transaction.
fn user_by_id(tx: &Transaction<'_>, id: UserId) -> Result<Option<User>, PortError> {
    tx.query_row_cached(sql::USER_BY_ID, [id.get()], rows::user)
        .optional()
        .or_port()
}

/// Makes `number` the user's claim (with `code`, or none yet): unless it is their proven
/// number, which then stays as it is, the proven number is given up.
fn claim(
    tx: &Transaction<'_>,
    id: UserId,
    number: &PhoneNumber,
    code: Option<&IssuedPhoneCode>,
    now: Timestamp,
) -> rusqlite::Result<()> {
    let proven: Option<String> =
        tx.query_row_cached(sql::PROVEN_PHONE_OF, [id.get()], |row| row.get(0))?;
    if proven.as_deref() == Some(number.as_str()) {
        return Ok(());
    }
    tx.execute_cached(
        sql::SET_PHONE_NUMBER,
        params![id.get(), None::<String>, time_text(now)],
    )?;
    tx.execute_cached(
        sql::PUT_PHONE_CLAIM,
        params![
            id.get(),
            number.as_str(),
            code.map(|c| c.code_hash.expose()),
            code.map(|c| time_text(c.expires_at))
        ],
    )?;
    Ok(())
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
