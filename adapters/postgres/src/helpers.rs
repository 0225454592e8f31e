//! Helpers shared by the repositories: error conversion, paging, guarded inserts, and
//! ending a user's sessions.

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

/// The outcome of an `INSERT … RETURNING` guarded by unique constraints: the new row, or
/// `Duplicate` when a constraint refused it.
pub(crate) fn inserted_row<T>(
    result: Result<tokio_postgres::Row, tokio_postgres::Error>,
    row: fn(&tokio_postgres::Row) -> Result<T, tokio_postgres::Error>,
) -> Result<T, InsertError> {
    Ok(row(&unique(result)?).or_port()?)
}

/// A statement guarded by unique constraints: `PhoneTaken` when the phone number's index
/// refused it, `Duplicate` when another one did.
pub(crate) fn unique<T>(result: Result<T, tokio_postgres::Error>) -> Result<T, InsertError> {
    result.map_err(|error| {
        if !rows::is_unique_violation(&error) {
            InsertError::Port(port_error(error))
        } else if error
            .as_db_error()
            .and_then(|e| e.constraint())
            .is_some_and(|name| name == "ix_users_phone_number")
        {
            InsertError::PhoneTaken
        } else {
            InsertError::Duplicate
        }
    })
}

/// Ends the user's sessions except `keep`, and uses up their other refresh tokens.
pub(crate) async fn end_sessions_of_user(
    tx: &Transaction<'_>,
    user_id: i32,
    keep: Option<i32>,
    now: chrono::NaiveDateTime,
) -> Result<u64, PortError> {
    let ended = match keep {
        Some(keep) => {
            tx.execute(sql::END_OTHER_SESSIONS, &[&user_id, &keep, &now])
                .await
        }
        None => tx.execute(sql::END_USER_SESSIONS, &[&user_id, &now]).await,
    }
    .or_port()?;
    match keep {
        Some(keep) => {
            tx.execute(sql::USE_UP_OTHER_TOKENS, &[&user_id, &keep, &now])
                .await
        }
        None => tx.execute(sql::USE_UP_USER_TOKENS, &[&user_id, &now]).await,
    }
    .or_port()?;
    Ok(ended)
}
