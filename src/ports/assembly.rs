//! One storage adapter, and what goes with it, seen through the core's ports.

use super::{
    MessageRepository, RoleRepository, SessionReads, SessionRepository, StorageHealth,
    UserRepository,
};

/// One storage adapter seen through all its ports; cheap to clone.
#[derive(Clone)]
pub struct Storage {
    pub users: std::sync::Arc<dyn UserRepository>,
    pub roles: std::sync::Arc<dyn RoleRepository>,
    pub sessions: std::sync::Arc<dyn SessionRepository>,
    pub messages: std::sync::Arc<dyn MessageRepository>,
    /// The session check and a read in one storage trip, where the store can.
    pub session_reads: std::sync::Arc<dyn SessionReads>,
    pub health: std::sync::Arc<dyn StorageHealth>,
    /// Failed-login counters: in this process unless the store shares them between
    /// instances (PostgreSQL).
    pub login_attempts: std::sync::Arc<dyn super::LoginAttempts>,
    /// Where use cases tell what happened, and the hub this instance's streams listen on:
    /// the same hub in process, or fed from the database when instances share one.
    pub events: std::sync::Arc<dyn super::EventPublisher>,
    pub hub: std::sync::Arc<crate::system::EventHub>,
}

impl Storage {
    /// Views one store that implements every storage port, with login counters and event
    /// fan-out kept in this process, and the session check made apart from the read it
    /// goes with (a store that can do both in one trip replaces `session_reads`).
    pub fn from_store<S>(store: std::sync::Arc<S>) -> Self
    where
        S: UserRepository
            + RoleRepository
            + SessionRepository
            + MessageRepository
            + StorageHealth
            + 'static,
    {
        let hub = crate::system::EventHub::new();
        Self {
            users: store.clone(),
            roles: store.clone(),
            sessions: store.clone(),
            messages: store.clone(),
            session_reads: std::sync::Arc::new(super::SeparateSessionReads {
                sessions: store.clone(),
                messages: store.clone(),
            }),
            health: store,
            login_attempts: std::sync::Arc::new(crate::system::InProcessLoginAttempts::default()),
            events: std::sync::Arc::new(crate::system::LocalEvents(hub.clone())),
            hub,
        }
    }
}
