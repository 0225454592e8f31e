//! Roles and their links to users.

use std::collections::BTreeSet;

use ai_message_core::ports::*;
use ai_message_core::{Role, RoleId, Timestamp, UserId, UserRole};
use async_trait::async_trait;

use crate::MemoryStore;

#[async_trait]
impl RoleRepository for MemoryStore {
    async fn create_role(&self, new: NewRole) -> Result<Role, InsertError> {
        let mut t = self.tables.write();
        if t.role_by_name.contains_key(&new.name) {
            return Err(InsertError::Duplicate);
        }
        let role = Role {
            id: t.sequences.next_role(),
            name: new.name,
            description: new.description,
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
