//! Users, roles, sessions and refresh tokens.

use std::collections::BTreeSet;

use ai_message_core::ports::*;
use ai_message_core::{
    Page, RefreshToken, RefreshTokenId, Role, RoleId, Session, SessionId, Timestamp, User, UserId,
};
use async_trait::async_trait;
use deadpool_postgres::Transaction;

use crate::PostgresStore;
use crate::rows::{self, SESSION_WIDTH, naive, pg_id, port_error};
use crate::sql;

/// tokio-postgres results as port results.
pub(crate) trait OrPortError<T> {
    fn or_port(self) -> Result<T, PortError>;
}

impl<T> OrPortError<T> for Result<T, tokio_postgres::Error> {
    fn or_port(self) -> Result<T, PortError> {
        self.map_err(port_error)
    }
}

pub(crate) fn limit_offset(page: Page) -> (i64, i64) {
    (
        i64::from(page.limit()),
        i64::try_from(page.skip()).unwrap_or(i64::MAX),
    )
}

/// The outcome of an `INSERT … RETURNING` guarded by unique constraints: the new row, or
/// `Duplicate` when a constraint refused it.
fn inserted_row<T>(
    result: Result<tokio_postgres::Row, tokio_postgres::Error>,
    row: fn(&tokio_postgres::Row) -> Result<T, tokio_postgres::Error>,
) -> Result<T, InsertError> {
    match result {
        Ok(inserted) => Ok(row(&inserted).or_port()?),
        Err(error) if rows::is_unique_violation(&error) => Err(InsertError::Duplicate),
        Err(error) => Err(InsertError::Port(port_error(error))),
    }
}

/// Ends the user's sessions except `keep`, and uses up their other refresh tokens.
async fn end_sessions_of_user(
    tx: &Transaction<'_>,
    user_id: i32,
    keep: Option<i32>,
    now: chrono::NaiveDateTime,
) -> Result<u64, PortError> {
    let ended = match keep {
        Some(keep) => {
            tx.execute(sql::END_OTHER_SESSIONS, &[&user_id, &keep, &now])
                .await
        }
        None => tx.execute(sql::END_USER_SESSIONS, &[&user_id, &now]).await,
    }
    .or_port()?;
    match keep {
        Some(keep) => {
            tx.execute(sql::USE_UP_OTHER_TOKENS, &[&user_id, &keep, &now])
                .await
        }
        None => tx.execute(sql::USE_UP_USER_TOKENS, &[&user_id, &now]).await,
    }
    .or_port()?;
    Ok(ended)
}

/// Takes the lock that serialises superuser-set changes, then says whether taking `user_id`
/// out of the active superusers would leave none.
async fn is_last_active_superuser(tx: &Transaction<'_>, user_id: i32) -> Result<bool, PortError> {
    tx.execute(sql::LOCK_SUPERUSER_SET, &[]).await.or_port()?;
    tx.query_one(sql::IS_LAST_ACTIVE_SUPERUSER, &[&user_id])
        .await
        .or_port()?
        .try_get(0)
        .or_port()
}

fn changed_if(rows: u64) -> AccountChange {
    if rows > 0 {
        AccountChange::Changed
    } else {
        AccountChange::UserNotFound
    }
}

impl PostgresStore {
    async fn one_user(&self, statement: &str, key: &str) -> Result<Option<User>, PortError> {
        // PostgreSQL text holds no NUL, so no stored name or email contains one.
        if key.contains('\0') {
            return Ok(None);
        }
        let client = self.client().await?;
        let stmt = client.prepare_cached(statement).await.or_port()?;
        let row = client.query_opt(&stmt, &[&key]).await.or_port()?;
        row.as_ref().map(rows::user).transpose().or_port()
    }
}

