//! Users, their identity keys, and the changes that guard the last superuser.

use ai_message_core::ports::*;
use ai_message_core::{Page, PasswordHash, PhoneNumber, SessionId, Timestamp, User, UserId};

use crate::tables::PhoneCodeState;
use async_trait::async_trait;

use crate::MemoryStore;
use crate::tables::paged;

#[async_trait]
impl UserRepository for MemoryStore {
    async fn create_user(&self, new: NewUser) -> Result<User, InsertError> {
        let mut t = self.tables.write();
        let (username_key, email_key) = (new.username.key(), new.email.key());
        if t.user_by_username.contains_key(new.username.as_str())
            || t.user_by_email.contains_key(new.email.as_str())
            || t.user_by_username_key.contains_key(&username_key)
            || t.user_by_email_key.contains_key(&email_key)
        {
            return Err(InsertError::Duplicate);
        }
        if t.phone_taken(new.phone_number.as_ref(), None) {
            return Err(InsertError::PhoneTaken);
        }
        if let Some(proven) = &new.phone_number {
            t.drop_phone_claims(proven, None);
        }
        let user = User {
            id: t.sequences.next_user(),
            username: new.username,
            email: new.email,
            hashed_password: new.hashed_password,
            is_active: true,
            is_superuser: new.is_superuser,
            full_name: new.full_name,
            bio: None,
            phone_number: new.phone_number,
            unverified_phone_number: new.unverified_phone_number,
            created_at: new.created_at,
            updated_at: new.created_at,
        };
        t.user_by_username
            .insert(user.username.to_string(), user.id);
        t.user_by_email.insert(user.email.to_string(), user.id);
        t.user_by_username_key.insert(username_key, user.id);
        t.user_by_email_key.insert(email_key, user.id);
        t.users.insert(user.id, user.clone());
        Ok(user)
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, PortError> {
        Ok(self.tables.read().users.get(&id).cloned())
    }

    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, PortError> {
        let t = self.tables.read();
        Ok(t.user_by_username
            .get(username)
            .and_then(|id| t.users.get(id))
            .cloned())
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, PortError> {
        let t = self.tables.read();
        Ok(t.user_by_email
            .get(email)
            .and_then(|id| t.users.get(id))
            .cloned())
    }

    async fn find_user_by_phone(&self, phone: &PhoneNumber) -> Result<Option<User>, PortError> {
        let t = self.tables.read();
        Ok(t.users
            .values()
            .find(|user| user.phone_number.as_ref() == Some(phone))
            .cloned())
    }

    async fn find_user_by_username_key(&self, key: &str) -> Result<Option<User>, PortError> {
        let t = self.tables.read();
        Ok(t.user_by_username_key
            .get(key)
            .and_then(|id| t.users.get(id))
            .cloned())
    }

    async fn find_user_by_email_key(&self, key: &str) -> Result<Option<User>, PortError> {
        let t = self.tables.read();
        Ok(t.user_by_email_key
            .get(key)
            .and_then(|id| t.users.get(id))
            .cloned())
    }

    async fn list_users(&self, page: Page) -> Result<Vec<User>, PortError> {
        let t = self.tables.read();
        Ok(paged(t.users.values(), page).cloned().collect())
    }

    async fn update_profile(
        &self,
        id: UserId,
        update: ProfileUpdate,
        now: Timestamp,
    ) -> Result<Option<User>, PortError> {
        let mut t = self.tables.write();
        let Some(user) = t.users.get_mut(&id) else {
            return Ok(None);
        };
        if let Some(full_name) = update.full_name {
            user.full_name = Some(full_name);
        }
        if let Some(bio) = update.bio {
            user.bio = Some(bio);
        }
        let mut new_claim = false;
        if let Some(number) = update.phone_number {
            let kept = user.phone_number.as_ref() == Some(&number)
                || user.unverified_phone_number.as_ref() == Some(&number);
            if !kept {
                user.phone_number = None;
                user.unverified_phone_number = Some(number);
                new_claim = true;
            }
        }
        user.updated_at = now;
        let user = user.clone();
        if new_claim {
            t.phone_codes.remove(&id);
        }
        Ok(Some(user))
    }

    async fn claim_phone_number(
        &self,
        id: UserId,
        claim: Option<NewPhoneClaim>,
        now: Timestamp,
    ) -> Result<Option<User>, PortError> {
        let mut t = self.tables.write();
        let Some(user) = t.users.get_mut(&id) else {
            return Ok(None);
        };
        let code = match claim {
            None => {
                user.phone_number = None;
                user.unverified_phone_number = None;
                None
            }
            Some(claim) if user.phone_number.as_ref() == Some(&claim.phone_number) => {
                return Ok(Some(user.clone()));
            }
            Some(claim) => {
                user.phone_number = None;
                user.unverified_phone_number = Some(claim.phone_number);
                Some(claim.code)
            }
        };
        user.updated_at = now;
        let user = user.clone();
        match code {
            Some(code) => {
                t.phone_codes.insert(
                    id,
                    PhoneCodeState {
                        code_hash: code.code_hash,
                        expires_at: code.expires_at,
                        failures: 0,
                    },
                );
            }
            None => {
                t.phone_codes.remove(&id);
            }
        }
        Ok(Some(user))
    }

    async fn prove_phone_number(
        &self,
        proof: PhoneProof,
        now: Timestamp,
        max_failures: u32,
    ) -> Result<ProofOutcome, PortError> {
        let mut t = self.tables.write();
        if t.channel_receipts.contains(&proof.receipt) {
            return Ok(ProofOutcome::AlreadyReceived);
        }
        let live: Vec<UserId> = t
            .users
            .values()
            .filter(|user| user.unverified_phone_number.as_ref() == Some(&proof.phone_number))
            .filter(|user| {
                t.phone_codes
                    .get(&user.id)
                    .is_some_and(|code| code.expires_at > now && code.failures < max_failures)
            })
            .map(|user| user.id)
            .collect();
        let claimant = live
            .iter()
            .copied()
            .find(|id| t.users[id].is_active && t.phone_codes[id].code_hash == proof.code_hash);
        let Some(claimant) = claimant else {
            for id in &live {
                if let Some(code) = t.phone_codes.get_mut(id) {
                    code.failures += 1;
                }
            }
            return Ok(ProofOutcome::NotProven {
                counted: !live.is_empty(),
            });
        };
        for user in t.users.values_mut() {
            if user.phone_number.as_ref() == Some(&proof.phone_number) {
                user.phone_number = None;
                user.updated_at = now;
            }
        }
        t.drop_phone_claims(&proof.phone_number, None);
        let user = t.users.get_mut(&claimant).expect("found above");
        user.phone_number = Some(proof.phone_number);
        user.updated_at = now;
        let user = user.clone();
        t.channel_receipts.insert(proof.receipt);
        Ok(ProofOutcome::Proven(Box::new(user)))
    }

    async fn change_password(
        &self,
        id: UserId,
        hashed_password: PasswordHash,
        keep_session: SessionId,
        now: Timestamp,
    ) -> Result<bool, PortError> {
        let mut t = self.tables.write();
        let Some(user) = t.users.get_mut(&id) else {
            return Ok(false);
        };
        user.hashed_password = hashed_password;
        user.updated_at = now;
        t.end_sessions_of_user(id, Some(keep_session), now);
        Ok(true)
    }

    async fn upgrade_password_hash(
        &self,
        id: UserId,
        old_hash: PasswordHash,
        new_hash: PasswordHash,
    ) -> Result<bool, PortError> {
        let mut t = self.tables.write();
        match t.users.get_mut(&id) {
            Some(user) if user.hashed_password == old_hash => {
                user.hashed_password = new_hash;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn set_user_active(
        &self,
        id: UserId,
        active: bool,
        now: Timestamp,
    ) -> Result<AccountChange, PortError> {
        let mut t = self.tables.write();
        if !active && t.is_last_active_superuser(id) {
            return Ok(AccountChange::LastSuperuser);
        }
        let Some(user) = t.users.get_mut(&id) else {
            return Ok(AccountChange::UserNotFound);
        };
        user.is_active = active;
        user.updated_at = now;
        if !active {
            t.end_sessions_of_user(id, None, now);
        }
        Ok(AccountChange::Changed)
    }

    async fn set_user_superuser(
        &self,
        id: UserId,
        superuser: bool,
        now: Timestamp,
    ) -> Result<AccountChange, PortError> {
        let mut t = self.tables.write();
        if !superuser && t.is_last_active_superuser(id) {
            return Ok(AccountChange::LastSuperuser);
        }
        let Some(user) = t.users.get_mut(&id) else {
            return Ok(AccountChange::UserNotFound);
        };
        user.is_superuser = superuser;
        user.updated_at = now;
        Ok(AccountChange::Changed)
    }

    async fn delete_user(&self, id: UserId) -> Result<AccountChange, PortError> {
        let mut t = self.tables.write();
        if t.is_last_active_superuser(id) {
            return Ok(AccountChange::LastSuperuser);
        }
        Ok(if t.delete_user_cascade(id) {
            AccountChange::Changed
        } else {
            AccountChange::UserNotFound
        })
    }
}

#[async_trait]
impl StorageHealth for MemoryStore {
    async fn ping(&self) -> Result<(), PortError> {
        Ok(())
    }

    /// The tables are made with the store; there is nothing to migrate.
    async fn pending_migrations(&self) -> Result<Vec<i64>, PortError> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl StorageSnapshots for MemoryStore {
    async fn snapshot(&self, _to: &std::path::Path) -> Result<(), SnapshotError> {
        Err(SnapshotError::Unsupported(
            "memory:// keeps nothing beyond the process: there is nothing to back up",
        ))
    }
}
