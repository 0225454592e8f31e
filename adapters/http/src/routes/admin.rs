//! Superuser routes under `/auth`: users and roles.

use ai_message_core::usecases::admin::BackupTurn;
use ai_message_core::{
    PortError, Role, RoleDescription, RoleId, RoleName, UserId, ValidationError,
};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, OpenApi};

use super::auth::{UserCreated, registration};
use super::{ApiTags, page};
use crate::AppState;
use crate::auth::Authenticated;
use crate::backup_files::BackupDir;
use crate::body::JsonBody;
use crate::dto::*;
use crate::errors::ApiError;

pub struct AdminApi {
    state: AppState,
}

impl AdminApi {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[derive(ApiResponse)]
enum RoleCreated {
    /// The new role.
    #[oai(status = 201)]
    Created(Json<RoleOut>),
}

impl From<Role> for RoleCreated {
    fn from(role: Role) -> Self {
        Self::Created(Json(role.into()))
    }
}

#[derive(ApiResponse)]
enum BackupFile {
    /// The whole database as of the request: an SQLite file to keep, or to start a server
    /// on (`DATABASE_URL=sqlite:////path/to/it.db`).
    #[oai(status = 200, content_type = "application/vnd.sqlite3")]
    Snapshot(
        Binary<poem::Body>,
        /// `attachment`, with a file name that says when it was taken.
        #[oai(header = "Content-Disposition")]
        String,
    ),
}

/// A backup's copy on its way to the client, holding the turn until the body is done
/// with: sent whole, or dropped when the client goes away.
struct Delivery {
    file: tokio::fs::File,
    _turn: BackupTurn,
}

impl tokio::io::AsyncRead for Delivery {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.file).poll_read(cx, buf)
    }
}

fn roles_out(roles: Vec<Role>) -> Json<Vec<RoleOut>> {
    Json(roles.into_iter().map(RoleOut::from).collect())
}

#[OpenApi(prefix_path = "/auth", tag = "ApiTags::Admin")]
impl AdminApi {
    /// Back up the database
    ///
    /// A consistent copy of the whole SQLite database, taken while the server serves (writes
    /// go on meanwhile; every write answered before this request is in it). One at a time:
    /// 429 with `Retry-After` while another is taken or downloaded. On PostgreSQL, 400
    /// naming `pg_dump`; on `memory://`, 400: nothing to back up. Superusers only.
    #[oai(path = "/backup", method = "get", operation_id = "backup_database")]
    async fn backup(&self, auth: Authenticated) -> Result<BackupFile, ApiError> {
        let admin = self.state.services.admin.clone();
        let turn = admin.backup_turn(&auth.0)?;
        // A task of its own, not this handler: a client that goes away drops the handler,
        // while the snapshot's directory must still go once the store is done writing.
        let taken = tokio::spawn(async move {
            let place = BackupDir::create(&std::env::temp_dir()).map_err(PortError::unexpected)?;
            admin.back_up(&turn, &place.snapshot()).await?;
            let file = tokio::fs::File::open(place.snapshot())
                .await
                .map_err(PortError::unexpected)?;
            // Unlinked before the first byte is sent: the open file is all that is left.
            drop(place);
            Ok::<_, ApiError>(Delivery { file, _turn: turn })
        });
        let delivery = taken.await.map_err(PortError::unexpected)??;
        let name = format!(
            "attachment; filename=\"ai-message-backup-{}.db\"",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        );
        Ok(BackupFile::Snapshot(
            Binary(poem::Body::from_async_read(delivery)),
            name,
        ))
    }

    /// List users
    ///
    /// Every account, by id.
    #[oai(path = "/users", method = "get", operation_id = "list_users")]
    async fn list_users(
        &self,
        auth: Authenticated,
        /// How many users to skip (≥ 0).
        skip: Query<Option<i64>>,
        /// At most this many users (1 to 500, default 100).
        limit: Query<Option<i64>>,
    ) -> Result<Json<Vec<UserOut>>, ApiError> {
        let page = page(skip.0, limit.0)?;
        let users = self.state.services.admin.list_users(&auth.0, page).await?;
        Ok(Json(users.into_iter().map(UserOut::from).collect()))
    }

    /// Get a user
    ///
    /// One account by id.
    #[oai(path = "/users/:id", method = "get", operation_id = "get_user")]
    async fn get_user(
        &self,
        auth: Authenticated,
        id: Path<i64>,
    ) -> Result<Json<UserOut>, ApiError> {
        let user = self
            .state
            .services
            .admin
            .get_user(&auth.0, UserId::new(id.0))
            .await?;
        Ok(Json(user.into()))
    }

    /// Create a user
    ///
    /// Same body and rules as registration, but the phone number counts as proven (the
    /// school's roster): 400 `Phone number already registered` when another account has
    /// proven it; other accounts' claims of it are removed.
    #[oai(path = "/users", method = "post", operation_id = "create_user")]
    async fn create_user(
        &self,
        auth: Authenticated,
        body: JsonBody<RegisterRequest>,
    ) -> Result<UserCreated, ApiError> {
        let registration = registration(
            body.0,
            &self.state.services.password_rules,
            &self.state.services.phone_rules,
        )?;
        let user = self
            .state
            .services
            .admin
            .create_user(&auth.0, registration)
            .await?;
        Ok(user.into())
    }

