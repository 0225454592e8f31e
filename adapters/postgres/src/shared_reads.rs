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

use ai_message_core::ports::PortError;
use deadpool_postgres::{Object, Pool};

use crate::rows;

/// One connection taken from the pool for good, replaced when it closes.
pub(crate) struct SharedReads {
    pool: Pool,
    /// `None` until the first read, and after the connection was found closed.
    connection: parking_lot::Mutex<Option<Arc<Object>>>,
}

impl SharedReads {
    pub(crate) fn new(pool: Pool) -> Self {
        Self {
            pool,
            connection: parking_lot::Mutex::new(None),
        }
    }

    /// The shared connection; a closed one (its server went away, or its reply deadline
    /// passed) is handed back to the pool, which discards it, and a fresh one taken.
    pub(crate) async fn client(&self) -> Result<Arc<Object>, PortError> {
        if self.pool.status().max_size < 2 {
            // The pool's only connection cannot be kept aside from writes.
            return Ok(Arc::new(self.pool.get().await.map_err(rows::pool_error)?));
        }
        if let Some(live) = self.live() {
            return Ok(live);
        }
        let fresh = Arc::new(self.pool.get().await.map_err(rows::pool_error)?);
        let mut connection = self.connection.lock();
        // Another request may have replaced it meanwhile: keep one, return the other.
        match connection.as_ref() {
            Some(installed) if !installed.is_closed() => Ok(installed.clone()),
            _ => {
                *connection = Some(fresh.clone());
                Ok(fresh)
            }
        }
    }

    fn live(&self) -> Option<Arc<Object>> {
        let mut connection = self.connection.lock();
        match connection.as_ref() {
            Some(client) if !client.is_closed() => Some(client.clone()),
            Some(_) => {
                *connection = None;
                None
            }
            None => None,
        }
    }
}
