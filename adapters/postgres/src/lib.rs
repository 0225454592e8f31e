//! PostgreSQL storage: every storage port on tokio-postgres with a deadpool pool.
//!
//! Every multi-row port method is one transaction. Races between instances are settled by the
//! database: a rotation claims its token with `UPDATE … WHERE is_used = false` (one winner),
//! and a lost registration race is a unique violation, reported as `Duplicate`.

mod connect;
mod events;
mod guard;
mod helpers;
mod login_attempts;
mod messages;
pub mod migrations;
mod reports;
mod roles;
mod rows;
mod send_batches;
mod session_reads;
mod sessions;
mod shared_reads;
pub mod sql;
mod users;

use std::sync::Arc;

use ai_message_core::PortError;
use ai_message_core::ports::{SnapshotError, Storage, StorageHealth, StorageSnapshots};
use async_trait::async_trait;
use deadpool_postgres::Pool;

pub use connect::{ConnectError, PostgresUrl};
pub use events::CHANNEL;

/// Default number of pooled connections per instance.
pub const DEFAULT_POOL_SIZE: usize = 10;

/// The PostgreSQL implementation of every storage port.
pub struct PostgresStore {
    pool: Pool,
    /// Where the listening connection of live events goes.
    url: PostgresUrl,
    /// Sends, committed in groups (see [`send_batches`]).
    sends: send_batches::SendBatches,
    /// The connection the hot reads pipeline on (see [`shared_reads`]).
    reads: shared_reads::SharedReads,
}

impl PostgresStore {
    /// Connects, applies pending migrations (under an advisory lock, so instances starting
    /// together take turns), and opens a pool of `pool_size` connections.
    pub async fn open(url: &PostgresUrl, pool_size: usize) -> Result<Arc<Self>, ConnectError> {
        let mut client = url.connect_once().await?;
        migrations::run(&mut client)
            .await
            .map_err(ConnectError::Migrate)?;
        drop(client);
        let pool = url.pool(pool_size)?;
        // Fail at start-up, not at the first request, when the pool cannot connect.
        drop(
            pool.get()
                .await
                .map_err(|e| url.unreachable(e.to_string()))?,
        );
        Ok(Arc::new(Self {
            sends: send_batches::SendBatches::start(pool.clone()),
            reads: shared_reads::SharedReads::new(pool.clone()),
            pool,
            url: url.clone(),
        }))
    }

    /// This store seen through every storage port; login counters live in the database, so
    /// every instance on it enforces one global limit.
    ///
    /// Live events go through the database too: a change on any instance reaches the streams
    /// of every instance. Each call is one instance's view, with its own listening
    /// connection, which ends when the returned storage (its hub) is dropped. Call it inside
    /// a Tokio runtime.
    pub fn storage(self: &Arc<Self>) -> Storage {
        let hub = ai_message_local::EventHub::new();
        let local = ai_message_local::in_process_storage(self.clone(), hub.clone());
        let origin = events::new_origin();
        tokio::spawn(events::listen(
            self.url.clone(),
            origin.clone(),
            Arc::downgrade(&hub),
        ));
        let (lines, queue) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(events::notify(self.clone(), origin, queue));
        Storage {
            session_reads: self.clone(),
            login_attempts: self.clone(),
            events: Arc::new(events::NotifyEvents { lines, hub }),
            ..local
        }
    }

    /// The request pool: connections open, idle, and requests waiting for one.
    pub fn pool_stats(&self) -> ai_message_sql::PoolStats {
        let status = self.pool.status();
        ai_message_sql::PoolStats {
            connections: status.size,
            idle: Some(status.available),
            waiting: status.waiting,
        }
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, PortError> {
        self.pool.get().await.map_err(rows::pool_error)
    }
}

#[async_trait]
impl StorageSnapshots for PostgresStore {
    async fn snapshot(&self, _to: &std::path::Path) -> Result<(), SnapshotError> {
        Err(SnapshotError::Unsupported(
            "PostgreSQL is backed up with its own tools: pg_dump (a consistent copy while \
             the server runs) or continuous archiving",
        ))
    }
}

#[async_trait]
impl StorageHealth for PostgresStore {
    async fn ping(&self) -> Result<(), PortError> {
        let client = self.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(rows::port_error)?;
        Ok(())
    }

    async fn pending_migrations(&self) -> Result<Vec<i64>, PortError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(sql::APPLIED_MIGRATIONS)
            .await
            .map_err(rows::port_error)?;
        let applied: Vec<i64> = client
            .query(&stmt, &[])
            .await
            .map_err(rows::port_error)?
            .iter()
            .map(|row| row.try_get::<_, i32>(0).map(i64::from))
            .collect::<Result<_, _>>()
            .map_err(rows::port_error)?;
        Ok(ai_message_sql::pending_versions(
            &migrations::known(),
            &applied,
        ))
    }
}

#[cfg(feature = "test-support")]
impl PostgresStore {
    /// Inserts `count` unread messages from `sender` to `recipient`, one millisecond apart from
    /// `start`, in slices of 50,000 rows: fixtures for benchmarks and load tests.
    pub async fn seed_messages(
        &self,
        sender: ai_message_core::UserId,
        recipient: ai_message_core::UserId,
        conversation: &str,
        count: u64,
        start: ai_message_core::Timestamp,
    ) -> Result<(), PortError> {
        let (Some(sender), Some(recipient)) = (rows::pg_id(sender), rows::pg_id(recipient)) else {
            return Err(PortError::unexpected("user id beyond the INTEGER range"));
        };
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        let client = self.client().await?;
        // In slices, so each statement stays well inside `statement_timeout`.
        const SLICE: i64 = 50_000;
        let mut from = 0i64;
        while from < count {
            let to = (from + SLICE).min(count);
            client
                .execute(
                    "INSERT INTO messages (sender_id, recipient_id, content, is_read, parent_id, \
                     conversation_id, created_at, updated_at) \
                     SELECT $1, $2, 'seed message ' || g, false, NULL, $3, \
                            $4::timestamp + g * interval '1 millisecond', \
                            $4::timestamp + g * interval '1 millisecond' \
                     FROM generate_series($5::bigint, $6::bigint - 1) AS g",
                    &[
                        &sender,
                        &recipient,
                        &conversation,
                        &rows::naive(start),
                        &from,
                        &to,
                    ],
                )
                .await
                .map_err(rows::port_error)?;
            from = to;
        }
        client
            .batch_execute("ANALYZE messages")
            .await
            .map_err(rows::port_error)?;
        Ok(())
    }
}