#[async_trait]
impl UserRepository for PostgresStore {
    async fn create_user(&self, new: NewUser) -> Result<User, InsertError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        let result = tx
            .query_one(
                sql::INSERT_USER,
                &[
                    &new.username.as_str(),
                    &new.email.as_str(),
                    &new.hashed_password,
                    &new.is_superuser,
                    &new.full_name.as_ref().map(|f| f.as_str()),
                    &naive(new.created_at),
                ],
            )
            .await;
        let user = inserted_row(result, rows::user)?;
        let id = pg_id(user.id).unwrap_or_default();
        let keyed = tx
            .execute(
                sql::INSERT_IDENTITY_KEYS,
                &[&id, &new.username.key(), &new.email.key()],
            )
            .await;
        match keyed {
            Err(error) if rows::is_unique_violation(&error) => Err(InsertError::Duplicate),
            Err(error) => Err(InsertError::Port(port_error(error))),
            Ok(_) => {
                tx.commit().await.or_port()?;
                Ok(user)
            }
        }
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, PortError> {
        let Some(id) = pg_id(id) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::USER_BY_ID).await.or_port()?;
        let row = client.query_opt(&stmt, &[&id]).await.or_port()?;
        row.as_ref().map(rows::user).transpose().or_port()
    }

    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, PortError> {
        self.one_user(sql::USER_BY_USERNAME, username).await
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, PortError> {
        self.one_user(sql::USER_BY_EMAIL, email).await
    }

    async fn find_user_by_username_key(&self, key: &str) -> Result<Option<User>, PortError> {
        self.one_user(sql::USER_BY_USERNAME_KEY, key).await
    }

    async fn find_user_by_email_key(&self, key: &str) -> Result<Option<User>, PortError> {
        self.one_user(sql::USER_BY_EMAIL_KEY, key).await
    }

    async fn list_users(&self, page: Page) -> Result<Vec<User>, PortError> {
        let (limit, offset) = limit_offset(page);
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::LIST_USERS).await.or_port()?;
        let found = client.query(&stmt, &[&limit, &offset]).await.or_port()?;
        found
            .iter()
            .map(rows::user)
            .collect::<Result<_, _>>()
            .or_port()
    }

    async fn update_profile(
        &self,
        id: UserId,
        update: ProfileUpdate,
        now: Timestamp,
    ) -> Result<Option<User>, PortError> {
        let Some(id) = pg_id(id) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let row = client
            .query_opt(
                sql::UPDATE_PROFILE,
                &[
                    &id,
                    &update.full_name.as_ref().map(|f| f.as_str()),
                    &update.bio.as_ref().map(|b| b.as_str()),
                    &naive(now),
                ],
            )
            .await
            .or_port()?;
        row.as_ref().map(rows::user).transpose().or_port()
    }

    async fn change_password(
        &self,
        id: UserId,
        hashed_password: String,
        keep_session: SessionId,
        now: Timestamp,
    ) -> Result<bool, PortError> {
        let Some(id) = pg_id(id) else {
            return Ok(false);
        };
        let keep = pg_id(keep_session).unwrap_or(0);
        let now = naive(now);
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        let changed = tx
            .execute(sql::UPDATE_PASSWORD, &[&id, &hashed_password, &now])
            .await
            .or_port()?;
        if changed == 0 {
            return Ok(false);
        }
        end_sessions_of_user(&tx, id, Some(keep), now).await?;
        tx.commit().await.or_port()?;
        Ok(true)
    }

    async fn upgrade_password_hash(
        &self,
        id: UserId,
        old_hash: String,
        new_hash: String,
    ) -> Result<bool, PortError> {
        let Some(id) = pg_id(id) else {
            return Ok(false);
        };
        let client = self.client().await?;
        let changed = client
            .execute(sql::UPGRADE_PASSWORD_HASH, &[&id, &old_hash, &new_hash])
            .await
            .or_port()?;
        Ok(changed > 0)
    }

    async fn set_user_active(
        &self,
        id: UserId,
        active: bool,
        now: Timestamp,
    ) -> Result<AccountChange, PortError> {
        let Some(id) = pg_id(id) else {
            return Ok(AccountChange::UserNotFound);
        };
        let now = naive(now);
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        if !active && is_last_active_superuser(&tx, id).await? {
            return Ok(AccountChange::LastSuperuser);
        }
        let changed = tx
            .execute(sql::UPDATE_ACTIVE, &[&id, &active, &now])
            .await
            .or_port()?;
        if changed > 0 && !active {
            end_sessions_of_user(&tx, id, None, now).await?;
        }
        tx.commit().await.or_port()?;
        Ok(changed_if(changed))
    }

    async fn set_user_superuser(
        &self,
        id: UserId,
        superuser: bool,
        now: Timestamp,
    ) -> Result<AccountChange, PortError> {
        let Some(id) = pg_id(id) else {
            return Ok(AccountChange::UserNotFound);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        if !superuser && is_last_active_superuser(&tx, id).await? {
            return Ok(AccountChange::LastSuperuser);
        }
        let changed = tx
            .execute(sql::UPDATE_SUPERUSER, &[&id, &superuser, &naive(now)])
            .await
            .or_port()?;
        tx.commit().await.or_port()?;
        Ok(changed_if(changed))
    }

    async fn delete_user(&self, id: UserId) -> Result<AccountChange, PortError> {
        let Some(id) = pg_id(id) else {
            return Ok(AccountChange::UserNotFound);
        };
        // Explicit deletes, not only ON DELETE CASCADE: databases adopted from the original
        // implementation have foreign keys without it.
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        if is_last_active_superuser(&tx, id).await? {
            return Ok(AccountChange::LastSuperuser);
        }
        // The user row first: a login in flight either committed its session already (and
        // it is deleted below) or waits and then finds no user.
        tx.execute(sql::LOCK_USER, &[&id]).await.or_port()?;
        for statement in [
            sql::DELETE_USER_TOKENS,
            sql::DELETE_USER_SESSIONS,
            sql::DELETE_USER_ROLE_LINKS,
            sql::DELETE_USER_KEYS,
        ] {
            tx.execute(statement, &[&id]).await.or_port()?;
        }
        let deleted = tx.execute(sql::DELETE_USER, &[&id]).await.or_port()?;
        tx.commit().await.or_port()?;
        Ok(changed_if(deleted))
    }
}

