//! Users: accounts, their identity keys, and the changes that guard the last superuser.

use ai_message_core::ports::*;
use ai_message_core::{Page, PasswordHash, PhoneNumber, SessionId, Timestamp, User, UserId};
use async_trait::async_trait;
use deadpool_postgres::ClientWrapper;
use deadpool_postgres::Transaction;

use crate::PostgresStore;
use crate::helpers::{OrPortError, end_sessions_of_user, unique};
use crate::rows::{self, naive, pg_id};
use crate::sql;

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
        if let Some(proven) = &new.phone_number {
            // A proof of the same number takes this lock first too: one after the other, in
            // one order, instead of a deadlock over the number's index entry and its claims.
            tx.execute(sql::LOCK_PHONE_NUMBER, &[&proven.as_str()])
                .await
                .or_port()?;
        }
        let result = tx
            .query_one(
                sql::INSERT_USER,
                &[
                    &new.username.as_str(),
                    &new.email.as_str(),
                    &new.hashed_password.expose(),
                    &new.is_superuser,
                    &new.full_name.as_ref().map(|f| f.as_str()),
                    &naive(new.created_at),
                    &new.phone_number.as_ref().map(|p| p.as_str()),
                ],
            )
            .await;
        let user = unique(result.and_then(|row| rows::user(&row)))?;
        let id = pg_id(user.id).unwrap_or_default();
        unique(
            tx.execute(
                sql::INSERT_IDENTITY_KEYS,
                &[&id, &new.username.key(), &new.email.key()],
            )
            .await,
        )?;
        if let Some(proven) = &new.phone_number {
            tx.execute(sql::DROP_PHONE_CLAIMS, &[&proven.as_str(), &id])
                .await
                .or_port()?;
        }
        let user = match &new.unverified_phone_number {
            None => user,
            Some(claimed) => {
                let no_code: (Option<&str>, Option<chrono::NaiveDateTime>) = (None, None);
                tx.execute(
                    sql::PUT_PHONE_CLAIM,
                    &[&id, &claimed.as_str(), &no_code.0, &no_code.1],
                )
                .await
                .or_port()?;
                user_in(&tx, id).await?.unwrap_or(user)
            }
        };
        tx.commit().await.or_port()?;
        Ok(user)
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, PortError> {
        let client = self.client().await?;
        user_by_id(&client, id).await
    }

    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, PortError> {
        self.one_user(sql::USER_BY_USERNAME, username).await
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, PortError> {
        self.one_user(sql::USER_BY_EMAIL, email).await
    }

    async fn find_user_by_phone(&self, phone: &PhoneNumber) -> Result<Option<User>, PortError> {
        self.one_user(sql::USER_BY_PHONE, phone.as_str()).await
    }

    async fn find_user_by_username_key(&self, key: &str) -> Result<Option<User>, PortError> {
        self.one_user(sql::USER_BY_USERNAME_KEY, key).await
    }

    async fn find_user_by_email_key(&self, key: &str) -> Result<Option<User>, PortError> {
        self.one_user(sql::USER_BY_EMAIL_KEY, key).await
    }

    async fn list_users(&self, page: Page) -> Result<Vec<User>, PortError> {
        let (limit, offset) = page.sql_limit_offset();
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
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        let changed = tx
            .execute(
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
        if changed == 0 {
            return Ok(None);
        }
        if let Some(number) = &update.phone_number {
            let claimed: Option<String> = tx
                .query_opt(sql::CLAIMED_PHONE_OF, &[&id])
                .await
                .or_port()?
                .map(|row| row.try_get(0))
                .transpose()
                .or_port()?;
            if claimed.as_deref() != Some(number.as_str()) {
                claim(&tx, id, number, None, now).await?;
            }
        }
        let user = user_in(&tx, id).await?;
        tx.commit().await.or_port()?;
        Ok(user)
    }

    async fn claim_phone_number(
        &self,
        id: UserId,
        claim_of: Option<NewPhoneClaim>,
        now: Timestamp,
    ) -> Result<Option<User>, PortError> {
        let Some(id) = pg_id(id) else {
            return Ok(None);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        if tx
            .query_opt(sql::PROVEN_PHONE_OF, &[&id])
            .await
            .or_port()?
            .is_none()
        {
            return Ok(None);
        }
        match &claim_of {
            None => {
                tx.execute(sql::SET_PHONE_NUMBER, &[&id, &None::<&str>, &naive(now)])
                    .await
                    .or_port()?;
                tx.execute(sql::DELETE_PHONE_CLAIM, &[&id])
                    .await
                    .or_port()?;
            }
            Some(new) => claim(&tx, id, &new.phone_number, Some(&new.code), now).await?,
        }
        let user = user_in(&tx, id).await?;
        tx.commit().await.or_port()?;
        Ok(user)
    }

    async fn prove_phone_number(
        &self,
        proof: PhoneProof,
        now: Timestamp,
        max_failures: u32,
    ) -> Result<ProofOutcome, PortError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        let number = proof.phone_number.as_str();
        tx.execute(sql::LOCK_PHONE_NUMBER, &[&number])
            .await
            .or_port()?;
        let taken: bool = tx
            .query_one(sql::RECEIPT_TAKEN, &[&proof.receipt.as_str()])
            .await
            .or_port()?
            .try_get(0)
            .or_port()?;
        if taken {
            return Ok(ProofOutcome::AlreadyReceived);
        }
        let now_naive = naive(now);
        let max_failures = i32::try_from(max_failures).unwrap_or(i32::MAX);
        let live: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
            [&number, &now_naive, &max_failures];
        let mut claimant = None;
        for row in tx.query(sql::LIVE_PHONE_CLAIMS, &live).await.or_port()? {
            let user_id: i32 = row.try_get(0).or_port()?;
            let hash: String = row.try_get(1).or_port()?;
            let active: bool = row.try_get(2).or_port()?;
            if active && proof.code_hash == hash.as_str() {
                claimant = Some(user_id);
                break;
            }
        }
        let Some(claimant) = claimant else {
            let counted = tx
                .execute(sql::COUNT_PHONE_CODE_FAILURE, &live)
                .await
                .or_port()?;
            tx.commit().await.or_port()?;
            return Ok(ProofOutcome::NotProven {
                counted: counted > 0,
            });
        };
        // The claimant may be changing their number at this moment: such a change locks
        // their row first, so taking the lock here and reading the claim again afterwards
        // proves only the claim that is still there.
        tx.execute(sql::LOCK_USER_ROW, &[&claimant])
            .await
            .or_port()?;
        let still_claimed: bool = tx
            .query_one(
                sql::STILL_CLAIMED,
                &[&claimant, &number, &proof.code_hash.expose()],
            )
            .await
            .or_port()?
            .try_get(0)
            .or_port()?;
        if !still_claimed {
            tx.commit().await.or_port()?;
            return Ok(ProofOutcome::NotProven { counted: false });
        }
        tx.execute(sql::RELEASE_PROVEN_PHONE, &[&number, &now_naive])
            .await
            .or_port()?;
        tx.execute(sql::DROP_PHONE_CLAIMS, &[&number, &None::<i32>])
            .await
            .or_port()?;
        tx.execute(sql::SET_PHONE_NUMBER, &[&claimant, &number, &now_naive])
            .await
            .or_port()?;
        tx.execute(
            sql::TAKE_CHANNEL_RECEIPT,
            &[&proof.receipt.as_str(), &now_naive],
        )
        .await
        .or_port()?;
        let user = user_in(&tx, claimant)
            .await?
            .ok_or_else(|| PortError::unexpected("the proven user is gone"))?;
        tx.commit().await.or_port()?;
        Ok(ProofOutcome::Proven(Box::new(user)))
    }

    async fn change_password(
        &self,
        id: UserId,
        hashed_password: PasswordHash,
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
            .execute(
                sql::UPDATE_PASSWORD,
                &[&id, &hashed_password.expose(), &now],
            )
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
        old_hash: PasswordHash,
        new_hash: PasswordHash,
    ) -> Result<bool, PortError> {
        let Some(id) = pg_id(id) else {
            return Ok(false);
        };
        let client = self.client().await?;
        let changed = client
            .execute(
                sql::UPGRADE_PASSWORD_HASH,
                &[&id, &old_hash.expose(), &new_hash.expose()],
            )
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
        Ok(AccountChange::from_affected_rows(changed))
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
        Ok(AccountChange::from_affected_rows(changed))
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
            sql::DELETE_USER_DELIVERIES,
            sql::DELETE_USER_COUNTER,
            sql::DELETE_USER_REPORTS,
            sql::DELETE_USER_PHONE_CLAIM,
            sql::FORGET_RESOLVER,
        ] {
            tx.execute(statement, &[&id]).await.or_port()?;
        }
        let deleted = tx.execute(sql::DELETE_USER, &[&id]).await.or_port()?;
        tx.commit().await.or_port()?;
        Ok(AccountChange::from_affected_rows(deleted))
    }
}

