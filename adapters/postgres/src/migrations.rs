//! The versioned SQL of `migrations/postgres/`, embedded in the binary and applied by
//! refinery while holding an advisory lock, so instances starting together take turns.

use std::collections::HashMap;

use ai_message_core::{UserId, assign_identity_keys};

use crate::connect::{ConnectError, PostgresUrl};
use crate::sql;

mod embedded {
    refinery::embed_migrations!("../../migrations/postgres");
}

/// The advisory lock key of schema migrations ("aimsg" in ASCII).
const MIGRATION_LOCK: i64 = 0x61_69_6d_73_67;

pub use ai_message_sql::{MigrationInfo, MigrationStatus};

async fn locked<T>(
    client: &mut tokio_postgres::Client,
    work: impl AsyncFnOnce(&mut tokio_postgres::Client) -> Result<T, String>,
) -> Result<T, String> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| e.to_string())?;
    let result = work(client).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| e.to_string());
    let value = result?;
    unlocked?;
    Ok(value)
}

/// Applies every pending migration, then gives identity keys to users without them; returns
/// the migrations it applied.
pub(crate) async fn run(client: &mut tokio_postgres::Client) -> Result<Vec<MigrationInfo>, String> {
    locked(client, async |client| {
        let report = embedded::migrations::runner()
            .run_async(client)
            .await
            .map_err(|e| e.to_string())?;
        fill_identity_keys(client)
            .await
            .map_err(|e| format!("filling in identity keys: {e}"))?;
        Ok(report
            .applied_migrations()
            .iter()
            .map(MigrationInfo::from)
            .collect())
    })
    .await
}

/// Keys for rows written before they existed (adopted databases); collisions are logged as
/// warnings naming both accounts, and the later account stores no key.
async fn fill_identity_keys(
    client: &mut tokio_postgres::Client,
) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let pending: Vec<(UserId, String, String)> = tx
        .query(sql::USERS_WITHOUT_KEYS, &[])
        .await?
        .iter()
        .map(|row| {
            Ok((
                UserId::new(i64::from(row.try_get::<_, i32>(0)?)),
                row.try_get(1)?,
                row.try_get(2)?,
            ))
        })
        .collect::<Result<_, tokio_postgres::Error>>()?;
    if pending.is_empty() {
        return Ok(());
    }
    let mut usernames = HashMap::new();
    let mut emails = HashMap::new();
    for row in tx.query(sql::IDENTITY_KEYS, &[]).await? {
        let id = UserId::new(i64::from(row.try_get::<_, i32>(0)?));
        if let Some(key) = row.try_get::<_, Option<String>>(1)? {
            usernames.insert(key, id);
        }
        if let Some(key) = row.try_get::<_, Option<String>>(2)? {
            emails.insert(key, id);
        }
    }
    let (assigned, collisions) = assign_identity_keys(&pending, usernames, emails);
    let insert = tx.prepare(sql::INSERT_IDENTITY_KEYS).await?;
    for (id, username_key, email_key) in assigned {
        let id = i32::try_from(id.get()).unwrap_or_default();
        tx.execute(&insert, &[&id, &username_key, &email_key])
            .await?;
    }
    tx.commit().await?;
    for collision in collisions {
        tracing::warn!("identity keys: {collision}");
    }
    Ok(())
}

/// What the binary carries, in version order.
pub fn known() -> Vec<MigrationInfo> {
    ai_message_sql::reports(embedded::migrations::runner().get_migrations())
}

/// Reads the history table without changing anything.
pub async fn status(url: &PostgresUrl) -> Result<MigrationStatus, ConnectError> {
    let mut client = url.connect_once().await?;
    let has_history: bool = client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )
        .await
        .map_err(|e| ConnectError::Migrate(e.to_string()))?
        .get(0);
    let applied: Vec<MigrationInfo> = if has_history {
        embedded::migrations::runner()
            .get_applied_migrations_async(&mut client)
            .await
            .map_err(|e| ConnectError::Migrate(e.to_string()))?
            .iter()
            .map(MigrationInfo::from)
            .collect()
    } else {
        Vec::new()
    };
    Ok(MigrationStatus::new(applied, known()))
}

/// Applies pending migrations; returns those applied.
pub async fn up(url: &PostgresUrl) -> Result<Vec<MigrationInfo>, ConnectError> {
    let mut client = url.connect_once().await?;
    run(&mut client).await.map_err(ConnectError::Migrate)
}
