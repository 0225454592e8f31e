//! `ai-message migrate …`: the original's Alembic workflow.

use ai_message_sql::MigrationStatus;

use crate::database::DatabaseUrl;
use crate::{DatabaseError, StartupError, postgres_url, sqlite_location};
use ai_message_sqlite::Location;

/// (applied, pending) of the database `url` names.
async fn status(url: &DatabaseUrl) -> Result<MigrationStatus, StartupError> {
    match url {
        DatabaseUrl::Postgres(raw) => ai_message_postgres::migrations::status(&postgres_url(raw)?)
            .await
            .map_err(StartupError::from),
        _ => ai_message_sqlite::migrations::status(&sqlite_only(url)?)
            .await
            .map_err(StartupError::from),
    }
}

fn sqlite_only(url: &DatabaseUrl) -> Result<Location, StartupError> {
    sqlite_location(url).ok_or(StartupError::Database(DatabaseError::NoSchema))
}

/// Applies every pending migration; returns one line per migration applied.
pub async fn up(url: &DatabaseUrl) -> Result<Vec<String>, StartupError> {
    let applied = match url {
        DatabaseUrl::Postgres(raw) => ai_message_postgres::migrations::up(&postgres_url(raw)?)
            .await
            .map_err(StartupError::from)?,
        _ => ai_message_sqlite::migrations::up(&sqlite_only(url)?)
            .await
            .map_err(StartupError::from)?,
    };
    Ok(applied
        .iter()
        .map(|m| format!("applied V{} {}", m.version, m.name))
        .collect())
}

/// The newest applied migration, or a note that none is.
pub async fn current(url: &DatabaseUrl) -> Result<String, StartupError> {
    let MigrationStatus { applied, pending } = status(url).await?;
    Ok(match applied.iter().max_by_key(|m| m.version) {
        Some(newest) if pending.is_empty() => format!("{newest} (head)"),
        Some(newest) => format!("{newest} ({} pending)", pending.len()),
        None => "no migration applied yet".to_string(),
    })
}

/// Every migration the binary knows, applied or pending, oldest first.
pub async fn history(url: &DatabaseUrl) -> Result<Vec<String>, StartupError> {
    let MigrationStatus {
        applied: mut all,
        pending,
    } = status(url).await?;
    all.extend(pending);
    all.sort_by_key(|m| m.version);
    Ok(all.iter().map(ToString::to_string).collect())
}

/// Writes the next numbered, empty migration into each dialect folder under `root`.
pub fn new_files(root: &std::path::Path, name: &str) -> Result<Vec<std::path::PathBuf>, String> {
    let slug: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let slug = slug.trim_matches('_').to_string();
    if slug.is_empty() {
        return Err("the migration needs a name made of letters or digits".into());
    }
    let dialects = ["sqlite", "postgres"];
    let mut highest = 0u32;
    for dialect in dialects {
        let folder = root.join("migrations").join(dialect);
        let entries = std::fs::read_dir(&folder)
            .map_err(|e| format!("cannot read {}: {e}", folder.display()))?;
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().to_string();
            if let Some(version) = file
                .strip_prefix('V')
                .and_then(|rest| rest.split("__").next())
                .and_then(|v| v.parse::<u32>().ok())
            {
                highest = highest.max(version);
            }
        }
    }
    let next = highest + 1;
    let mut written = Vec::new();
    for dialect in dialects {
        let path = root
            .join("migrations")
            .join(dialect)
            .join(format!("V{next}__{slug}.sql"));
        let header = format!(
            "-- V{next}: {name} ({dialect}). Additive changes only: the spec's columns stay.\n"
        );
        std::fs::write(&path, header)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
