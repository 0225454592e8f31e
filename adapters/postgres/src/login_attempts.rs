//! Failed-login counters in the database, so every instance counts against one limit.

use ai_message_core::Timestamp;
use ai_message_core::ports::{AttemptId, LoginAttempts, PortError, Reservation, ThrottleKey};
use async_trait::async_trait;
use chrono::TimeDelta;

use crate::PostgresStore;
use crate::helpers::OrPortError;
use crate::rows::naive;
use crate::sql;

/// One reservation in this many also sweeps every expired attempt.
const PRUNE_EVERY: i64 = 64;

#[async_trait]
impl LoginAttempts for PostgresStore {
    async fn reserve(
        &self,
        keys: &[ThrottleKey],
        now: Timestamp,
    ) -> Result<Reservation, PortError> {
        let mut keys: Vec<&ThrottleKey> = keys.iter().filter(|k| !k.quota.is_off()).collect();
        if keys.is_empty() {
            // Limits off: nothing to count, no round trip.
            return Ok(Reservation::Admitted(AttemptId(0)));
        }
        // One lock order for every instance: no deadlock between two reservations.
        keys.sort_by(|a, b| a.key.cmp(&b.key));
        let mut client = self.client().await?;
        let tx = client.transaction().await.or_port()?;
        let mut retry_after: Option<TimeDelta> = None;
        for key in &keys {
            tx.execute(sql::LOCK_THROTTLE_KEY, &[&key.key])
                .await
                .or_port()?;
            let since = naive(now - key.quota.window);
            tx.execute(sql::PRUNE_THROTTLE_KEY, &[&key.key, &since])
                .await
                .or_port()?;
            let attempts = tx
                .query(sql::ATTEMPTS_SINCE, &[&key.key, &since])
                .await
                .or_port()?;
            let max = key.quota.max as usize;
            if attempts.len() >= max {
                let at: chrono::NaiveDateTime =
                    attempts[attempts.len() - max].try_get(0).or_port()?;
                let wait = at.and_utc() + key.quota.window - now;
                retry_after = Some(retry_after.map_or(wait, |w| w.max(wait)));
            }
        }
        if let Some(retry_after) = retry_after {
            tx.commit().await.or_port()?;
            return Ok(Reservation::Refused { retry_after });
        }
        let attempt: i64 = tx
            .query_one(sql::NEXT_ATTEMPT_ID, &[])
            .await
            .or_port()?
            .try_get(0)
            .or_port()?;
        for key in &keys {
            tx.execute(sql::INSERT_ATTEMPT, &[&attempt, &key.key, &naive(now)])
                .await
                .or_port()?;
        }
        // Counters of keys never tried again (an address that went away) are dropped now and
        // then, so the table stays as small as the windows make it.
        if attempt % PRUNE_EVERY == 0 {
            let longest = keys
                .iter()
                .map(|k| k.quota.window)
                .max()
                .unwrap_or_default();
            tx.execute(sql::PRUNE_EXPIRED_ATTEMPTS, &[&naive(now - longest)])
                .await
                .or_port()?;
        }
        tx.commit().await.or_port()?;
        Ok(Reservation::Admitted(AttemptId(attempt)))
    }

    async fn release(&self, attempt: AttemptId, keys: &[ThrottleKey]) -> Result<(), PortError> {
        let names: Vec<&str> = keys
            .iter()
            .filter(|k| !k.quota.is_off())
            .map(|k| k.key.as_str())
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        let client = self.client().await?;
        client
            .execute(sql::RELEASE_ATTEMPT, &[&names, &attempt.0])
            .await
            .or_port()?;
        Ok(())
    }

    async fn clear(&self, key: &str) -> Result<(), PortError> {
        let client = self.client().await?;
        client
            .execute(sql::CLEAR_THROTTLE_KEY, &[&key])
            .await
            .or_port()?;
        Ok(())
    }
}
