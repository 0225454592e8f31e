//! The real clock, the operating system's random generator, in-process login counters and
//! the in-process event hub, behind their ports.

mod hub;

pub use hub::{EventHub, Inbox, LocalEvents, Notice, RegisterError, StreamLimits};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DurationRound, TimeDelta, Utc};

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::Timestamp;
use crate::ports::{
    AttemptId, Clock, LoginAttempts, PortError, Reservation, SecretSource, ThrottleKey,
};

/// Wall-clock UTC time, truncated to microseconds so that what storage returns equals what
/// was written.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let now = Utc::now();
        now.duration_trunc(TimeDelta::microseconds(1))
            .unwrap_or(now)
    }
}

/// A clock that tests move: frozen at an instant, or following the system clock, plus an
/// offset that only grows when the test says so. The one test clock of the project.
#[derive(Debug)]
pub struct ManualClock {
    /// `None`: the system clock.
    start: Option<Timestamp>,
    offset: Mutex<TimeDelta>,
}

impl ManualClock {
    /// Always `start` (plus what the test advanced).
    pub fn frozen_at(start: Timestamp) -> Self {
        Self {
            start: Some(start),
            offset: Mutex::new(TimeDelta::zero()),
        }
    }

    /// The system time, plus what the test advanced.
    pub fn following_system() -> Self {
        Self {
            start: None,
            offset: Mutex::new(TimeDelta::zero()),
        }
    }

    pub fn advance(&self, by: TimeDelta) {
        *self.offset.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        let offset = *self.offset.lock().unwrap_or_else(|p| p.into_inner());
        self.start.unwrap_or_else(|| SystemClock.now()) + offset
    }
}

/// Secrets of 256 bits from the operating system's CSPRNG, as 43 URL-safe base64 characters.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsSecretSource;

impl OsSecretSource {
    pub const SECRET_BYTES: usize = 32;
}

impl SecretSource for OsSecretSource {
    fn secret(&self) -> Result<String, PortError> {
        let mut bytes = [0u8; Self::SECRET_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| PortError::unexpected(e.to_string()))?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }
}

/// Login attempt counters in this process's memory: right for one instance (memory and
/// SQLite storage). Memory stays bounded: expired attempts are dropped, and past
/// [`Self::MAX_KEYS`] keys the expired ones are swept before a new key is added.
#[derive(Debug, Default)]
pub struct InProcessLoginAttempts {
    log: Mutex<AttemptLog>,
}

#[derive(Debug, Default)]
struct AttemptLog {
    last_id: i64,
    by_key: HashMap<String, KeyLog>,
}

#[derive(Debug)]
struct KeyLog {
    window: TimeDelta,
    /// Oldest first.
    attempts: VecDeque<(Timestamp, i64)>,
}

impl KeyLog {
    fn prune(&mut self, now: Timestamp) {
        while self
            .attempts
            .front()
            .is_some_and(|(at, _)| *at + self.window <= now)
        {
            self.attempts.pop_front();
        }
    }
}

impl InProcessLoginAttempts {
    pub const MAX_KEYS: usize = 200_000;

