//! Helpers shared by the repositories: error conversion, paging, guarded inserts, and
//! ending a user's sessions.

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

/// A statement guarded by unique constraints: `PhoneTaken` when the phone number's index
/// refused it, `Duplicate` when another one did.
pub(crate) fn unique<T>(result: rusqlite::Result<T>) -> Result<T, InsertError> {
    result.map_err(|error| {
        if !rows::is_unique_violation(&error) {
            InsertError::Port(port_error(error))
        } else if error.to_string().contains("users.phone_number") {
            InsertError::PhoneTaken
        } else {
            InsertError::Duplicate
        }
    })
}

/// The outcome of an insert guarded by unique constraints: the new row, read back by its id
/// with `select`, or `Duplicate` when a constraint refused it.
pub(crate) fn inserted_row<T>(
    tx: &Transaction<'_>,
    inserted: rusqlite::Result<usize>,
    select: &str,
    row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<T, InsertError> {
    unique(inserted)?;
    Ok(tx
        .query_row_cached(select, [tx.last_insert_rowid()], row)
        .or_port()?)
}

/// Ends the user's sessions except `keep`, and uses up their other refresh tokens.
pub(crate) fn end_sessions_of_user(
    tx: &Transaction<'_>,
    user_id: UserId,
    keep: Option<SessionId>,
    now: &str,
) -> rusqlite::Result<u64> {
    let ended = match keep {
        Some(keep) => tx.execute_cached(
            sql::END_OTHER_SESSIONS,
            params![user_id.get(), keep.get(), now],
        )?,
        None => tx.execute_cached(sql::END_USER_SESSIONS, params![user_id.get(), now])?,
    };
    match keep {
        Some(keep) => tx.execute_cached(
            sql::USE_UP_OTHER_TOKENS,
            params![user_id.get(), keep.get(), now],
        )?,
        None => tx.execute_cached(sql::USE_UP_USER_TOKENS, params![user_id.get(), now])?,
    };
    Ok(ended as u64)
}
