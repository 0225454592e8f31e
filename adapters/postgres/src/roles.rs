//! Roles and their links to users.

use std::collections::BTreeSet;

use ai_message_core::ports::*;
use ai_message_core::{Role, RoleId, Timestamp, UserId};
use async_trait::async_trait;

use crate::PostgresStore;
use crate::helpers::{OrPortError, unique};
use crate::rows::{self, naive, pg_id};
use crate::sql;

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
        unique(result.and_then(|row| rows::role(&row)))
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
            .map(|row| {
                row.try_get::<_, i32>(0)
                    .map(|id| RoleId::new(i64::from(id)))
            })
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