#[async_trait]
impl RoleRepository for PostgresStore {
    async fn create_role(&self, new: NewRole) -> Result<Role, InsertError> {
        let client = self.client().await?;
        let result = client
            .query_one(
                sql::INSERT_ROLE,
                &[
                    &new.name.as_str(),
                    &new.description.as_ref().map(|d| d.as_str()),
                    &naive(new.created_at),
                ],
            )
            .await;
        inserted_row(result, rows::role)
    }

    async fn list_roles(&self) -> Result<Vec<Role>, PortError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::LIST_ROLES).await.or_port()?;
        let found = client.query(&stmt, &[]).await.or_port()?;
        found
            .iter()
            .map(rows::role)
            .collect::<Result<_, _>>()
            .or_port()
    }

    async fn get_role(&self, id: RoleId) -> Result<Option<Role>, PortError> {
        let Some(id) = pg_id(id) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let row = client.query_opt(sql::ROLE_BY_ID, &[&id]).await.or_port()?;
        row.as_ref().map(rows::role).transpose().or_port()
    }

    async fn delete_role(&self, id: RoleId) -> Result<bool, PortError> {
        let Some(id) = pg_id(id) else {
            return Ok(false);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        tx.execute(sql::DELETE_ROLE_LINKS, &[&id]).await.or_port()?;
        let deleted = tx.execute(sql::DELETE_ROLE, &[&id]).await.or_port()?;
        tx.commit().await.or_port()?;
        Ok(deleted > 0)
    }

    async fn replace_user_roles(
        &self,
        user_id: UserId,
        role_ids: Vec<RoleId>,
        now: Timestamp,
    ) -> Result<RoleReplacement, PortError> {
        let Some(user) = pg_id(user_id) else {
            return Ok(RoleReplacement::UserNotFound);
        };
        let wanted: BTreeSet<RoleId> = role_ids.into_iter().collect();
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        if tx
            .query_opt(sql::LOCK_USER, &[&user])
            .await
            .or_port()?
            .is_none()
        {
            return Ok(RoleReplacement::UserNotFound);
        }
        let in_range: Vec<i32> = wanted.iter().filter_map(|id| pg_id(*id)).collect();
        let existing: BTreeSet<RoleId> = tx
            .query(sql::EXISTING_ROLES, &[&in_range])
            .await
            .or_port()?
            .iter()
            .map(|row| row.try_get::<_, i32>(0).map(i64::from))
            .collect::<Result<_, _>>()
            .or_port()?;
        let unknown: Vec<RoleId> = wanted.difference(&existing).copied().collect();
        if !unknown.is_empty() {
            return Ok(RoleReplacement::UnknownRoles(unknown));
        }
        tx.execute(sql::DELETE_USER_ROLE_LINKS, &[&user])
            .await
            .or_port()?;
        let now = naive(now);
        let insert = tx.prepare_cached(sql::INSERT_USER_ROLE).await.or_port()?;
        for role in in_range {
            tx.execute(&insert, &[&user, &role, &now]).await.or_port()?;
        }
        tx.commit().await.or_port()?;
        Ok(RoleReplacement::Replaced)
    }

    async fn roles_of_user(&self, user_id: UserId) -> Result<Vec<Role>, PortError> {
        let Some(user) = pg_id(user_id) else {
            return Ok(Vec::new());
        };
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::ROLES_OF_USER).await.or_port()?;
        let found = client.query(&stmt, &[&user]).await.or_port()?;
        found
            .iter()
            .map(rows::role)
            .collect::<Result<_, _>>()
            .or_port()
    }
}

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
            .map(|row| Ok::<_, tokio_postgres::Error>((row.try_get(0)?, row.try_get(1)?)))
            .transpose()
            .or_port()?;
        if state != Some((new.verified_password_hash.clone(), true)) {
            return Ok(None);
        }
        let row = tx
            .query_one(
                sql::INSERT_SESSION,
                &[
                    &user,
                    &new.session_token,
                    &new.device_info,
                    &new.ip_address,
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
                    &first_token.token_hash,
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
        let Some(id) = pg_id(id) else {
            return Ok(None);
        };
        let client = self.client().await?;
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
        token_hash: &str,
    ) -> Result<Option<RefreshToken>, PortError> {
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
                    &next.token_hash,
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
}
