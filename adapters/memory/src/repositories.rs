//! Users, roles, sessions and refresh tokens.

use std::collections::BTreeSet;

use ai_message_core::ports::*;
use ai_message_core::{
    Page, RefreshToken, RefreshTokenId, Role, RoleId, Session, SessionId, Timestamp, User, UserId,
    UserRole,
};
use async_trait::async_trait;

use crate::MemoryStore;

/// Applies `skip` and `limit` to an iterator.
pub(crate) fn paged<T>(items: impl Iterator<Item = T>, page: Page) -> impl Iterator<Item = T> {
    let skip = usize::try_from(page.skip()).unwrap_or(usize::MAX);
    items.skip(skip).take(page.limit() as usize)
}

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
        let user = User {
            id: t.sequences.next_user(),
            username: new.username.into_inner(),
            email: new.email.into_inner(),
            hashed_password: new.hashed_password,
            is_active: true,
            is_superuser: new.is_superuser,
            full_name: new.full_name.map(|f| f.into_inner()),
            bio: None,
            created_at: new.created_at,
            updated_at: new.created_at,
        };
        t.user_by_username.insert(user.username.clone(), user.id);
        t.user_by_email.insert(user.email.clone(), user.id);
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
            user.full_name = Some(full_name.into_inner());
        }
        if let Some(bio) = update.bio {
            user.bio = Some(bio.into_inner());
        }
        user.updated_at = now;
        Ok(Some(user.clone()))
    }

    async fn change_password(
        &self,
        id: UserId,
        hashed_password: String,
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
        old_hash: String,
        new_hash: String,
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
impl RoleRepository for MemoryStore {
    async fn create_role(&self, new: NewRole) -> Result<Role, InsertError> {
        let mut t = self.tables.write();
        if t.role_by_name.contains_key(new.name.as_str()) {
            return Err(InsertError::Duplicate);
        }
        let role = Role {
            id: t.sequences.next_role(),
            name: new.name.into_inner(),
            description: new.description.map(|d| d.into_inner()),
            created_at: new.created_at,
            updated_at: new.created_at,
        };
        t.role_by_name.insert(role.name.clone(), role.id);
        t.roles.insert(role.id, role.clone());
        Ok(role)
    }

    async fn list_roles(&self) -> Result<Vec<Role>, PortError> {
        Ok(self.tables.read().roles.values().cloned().collect())
    }

    async fn get_role(&self, id: RoleId) -> Result<Option<Role>, PortError> {
        Ok(self.tables.read().roles.get(&id).cloned())
    }

    async fn delete_role(&self, id: RoleId) -> Result<bool, PortError> {
        let mut t = self.tables.write();
        let Some(role) = t.roles.remove(&id) else {
            return Ok(false);
        };
        t.role_by_name.remove(&role.name);
        t.user_roles.retain(|_, link| link.role_id != id);
        Ok(true)
    }

    async fn replace_user_roles(
        &self,
        user_id: UserId,
        role_ids: Vec<RoleId>,
        now: Timestamp,
    ) -> Result<RoleReplacement, PortError> {
        let mut t = self.tables.write();
        if !t.users.contains_key(&user_id) {
            return Ok(RoleReplacement::UserNotFound);
        }
        let wanted: BTreeSet<RoleId> = role_ids.into_iter().collect();
        let unknown: Vec<RoleId> = wanted
            .iter()
            .copied()
            .filter(|id| !t.roles.contains_key(id))
            .collect();
        if !unknown.is_empty() {
            return Ok(RoleReplacement::UnknownRoles(unknown));
        }
        t.user_roles.retain(|_, link| link.user_id != user_id);
        for role_id in wanted {
            let id = t.sequences.next_user_role();
            t.user_roles.insert(
                id,
                UserRole {
                    id,
                    user_id,
                    role_id,
                    created_at: now,
                    updated_at: now,
                },
            );
        }
        Ok(RoleReplacement::Replaced)
    }

    async fn roles_of_user(&self, user_id: UserId) -> Result<Vec<Role>, PortError> {
        let t = self.tables.read();
        let role_ids: BTreeSet<RoleId> = t
            .user_roles
            .values()
            .filter(|link| link.user_id == user_id)
            .map(|link| link.role_id)
            .collect();
        Ok(role_ids
            .iter()
            .filter_map(|id| t.roles.get(id))
            .cloned()
            .collect())
    }
}

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
        let t = self.tables.read();
        let Some(session) = t.sessions.get(&id) else {
            return Ok(None);
        };
        Ok(t.users
            .get(&session.user_id)
            .map(|user| (session.clone(), user.clone())))
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
        token_hash: &str,
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
}

#[async_trait]
impl StorageHealth for MemoryStore {
    async fn ping(&self) -> Result<(), PortError> {
        Ok(())
    }
}