    fn lock(&self) -> std::sync::MutexGuard<'_, AttemptLog> {
        // A panic while holding the lock leaves consistent counters; keep serving.
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl LoginAttempts for InProcessLoginAttempts {
    async fn reserve(
        &self,
        keys: &[ThrottleKey],
        now: Timestamp,
    ) -> Result<Reservation, PortError> {
        let mut log = self.lock();
        let mut retry_after: Option<TimeDelta> = None;
        for key in keys.iter().filter(|k| !k.quota.is_off()) {
            let Some(entry) = log.by_key.get_mut(&key.key) else {
                continue;
            };
            entry.window = key.quota.window;
            entry.prune(now);
            let max = key.quota.max as usize;
            if entry.attempts.len() >= max {
                // The attempt whose expiry brings the key back under its quota.
                let (at, _) = entry.attempts[entry.attempts.len() - max];
                let wait = at + key.quota.window - now;
                retry_after = Some(retry_after.map_or(wait, |w| w.max(wait)));
            }
        }
        if let Some(retry_after) = retry_after {
            return Ok(Reservation::Refused { retry_after });
        }
        if log.by_key.len() >= Self::MAX_KEYS {
            log.by_key.retain(|_, entry| {
                entry.prune(now);
                !entry.attempts.is_empty()
            });
        }
        log.last_id += 1;
        let id = log.last_id;
        for key in keys.iter().filter(|k| !k.quota.is_off()) {
            log.by_key
                .entry(key.key.clone())
                .or_insert_with(|| KeyLog {
                    window: key.quota.window,
                    attempts: VecDeque::new(),
                })
                .attempts
                .push_back((now, id));
        }
        Ok(Reservation::Admitted(AttemptId(id)))
    }

    async fn release(&self, attempt: AttemptId, keys: &[ThrottleKey]) -> Result<(), PortError> {
        let mut log = self.lock();
        for key in keys {
            if let Some(entry) = log.by_key.get_mut(&key.key) {
                entry.attempts.retain(|(_, id)| *id != attempt.0);
                if entry.attempts.is_empty() {
                    log.by_key.remove(&key.key);
                }
            }
        }
        Ok(())
    }

    async fn clear(&self, key: &str) -> Result<(), PortError> {
        self.lock().by_key.remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Quota;
    use std::collections::HashSet;

    fn key(name: &str, max: u32) -> ThrottleKey {
        ThrottleKey {
            key: name.into(),
            quota: Quota::new(max, TimeDelta::minutes(15)),
        }
    }

    fn t(minutes: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::minutes(minutes)
    }

    #[tokio::test]
    async fn in_process_attempts_refuse_past_the_quota_until_the_window_slides() {
        let attempts = InProcessLoginAttempts::default();
        let keys = [key("pair", 2), key("account", 10)];
        for minute in 0..2 {
            assert!(matches!(
                attempts.reserve(&keys, t(minute)).await.unwrap(),
                Reservation::Admitted(_)
            ));
        }
        assert_eq!(
            attempts.reserve(&keys, t(5)).await.unwrap(),
            Reservation::Refused {
                retry_after: TimeDelta::minutes(10)
            }
        );
        // The refused attempt counted under no key.
        assert!(matches!(
            attempts.reserve(&[key("account", 3)], t(5)).await.unwrap(),
            Reservation::Admitted(_)
        ));
        assert!(matches!(
            attempts.reserve(&keys, t(15)).await.unwrap(),
            Reservation::Admitted(_)
        ));
    }

    #[tokio::test]
    async fn released_and_cleared_attempts_no_longer_count() {
        let attempts = InProcessLoginAttempts::default();
        let keys = [key("pair", 1)];
        let Reservation::Admitted(id) = attempts.reserve(&keys, t(0)).await.unwrap() else {
            panic!("first attempt refused");
        };
        attempts.release(id, &keys).await.unwrap();
        assert!(matches!(
            attempts.reserve(&keys, t(0)).await.unwrap(),
            Reservation::Admitted(_)
        ));
        attempts.clear("pair").await.unwrap();
        assert!(matches!(
            attempts.reserve(&keys, t(0)).await.unwrap(),
            Reservation::Admitted(_)
        ));
    }

    #[test]
    fn secrets_carry_256_bits_and_do_not_repeat() {
        let source = OsSecretSource;
        let secrets: HashSet<String> = (0..1000).map(|_| source.secret().unwrap()).collect();
        assert_eq!(secrets.len(), 1000);
        for secret in &secrets {
            let decoded = URL_SAFE_NO_PAD.decode(secret).unwrap();
            assert_eq!(decoded.len(), 32);
        }
    }

    #[test]
    fn clock_keeps_microseconds_only() {
        let now = SystemClock.now();
        assert_eq!(now.timestamp_subsec_nanos() % 1000, 0);
    }
}
