//! The versioned SQL of `migrations/sqlite/`, embedded in the binary and applied by refinery.

use std::collections::HashMap;

use ai_message_core::{UserId, assign_identity_keys};
use rusqlite::Connection;

use crate::{Location, OpenError, connection::Db, sql};

mod embedded {
    refinery::embed_migrations!("../../migrations/sqlite");
}

pub use ai_message_sql::{MigrationInfo, MigrationStatus};

/// The migration that indexes `users.phone_number`; the column is added before it runs.
const PHONE_NUMBERS: i32 = 6;

/// Applies every pending migration, then gives identity keys to users without them; returns
/// the migrations it applied.
pub(crate) fn run(conn: &mut Connection) -> Result<Vec<MigrationInfo>, String> {
    let before_phones = embedded::migrations::runner()
        .set_target(refinery::Target::Version(PHONE_NUMBERS - 1))
        .run(conn)
        .map_err(|e| e.to_string())?;
    add_phone_number_column(conn).map_err(|e| format!("adding users.phone_number: {e}"))?;
    let rest = embedded::migrations::runner()
        .run(conn)
        .map_err(|e| e.to_string())?;
    fill_identity_keys(conn).map_err(|e| format!("filling in identity keys: {e}"))?;
    Ok(before_phones
        .applied_migrations()
        .iter()
        .chain(rest.applied_migrations())
        .map(MigrationInfo::from)
        .collect())
}

/// `users.phone_number`, unless the table has it (a database of the original's newest
/// version, or one migrated before).
fn add_phone_number_column(conn: &Connection) -> rusqlite::Result<()> {
    let present: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('users') WHERE name = 'phone_number')",
        [],
        |row| row.get(0),
    )?;
    if !present {
        conn.execute_batch("ALTER TABLE users ADD COLUMN phone_number VARCHAR(20)")?;
    }
    Ok(())
}

/// Keys for rows written before they existed (adopted databases); collisions are logged as
/// warnings naming both accounts, and the later account stores no key.
fn fill_identity_keys(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let pending: Vec<(UserId, String, String)> = tx
        .prepare(sql::USERS_WITHOUT_KEYS)?
        .query_map([], |row| {
            Ok((UserId::new(row.get(0)?), row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    if pending.is_empty() {
        return Ok(());
    }
    let mut usernames = HashMap::new();
    let mut emails = HashMap::new();
    {
        let mut stored = tx.prepare(sql::IDENTITY_KEYS)?;
        let mut rows = stored.query([])?;
        while let Some(row) = rows.next()? {
            let id = UserId::new(row.get(0)?);
            if let Some(key) = row.get::<_, Option<String>>(1)? {
                usernames.insert(key, id);
            }
            if let Some(key) = row.get::<_, Option<String>>(2)? {
                emails.insert(key, id);
            }
        }
    }
    let (assigned, collisions) = assign_identity_keys(&pending, usernames, emails);
    {
        let mut insert = tx.prepare(sql::INSERT_IDENTITY_KEYS)?;
        for (id, username_key, email_key) in assigned {
            insert.execute(rusqlite::params![id.get(), username_key, email_key])?;
        }
    }
    tx.commit()?;
    for collision in collisions {
        tracing::warn!("identity keys: {collision}");
    }
    Ok(())
}

/// What the binary carries, in version order.
pub fn known() -> Vec<MigrationInfo> {
    ai_message_sql::reports(embedded::migrations::runner().get_migrations())
}

async fn open_unmigrated(location: &Location) -> Result<Db, OpenError> {
    Db::open(location, 0, false).await
}

/// Reads the history table without changing anything.
pub async fn status(location: &Location) -> Result<MigrationStatus, OpenError> {
    let db = open_unmigrated(location).await?;
    let applied = db
        .with_writer(|conn| {
            // A database no migration ever ran on has no history table yet.
            let has_history: bool = conn
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master \
                     WHERE type = 'table' AND name = 'refinery_schema_history')",
                    [],
                    |row| row.get(0),
                )
                .map_err(|e| e.to_string())?;
            if !has_history {
                return Ok(Vec::new());
            }
            embedded::migrations::runner()
                .get_applied_migrations(conn)
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| OpenError::Migrate {
            path: crate::file_path(location).to_path_buf(),
            detail: e.to_string(),
        })?;
    let applied: Vec<MigrationInfo> = applied.iter().map(MigrationInfo::from).collect();
    Ok(MigrationStatus::new(applied, known()))
}

/// Applies pending migrations (what `serve` does at start-up); returns those applied.
pub async fn up(location: &Location) -> Result<Vec<MigrationInfo>, OpenError> {
    let db = open_unmigrated(location).await?;
    db.with_writer(run).await.map_err(|e| OpenError::Migrate {
        path: crate::file_path(location).to_path_buf(),
        detail: e.to_string(),
    })
}
