//! Roles and their assignment to users (superuser only).

use std::sync::Arc;

use super::admin::{
    SuperuserOnlyError, UserLookupError, refusable_by_non_superusers, require_superuser,
};
use super::{Caller, Ports};
use crate::domain::{Role, RoleDescription, RoleId, RoleName, UserId};
use crate::ports::{
    Clock, InsertError, NewRole, PortError, RoleReplacement, RoleRepository, UserRepository,
};

/// Why a role could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateRoleError {
    #[error("the caller is not a superuser")]
    NotSuperuser,
    #[error("the role name is taken")]
    RoleExists,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Why a role could not be deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteRoleError {
    #[error("the caller is not a superuser")]
    NotSuperuser,
    #[error("no such role")]
    RoleNotFound,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Why a user's roles could not be replaced.
#[derive(Debug, thiserror::Error)]
pub enum AssignRolesError {
    #[error("the caller is not a superuser")]
    NotSuperuser,
    #[error("no such user")]
    UserNotFound,
    /// Ids, ascending and without repeats, that name no role.
    #[error("no such roles: {}", format_ids(.0))]
    UnknownRoles(Vec<RoleId>),
    #[error(transparent)]
    Port(#[from] PortError),
}

refusable_by_non_superusers!(CreateRoleError, DeleteRoleError, AssignRolesError);

fn format_ids(ids: &[RoleId]) -> String {
    ids.iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Clone)]
pub struct Roles {
    roles: Arc<dyn RoleRepository>,
    users: Arc<dyn UserRepository>,
    clock: Arc<dyn Clock>,
}

impl Roles {
    pub fn new(ports: &Ports) -> Self {
        Self {
            roles: ports.roles.clone(),
            users: ports.users.clone(),
            clock: ports.clock.clone(),
        }
    }

    pub async fn list_roles(&self, caller: &Caller) -> Result<Vec<Role>, SuperuserOnlyError> {
        require_superuser(caller)?;
        Ok(self.roles.list_roles().await?)
    }

    pub async fn create_role(
        &self,
        caller: &Caller,
        name: RoleName,
        description: Option<RoleDescription>,
    ) -> Result<Role, CreateRoleError> {
        require_superuser(caller)?;
        let new_role = NewRole {
            name,
            description,
            created_at: self.clock.now(),
        };
        self.roles.create_role(new_role).await.map_err(|e| match e {
            // A role has no phone number; only its name is unique.
            InsertError::Duplicate | InsertError::PhoneTaken => CreateRoleError::RoleExists,
            InsertError::Port(e) => CreateRoleError::Port(e),
        })
    }

    /// Deletes the role and its links to users.
    pub async fn delete_role(&self, caller: &Caller, id: RoleId) -> Result<(), DeleteRoleError> {
        require_superuser(caller)?;
        if self.roles.delete_role(id).await? {
            Ok(())
        } else {
            Err(DeleteRoleError::RoleNotFound)
        }
    }

    /// The user's roles become exactly `role_ids`, all at once; with an unknown user or role
    /// nothing changes.
    pub async fn assign_roles(
        &self,
        caller: &Caller,
        user_id: UserId,
        role_ids: Vec<RoleId>,
    ) -> Result<(), AssignRolesError> {
        require_superuser(caller)?;
        match self
            .roles
            .replace_user_roles(user_id, role_ids, self.clock.now())
            .await?
        {
            RoleReplacement::Replaced => Ok(()),
            RoleReplacement::UserNotFound => Err(AssignRolesError::UserNotFound),
            RoleReplacement::UnknownRoles(ids) => Err(AssignRolesError::UnknownRoles(ids)),
        }
    }

    pub async fn roles_of_user(
        &self,
        caller: &Caller,
        user_id: UserId,
    ) -> Result<Vec<Role>, UserLookupError> {
        require_superuser(caller)?;
        if self.users.get_user(user_id).await?.is_none() {
            return Err(UserLookupError::UserNotFound);
        }
        Ok(self.roles.roles_of_user(user_id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::test_support::*;
    use mockall::predicate::{always, eq};

    fn roles(mocks: Mocks) -> Roles {
        Roles::new(&mocks.into_ports())
    }

    fn sample_role(id: i64) -> Role {
        Role {
            id: rid(id),
            name: RoleName::from_storage(format!("role{id}")),
            description: None,
            created_at: fixed_now(),
            updated_at: fixed_now(),
        }
    }

    #[tokio::test]
    async fn role_operations_require_a_superuser() {
        let mut mocks = Mocks::new();
        mocks.roles.expect_list_roles().never();
        mocks.roles.expect_create_role().never();
        mocks.roles.expect_delete_role().never();
        mocks.roles.expect_replace_user_roles().never();
        mocks.roles.expect_roles_of_user().never();
        let roles = roles(mocks);
        let plain = caller(1);
        let results = [
            roles
                .list_roles(&plain)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            roles
                .create_role(&plain, RoleName::parse("x").unwrap(), None)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            roles
                .delete_role(&plain, rid(1))
                .await
                .map_err(|e| e.to_string()),
            roles
                .assign_roles(&plain, uid(2), vec![rid(1)])
                .await
                .map_err(|e| e.to_string()),
            roles
                .roles_of_user(&plain, uid(2))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        ];
        for result in results {
            assert_eq!(result.unwrap_err(), "the caller is not a superuser");
        }
    }

    #[tokio::test]
    async fn create_role_stores_name_and_description() {
        let mut mocks = Mocks::new();
        mocks
            .roles
            .expect_create_role()
            .withf(|new| {
                new.name.as_str() == "editor"
                    && new.description.as_ref().map(|d| d.as_str()) == Some("edits")
                    && new.created_at == fixed_now()
            })
            .returning(|new| {
                Ok(Role {
                    id: rid(1),
                    name: new.name,
                    description: new.description,
                    created_at: new.created_at,
                    updated_at: new.created_at,
                })
            });
        let role = roles(mocks)
            .create_role(
                &super_caller(1),
                RoleName::parse("editor").unwrap(),
                Some(RoleDescription::parse("edits").unwrap()),
            )
            .await
            .unwrap();
        assert_eq!(role.name, "editor");
    }

    #[tokio::test]
    async fn create_role_with_a_taken_name_says_it_exists() {
        let mut mocks = Mocks::new();
        mocks
            .roles
            .expect_create_role()
            .returning(|_| Err(InsertError::Duplicate));
        let err = roles(mocks)
            .create_role(&super_caller(1), RoleName::parse("x").unwrap(), None)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "the role name is taken");
    }

    #[tokio::test]
    async fn list_roles_returns_what_storage_has() {
        let mut mocks = Mocks::new();
        mocks
            .roles
            .expect_list_roles()
            .returning(|| Ok(vec![sample_role(1), sample_role(2)]));
        let list = roles(mocks).list_roles(&super_caller(1)).await.unwrap();
        assert_eq!(list.len(), 2);
    }

    #[tokio::test]
    async fn delete_unknown_role_is_not_found() {
        let mut mocks = Mocks::new();
        mocks.roles.expect_delete_role().returning(|_| Ok(false));
        let err = roles(mocks)
            .delete_role(&super_caller(1), rid(3))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "no such role");
    }

    #[tokio::test]
    async fn delete_role_succeeds_for_an_existing_role() {
        let mut mocks = Mocks::new();
        mocks
            .roles
            .expect_delete_role()
            .with(eq(rid(3)))
            .times(1)
            .returning(|_| Ok(true));
        roles(mocks)
            .delete_role(&super_caller(1), rid(3))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn assign_roles_replaces_them_in_one_call() {
        let mut mocks = Mocks::new();
        mocks
            .roles
            .expect_replace_user_roles()
            .with(eq(uid(2)), eq(vec![rid(1), rid(3)]), always())
            .times(1)
            .returning(|_, _, _| Ok(RoleReplacement::Replaced));
        roles(mocks)
            .assign_roles(&super_caller(1), uid(2), vec![rid(1), rid(3)])
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn assign_roles_names_the_unknown_ids() {
        let mut mocks = Mocks::new();
        mocks
            .roles
            .expect_replace_user_roles()
            .returning(|_, _, _| Ok(RoleReplacement::UnknownRoles(vec![rid(7), rid(9)])));
        let err = roles(mocks)
            .assign_roles(&super_caller(1), uid(2), vec![rid(1), rid(7), rid(9)])
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "no such roles: 7, 9");
    }

    #[tokio::test]
    async fn assign_roles_to_an_unknown_user_is_user_not_found() {
        let mut mocks = Mocks::new();
        mocks
            .roles
            .expect_replace_user_roles()
            .returning(|_, _, _| Ok(RoleReplacement::UserNotFound));
        let err = roles(mocks)
            .assign_roles(&super_caller(1), uid(2), vec![])
            .await
            .unwrap_err();
        assert!(matches!(err, AssignRolesError::UserNotFound));
    }

    #[tokio::test]
    async fn roles_of_an_unknown_user_is_user_not_found() {
        let mut mocks = Mocks::new();
        mocks.users.expect_get_user().returning(|_| Ok(None));
        mocks.roles.expect_roles_of_user().never();
        let err = roles(mocks)
            .roles_of_user(&super_caller(1), uid(2))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "no such user");
    }

    #[tokio::test]
    async fn roles_of_a_user_lists_them() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_get_user()
            .returning(|id| Ok(Some(sample_user(id.get()))));
        mocks
            .roles
            .expect_roles_of_user()
            .with(eq(uid(2)))
            .returning(|_| Ok(vec![sample_role(4)]));
        let list = roles(mocks)
            .roles_of_user(&super_caller(1), uid(2))
            .await
            .unwrap();
        assert_eq!(list[0].id, rid(4));
    }
}
