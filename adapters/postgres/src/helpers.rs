//! Helpers shared by the repositories: error conversion, guarded writes, and ending a
//! user's sessions.

use ai_message_core::ports::{InsertError, PortError};
use deadpool_postgres::Transaction;

use crate::rows::{self, port_error};
use crate::sql;

/// tokio-postgres results as port results.
pub(crate) trait OrPortError<T> {
    fn or_port(self) -> Result<T, PortError>;
}

impl<T> OrPortError<T> for Result<T, tokio_postgres::Error> {
    fn or_port(self) -> Result<T, PortError> {
        self.map_err(port_error)
    }
}

/// A write guarded by unique indexes, as the core sees its outcome (the rule is
/// [`ai_message_sql::unique`]'s).
pub(crate) fn unique<T>(result: Result<T, tokio_postgres::Error>) -> Result<T, InsertError> {
    ai_message_sql::unique(result, rows::refused_by, port_error)
}

/// Ends the user's sessions except `keep`, and uses up their other refresh tokens.
pub(crate) async fn end_sessions_of_user(
    tx: &Transaction<'_>,
    user_id: i32,
    keep: Option<i32>,
    now: chrono::NaiveDateTime,
) -> Result<u64, PortError> {
    let ended = tx
        .execute(sql::END_SESSIONS_OF_USER, &[&user_id, &keep, &now])
        .await
        .or_port()?;
    tx.execute(sql::USE_UP_TOKENS_OF_USER, &[&user_id, &keep, &now])
        .await
        .or_port()?;
    Ok(ended)
}
