//! The connection the hot reads share: the session check of every authenticated request and
//! the message pages beside it. tokio-postgres pipelines the queries of every task using one
//! client, so concurrent requests' statements leave in one write and their answers come back
//! in one read, and PostgreSQL's backend runs them without sleeping between them. Each
//! request on a pooled connection of its own paid a round of system calls and wake-ups on
//! both sides: per read, 172 µs of CPU (server and PostgreSQL) against 113 µs shared
//! (BENCHMARKS.md, issue 27).
//!
//! Every query still carries its own `Sync`: it is its own implicit transaction, sees what
//! committed before it was sent (a logout answered before the next request is seen by that
//! request's check), and an error in one fails no other. Only short reads go here (one row,
//! or a page of a bounded size), so none waits long behind another; transactions and long
//! reads keep their pooled connection. One connection measured cheaper than two or four on
//! two cores (BENCHMARKS.md), and it serves some 20,000 reads a second: instances scale out.

use std::sync::Arc;
use std::time::Instant;

use ai_message_core::ports::PortError;
use deadpool_postgres::{Object, Pool};

use crate::connect::{IDLE_CHECK_AFTER, IDLE_CHECK_TIMEOUT};
use crate::rows;

/// One connection taken from the pool for good, replaced when it closes.
pub(crate) struct SharedReads {
    pool: Pool,
    /// `None` until the first read, and after the connection was found closed or silent.
    connection: parking_lot::Mutex<Option<Shared>>,
}

struct Shared {
    client: Arc<Object>,
    last_used: Instant,
}

impl SharedReads {
    pub(crate) fn new(pool: Pool) -> Self {
        Self {
            pool,
            connection: parking_lot::Mutex::new(None),
        }
    }

    /// The shared connection. A closed one (its server went away, or its reply deadline
    /// passed) is handed back to the pool, which discards it, and a fresh one taken; one
    /// unused for a while is first checked with a round trip, as the pool checks its idle
    /// connections, so a network path that lost its state meanwhile costs a short check
    /// instead of a request waiting out the reply deadline.
    pub(crate) async fn client(&self) -> Result<Arc<Object>, PortError> {
        if self.pool.status().max_size < 2 {
            // The pool's only connection cannot be kept aside from writes.
            return Ok(Arc::new(self.pool.get().await.map_err(rows::pool_error)?));
        }
        if let Some((client, idle)) = self.installed() {
            if !idle || answers(&client).await {
                return Ok(client);
            }
            self.discard(&client);
        }
        let fresh = Arc::new(self.pool.get().await.map_err(rows::pool_error)?);
        let mut connection = self.connection.lock();
        // Another request may have replaced it meanwhile: keep one, return the other.
        match connection.as_ref() {
            Some(installed) if !installed.client.is_closed() => Ok(installed.client.clone()),
            _ => {
                *connection = Some(Shared {
                    client: fresh.clone(),
                    last_used: Instant::now(),
                });
                Ok(fresh)
            }
        }
    }

    /// The installed connection if it is open, and whether it sat unused long enough to be
    /// checked first (only the first request after the pause checks it).
    fn installed(&self) -> Option<(Arc<Object>, bool)> {
        let mut connection = self.connection.lock();
        let shared = connection.as_mut()?;
        if shared.client.is_closed() {
            *connection = None;
            return None;
        }
        let idle = shared.last_used.elapsed() >= IDLE_CHECK_AFTER;
        shared.last_used = Instant::now();
        Some((shared.client.clone(), idle))
    }

    fn discard(&self, client: &Arc<Object>) {
        let mut connection = self.connection.lock();
        if connection
            .as_ref()
            .is_some_and(|shared| Arc::ptr_eq(&shared.client, client))
        {
            *connection = None;
        }
    }
}

/// Whether the connection answers a round trip in time.
async fn answers(client: &Object) -> bool {
    matches!(
        tokio::time::timeout(IDLE_CHECK_TIMEOUT, client.simple_query("")).await,
        Ok(Ok(_))
    )
}
