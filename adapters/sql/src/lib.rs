//! What the SQLite and PostgreSQL adapters share beyond their SQL text: the tables' column
//! lists, how a write refused by a unique index reads to the core, how a migration is
//! reported to the operator, and small conversions of domain values for the drivers.

mod columns;

use ai_message_core::ports::{InsertError, PortError};

/// Which unique index refused a write, as the adapter reads it from its driver's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueIndex {
    /// `ix_users_phone_number`: another account has the number.
    PhoneNumber,
    /// Any other (username, email, role name, a key of `user_identity_keys`…).
    Other,
}

/// A write guarded by unique indexes, as the core sees its outcome: `PhoneTaken` when the
/// phone number's index refused it, `Duplicate` when another one did, and any other failure
/// through `port_error`. `refused_by` is the dialect's reading of a driver error.
pub fn unique<T, E>(
    result: Result<T, E>,
    refused_by: impl FnOnce(&E) -> Option<UniqueIndex>,
    port_error: impl FnOnce(E) -> PortError,
) -> Result<T, InsertError> {
    result.map_err(|error| match refused_by(&error) {
        Some(UniqueIndex::PhoneNumber) => InsertError::PhoneTaken,
        Some(UniqueIndex::Other) => InsertError::Duplicate,
        None => InsertError::Port(port_error(error)),
    })
}

/// One migration, as the history table or the binary knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationInfo {
    pub version: i64,
    pub name: String,
    /// When it was applied (RFC 3339), `None` while pending.
    pub applied_on: Option<String>,
}

impl From<&refinery::Migration> for MigrationInfo {
    fn from(migration: &refinery::Migration) -> Self {
        Self {
            version: i64::from(migration.version()),
            name: migration.name().to_string(),
            applied_on: migration.applied_on().map(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_else(|_| t.to_string())
            }),
        }
    }
}

/// As the operator commands print it: `V3 add_positions (applied 2026-…)` or `… (pending)`.
impl std::fmt::Display for MigrationInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.applied_on {
            Some(when) => write!(f, "V{} {} (applied {when})", self.version, self.name),
            None => write!(f, "V{} {} (pending)", self.version, self.name),
        }
    }
}

/// Reports of migrations, in version order.
pub fn reports<'a>(
    migrations: impl IntoIterator<Item = &'a refinery::Migration>,
) -> Vec<MigrationInfo> {
    let mut all: Vec<MigrationInfo> = migrations.into_iter().map(MigrationInfo::from).collect();
    all.sort_by_key(|m| m.version);
    all
}

/// Where a database stands: what is applied, and what the binary would apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub applied: Vec<MigrationInfo>,
    pub pending: Vec<MigrationInfo>,
}

impl MigrationStatus {
    /// `known` is what the binary carries; what the history does not list is pending.
    pub fn new(applied: Vec<MigrationInfo>, known: Vec<MigrationInfo>) -> Self {
        let pending = known
            .into_iter()
            .filter(|m| !applied.iter().any(|a| a.version == m.version))
            .collect();
        Self { applied, pending }
    }
}

/// How busy a store's connections are, for the operator's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open.
    pub connections: usize,
    /// Of those, idle (`None` where the store does not know).
    pub idle: Option<usize>,
    /// Requests waiting for a connection (or queued for one of its threads).
    pub waiting: usize,
}

/// The versions in `known` that `applied` lacks, in the order of `known`.
pub fn pending_versions(known: &[MigrationInfo], applied: &[i64]) -> Vec<i64> {
    known
        .iter()
        .map(|m| m.version)
        .filter(|version| !applied.contains(version))
        .collect()
}

/// An optional text value as the drivers take it.
pub fn optional_str<T: AsRef<str>>(value: &Option<T>) -> Option<&str> {
    value.as_ref().map(AsRef::as_ref)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(version: i64) -> MigrationInfo {
        MigrationInfo {
            version,
            name: format!("m{version}"),
            applied_on: None,
        }
    }

    #[test]
    fn pending_is_what_the_history_does_not_list() {
        let status = MigrationStatus::new(vec![info(1)], vec![info(1), info(2), info(3)]);
        assert_eq!(status.pending, vec![info(2), info(3)]);
    }

    #[test]
    fn optional_text_is_borrowed_as_str() {
        assert_eq!(optional_str(&Some(String::from("x"))), Some("x"));
        assert_eq!(optional_str::<String>(&None), None);
    }
}
