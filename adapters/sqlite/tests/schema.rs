//! The SQLite schema against spec/database.md, column by column and index by index, and the
//! query plans of every list, count and the conversation summary.

use ai_message_sqlite::{Location, SqliteStore, sql};
use rusqlite::Connection;

/// (name, declared type, NOT NULL, default, primary key)
type Column = (&'static str, &'static str, bool, Option<&'static str>, bool);

fn expected_columns(table: &str) -> Vec<Column> {
    let created = ("created_at", "DATETIME", true, None, false);
    let updated = ("updated_at", "DATETIME", true, None, false);
    let id = ("id", "INTEGER", true, None, true);
    match table {
        "users" => vec![
            id,
            ("username", "VARCHAR(100)", true, None, false),
            ("email", "VARCHAR(255)", true, None, false),
            ("hashed_password", "VARCHAR(255)", true, None, false),
            ("is_active", "BOOLEAN", false, Some("1"), false),
            ("is_superuser", "BOOLEAN", false, Some("0"), false),
            ("full_name", "VARCHAR(255)", false, None, false),
            ("bio", "TEXT", false, None, false),
            created,
            updated,
            // Added by V6 (the original's newest schema).
            ("phone_number", "VARCHAR(20)", false, None, false),
        ],
        "roles" => vec![
            id,
            ("name", "VARCHAR(100)", true, None, false),
            ("description", "VARCHAR(255)", false, None, false),
            created,
            updated,
        ],
        "user_roles" => vec![
            id,
            ("user_id", "INTEGER", true, None, false),
            ("role_id", "INTEGER", true, None, false),
            created,
            updated,
        ],
        "sessions" => vec![
            id,
            ("user_id", "INTEGER", true, None, false),
            ("session_token", "VARCHAR(255)", true, None, false),
            ("device_info", "VARCHAR(255)", false, None, false),
            ("ip_address", "VARCHAR(50)", false, None, false),
            ("is_active", "BOOLEAN", false, Some("1"), false),
            ("expires_at", "DATETIME", true, None, false),
            created,
            updated,
        ],
        "refresh_tokens" => vec![
            id,
            ("user_id", "INTEGER", true, None, false),
            ("token", "VARCHAR(255)", true, None, false),
            ("expires_at", "DATETIME", true, None, false),
            ("is_used", "BOOLEAN", false, Some("0"), false),
            created,
            updated,
            // Added by V2, after the spec's columns.
            ("session_id", "INTEGER", false, None, false),
        ],
        "messages" => vec![
            id,
            ("sender_id", "INTEGER", true, None, false),
            ("recipient_id", "INTEGER", true, None, false),
            ("content", "TEXT", true, None, false),
            ("is_read", "BOOLEAN", false, Some("0"), false),
            ("parent_id", "INTEGER", false, None, false),
            ("conversation_id", "VARCHAR(100)", false, None, false),
            created,
            updated,
        ],
        // Added by V9 (the original's newest schema).
        "reports" => vec![
            id,
            ("reporter_id", "INTEGER", true, None, false),
            ("title", "VARCHAR(255)", true, None, false),
            ("content", "TEXT", true, None, false),
            ("status", "VARCHAR(50)", true, Some("'open'"), false),
            ("comment", "TEXT", false, None, false),
            ("resolved_at", "DATETIME", false, None, false),
            ("resolved_by", "INTEGER", false, None, false),
            created,
            updated,
        ],
        other => panic!("no such table {other}"),
    }
}

/// (index name, unique, columns) named by the spec.
fn expected_indexes(table: &str) -> Vec<(&'static str, bool, Vec<&'static str>)> {
    match table {
        "users" => vec![
            ("ix_users_id", false, vec!["id"]),
            ("ix_users_username", true, vec!["username"]),
            ("ix_users_email", true, vec!["email"]),
            ("ix_users_phone_number", true, vec!["phone_number"]),
        ],
        "roles" => vec![
            ("ix_roles_id", false, vec!["id"]),
            ("ix_roles_name", true, vec!["name"]),
        ],
        "user_roles" => vec![
            ("ix_user_roles_id", false, vec!["id"]),
            ("ix_user_roles_user_id", false, vec!["user_id"]),
            ("ix_user_roles_role_id", false, vec!["role_id"]),
        ],
        "sessions" => vec![
            ("ix_sessions_id", false, vec!["id"]),
            ("ix_sessions_session_token", true, vec!["session_token"]),
        ],
        "refresh_tokens" => vec![
            ("ix_refresh_tokens_id", false, vec!["id"]),
            ("ix_refresh_tokens_token", true, vec!["token"]),
        ],
        "messages" => vec![
            ("ix_messages_id", false, vec!["id"]),
            ("ix_messages_sender_id", false, vec!["sender_id"]),
            ("ix_messages_recipient_id", false, vec!["recipient_id"]),
            (
                "ix_messages_conversation_id",
                false,
                vec!["conversation_id"],
            ),
        ],
        "reports" => vec![("ix_reports_id", false, vec!["id"])],
        other => panic!("no such table {other}"),
    }
}

/// (column, referenced table, referenced column, on delete)
fn expected_foreign_keys(
    table: &str,
) -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    match table {
        "user_roles" => vec![
            ("role_id", "roles", "id", "CASCADE"),
            ("user_id", "users", "id", "CASCADE"),
        ],
        "sessions" => vec![("user_id", "users", "id", "CASCADE")],
        "refresh_tokens" => vec![
            ("session_id", "sessions", "id", "CASCADE"),
            ("user_id", "users", "id", "CASCADE"),
        ],
        "reports" => vec![
            ("reporter_id", "users", "id", "CASCADE"),
            ("resolved_by", "users", "id", "SET NULL"),
        ],
        _ => vec![],
    }
}

