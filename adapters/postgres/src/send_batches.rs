//! Group commit for sends: the sends that queue up while a worker is busy go into one
//! transaction, with one commit (one WAL flush) for all of them.
//!
//! A send's own transaction cost PostgreSQL more in its commit than in its insert, and
//! sends of one user queue on that user's `delivery_counters` row until each commit's flush
//! is done. A batch reads every job's session with its recipient, and its parent, in one
//! pipelined round trip, judges them in order as [`send_in_transaction`] does, pipelines the
//! inserts, and commits once. Positions are taken in the batch's order, inside the
//! transaction, so the delivery order guarantees are those of single sends.
//!
//! Deadlocks: every transaction here takes its locks in one order: conversation bindings
//! (one per job at most), then delivery counters in ascending user id. A single send does
//! (its insert locks its one or two counters sorted); a batch binds its jobs' conversations
//! as it judges them, then locks all its counters in one sorted pass before any insert. So no
//! transaction ever holds a counter while it waits for a binding or a lower counter; a cycle
//! can only form among the bindings of two batches, and the batch PostgreSQL picks to fail
//! is run again job by job (below).
//!
//! A batch whose transaction fails before its commit (a statement error) was rolled back
//! whole; its jobs are then run one by one, each in its own transaction, so one bad job
//! cannot sink the others. A failed commit is reported to every job of the batch: whether it
//! took effect is unknown, and running the jobs again could store them twice.

use std::sync::Arc;

use ai_message_core::ports::{NewMessage, PortError, SendJob, SendOutcome};
use ai_message_core::{Gated, UserId};
use deadpool_postgres::{GenericClient, Pool};
use futures_util::future::join_all;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::helpers::OrPortError;
use crate::messages::{check_send, insert_delivered, message_in, send_in_transaction};
use crate::rows::{self, pg_id};
use crate::sessions::sender_session_and_recipient;
use crate::sql;

/// Batches in flight at once (each holds one pooled connection while it runs).
const WORKERS: usize = 2;
/// Jobs committed together at most.
const MAX_BATCH: usize = 32;

type Answer = Result<Gated<SendOutcome>, PortError>;

struct Queued {
    job: SendJob,
    reply: oneshot::Sender<Answer>,
}

/// The queue of sends and its workers; they end when this is dropped.
pub(crate) struct SendBatches {
    queue: mpsc::UnboundedSender<Queued>,
}

impl SendBatches {
    /// Starts the workers (inside a Tokio runtime).
    pub(crate) fn start(pool: Pool) -> Self {
        let (queue, jobs) = mpsc::unbounded_channel();
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..WORKERS {
            tokio::spawn(work(pool.clone(), jobs.clone()));
        }
        Self { queue }
    }

    /// Runs `job` in the next batch and waits for its answer. The job runs to its end even
    /// if the caller goes away.
    pub(crate) async fn send(&self, job: SendJob) -> Answer {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Queued { job, reply })
            .map_err(|_| PortError::unexpected("the PostgreSQL send workers are gone"))?;
        answer
            .await
            .map_err(|_| PortError::unexpected("a PostgreSQL send batch failed"))?
    }
}

async fn work(pool: Pool, jobs: Arc<Mutex<mpsc::UnboundedReceiver<Queued>>>) {
    loop {
        let batch = {
            let mut jobs = jobs.lock().await;
            let Some(first) = jobs.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(queued) => batch.push(queued),
                    Err(_) => break,
                }
            }
            batch
        };
        // On a task of its own: a panic loses this batch's answers (its callers hear that
        // the batch failed), not the worker.
        let pool = pool.clone();
        let _ = tokio::spawn(async move { run(&pool, batch).await }).await;
    }
}

async fn run(pool: &Pool, batch: Vec<Queued>) {
    let client = match pool.get().await {
        Ok(client) => client,
        Err(error) => return unavailable_to_all(batch, &rows::pool_error(error)),
    };
    if batch.len() == 1 {
        return one_by_one(&client, batch).await;
    }
    let jobs: Vec<SendJob> = batch.iter().map(|queued| queued.job.clone()).collect();
    match send_together(&client, jobs).await {
        Ok(answers) => {
            for (queued, answer) in batch.into_iter().zip(answers) {
                let _ = queued.reply.send(Ok(answer));
            }
        }
        Err(Failed::RolledBack(error)) => {
            tracing::debug!(%error, jobs = batch.len(), "a send batch was rolled back; sending one by one");
            one_by_one(&client, batch).await;
        }
        Err(Failed::Commit(error)) => unavailable_to_all(batch, &error),
    }
}

/// Each job in a transaction of its own (see [`send_in_transaction`]).
async fn one_by_one(client: &deadpool_postgres::Object, batch: Vec<Queued>) {
    for queued in batch {
        let _ = queued
            .reply
            .send(send_in_transaction(client, queued.job).await);
    }
}

/// Tells every job of the batch that the database failed it, and how.
fn unavailable_to_all(batch: Vec<Queued>, error: &PortError) {
    let error = error.to_string();
    for queued in batch {
        let _ = queued.reply.send(Err(PortError::Unavailable {
            what: "the PostgreSQL database",
            source: error.clone().into(),
        }));
    }
}

enum Failed {
    /// Nothing of the batch is stored.
    RolledBack(PortError),
    /// The commit failed: its effect is unknown.
    Commit(PortError),
}

