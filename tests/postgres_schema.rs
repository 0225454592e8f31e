//! The PostgreSQL schema against spec/database.md, read back from `information_schema` and
//! `pg_indexes`, column by column.

use ai_message_testkit::postgres::{ScratchDatabase, fresh_postgres};

/// (column, data type, max length, NOT NULL, default starts with)
type Column = (
    &'static str,
    &'static str,
    Option<i32>,
    bool,
    Option<&'static str>,
);

fn expected_columns(table: &str) -> Vec<Column> {
    let id = ("id", "integer", None, true, Some("nextval("));
    let ts = "timestamp without time zone";
    let created = ("created_at", ts, None, true, None);
    let updated = ("updated_at", ts, None, true, None);
    match table {
        "users" => vec![
            id,
            ("username", "character varying", Some(100), true, None),
            ("email", "character varying", Some(255), true, None),
            (
                "hashed_password",
                "character varying",
                Some(255),
                true,
                None,
            ),
            ("is_active", "boolean", None, false, Some("true")),
            ("is_superuser", "boolean", None, false, Some("false")),
            ("full_name", "character varying", Some(255), false, None),
            ("bio", "text", None, false, None),
            created,
            updated,
            // Added by V6 (the original's newest schema).
            ("phone_number", "character varying", Some(20), false, None),
        ],
        "roles" => vec![
            id,
            ("name", "character varying", Some(100), true, None),
            ("description", "character varying", Some(255), false, None),
            created,
            updated,
        ],
        "user_roles" => vec![
            id,
            ("user_id", "integer", None, true, None),
            ("role_id", "integer", None, true, None),
            created,
            updated,
        ],
        "sessions" => vec![
            id,
            ("user_id", "integer", None, true, None),
            ("session_token", "character varying", Some(255), true, None),
            ("device_info", "character varying", Some(255), false, None),
            ("ip_address", "character varying", Some(50), false, None),
            ("is_active", "boolean", None, false, Some("true")),
            ("expires_at", ts, None, true, None),
            created,
            updated,
        ],
        "refresh_tokens" => vec![
            id,
            ("user_id", "integer", None, true, None),
            ("token", "character varying", Some(255), true, None),
            ("expires_at", ts, None, true, None),
            ("is_used", "boolean", None, false, Some("false")),
            created,
            updated,
            ("session_id", "integer", None, false, None),
        ],
        "messages" => vec![
            id,
            ("sender_id", "integer", None, true, None),
            ("recipient_id", "integer", None, true, None),
            ("content", "text", None, true, None),
            ("is_read", "boolean", None, false, Some("false")),
            ("parent_id", "integer", None, false, None),
            (
                "conversation_id",
                "character varying",
                Some(100),
                false,
                None,
            ),
            created,
            updated,
        ],
        // Added by V9 (the original's newest schema).
        "reports" => vec![
            id,
            ("reporter_id", "integer", None, true, None),
            ("title", "character varying", Some(255), true, None),
            ("content", "text", None, true, None),
            (
                "status",
                "character varying",
                Some(50),
                true,
                Some("'open'"),
            ),
            ("comment", "text", None, false, None),
            ("resolved_at", ts, None, false, None),
            ("resolved_by", "integer", None, false, None),
            created,
            updated,
        ],
        other => panic!("no table {other}"),
    }
}

/// (index, unique, column) as the spec names them.
const SPEC_INDEXES: &[(&str, &str, bool, &str)] = &[
    ("users", "ix_users_id", false, "id"),
    ("users", "ix_users_username", true, "username"),
    ("users", "ix_users_email", true, "email"),
    ("users", "ix_users_phone_number", true, "phone_number"),
    ("roles", "ix_roles_id", false, "id"),
    ("roles", "ix_roles_name", true, "name"),
    ("user_roles", "ix_user_roles_id", false, "id"),
    ("user_roles", "ix_user_roles_user_id", false, "user_id"),
    ("user_roles", "ix_user_roles_role_id", false, "role_id"),
    ("sessions", "ix_sessions_id", false, "id"),
    (
        "sessions",
        "ix_sessions_session_token",
        true,
        "session_token",
    ),
    ("refresh_tokens", "ix_refresh_tokens_id", false, "id"),
    ("refresh_tokens", "ix_refresh_tokens_token", true, "token"),
    ("messages", "ix_messages_id", false, "id"),
    ("messages", "ix_messages_sender_id", false, "sender_id"),
    (
        "messages",
        "ix_messages_recipient_id",
        false,
        "recipient_id",
    ),
    (
        "messages",
        "ix_messages_conversation_id",
        false,
        "conversation_id",
    ),
    ("reports", "ix_reports_id", false, "id"),
];

async fn client(database: &ScratchDatabase) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&database.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

