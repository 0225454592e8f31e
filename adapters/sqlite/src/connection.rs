//! The connections: one writer and a few readers, each owned by a thread of its own, so
//! SQLite never runs on the async runtime. Work travels to them through queues; a busy
//! thread goes from one job to the next without parking, which costs less than a round trip
//! through tokio's shared blocking pool per query.
//!
//! Every connection uses SQLite's `unix-excl` VFS. A WAL database shared between processes
//! keeps its index in a memory-mapped `-shm` file, and a memory-mapped file that cannot be
//! backed (disk full, file truncated or made unwritable under load) kills the process with
//! SIGBUS. `unix-excl` takes an exclusive lock for this process and keeps the WAL index in
//! heap memory shared by the process's connections: a fault becomes an error code, answered
//! 503, the server lives, and readers still run beside the writer. The price: no other
//! process can open the database while the server runs (README, "SQLite").

use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ai_message_core::PortError;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, MAIN_DB, OpenFlags, Transaction};

use crate::writer::{Ran, WriteJob};
use crate::{Location, OpenError, file_path, migrations};

/// How long a connection waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The VFS of every connection (see the module comment).
const VFS: &str = "unix-excl";

/// One writer and a pool of readers, and the file they must still be writing to.
#[derive(Clone)]
pub struct Db {
    writer: crossbeam_channel::Sender<WriteJob>,
    readers: Option<Arc<Readers>>,
    file: Option<Arc<FileIdentity>>,
}

/// Read-only connections, each on a thread of its own, taking jobs from one queue.
struct Readers {
    jobs: crossbeam_channel::Sender<ReadJob>,
    connections: usize,
}

type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

impl Readers {
    fn start(connections: Vec<Connection>) -> Self {
        let count = connections.len();
        let (jobs, queue) = crossbeam_channel::unbounded::<ReadJob>();
        for (index, conn) in connections.into_iter().enumerate() {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("sqlite-reader-{index}"))
                .spawn(move || {
                    // Ends when the last sender (the store) is dropped.
                    while let Ok(job) = queue.recv() {
                        let _ =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&conn)));
                    }
                })
                .expect("a reader thread starts");
        }
        Self {
            jobs,
            connections: count,
        }
    }
}

/// The database file as it was opened: if its path later names another file or none (the
/// directory was deleted, the file replaced), writes would be acknowledged into a file no
/// restart will see, so they are refused instead.
struct FileIdentity {
    path: PathBuf,
    device: u64,
    inode: u64,
    /// Logged once per loss, not once per request.
    reported_gone: AtomicBool,
}

impl FileIdentity {
    fn of(path: &std::path::Path) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            device: metadata.dev(),
            inode: metadata.ino(),
            reported_gone: AtomicBool::new(false),
        })
    }

    fn check(&self) -> Result<(), PortError> {
        use std::os::unix::fs::MetadataExt;
        let same = std::fs::metadata(&self.path)
            .is_ok_and(|now| now.dev() == self.device && now.ino() == self.inode);
        if same {
            if self.reported_gone.swap(false, Ordering::Relaxed) {
                tracing::info!(path = %self.path.display(), "the SQLite database file is back");
            }
            return Ok(());
        }
        if !self.reported_gone.swap(true, Ordering::Relaxed) {
            tracing::error!(
                path = %self.path.display(),
                "the SQLite database file was deleted or replaced while in use; refusing \
                 writes (restore it, or restart the server)"
            );
        }
        Err(PortError::Unavailable {
            what: "the SQLite database",
            source: format!("{} was deleted or replaced", self.path.display()).into(),
        })
    }
}

/// Room for every statement of the adapter (rusqlite keeps 16 by default, fewer than a
/// writer or a reader uses, so they would be compiled again and again).
const STATEMENT_CACHE: usize = 128;

