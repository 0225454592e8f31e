//! SQLite storage: every storage port on rusqlite with a bundled SQLite, so a fresh machine
//! needs no system library.
//!
//! SQLite never runs on the async runtime: each connection lives on a thread of its own fed
//! by a queue. Writes go through one connection, one `BEGIN IMMEDIATE` transaction per port
//! method, so writers in this process queue instead of failing with `SQLITE_BUSY`; reads use
//! a small set of read-only connections beside it. All of them use the `unix-excl` VFS, which
//! keeps the WAL index in heap memory (see `connection`).

mod connection;
mod helpers;
mod messages;
pub mod migrations;
mod reports;
mod roles;
mod rows;
mod session_reads;
mod sessions;
pub mod sql;
mod users;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ai_message_core::PortError;
use ai_message_core::ports::{SnapshotError, Storage, StorageHealth, StorageSnapshots};
use async_trait::async_trait;

pub use connection::Db;

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    /// A private in-memory database (one connection; gone with the process).
    Memory,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the directory {0} does not exist")]
    MissingDirectory(PathBuf),
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// SQLite says only "unable to open database file"; the file system says why.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("{0} is read-only: the server must be able to write its database")]
    ReadOnly(PathBuf),
    #[error("{path} is not writable: {source}")]
    NotWritable {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot migrate {path}: {detail}")]
    Migrate { path: PathBuf, detail: String },
}

/// How many read-only connections serve reads next to the writer.
pub const DEFAULT_READERS: usize = 4;

/// The SQLite implementation of every storage port.
pub struct SqliteStore {
    db: Db,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database, then opens the reader pool.
    pub async fn open(location: &Location) -> Result<Arc<Self>, OpenError> {
        let db = Db::open(location, DEFAULT_READERS, true).await?;
        Ok(Arc::new(Self { db }))
    }

    /// This store seen through every storage port.
    pub fn storage(self: &Arc<Self>) -> Storage {
        Storage {
            session_reads: self.clone(),
            ..ai_message_local::in_process_storage(self.clone(), ai_message_local::EventHub::new())
        }
    }

    /// The underlying connections, for tools and tests that need raw SQL.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Moves everything the write-ahead log holds into the main file and empties the log
    /// (`wal_checkpoint(TRUNCATE)`): after it, the main file alone is the whole database.
    /// A clean shutdown calls it last. Errs when a reader kept the log from being emptied.
    pub async fn checkpoint(&self) -> Result<(), PortError> {
        let busy = self
            .db
            .with_writer(|conn| {
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                    row.get::<_, i64>(0)
                })
                .map_err(|e| e.to_string())
            })
            .await?;
        if busy != 0 {
            return Err(PortError::unexpected(
                "a reader kept the write-ahead log from being emptied",
            ));
        }
        Ok(())
    }
}

pub(crate) fn file_path(location: &Location) -> &Path {
    match location {
        Location::File(path) => path,
        Location::Memory => Path::new(":memory:"),
    }
}

impl SqliteStore {
    /// How busy the connections are, for metrics.
    pub fn pool_stats(&self) -> ai_message_sql::PoolStats {
        self.db.pool_stats()
    }
}

#[async_trait]
impl StorageSnapshots for SqliteStore {
    /// `VACUUM INTO` on a reader: one read transaction's view, written compactly to `to`;
    /// writers go on meanwhile (the log keeps what they add).
    async fn snapshot(&self, to: &std::path::Path) -> Result<(), SnapshotError> {
        self.db.check_file()?;
        let target = to.to_string_lossy().into_owned();
        self.db
            .read(move |conn| conn.execute("VACUUM INTO ?1", [target]))
            .await?;
        Ok(())
    }
}

#[async_trait]
impl StorageHealth for SqliteStore {
    async fn ping(&self) -> Result<(), PortError> {
        self.db.check_file()?;
        self.db
            .read(|conn| conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0)))
            .await
            .map(|_| ())
    }

    async fn pending_migrations(&self) -> Result<Vec<i64>, PortError> {
        self.db.check_file()?;
        let applied = self
            .db
            .read(|conn| {
                conn.prepare_cached(sql::APPLIED_MIGRATIONS)?
                    .query_map([], |row| row.get::<_, i64>(0))?
                    .collect::<rusqlite::Result<Vec<i64>>>()
            })
            .await?;
        Ok(ai_message_sql::pending_versions(
            &migrations::known(),
            &applied,
        ))
    }
}

#[cfg(feature = "test-support")]
impl SqliteStore {
    /// Inserts `count` unread messages from `sender` to `recipient` in one transaction, one
    /// millisecond apart from `start`: fixtures for benchmarks and load tests, far faster than
    /// one port call per message.
    pub async fn seed_messages(
        &self,
        sender: ai_message_core::UserId,
        recipient: ai_message_core::UserId,
        conversation: &str,
        count: u64,
        start: ai_message_core::Timestamp,
    ) -> Result<(), PortError> {
        let conversation = conversation.to_string();
        self.db
            .write(move |tx| {
                let mut insert = tx
                    .prepare_cached(sql::INSERT_MESSAGE)
                    .map_err(connection::port_error)?;
                for i in 0..count {
                    let at = rows::time_text(start + chrono::TimeDelta::milliseconds(i as i64));
                    insert
                        .execute(rusqlite::params![
                            sender.get(),
                            recipient.get(),
                            format!("seed message {i}"),
                            Option::<i64>::None,
                            conversation,
                            at
                        ])
                        .map_err(connection::port_error)?;
                }
                Ok::<_, PortError>(())
            })
            .await
    }
}
