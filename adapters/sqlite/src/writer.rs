//! The writer thread: every write of the process goes through it, so none meets
//! `SQLITE_BUSY`. Transactional jobs that queue up while one commits are committed together
//! (group commit): each runs in a savepoint of one `BEGIN IMMEDIATE` transaction, so a job
//! that fails rolls back alone, and every job learns its outcome only once the transaction
//! is durable. One fsync then serves many writes.

use rusqlite::{Connection, Transaction, TransactionBehavior};

use ai_message_core::PortError;

use crate::helpers::CachedStatements;

/// Jobs committed together at most.
const MAX_BATCH: usize = 64;

/// What a transactional job reports after it ran: whether its changes stand, and what to do
/// once the transaction's fate is known (`Ok` when committed).
pub(crate) struct Ran {
    pub succeeded: bool,
    pub complete: Box<dyn FnOnce(Result<(), PortError>) + Send>,
}

/// A transactional job: given the writer's transaction it does its work; given none (the
/// transaction could not begin) it only reports.
pub(crate) type TransactionJob = Box<dyn for<'a> FnOnce(Option<&Transaction<'a>>) -> Ran + Send>;

pub(crate) enum WriteJob {
    /// Runs alone, outside any transaction (migrations, tooling).
    Plain(Box<dyn FnOnce(&mut Connection) + Send>),
    /// Runs inside the writer's transaction, in a savepoint of its own.
    InTransaction(TransactionJob),
}

pub(crate) fn start_writer(mut conn: Connection) -> crossbeam_channel::Sender<WriteJob> {
    let (jobs, queue) = crossbeam_channel::unbounded::<WriteJob>();
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || {
            // Ends when the last sender (the store) is dropped.
            let mut next = queue.recv().ok();
            while let Some(job) = next.take() {
                match job {
                    WriteJob::Plain(job) => run_plain(&mut conn, job),
                    WriteJob::InTransaction(first) => {
                        let mut batch = vec![first];
                        while batch.len() < MAX_BATCH {
                            match queue.try_recv() {
                                Ok(WriteJob::InTransaction(job)) => batch.push(job),
                                Ok(plain) => {
                                    next = Some(plain);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        commit_together(&mut conn, batch);
                    }
                }
                if next.is_none() {
                    next = queue.recv().ok();
                }
            }
        })
        .expect("the writer thread starts");
    jobs
}

fn run_plain(conn: &mut Connection, job: Box<dyn FnOnce(&mut Connection) + Send>) {
    // A job that panics loses its answer (the caller sees an error), not the thread.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(conn)));
}

fn commit_together(conn: &mut Connection, batch: Vec<TransactionJob>) {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(error) => {
            // Nothing ran: every caller is told why.
            let message = error.to_string();
            for job in batch {
                (job(None).complete)(Err(unavailable(&message)));
            }
            return;
        }
    };
    let mut completions = Vec::with_capacity(batch.len());
    for job in batch {
        if let Err(error) = tx.execute_cached("SAVEPOINT job", []) {
            // The job cannot run; its caller hears why rather than losing the answer.
            (job(None).complete)(Err(unavailable(&error.to_string())));
            continue;
        }
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Some(&tx))));
        match ran {
            Ok(ran) if ran.succeeded => {
                let _ = tx.execute_cached("RELEASE job", []);
                completions.push(ran.complete);
            }
            Ok(ran) => {
                undo_job(&tx);
                completions.push(ran.complete);
            }
            Err(_) => undo_job(&tx),
        }
    }
    let committed = tx.commit().map_err(|e| e.to_string());
    for complete in completions {
        complete(
            committed
                .as_ref()
                .map_err(|message| unavailable(message))
                .copied(),
        );
    }
}

/// Takes back what a failed job wrote, keeping the others' work in the transaction.
fn undo_job(tx: &rusqlite::Transaction<'_>) {
    let _ = tx.execute_cached("ROLLBACK TO job", []);
    let _ = tx.execute_cached("RELEASE job", []);
}

/// The transaction did not happen (it could not begin, or its commit failed): nothing of it
/// is stored, and the caller may retry.
fn unavailable(message: &str) -> PortError {
    PortError::Unavailable {
        what: "the SQLite database",
        source: message.to_string().into(),
    }
}