/// Turns off SQLite's memory statistics, once per process, before its first connection:
/// with them on, every allocation SQLite makes takes a process-wide mutex to count it
/// (`pthread_mutex_lock` was ~5 % of a request's CPU), and nothing here reads the counts.
/// After SQLite has started (another library opened a database first) the setting is
/// refused and everything works as before.
fn tune_library() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `sqlite3_config` may be called while SQLite is not yet initialised and
        // no other thread is using it; `Once` runs this before this adapter's first open,
        // and a call after initialisation is refused with SQLITE_MISUSE, not undefined.
        let code = unsafe {
            rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int)
        };
        if code != rusqlite::ffi::SQLITE_OK {
            tracing::debug!(
                code,
                "SQLite was already started: its memory statistics stay on"
            );
        }
    });
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // The query planner stability guarantee: plans never depend on bound values. Without it
    // SQLite marks a statement whose plan could use a parameter's value (`LIMIT ?`, a join
    // on `s.id = ?`, a query the partial unread index might serve) to be compiled again after
    // every new binding, so the hottest reads were parsed and planned on every request
    // despite the statement cache. Every statement here has one right plan anyway.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    // Temporary files in memory: above all the statement journal of the writer's per-job
    // savepoints (see `writer`), which otherwise spills to a temporary file past 64 KiB and
    // then costs two `pwrite`s per page a job touches, twice what the WAL itself takes.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Whether this user may create a file in `dir` (a probe file, removed at once).
fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".ai-message-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

