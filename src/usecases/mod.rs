//! The use cases: one module per capability, each with its own error enum.

pub mod accounts;
pub mod admin;
pub mod auth;
pub mod conversations;
pub mod messages;
pub mod roles;

#[cfg(test)]
mod test_support;

use std::sync::Arc;

use chrono::TimeDelta;

use crate::domain::{SessionId, User};
use crate::ports::{
    Clock, MessageRepository, PasswordHasher, RoleRepository, SecretSource, SessionRepository,
    Storage, StorageHealth, UserRepository,
};

/// Everything the core needs from outside, chosen by the composition root.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserRepository>,
    pub roles: Arc<dyn RoleRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub messages: Arc<dyn MessageRepository>,
    pub health: Arc<dyn StorageHealth>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub clock: Arc<dyn Clock>,
    pub secrets: Arc<dyn SecretSource>,
}

impl Ports {
    pub fn new(
        storage: Storage,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
        secrets: Arc<dyn SecretSource>,
    ) -> Self {
        Self {
            users: storage.users,
            roles: storage.roles,
            sessions: storage.sessions,
            messages: storage.messages,
            health: storage.health,
            hasher,
            clock,
            secrets,
        }
    }
}

/// Policy values the use cases apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Lifetime of a refresh token, and so of the session it keeps alive.
    pub refresh_token_ttl: TimeDelta,
    /// How long after a rotation the old refresh token may be presented again (a client
    /// refreshing twice at once) without being treated as stolen.
    pub refresh_reuse_grace: TimeDelta,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            refresh_token_ttl: TimeDelta::days(7),
            refresh_reuse_grace: TimeDelta::seconds(10),
        }
    }
}

/// An authenticated caller: the user as of this request and the session its token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: User,
    pub session_id: SessionId,
}

/// All use cases, wired to one set of ports.
#[derive(Clone)]
pub struct Services {
    pub accounts: accounts::Accounts,
    pub auth: auth::Auth,
    pub admin: admin::Admin,
    pub roles: roles::Roles,
    pub messages: messages::Messages,
    pub conversations: conversations::Conversations,
    pub health: Arc<dyn StorageHealth>,
}

impl Services {
    pub fn new(ports: Ports, settings: Settings) -> Self {
        Self {
            accounts: accounts::Accounts::new(&ports),
            auth: auth::Auth::new(&ports, settings),
            admin: admin::Admin::new(&ports),
            roles: roles::Roles::new(&ports),
            messages: messages::Messages::new(&ports),
            conversations: conversations::Conversations::new(&ports),
            health: ports.health,
        }
    }
}
