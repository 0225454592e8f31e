//! The password-hasher port on bcrypt (`$2b$`, as Python's `bcrypt` package writes it).
//!
//! Hashing is slow on purpose, so every hash and verify runs on tokio's blocking pool, and a
//! semaphore bounds how many run at once: a burst of logins queues instead of starving the
//! runtime's other work of CPU.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ai_message_core::ports::{PasswordHasher, PortError};
use ai_message_core::{Password, PasswordHash};
use async_trait::async_trait;
use tokio::sync::Semaphore;

/// bcrypt reads at most this many bytes of a password.
const MAX_PASSWORD_BYTES: usize = 72;

/// Why a hasher could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("bcrypt cost must be between 4 and 31, got {0}")]
    CostOutOfRange(u32),
    #[error("the operating system's random generator failed: {0}")]
    Random(#[source] getrandom::Error),
    /// The hash of the unknown-user path could not be made.
    #[error("bcrypt could not hash: {0}")]
    Hashing(#[source] bcrypt::BcryptError),
}

#[derive(Clone)]
pub struct BcryptHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    /// Hashes running or waiting, and how many may: past it, callers get `Overloaded`.
    admitted: Arc<AtomicUsize>,
    max_admitted: usize,
    /// A hash of a random password at `cost`, verified for unknown users.
    dummy_hash: Arc<str>,
}

impl BcryptHasher {
    pub const MIN_COST: u32 = 4;
    pub const MAX_COST: u32 = 31;

    /// Waiting hashes allowed per running one, by default.
    pub const DEFAULT_QUEUE_PER_WORKER: usize = 32;

    /// A hasher at `cost` (4..=31) that runs at most `max_concurrent` hashes at once (at
    /// least one), with the default queue. Computes one hash up front for the unknown-user
    /// path.
    pub fn new(cost: u32, max_concurrent: usize) -> Result<Self, ConfigError> {
        Self::with_queue(
            cost,
            max_concurrent,
            max_concurrent.max(1) * Self::DEFAULT_QUEUE_PER_WORKER,
        )
    }

    /// As [`BcryptHasher::new`], with at most `max_waiting` hashes queued behind the running
    /// ones; one more is refused at once as `Overloaded` (a 503), so a flood of logins costs
    /// neither unbounded memory nor unbounded latency.
    pub fn with_queue(
        cost: u32,
        max_concurrent: usize,
        max_waiting: usize,
    ) -> Result<Self, ConfigError> {
        if !(Self::MIN_COST..=Self::MAX_COST).contains(&cost) {
            return Err(ConfigError::CostOutOfRange(cost));
        }
        // Nobody may log in as "unknown user" by guessing the dummy's password.
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(ConfigError::Random)?;
        let dummy_password: String = seed.iter().map(|b| format!("{b:02x}")).collect();
        let dummy_hash =
            bcrypt::non_truncating_hash(dummy_password, cost).map_err(ConfigError::Hashing)?;
        let max_concurrent = max_concurrent.max(1);
        Ok(Self {
            cost,
            permits: Arc::new(Semaphore::new(max_concurrent)),
            admitted: Arc::new(AtomicUsize::new(0)),
            max_admitted: max_concurrent + max_waiting,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// As many concurrent hashes as the machine has cores.
    pub fn with_cost(cost: u32) -> Result<Self, ConfigError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cost, cores)
    }

    pub fn cost(&self) -> u32 {
        self.cost
    }

    async fn run_blocking<T, F>(&self, work: F) -> Result<T, PortError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let Some(_admission) = Admission::take(&self.admitted, self.max_admitted) else {
            metrics::counter!(REFUSALS).increment(1);
            return Err(PortError::Overloaded {
                what: "password hashing",
            });
        };
        let waiting = Waiting::start();
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(PortError::unexpected)?;
        drop(waiting);
        tokio::task::spawn_blocking(work)
            .await
            .map_err(PortError::unexpected)
    }
}

/// Hashes waiting for a worker (a gauge), and hashes refused because the queue was full.
pub const QUEUE_DEPTH: &str = "password_hash_queue_depth";
pub const REFUSALS: &str = "password_hash_refusals_total";

/// Describes the hasher's metrics for the exposition's `# HELP` lines.
pub fn describe_metrics() {
    metrics::describe_gauge!(QUEUE_DEPTH, "Password hashes waiting for a worker");
    metrics::describe_counter!(
        REFUSALS,
        "Password hashes refused because the queue was full (answered 503)"
    );
}

/// One hash waiting for a worker, counted in [`QUEUE_DEPTH`] until it starts or is dropped.
struct Waiting;

impl Waiting {
    fn start() -> Self {
        metrics::gauge!(QUEUE_DEPTH).increment(1.0);
        Self
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        metrics::gauge!(QUEUE_DEPTH).decrement(1.0);
    }
}

/// One admitted hash; leaving (done, failed or cancelled) frees its place.
struct Admission<'a>(&'a AtomicUsize);

impl<'a> Admission<'a> {
    fn take(counter: &'a AtomicUsize, max: usize) -> Option<Self> {
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(counter))
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Checks a candidate against a hash, always spending one full bcrypt run.
///
/// A candidate over 72 bytes was never hashed by us (registration refuses it), and bcrypt
/// would compare only its first 72 bytes: it never matches. It still costs a full run, so the
/// answer time does not depend on the length or on whether the user exists. A hash in an
/// unknown format never matches either.
fn verify_sync(candidate: &str, hash: &str) -> bool {
    let bytes = candidate.as_bytes();
    let within_limit = bytes.len() <= MAX_PASSWORD_BYTES;
    let prefix = &bytes[..bytes.len().min(MAX_PASSWORD_BYTES)];
    let matches = bcrypt::verify(prefix, hash).unwrap_or(false);
    matches && within_limit
}

#[async_trait]
impl PasswordHasher for BcryptHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, PortError> {
        let password = password.expose().to_owned();
        // `Password` holds at most 72 bytes; checked again here because this is the line
        // that must never truncate. (The crate's `non_truncating_hash` refuses exactly 72
        // bytes, counting bcrypt's own NUL terminator; Python's bcrypt accepts 72.)
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(PortError::unexpected("password longer than 72 bytes"));
        }
        let cost = self.cost;
        self.run_blocking(move || bcrypt::hash(password, cost))
            .await?
            .map(PasswordHash::new)
            .map_err(PortError::unexpected)
    }

    async fn verify(&self, candidate: &str, hash: &PasswordHash) -> Result<bool, PortError> {
        let candidate = candidate.to_owned();
        let hash = hash.expose().to_owned();
        self.run_blocking(move || verify_sync(&candidate, &hash))
            .await
    }

    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        // An unparsable hash never verifies, so there is nothing to upgrade.
        hash.expose()
            .parse::<bcrypt::HashParts>()
            .is_ok_and(|parts| parts.get_cost() != self.cost)
    }

    async fn verify_dummy(&self, candidate: &str) -> Result<(), PortError> {
        let candidate = candidate.to_owned();
        let hash = self.dummy_hash.clone();
        self.run_blocking(move || {
            verify_sync(&candidate, &hash);
        })
        .await
    }
}