/// Why `file` cannot be opened, when the reason is permissions: the file not readable and
/// writable by this user, or, when it does not exist yet, its directory not writable.
pub(crate) fn permission_problem(
    file: &Path,
    can_create_in: impl Fn(&Path) -> std::io::Result<()>,
) -> Option<String> {
    use std::io::ErrorKind;
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
    {
        Err(error) if error.kind() == ErrorKind::PermissionDenied => Some(format!(
            "{} is not readable and writable by this user",
            file.display()
        )),
        Err(error) if error.kind() == ErrorKind::NotFound => {
            let dir = file
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            match can_create_in(dir) {
                Err(error) if error.kind() == ErrorKind::PermissionDenied => Some(format!(
                    "the directory {} is not writable by this user, so {} cannot be created \
                     in it",
                    dir.display(),
                    file.display()
                )),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Classifies a SQLite failure: lock contention and file trouble may pass; the rest is a bug.
pub(crate) fn port_error(error: rusqlite::Error) -> PortError {
    use rusqlite::ErrorCode::*;
    match error.sqlite_error_code() {
        Some(
            DatabaseBusy | DatabaseLocked | SystemIoFailure | DiskFull | CannotOpen | ReadOnly
            | PermissionDenied,
        ) => PortError::Unavailable {
            what: "the SQLite database",
            source: Box::new(error),
        },
        _ => PortError::unexpected(error),
    }
}

impl Db {
    pub(crate) async fn open(
        location: &Location,
        readers: usize,
        migrate: bool,
    ) -> Result<Self, OpenError> {
        let location = location.clone();
        tokio::task::spawn_blocking(move || Self::open_blocking(&location, readers, migrate))
            .await
            .map_err(|e| OpenError::Migrate {
                path: "database".into(),
                detail: e.to_string(),
            })?
    }

    fn open_blocking(
        location: &Location,
        readers: usize,
        migrate: bool,
    ) -> Result<Self, OpenError> {
        tune_library();
        let path = file_path(location).to_path_buf();
        if let Location::File(file) = location {
            let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(parent) = parent
                && !parent.is_dir()
            {
                return Err(OpenError::MissingDirectory(parent.to_path_buf()));
            }
        }
        let open_error = |source| OpenError::Open {
            path: path.clone(),
            source,
        };
        let mut writer = match location {
            Location::File(file) => {
                Connection::open_with_flags_and_vfs(file, OpenFlags::default(), VFS).map_err(
                    |source| {
                        permission_problem(file, probe_writable)
                            .map_or_else(|| open_error(source), OpenError::PermissionDenied)
                    },
                )?
            }
            Location::Memory => Connection::open_in_memory().map_err(open_error)?,
        };
        configure(&writer).map_err(open_error)?;
        let mut file = None;
        if let Location::File(path) = location {
            // SQLite falls back to read-only when it may not write the file; say so now,
            // not with a failed login later.
            if writer.is_readonly(MAIN_DB).map_err(open_error)? {
                return Err(OpenError::ReadOnly(path.clone()));
            }
            // WAL: appends instead of rewriting pages; NORMAL is durable across process
            // crashes and only risks the last commits on power loss.
            let mode: String = writer
                .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
                .map_err(|source| OpenError::NotWritable {
                    path: path.clone(),
                    source,
                })?;
            if !mode.eq_ignore_ascii_case("wal") {
                // Some file systems refuse WAL; the rollback journal is slower but correct.
                tracing::warn!(journal_mode = %mode, "SQLite could not switch to WAL");
            }
            writer
                .pragma_update(None, "synchronous", "NORMAL")
                .map_err(open_error)?;
            // Fail now, with a clear message, if the file cannot be written.
            writer
                .execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
                .map_err(|source| OpenError::NotWritable {
                    path: path.clone(),
                    source,
                })?;
            file = Some(Arc::new(FileIdentity::of(path).map_err(|e| {
                OpenError::NotWritable {
                    path: path.clone(),
                    source: rusqlite::Error::InvalidPath(format!("{e}").into()),
                }
            })?));
        }
        if migrate {
            migrations::run(&mut writer).map_err(|detail| OpenError::Migrate {
                path: path.clone(),
                detail,
            })?;
        }
        let readers = match location {
            Location::File(path) if readers > 0 => {
                let mut idle = Vec::with_capacity(readers);
                for _ in 0..readers {
                    let reader = Connection::open_with_flags_and_vfs(
                        path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                        VFS,
                    )
                    .map_err(open_error)?;
                    configure(&reader).map_err(open_error)?;
                    idle.push(reader);
                }
                Some(Arc::new(Readers::start(idle)))
            }
            _ => None,
        };
        Ok(Self {
            writer: crate::writer::start_writer(writer),
            readers,
            file,
        })
    }

    /// Runs `job` on the writer thread and waits for its answer.
    async fn on_writer<T, F>(&self, job: F) -> Result<T, PortError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> T + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.writer
            .send(WriteJob::Plain(Box::new(move |conn: &mut Connection| {
                // A caller that went away no longer wants the answer.
                let _ = reply.send(job(conn));
            })))
            .map_err(|_| PortError::unexpected("the SQLite writer thread is gone"))?;
        answer
            .await
            .map_err(|_| PortError::unexpected("the SQLite writer thread failed"))
    }

    /// Runs `work` on a read-only connection (the writer for in-memory databases).
    pub async fn read<T, F>(&self, work: F) -> Result<T, PortError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let Some(readers) = &self.readers else {
            return self
                .on_writer(move |conn| work(conn))
                .await?
                .map_err(port_error);
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        readers
            .jobs
            .send(Box::new(move |conn: &Connection| {
                let _ = reply.send(work(conn));
            }))
            .map_err(|_| PortError::unexpected("the SQLite reader threads are gone"))?;
        let result = answer
            .await
            .map_err(|_| PortError::unexpected("an SQLite reader thread failed"))?;
        result.map_err(port_error)
    }

    /// Connections (the writer and the readers) and jobs queued for their threads.
    pub fn pool_stats(&self) -> ai_message_sql::PoolStats {
        let readers = self.readers.as_ref();
        ai_message_sql::PoolStats {
            connections: 1 + readers.map_or(0, |r| r.connections),
            idle: None,
            waiting: self.writer.len() + readers.map_or(0, |r| r.jobs.len()),
        }
    }

    /// Fails while the database file is gone from its path (see [`FileIdentity`]).
    pub fn check_file(&self) -> Result<(), PortError> {
        self.file.as_ref().map_or(Ok(()), |file| file.check())
    }

    /// Runs `work` in the writer's `BEGIN IMMEDIATE` transaction, in a savepoint of its own
    /// (writes queued together commit together, see [`crate::writer`]): its changes stand if
    /// it returns `Ok` and the transaction commits, and the answer comes only then.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<PortError> + Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    {
        self.check_file().map_err(E::from)?;
        let (reply, answer) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let job = move |tx: Option<&Transaction<'_>>| -> Ran {
            let Some(tx) = tx else {
                return Ran {
                    succeeded: false,
                    complete: Box::new(move |outcome: Result<(), PortError>| {
                        let error = outcome.err().unwrap_or_else(|| {
                            PortError::unexpected("a write ran without its transaction")
                        });
                        let _ = reply.send(Err(E::from(error)));
                    }),
                };
            };
            let outcome = work(tx);
            Ran {
                succeeded: outcome.is_ok(),
                complete: Box::new(move |committed: Result<(), PortError>| {
                    // A caller that went away no longer wants the answer.
                    let _ = reply.send(match (outcome, committed) {
                        (Ok(value), Ok(())) => Ok(value),
                        (Ok(_), Err(error)) => Err(E::from(error)),
                        (Err(error), _) => Err(error),
                    });
                }),
            }
        };
        self.writer
            .send(WriteJob::InTransaction(Box::new(job)))
            .map_err(|_| E::from(PortError::unexpected("the SQLite writer thread is gone")))?;
        answer
            .await
            .map_err(|_| E::from(PortError::unexpected("the SQLite writer thread failed")))?
    }

    /// Runs `work` on the writer outside any transaction (migration tooling).
    pub async fn with_writer<T, F>(&self, work: F) -> Result<T, PortError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, String> + Send + 'static,
    {
        self.on_writer(work).await?.map_err(PortError::unexpected)
    }
}

#[cfg(test)]
mod statement_cache_tests {
    use super::*;
    use rusqlite::StatementStatus;

    /// The writer's per-job savepoints keep their journal in memory, never in a temporary
    /// file (`temp_store` 2 = MEMORY).
    #[test]
    fn temporary_files_stay_in_memory() {
        let conn = Connection::open_in_memory().unwrap();
        let default: i64 = conn
            .pragma_query_value(None, "temp_store", |row| row.get(0))
            .unwrap();
        configure(&conn).unwrap();
        let configured: i64 = conn
            .pragma_query_value(None, "temp_store", |row| row.get(0))
            .unwrap();
        assert_eq!((default, configured), (0, 2));
    }

    /// Every indexed read, run three times with different values through the statement
    /// cache, is compiled once: SQLite never re-prepares it for a new binding.
    #[test]
    fn hot_statements_are_compiled_once_whatever_their_parameters() {
        let mut conn = Connection::open_in_memory().unwrap();
        configure(&conn).unwrap();
        migrations::run(&mut conn).unwrap();
        for (name, sql) in crate::sql::INDEXED_READS {
            for round in 1..=3_i64 {
                let mut statement = conn.prepare_cached(sql).unwrap();
                let values: Vec<i64> = (0..statement.parameter_count() as i64)
                    .map(|i| round * 10 + i)
                    .collect();
                let mut rows = statement.query(rusqlite::params_from_iter(values)).unwrap();
                while rows.next().unwrap().is_some() {}
                drop(rows);
                assert_eq!(
                    statement.get_status(StatementStatus::RePrepare),
                    0,
                    "{name} was compiled again on run {round}"
                );
            }
        }
    }
}

#[cfg(test)]
mod permission_tests {
    use super::*;

    #[test]
    fn a_directory_that_refuses_new_files_is_named_as_permission_denied() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.db");
        let refused = |_: &Path| Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        let problem = permission_problem(&file, refused).unwrap();
        assert!(
            problem.starts_with(&format!(
                "the directory {} is not writable",
                dir.path().display()
            )),
            "{problem}"
        );
        let allowed = |_: &Path| Ok(());
        assert_eq!(
            permission_problem(&file, allowed),
            None,
            "not a permission problem"
        );
        assert_eq!(
            OpenError::PermissionDenied(problem)
                .to_string()
                .split(':')
                .next(),
            Some("permission denied")
        );
    }

    #[test]
    fn a_writable_directory_is_no_permission_problem() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.db");
        assert_eq!(permission_problem(&file, probe_writable), None);
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "the probe is gone"
        );
    }
}
