//! Roles and their links to users.

use std::collections::BTreeSet;

use ai_message_core::ports::*;
use ai_message_core::{Role, RoleId, Timestamp, UserId};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use crate::SqliteStore;
use crate::helpers::CachedStatements;
use crate::helpers::{OrPortError, unique};
use crate::rows::{self, time_text};
use crate::sql;

#[async_trait]
impl RoleRepository for SqliteStore {
    async fn create_role(&self, new: NewRole) -> Result<Role, InsertError> {
        self.db
            .write(move |tx| {
                unique(tx.query_row_cached(
                    sql::INSERT_ROLE,
                    params![
                        new.name.as_str(),
                        new.description.as_ref().map(|d| d.as_str()),
                        time_text(new.created_at)
                    ],
                    rows::role,
                ))
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
                    .query_row([id.get()], rows::role)
                    .optional()
            })
            .await
    }

    async fn delete_role(&self, id: RoleId) -> Result<bool, PortError> {
        self.db
            .write(move |tx| {
                tx.execute_cached(sql::DELETE_ROLE_LINKS, [id.get()])
                    .or_port()?;
                Ok(tx.execute_cached(sql::DELETE_ROLE, [id.get()]).or_port()? > 0)
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
                    .query_row_cached(sql::USER_EXISTS, [user_id.get()], |_| Ok(()))
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
                            .query_row([id.get()], |_| Ok(()))
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
                tx.execute_cached(sql::DELETE_USER_ROLE_LINKS, [user_id.get()])
                    .or_port()?;
                let now = time_text(now);
                let mut insert = tx.prepare_cached(sql::INSERT_USER_ROLE).or_port()?;
                for role_id in wanted {
                    insert
                        .execute(params![user_id.get(), role_id.get(), now])
                        .or_port()?;
                }
                Ok(RoleReplacement::Replaced)
            })
            .await
    }

    async fn roles_of_user(&self, user_id: UserId) -> Result<Vec<Role>, PortError> {
        self.db
            .read(move |conn| {
                conn.prepare_cached(sql::ROLES_OF_USER)?
                    .query_map([user_id.get()], rows::role)?
                    .collect()
            })
            .await
    }
}
