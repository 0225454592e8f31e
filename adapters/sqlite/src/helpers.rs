//! Helpers shared by the repositories: cached statements, error conversion, guarded writes,
//! and ending a user's sessions.

use ai_message_core::ports::{InsertError, PortError};
use ai_message_core::{SessionId, UserId};
use rusqlite::{Transaction, params};

use crate::connection::port_error;
use crate::rows;
use crate::sql;

/// `execute` and `query_row` through the connection's statement cache: rusqlite's own
/// compile the SQL text again on every call, which cost a send more than its insert.
pub(crate) trait CachedStatements {
    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;

    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, row: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>;
}

impl CachedStatements for rusqlite::Connection {
    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, row: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, row)
    }
}

/// rusqlite results as port results.
pub(crate) trait OrPortError<T> {
    fn or_port(self) -> Result<T, PortError>;
}

impl<T> OrPortError<T> for rusqlite::Result<T> {
    fn or_port(self) -> Result<T, PortError> {
        self.map_err(port_error)
    }
}

/// A write guarded by unique indexes, as the core sees its outcome (the rule is
/// [`ai_message_sql::unique`]'s).
pub(crate) fn unique<T>(result: rusqlite::Result<T>) -> Result<T, InsertError> {
    ai_message_sql::unique(result, rows::refused_by, port_error)
}

/// Ends the user's sessions except `keep`, and uses up their other refresh tokens.
pub(crate) fn end_sessions_of_user(
    tx: &Transaction<'_>,
    user_id: UserId,
    keep: Option<SessionId>,
    now: &str,
) -> rusqlite::Result<u64> {
    let keep = keep.map(SessionId::get);
    let ended = tx.execute_cached(sql::END_SESSIONS_OF_USER, params![user_id.get(), keep, now])?;
    tx.execute_cached(
        sql::USE_UP_TOKENS_OF_USER,
        params![user_id.get(), keep, now],
    )?;
    Ok(ended as u64)
}
