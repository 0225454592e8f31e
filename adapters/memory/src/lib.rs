//! In-memory storage: every storage port over plain collections behind one lock.
//!
//! It behaves like the SQL adapters (ids that grow and are never reused, unique constraints,
//! cascades, one atomic step per port method) so that tests against it mean something, and it
//! serves `DATABASE_URL=memory://` for demos. Each port method takes the lock once, so every
//! method is atomic against concurrent callers.

mod messages;
mod reports;
mod roles;
mod sessions;
mod tables;
mod users;

use std::sync::Arc;

use ai_message_core::ports::Storage;
use parking_lot::RwLock;

use tables::Tables;

/// The whole database in memory. Clone the `Arc` to share it.
#[derive(Default)]
pub struct MemoryStore {
    tables: RwLock<Tables>,
}

impl MemoryStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A fresh empty store, seen through every storage port.
    pub fn storage() -> Storage {
        ai_message_local::in_process_storage(Self::new(), ai_message_local::EventHub::new())
    }
}
