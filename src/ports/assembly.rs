//! One storage adapter, and what goes with it, seen through the core's ports.

use super::{
    MessageRepository, ReportRepository, RoleRepository, SessionReads, SessionRepository,
    StorageHealth, UserRepository,
};

/// One storage adapter seen through all its ports; cheap to clone.
#[derive(Clone)]
pub struct Storage {
    pub users: std::sync::Arc<dyn UserRepository>,
    pub roles: std::sync::Arc<dyn RoleRepository>,
    pub sessions: std::sync::Arc<dyn SessionRepository>,
    pub messages: std::sync::Arc<dyn MessageRepository>,
    pub reports: std::sync::Arc<dyn ReportRepository>,
    /// The session check and a read in one storage trip, where the store can.
    pub session_reads: std::sync::Arc<dyn SessionReads>,
    pub health: std::sync::Arc<dyn StorageHealth>,
    /// Copies of the whole database taken while it serves (backups).
    pub snapshots: std::sync::Arc<dyn super::StorageSnapshots>,
    /// Failed-login counters: in this process unless the store shares them between
    /// instances (PostgreSQL).
    pub login_attempts: std::sync::Arc<dyn super::LoginAttempts>,
    /// Where use cases tell what happened, and where this instance's streams listen: the
    /// same place in process, or fed from the database when instances share one.
    pub events: std::sync::Arc<dyn super::EventPublisher>,
    pub subscriptions: std::sync::Arc<dyn super::EventSubscriptions>,
}
