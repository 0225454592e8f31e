//! Counters of login attempts. The login use case owns the policy (which keys, which quotas);
//! this port only counts, atomically, wherever the counters live: in the process for one
//! instance, in the database when several instances share one.

use async_trait::async_trait;
use chrono::TimeDelta;

use super::PortError;
use crate::domain::Timestamp;

/// How many attempts a key may have within a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// 0 turns the quota off.
    pub max: u32,
    pub window: TimeDelta,
}

impl Quota {
    pub const fn new(max: u32, window: TimeDelta) -> Self {
        Self { max, window }
    }

    pub const fn off() -> Self {
        Self {
            max: 0,
            window: TimeDelta::seconds(1),
        }
    }

    pub const fn is_off(&self) -> bool {
        self.max == 0
    }
}

/// One counter and the quota it is held to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleKey {
    pub key: String,
    pub quota: Quota,
}

/// Names the attempts one [`LoginAttempts::reserve`] recorded, to take them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttemptId(pub i64);

/// Outcome of [`LoginAttempts::reserve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// One attempt is now counted under every key.
    Admitted(AttemptId),
    /// A key is at its quota; nothing was counted. `retry_after` is when it frees a place.
    Refused { retry_after: TimeDelta },
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait LoginAttempts: Send + Sync {
    /// Atomically against every other caller sharing these counters: when every key has
    /// fewer than `quota.max` attempts within `quota.window` before `now`, counts one attempt
    /// under each key and answers `Admitted`; otherwise counts nothing and answers `Refused`.
    /// So N simultaneous callers can never pass a quota of fewer than N.
    async fn reserve(&self, keys: &[ThrottleKey], now: Timestamp)
    -> Result<Reservation, PortError>;

    /// Takes back the attempts of one reservation under `keys` (the ones it was made with):
    /// the password was right, or was never checked. Unknown ids are ignored.
    async fn release(&self, attempt: AttemptId, keys: &[ThrottleKey]) -> Result<(), PortError>;

    /// Forgets every attempt counted under `key`.
    async fn clear(&self, key: &str) -> Result<(), PortError>;
}
