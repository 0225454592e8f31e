//! Failed-login counters kept in this process: right for one instance.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use ai_message_core::domain::Timestamp;
use ai_message_core::ports::{AttemptId, LoginAttempts, PortError, Reservation, ThrottleKey};
use async_trait::async_trait;
use chrono::TimeDelta;

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
    use ai_message_core::ports::Quota;

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
}