/// The counters a batch takes positions from, in locking order.
fn counters_of(messages: &[&NewMessage]) -> Vec<i32> {
    let mut ids: Vec<i32> = messages
        .iter()
        .flat_map(|new| [new.sender_id, new.recipient_id])
        .filter(|user| !user.is_assistant())
        .filter_map(pg_id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

async fn send_together(
    client: &deadpool_postgres::Object,
    jobs: Vec<SendJob>,
) -> Result<Vec<Gated<SendOutcome>>, Failed> {
    let checked = check_together(client, jobs).await;
    let (mut answers, pending) = match checked {
        Ok(checked) => checked,
        Err(error) => return Err(rolled_back(client, error).await),
    };
    if !pending.is_empty() {
        let inserted = async {
            let lock = client
                .prepare_cached(sql::LOCK_DELIVERY_COUNTERS)
                .await
                .or_port()?;
            let insert = client
                .prepare_cached(sql::INSERT_DELIVERED_MESSAGE)
                .await
                .or_port()?;
            let counters = counters_of(&pending.iter().map(|(_, _, new)| new).collect::<Vec<_>>());
            let lock_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&counters];
            // The counters first, then every insert, all sent before the first answer is
            // awaited: one round trip. A failed statement fails the ones after it.
            let (locked, inserted) = tokio::join!(
                client.execute(&lock, &lock_params),
                join_all(pending.into_iter().map(|(index, admitted, new)| {
                    let insert = &insert;
                    async move {
                        insert_delivered(client, insert, new)
                            .await
                            .map(|delivered| (index, admitted, delivered))
                    }
                })),
            );
            locked.or_port()?;
            inserted.into_iter().collect::<Result<Vec<_>, PortError>>()
        }
        .await;
        match inserted {
            Ok(inserted) => {
                for (index, admitted, delivered) in inserted {
                    answers[index] = Some(Gated::Admitted(admitted, SendOutcome::Sent(delivered)));
                }
            }
            Err(error) => return Err(rolled_back(client, error).await),
        }
    }
    client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| Failed::Commit(rows::port_error(e)))?;
    answers
        .into_iter()
        .map(|answer| {
            answer.ok_or_else(|| {
                Failed::Commit(PortError::unexpected("a batched send was left unanswered"))
            })
        })
        .collect()
}

type Pending = (
    usize,
    ai_message_core::Admitted,
    ai_message_core::ports::NewMessage,
);

/// `BEGIN` and every job's reads in one round trip; then each job judged in order (binding
/// its conversation when it is new). Refusals are answered; passed jobs wait for their
/// insert.
async fn check_together(
    client: &deadpool_postgres::Object,
    jobs: Vec<SendJob>,
) -> Result<(Vec<Option<Gated<SendOutcome>>>, Vec<Pending>), PortError> {
    let reads = join_all(jobs.iter().map(|job| async move {
        tokio::join!(
            sender_session_and_recipient(client, job.gate.session_id(), job.recipient_id),
            message_in(client, job.parent_id),
        )
    }));
    let (begun, reads) = tokio::join!(client.batch_execute("BEGIN"), reads);
    begun.or_port()?;
    let mut answers = Vec::with_capacity(jobs.len());
    let mut pending = Vec::new();
    for (index, (job, (checks, parent))) in jobs.into_iter().zip(reads).enumerate() {
        let (found, recipient_exists) = checks?;
        let admitted = match job.gate.check(found) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                answers.push(Some(Gated::Refused(refusal)));
                continue;
            }
        };
        let sender_id: UserId = admitted.caller().user.id;
        match check_send(client, sender_id, job, recipient_exists, parent?).await? {
            Ok(new) => {
                answers.push(None);
                pending.push((index, admitted, new));
            }
            Err(refused) => answers.push(Some(Gated::Admitted(admitted, refused))),
        }
    }
    Ok((answers, pending))
}

async fn rolled_back(client: &deadpool_postgres::Object, error: PortError) -> Failed {
    if let Err(rollback) = client.batch_execute("ROLLBACK").await {
        // The connection is broken: the transaction ends with it, nothing was committed.
        tracing::warn!(error = %rollback, "could not roll a send batch back");
    }
    Failed::RolledBack(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ai_message_core::{AccessClaim, ConversationId, MessageContent, SessionGate, SessionId};

    fn job(sender: i64, recipient: i64) -> SendJob {
        SendJob {
            gate: SessionGate::new(
                AccessClaim::new(UserId::new(sender), SessionId::new(1)),
                chrono::Utc::now(),
            ),
            recipient_id: UserId::new(recipient),
            content: MessageContent::parse("hi").unwrap(),
            parent_id: None,
            conversation_id: None::<ConversationId>,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_batch_locks_each_counter_once_in_ascending_order_and_the_assistant_has_none() {
        let messages: Vec<NewMessage> = [(9, 2), (2, 9), (4, -1), (7, 3)]
            .into_iter()
            .map(|(from, to)| {
                job(from, to).into_message(
                    UserId::new(from),
                    ConversationId::between(UserId::new(from), UserId::new(to)),
                )
            })
            .collect();
        assert_eq!(
            counters_of(&messages.iter().collect::<Vec<_>>()),
            vec![2, 3, 4, 7, 9]
        );
    }
}