#[tokio::test]
async fn columns_match_the_spec() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let (_storage, database) = fresh_postgres().await;
    let client = client(&database).await;
    for table in [
        "users",
        "roles",
        "user_roles",
        "sessions",
        "refresh_tokens",
        "messages",
        "reports",
    ] {
        let rows = client
            .query(
                "SELECT column_name::text, data_type::text, character_maximum_length, \
                 is_nullable::text, column_default::text FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
                &[&table],
            )
            .await
            .unwrap();
        let expected = expected_columns(table);
        assert_eq!(rows.len(), expected.len(), "number of columns of {table}");
        for (row, (name, data_type, length, not_null, default)) in rows.iter().zip(expected) {
            let column: String = row.get(0);
            assert_eq!(column, name, "{table}");
            assert_eq!(row.get::<_, String>(1), data_type, "{table}.{name}");
            assert_eq!(row.get::<_, Option<i32>>(2), length, "{table}.{name}");
            assert_eq!(row.get::<_, String>(3) == "NO", not_null, "{table}.{name}");
            let actual_default: Option<String> = row.get(4);
            match default {
                Some(prefix) => assert!(
                    actual_default
                        .as_deref()
                        .is_some_and(|d| d.starts_with(prefix)),
                    "{table}.{name} default {actual_default:?}"
                ),
                None => assert_eq!(actual_default, None, "{table}.{name}"),
            }
        }
    }
}

#[tokio::test]
async fn spec_indexes_exist_with_their_names_and_uniqueness() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let (_storage, database) = fresh_postgres().await;
    let client = client(&database).await;
    for (table, index, unique, column) in SPEC_INDEXES {
        let row = client
            .query_opt(
                "SELECT tablename::text, indexdef FROM pg_indexes \
                 WHERE schemaname = 'public' AND indexname = $1",
                &[index],
            )
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("index {index} exists"));
        assert_eq!(row.get::<_, String>(0), *table);
        let definition: String = row.get(1);
        assert_eq!(
            definition.starts_with("CREATE UNIQUE INDEX"),
            *unique,
            "{definition}"
        );
        assert!(
            definition.ends_with(&format!("USING btree ({column})")),
            "{definition}"
        );
    }
}

#[tokio::test]
async fn foreign_keys_cascade() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let (_storage, database) = fresh_postgres().await;
    let client = client(&database).await;
    let rows = client
        .query(
            "SELECT cl.relname::text, a.attname::text, ref.relname::text, c.confdeltype::text \
             FROM pg_constraint c \
             JOIN pg_class cl ON cl.oid = c.conrelid \
             JOIN pg_class ref ON ref.oid = c.confrelid \
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
             WHERE c.contype = 'f' ORDER BY 1, 2",
            &[],
        )
        .await
        .unwrap();
    let found: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    // ('c': ON DELETE CASCADE, 'n': ON DELETE SET NULL.)
    let expected: Vec<(String, String, String, String)> = [
        ("assistant_history_clears", "user_id", "users", "c"),
        // A question's claim, answer mark and channel route go with its message.
        ("assistant_questions", "question_id", "messages", "c"),
        // A deleted message takes its places in the delivery sequences with it.
        ("message_deliveries", "message_id", "messages", "c"),
        // A deleted account's phone claim goes with it.
        ("phone_claims", "user_id", "users", "c"),
        ("refresh_tokens", "session_id", "sessions", "c"),
        ("refresh_tokens", "user_id", "users", "c"),
        ("reports", "reporter_id", "users", "c"),
        // A report keeps its resolution when the resolver's account goes.
        ("reports", "resolved_by", "users", "n"),
        ("sessions", "user_id", "users", "c"),
        ("user_identity_keys", "user_id", "users", "c"),
        ("user_roles", "role_id", "roles", "c"),
        ("user_roles", "user_id", "users", "c"),
    ]
    .iter()
    .map(|(t, c, r, d)| (t.to_string(), c.to_string(), r.to_string(), d.to_string()))
    .collect();
    assert_eq!(found, expected, "foreign keys and their ON DELETE");
}

/// A database from before delivery positions (V7): its messages keep their ids as
/// positions, so cursors handed out then still resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_database_keeps_the_cursors_it_handed_out() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    use ai_message_testkit::storage_contract::{
        UNDO_DELIVERY_POSITIONS, legacy_cursors_resume_after_the_upgrade, seed_legacy,
    };
    let (storage, database) = fresh_postgres().await;
    let legacy = seed_legacy(&storage).await;
    drop(storage);
    client(&database)
        .await
        .batch_execute(UNDO_DELIVERY_POSITIONS)
        .await
        .unwrap();
    let url = ai_message_postgres::PostgresUrl::parse(&database.url).unwrap();
    let upgraded = ai_message_postgres::PostgresStore::open(&url, 2)
        .await
        .unwrap()
        .storage();
    legacy_cursors_resume_after_the_upgrade(legacy, upgraded).await;
}