/// The user by id, in the transaction.
async fn user_in(tx: &Transaction<'_>, id: i32) -> Result<Option<User>, PortError> {
    let row = tx.query_opt(sql::USER_BY_ID, &[&id]).await.or_port()?;
    row.as_ref().map(rows::user).transpose().or_port()
}

/// Makes `number` the user's claim (with `code`, or none yet): unless it is their proven
/// number, which then stays as it is, the proven number is given up.
async fn claim(
    tx: &Transaction<'_>,
    id: i32,
    number: &PhoneNumber,
    code: Option<&IssuedPhoneCode>,
    now: Timestamp,
) -> Result<(), PortError> {
    let proven: Option<String> = tx
        .query_one(sql::PROVEN_PHONE_OF, &[&id])
        .await
        .or_port()?
        .try_get(0)
        .or_port()?;
    if proven.as_deref() == Some(number.as_str()) {
        return Ok(());
    }
    tx.execute(sql::SET_PHONE_NUMBER, &[&id, &None::<&str>, &naive(now)])
        .await
        .or_port()?;
    tx.execute(
        sql::PUT_PHONE_CLAIM,
        &[
            &id,
            &number.as_str(),
            &code.map(|c| c.code_hash.expose()),
            &code.map(|c| naive(c.expires_at)),
        ],
    )
    .await
    .or_port()?;
    Ok(())
}

pub(crate) async fn user_by_id(
    client: &ClientWrapper,
    id: UserId,
) -> Result<Option<User>, PortError> {
    let Some(id) = pg_id(id) else {
        return Ok(None);
    };
    let stmt = client.prepare_cached(sql::USER_BY_ID).await.or_port()?;
    let row = client.query_opt(&stmt, &[&id]).await.or_port()?;
    row.as_ref().map(rows::user).transpose().or_port()
}