    /// Delete a user
    ///
    /// Removes the account with its sessions, refresh tokens and role links; its messages
    /// stay. A superuser cannot delete themself.
    #[oai(path = "/users/:id", method = "delete", operation_id = "delete_user")]
    async fn delete_user(
        &self,
        auth: Authenticated,
        id: Path<i64>,
    ) -> Result<Json<MessageResponse>, ApiError> {
        self.state
            .services
            .admin
            .delete_user(&auth.0, UserId::new(id.0))
            .await?;
        Ok(Json(MessageResponse::new("User deleted successfully")))
    }

    /// Disable a user
    ///
    /// The account can no longer log in, and all its sessions end now.
    #[oai(
        path = "/users/:id/disable",
        method = "put",
        operation_id = "disable_user"
    )]
    async fn disable_user(
        &self,
        auth: Authenticated,
        id: Path<i64>,
    ) -> Result<Json<MessageResponse>, ApiError> {
        self.state
            .services
            .admin
            .disable_user(&auth.0, UserId::new(id.0))
            .await?;
        Ok(Json(MessageResponse::new("User disabled successfully")))
    }

    /// Enable a user
    ///
    /// The account can log in again; sessions ended by disabling stay ended.
    #[oai(
        path = "/users/:id/enable",
        method = "put",
        operation_id = "enable_user"
    )]
    async fn enable_user(
        &self,
        auth: Authenticated,
        id: Path<i64>,
    ) -> Result<Json<MessageResponse>, ApiError> {
        self.state
            .services
            .admin
            .enable_user(&auth.0, UserId::new(id.0))
            .await?;
        Ok(Json(MessageResponse::new("User enabled successfully")))
    }

    /// Grant or revoke superuser
    ///
    /// Takes `is_superuser` as a query parameter or as a JSON body (the query wins when both
    /// are given). A superuser cannot change their own status.
    #[oai(
        path = "/users/:id/superuser",
        method = "put",
        operation_id = "set_superuser"
    )]
    async fn set_superuser(
        &self,
        auth: Authenticated,
        id: Path<i64>,
        /// The new status; alternatively send `{"is_superuser": …}`.
        is_superuser: Query<Option<bool>>,
        body: JsonBody<Option<SuperuserRequest>>,
    ) -> Result<Json<MessageResponse>, ApiError> {
        let flag = is_superuser
            .0
            .or(body.0.map(|b| b.is_superuser))
            .ok_or_else(|| ValidationError::new("is_superuser", "field required"))?;
        self.state
            .services
            .admin
            .set_superuser(&auth.0, UserId::new(id.0), flag)
            .await?;
        let shown = if flag { "True" } else { "False" };
        Ok(Json(MessageResponse::new(format!(
            "User superuser status set to {shown}"
        ))))
    }

    /// List roles
    ///
    /// Every role, by id.
    #[oai(path = "/roles", method = "get", operation_id = "list_roles")]
    async fn list_roles(&self, auth: Authenticated) -> Result<Json<Vec<RoleOut>>, ApiError> {
        Ok(roles_out(
            self.state.services.roles.list_roles(&auth.0).await?,
        ))
    }

    /// Create a role
    ///
    /// `name` must be unique (1 to 100 characters); `description` at most 255.
    #[oai(path = "/roles", method = "post", operation_id = "create_role")]
    async fn create_role(
        &self,
        auth: Authenticated,
        body: JsonBody<RoleCreateRequest>,
    ) -> Result<RoleCreated, ApiError> {
        let name = RoleName::parse(body.0.name)?;
        let description = body.0.description.map(RoleDescription::parse).transpose()?;
        let role = self
            .state
            .services
            .roles
            .create_role(&auth.0, name, description)
            .await?;
        Ok(role.into())
    }

    /// Delete a role
    ///
    /// Also removes it from every user.
    #[oai(path = "/roles/:id", method = "delete", operation_id = "delete_role")]
    async fn delete_role(
        &self,
        auth: Authenticated,
        id: Path<i64>,
    ) -> Result<Json<MessageResponse>, ApiError> {
        self.state
            .services
            .roles
            .delete_role(&auth.0, RoleId::new(id.0))
            .await?;
        Ok(Json(MessageResponse::new("Role deleted successfully")))
    }

    /// Set a user's roles
    ///
    /// The user's roles become exactly `role_ids`, all at once. Unknown ids are named in a
    /// 422 and nothing changes.
    #[oai(
        path = "/users/:id/roles",
        method = "put",
        operation_id = "assign_roles"
    )]
    async fn assign_roles(
        &self,
        auth: Authenticated,
        id: Path<i64>,
        body: JsonBody<RoleAssignRequest>,
    ) -> Result<Json<MessageResponse>, ApiError> {
        self.state
            .services
            .roles
            .assign_roles(
                &auth.0,
                UserId::new(id.0),
                body.0.role_ids.into_iter().map(RoleId::new).collect(),
            )
            .await?;
        Ok(Json(MessageResponse::new("Roles assigned successfully")))
    }

    /// A user's roles
    ///
    /// The roles assigned to one account, by id.
    #[oai(
        path = "/users/:id/roles",
        method = "get",
        operation_id = "get_user_roles"
    )]
    async fn user_roles(
        &self,
        auth: Authenticated,
        id: Path<i64>,
    ) -> Result<Json<Vec<RoleOut>>, ApiError> {
        Ok(roles_out(
            self.state
                .services
                .roles
                .roles_of_user(&auth.0, UserId::new(id.0))
                .await?,
        ))
    }
}
