//! In-process adapters of the AI Message backend: the real clock (and the test clock), the
//! operating system's random generator, login counters kept in memory, and the event hub
//! that routes what happened to the streams open on this instance.

mod clock;
mod hub;
mod login_attempts;
mod secrets;

use std::sync::Arc;

use ai_message_core::ports::{
    MessageRepository, ReportRepository, RoleRepository, SeparateSessionReads, SessionRepository,
    Storage, StorageHealth, StorageSnapshots, UserRepository,
};

pub use clock::{ManualClock, SystemClock};
pub use hub::{EventHub, LocalEvents};
pub use login_attempts::InProcessLoginAttempts;
pub use secrets::OsSecretSource;

/// Views one store that implements every storage port, with login counters and event
/// fan-out kept in this process (on `hub`), and the session check made apart from the read
/// it goes with (a store that can do both in one trip replaces `session_reads`).
pub fn in_process_storage<S>(store: Arc<S>, hub: Arc<EventHub>) -> Storage
where
    S: UserRepository
        + RoleRepository
        + SessionRepository
        + MessageRepository
        + ReportRepository
        + StorageHealth
        + StorageSnapshots
        + 'static,
{
    Storage {
        users: store.clone(),
        roles: store.clone(),
        sessions: store.clone(),
        messages: store.clone(),
        reports: store.clone(),
        session_reads: Arc::new(SeparateSessionReads {
            sessions: store.clone(),
            messages: store.clone(),
        }),
        health: store.clone(),
        snapshots: store,
        login_attempts: Arc::new(InProcessLoginAttempts::default()),
        events: Arc::new(LocalEvents(hub.clone())),
        subscriptions: hub,
    }
}