const TABLES: [&str; 7] = [
    "users",
    "roles",
    "user_roles",
    "sessions",
    "refresh_tokens",
    "messages",
    "reports",
];

async fn migrated_database() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema.db");
    drop(
        SqliteStore::open(&Location::File(path.clone()))
            .await
            .unwrap(),
    );
    let conn = Connection::open(&path).unwrap();
    (dir, conn)
}

#[tokio::test]
async fn tables_and_columns_match_the_spec() {
    let (_dir, conn) = migrated_database().await;
    for table in TABLES {
        let exists: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
                [table],
                |row| row.get(0),
            )
            .unwrap();
        assert!(exists, "table {table}");
        let mut stmt = conn
            .prepare(&format!("PRAGMA table_info(\"{table}\")"))
            .unwrap();
        let actual: Vec<(String, String, bool, Option<String>, bool)> = stmt
            .query_map([], |row| {
                Ok((
                    row.get(1)?,
                    row.get(2)?,
                    row.get::<_, i64>(3)? == 1,
                    row.get(4)?,
                    row.get::<_, i64>(5)? > 0,
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let expected: Vec<(String, String, bool, Option<String>, bool)> = expected_columns(table)
            .into_iter()
            .map(|(name, ty, not_null, default, pk)| {
                (
                    name.to_string(),
                    ty.to_string(),
                    not_null,
                    default.map(str::to_string),
                    pk,
                )
            })
            .collect();
        assert_eq!(actual, expected, "columns of {table}");
    }
}

#[tokio::test]
async fn spec_indexes_exist_with_their_names_uniqueness_and_columns() {
    let (_dir, conn) = migrated_database().await;
    for table in TABLES {
        let mut stmt = conn
            .prepare(&format!("PRAGMA index_list(\"{table}\")"))
            .unwrap();
        let indexes: Vec<(String, bool)> = stmt
            .query_map([], |row| Ok((row.get(1)?, row.get::<_, i64>(2)? == 1)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (name, unique, columns) in expected_indexes(table) {
            let found = indexes.iter().find(|(n, _)| n == name);
            assert_eq!(
                found.map(|(_, u)| *u),
                Some(unique),
                "index {name} on {table} (unique: {unique}); have {indexes:?}"
            );
            let mut info = conn
                .prepare(&format!("PRAGMA index_info(\"{name}\")"))
                .unwrap();
            let actual: Vec<String> = info
                .query_map([], |row| row.get(2))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(actual, columns, "columns of {name}");
        }
    }
}

#[tokio::test]
async fn foreign_keys_cascade_from_users_roles_and_sessions() {
    let (_dir, conn) = migrated_database().await;
    for table in TABLES {
        let mut stmt = conn
            .prepare(&format!("PRAGMA foreign_key_list(\"{table}\")"))
            .unwrap();
        let mut actual: Vec<(String, String, String, String)> = stmt
            .query_map([], |row| {
                Ok((row.get(3)?, row.get(2)?, row.get(4)?, row.get(6)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        actual.sort();
        let expected: Vec<(String, String, String, String)> = expected_foreign_keys(table)
            .into_iter()
            .map(|(a, b, c, d)| (a.into(), b.into(), c.into(), d.into()))
            .collect();
        assert_eq!(actual, expected, "foreign keys of {table}");
    }
}

#[tokio::test]
async fn connections_use_wal_and_enforce_foreign_keys() {
    let (_dir, conn) = migrated_database().await;
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

/// Table names of the schema; a `SCAN` of one of them without an index is a full scan.
const REAL_TABLES: [&str; 7] = TABLES;

#[tokio::test]
async fn every_list_count_and_summary_uses_an_index() {
    let (_dir, conn) = migrated_database().await;
    for (what, statement) in sql::INDEXED_READS {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {statement}"))
            .unwrap();
        for index in 1..=stmt.parameter_count() {
            stmt.raw_bind_parameter(index, 1i64).unwrap();
        }
        let mut rows = stmt.raw_query();
        let mut plan = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            plan.push(row.get::<_, String>(3).unwrap());
        }
        for line in &plan {
            for table in REAL_TABLES {
                let full_scan = line == &format!("SCAN {table}")
                    || (line.starts_with(&format!("SCAN {table} ")) && !line.contains("USING"));
                assert!(
                    !full_scan,
                    "{what} scans {table} without an index: {plan:#?}"
                );
            }
        }
        assert!(
            plan.iter().any(|line| line.contains("USING")),
            "{what} uses no index: {plan:#?}"
        );
        // Single-side lists and the conversation list read the index backwards; the merged
        // list sorts only the bounded windows it draws from each side.
        if ["sent", "received", "unread", "conversation summaries"].contains(what) {
            assert!(
                !plan.iter().any(|line| line.contains("TEMP B-TREE")),
                "{what} should read in index order, not sort: {plan:#?}"
            );
        }
    }
}
