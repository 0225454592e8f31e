//! The binary on SQLite files: a database made by the original implementation is adopted,
//! and data survives a restart.

mod common;

use ai_message_testkit::server::Server;
use serde_json::{Value, json};

/// The DDL SQLAlchemy emitted for the original implementation's models on SQLite: no server
/// defaults, no AUTOINCREMENT, foreign keys without cascade, no `refresh_tokens.session_id`.
/// The `reports` table as SQLAlchemy made it for the original's newest version (its
/// `default="open"` is Python's, not the table's).
const ORIGINAL_REPORTS_DDL: &str = "
CREATE TABLE reports (
	id INTEGER NOT NULL, reporter_id INTEGER NOT NULL, title VARCHAR(255) NOT NULL,
	content TEXT NOT NULL, status VARCHAR(50) NOT NULL, comment TEXT, resolved_at DATETIME,
	resolved_by INTEGER, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(reporter_id) REFERENCES users (id) ON DELETE CASCADE,
	FOREIGN KEY(resolved_by) REFERENCES users (id) ON DELETE SET NULL);
CREATE INDEX ix_reports_id ON reports (id);
";

const ORIGINAL_DDL: &str = "
CREATE TABLE users (
	id INTEGER NOT NULL,
	username VARCHAR(100) NOT NULL,
	email VARCHAR(255) NOT NULL,
	hashed_password VARCHAR(255) NOT NULL,
	is_active BOOLEAN,
	is_superuser BOOLEAN,
	full_name VARCHAR(255),
	bio TEXT,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_users_username ON users (username);
CREATE UNIQUE INDEX ix_users_email ON users (email);
CREATE INDEX ix_users_id ON users (id);
CREATE TABLE roles (
	id INTEGER NOT NULL,
	name VARCHAR(100) NOT NULL,
	description VARCHAR(255),
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (id)
);
CREATE INDEX ix_roles_id ON roles (id);
CREATE UNIQUE INDEX ix_roles_name ON roles (name);
CREATE TABLE messages (
	id INTEGER NOT NULL,
	sender_id INTEGER NOT NULL,
	recipient_id INTEGER NOT NULL,
	content TEXT NOT NULL,
	is_read BOOLEAN,
	parent_id INTEGER,
	conversation_id VARCHAR(100),
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (id)
);
CREATE INDEX ix_messages_sender_id ON messages (sender_id);
CREATE INDEX ix_messages_conversation_id ON messages (conversation_id);
CREATE INDEX ix_messages_id ON messages (id);
CREATE INDEX ix_messages_recipient_id ON messages (recipient_id);
CREATE TABLE user_roles (
	id INTEGER NOT NULL,
	user_id INTEGER NOT NULL,
	role_id INTEGER NOT NULL,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(user_id) REFERENCES users (id),
	FOREIGN KEY(role_id) REFERENCES roles (id)
);
CREATE INDEX ix_user_roles_role_id ON user_roles (role_id);
CREATE INDEX ix_user_roles_id ON user_roles (id);
CREATE INDEX ix_user_roles_user_id ON user_roles (user_id);
CREATE TABLE sessions (
	id INTEGER NOT NULL,
	user_id INTEGER NOT NULL,
	session_token VARCHAR(255) NOT NULL,
	device_info VARCHAR(255),
	ip_address VARCHAR(50),
	is_active BOOLEAN,
	expires_at DATETIME NOT NULL,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(user_id) REFERENCES users (id)
);
CREATE UNIQUE INDEX ix_sessions_session_token ON sessions (session_token);
CREATE INDEX ix_sessions_id ON sessions (id);
CREATE TABLE refresh_tokens (
	id INTEGER NOT NULL,
	user_id INTEGER NOT NULL,
	token VARCHAR(255) NOT NULL,
	expires_at DATETIME NOT NULL,
	is_used BOOLEAN,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(user_id) REFERENCES users (id)
);
CREATE INDEX ix_refresh_tokens_id ON refresh_tokens (id);
CREATE UNIQUE INDEX ix_refresh_tokens_token ON refresh_tokens (token);
";

/// Python's `bcrypt` 5.0.0: `bcrypt.hashpw(b"correct horse battery", bcrypt.gensalt(12))`.
const PYTHON_HASH: &str = "$2b$12$ebb5B.UQd22ooSHhr70.Tu15G5McItEzMLlEOwy.aPYhG3LlHThnq";

fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite:///{}", path.display())
}

/// The original's newest version has `users.phone_number` (unique, indexed) already; its
/// numbers were never proven, so V14 keeps each as its account's claim (issue 38): the
/// migration adopts the column and its index instead of failing on them.
#[tokio::test]
async fn a_database_of_the_originals_newest_version_keeps_its_phone_numbers_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newest.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(ORIGINAL_DDL).unwrap();
        conn.execute_batch(
            "ALTER TABLE users ADD COLUMN phone_number VARCHAR(20);
             CREATE UNIQUE INDEX ix_users_phone_number ON users (phone_number);",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO users (id, username, email, hashed_password, is_active, is_superuser, \
             full_name, bio, created_at, updated_at, phone_number) VALUES (1, 'legacy', \
             'legacy@example.com', ?1, 1, 0, NULL, NULL, '2024-05-01 10:00:00.123456', \
             '2024-05-01 10:00:00.123456', '+60123456789')",
            [PYTHON_HASH],
        )
        .unwrap();
        conn.execute_batch(ORIGINAL_REPORTS_DDL).unwrap();
        conn.execute_batch(
            "INSERT INTO reports (reporter_id, title, content, status, comment, resolved_at, \
             resolved_by, created_at, updated_at) VALUES \
             (1, 'Lift', 'Stuck on 3', 'resolved', 'Fixed', '2024-05-03 08:00:00.5', 1, \
              '2024-05-02 09:00:00.123456', '2024-05-03 08:00:00.5'), \
             (1, 'Window', 'Cracked', 'open', NULL, NULL, NULL, \
              '2024-05-04 09:00:00', '2024-05-04 09:00:00');",
        )
        .unwrap();
    }
    let url = sqlite_url(&path);
    let server = Server::start(&[("DATABASE_URL", url.as_str())]);
    let http = reqwest::Client::new();
    let login: Value = http
        .post(server.url("/auth/login"))
        .json(&json!({"username": "legacy", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(login["user"]["phone_number"], "+60123456789");
    assert_eq!(
        login["user"]["phone_verified"], false,
        "a claim until proven"
    );
    let token = login["access_token"].as_str().unwrap();
    common::the_originals_reports_are_kept(&http, &server, token).await;
    let claimed = http
        .post(server.url("/auth/register"))
        .json(&json!({"username": "newer", "email": "newer@example.com",
            "password": "newer-password", "phone_number": "+60123456789"}))
        .send()
        .await
        .unwrap();
    assert_eq!(claimed.status(), 201, "an unproven number blocks nobody");
    let ready = http.get(server.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "every migration is recorded");
    let (exit, _) = server.terminate();
    assert!(exit.success());
}

#[tokio::test]
async fn a_database_of_the_original_implementation_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("original.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(ORIGINAL_DDL).unwrap();
        conn.execute(
            "INSERT INTO users (id, username, email, hashed_password, is_active, is_superuser, \
             full_name, bio, created_at, updated_at) VALUES (1, 'legacy', 'legacy@example.com', \
             ?1, 1, 0, 'Legacy User', NULL, '2024-05-01 10:00:00.123456', \
             '2024-05-01 10:00:00.123456')",
            [PYTHON_HASH],
        )
        .unwrap();
        conn.execute_batch(
            "INSERT INTO messages (id, sender_id, recipient_id, content, is_read, parent_id, \
             conversation_id, created_at, updated_at) VALUES \
             (1, 1, 1, 'note from the Python days', 0, NULL, 'conv_1_1', \
              '2024-05-02 09:00:00.000001', '2024-05-02 09:00:00.000001');
             INSERT INTO refresh_tokens (id, user_id, token, expires_at, is_used, created_at, \
             updated_at) VALUES (1, 1, 'plaintext-legacy-token', '2099-01-01 00:00:00.000000', \
             0, '2024-05-02 09:00:00.000000', '2024-05-02 09:00:00.000000');",
        )
        .unwrap();
    }
    let url = sqlite_url(&path);
    let server = Server::start(&[("DATABASE_URL", url.as_str())]);
    let http = reqwest::Client::new();
    let login = http
        .post(server.url("/auth/login"))
        .json(&json!({"username": "legacy", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the Python bcrypt hash verifies");
    let login: Value = login.json().await.unwrap();
    assert_eq!(login["user"]["full_name"], "Legacy User");
    assert_eq!(login["user"]["created_at"], "2024-05-01T10:00:00.123456Z");
    let token = login["access_token"].as_str().unwrap();

    let messages: Value = http
        .get(server.url("/messages"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(messages[0]["content"], "note from the Python days");
    let conversations: Value = http
        .get(server.url("/auth/conversations"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(conversations[0]["conversation_id"], "conv_1_1");
    let sent = http
        .post(server.url("/messages"))
        .bearer_auth(token)
        .json(&json!({"recipient_id": 1, "content": "hello from Rust"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    // The legacy plaintext refresh token is not a live token any more.
    let refresh = http
        .post(server.url("/auth/refresh"))
        .json(&json!({"refresh_token": "plaintext-legacy-token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), 401);
    let (exit, _) = server.terminate();
    assert!(exit.success());

    let conn = rusqlite::Connection::open(&path).unwrap();
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM refinery_schema_history ORDER BY version")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let known: Vec<i64> = ai_message_sqlite::migrations::known()
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(versions, known, "every migration the binary carries");
    let has_session_id: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('refresh_tokens') \
             WHERE name = 'session_id')",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(has_session_id);
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

#[tokio::test]
async fn an_adopted_database_with_lookalike_accounts_migrates_and_serves_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lookalikes.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(ORIGINAL_DDL).unwrap();
        for (id, name, email) in [
            (1, "root", "root@example.com"),
            (2, "Root", "ROOT@example.com"),
            (3, "ro\u{200b}ot", "other@example.com"),
        ] {
            conn.execute(
                "INSERT INTO users (id, username, email, hashed_password, is_active, \
                 is_superuser, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 1, 0, \
                 '2024-05-01 10:00:00', '2024-05-01 10:00:00')",
                rusqlite::params![id, name, email, PYTHON_HASH],
            )
            .unwrap();
        }
    }
    let url = sqlite_url(&path);
    let server = Server::start(&[("DATABASE_URL", url.as_str())]);
    let http = reqwest::Client::new();
    for (name, id) in [("root", 1), ("Root", 2), ("ro\u{200b}ot", 3)] {
        let login = http
            .post(server.url("/auth/login"))
            .json(&json!({"username": name, "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 200, "{name:?} still logs in");
        let body: Value = login.json().await.unwrap();
        assert_eq!(body["user"]["id"], id);
    }
    // New names are held to the keys the adopted rows hold.
    let refused = http
        .post(server.url("/auth/register"))
        .json(&json!({"username": "ROOT", "email": "new@example.com", "password": "password1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let (exit, log) = server.terminate();
    assert!(exit.success());
    let warnings: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("collides with user 1"))
        .collect();
    assert_eq!(
        warnings.len(),
        3,
        "username and email of user 2, username of user 3: {log:#?}"
    );
}

#[tokio::test]
async fn data_and_sessions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("restart.db"));
    let http = reqwest::Client::new();

    let server = Server::start(&[("DATABASE_URL", url.as_str())]);
    let register = http
        .post(server.url("/auth/register"))
        .json(&json!({"username": "alice", "email": "alice@example.com", "password": "alice-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 201);
    let login: Value = http
        .post(server.url("/auth/login"))
        .json(&json!({"username": "alice", "password": "alice-password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_string();
    let refresh = login["refresh_token"].as_str().unwrap().to_string();
    let sent = http
        .post(server.url("/messages"))
        .bearer_auth(&token)
        .json(&json!({"recipient_id": 1, "content": "remember me"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    let (exit, _) = server.terminate();
    assert!(exit.success());

    let server = Server::start(&[("DATABASE_URL", url.as_str())]);
    let messages: Value = http
        .get(server.url("/messages"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(messages[0]["content"], "remember me", "{messages}");
    let refreshed = http
        .post(server.url("/auth/refresh"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let (exit, _) = server.terminate();
    assert!(exit.success());
}

/// After a clean stop the main file alone holds every acknowledged write: a copy of it
/// without its `-wal` file is the whole database (README's backup advice).
#[tokio::test]
async fn after_sigterm_the_database_file_alone_holds_every_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backend.db");
    let url = sqlite_url(&path);
    let http = reqwest::Client::new();
    let server = Server::start(&[("DATABASE_URL", url.as_str())]);
    let token = register_alice(&http, &server).await;
    let sends = (0..200).map(|n| {
        http.post(server.url("/messages"))
            .bearer_auth(&token)
            .json(&json!({"recipient_id": 1, "content": format!("note {n} {}", "x".repeat(2_000))}))
            .send()
    });
    let acknowledged = futures_util::future::join_all(sends)
        .await
        .into_iter()
        .filter(|sent| sent.as_ref().is_ok_and(|r| r.status() == 201))
        .count();
    assert_eq!(acknowledged, 200);
    let (exit, _) = server.terminate();
    assert!(exit.success());

    let copy = dir.path().join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    let wal = std::fs::metadata(dir.path().join("backend.db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the log was moved into the file and emptied");
    let copied = rusqlite::Connection::open(&copy).unwrap();
    let stored: i64 = copied
        .query_row("SELECT count(*) FROM messages", [], |row| row.get(0))
        .unwrap();
    assert_eq!(
        stored, 200,
        "every acknowledged message is in the file alone"
    );
}

/// Registers alice and logs her in: her access token.
async fn register_alice(http: &reqwest::Client, server: &Server) -> String {
    let register = http
        .post(server.url("/auth/register"))
        .json(&json!({"username": "alice", "email": "alice@example.com", "password": "alice-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 201);
    token_of(http, server, "alice", "alice-password").await
}

async fn token_of(http: &reqwest::Client, server: &Server, name: &str, password: &str) -> String {
    let login: Value = http
        .post(server.url("/auth/login"))
        .json(&json!({"username": name, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["access_token"].as_str().unwrap().to_string()
}

/// A superuser backs up the running server while messages keep arriving: every message
/// acknowledged before the backup was asked for is in it, and a fresh server starts on it.
#[tokio::test]
async fn a_backup_taken_under_load_holds_every_acknowledged_message_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("live.db"));
    let http = reqwest::Client::new();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("FIRST_SUPERUSER_USERNAME", "root"),
        ("FIRST_SUPERUSER_EMAIL", "root@example.com"),
        ("FIRST_SUPERUSER_PASSWORD", "root-password"),
    ];
    let server = Server::start(&env);
    let alice = register_alice(&http, &server).await;
    let root = token_of(&http, &server, "root", "root-password").await;
    let refused = http
        .get(server.url("/auth/backup"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "superusers only");

    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (http, url, alice, acknowledged) = (
                http.clone(),
                server.url("/messages"),
                alice.clone(),
                acknowledged.clone(),
            );
            tokio::spawn(async move {
                for n in 0..60 {
                    let sent: Value = http
                        .post(&url)
                        .bearer_auth(&alice)
                        .json(&json!({"recipient_id": 1, "content": format!("w{writer} n{n}")}))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    acknowledged
                        .lock()
                        .unwrap()
                        .push(sent["id"].as_i64().unwrap());
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 80 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let before: Vec<i64> = acknowledged.lock().unwrap().clone();
    let backup = http
        .get(server.url("/auth/backup"))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    assert_eq!(backup.status(), 200);
    assert_eq!(
        backup.headers()["content-type"].to_str().unwrap(),
        "application/vnd.sqlite3"
    );
    let bytes = backup.bytes().await.unwrap();
    assert!(bytes.starts_with(b"SQLite format 3\0"));
    for writer in writers {
        writer.await.unwrap();
    }
    let (exit, _) = server.terminate();
    assert!(exit.success());

    let restored_path = dir.path().join("restored.db");
    std::fs::write(&restored_path, &bytes).unwrap();
    let restored_url = sqlite_url(&restored_path);
    let restored = Server::start(&[("DATABASE_URL", restored_url.as_str())]);
    let alice = token_of(&http, &restored, "alice", "alice-password").await;
    let first = http
        .get(restored.url(&format!("/messages/{}", before[0])))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200, "the restored server serves the backup");
    let (exit, _) = restored.terminate();
    assert!(exit.success());
    let kept: std::collections::BTreeSet<i64> = rusqlite::Connection::open(&restored_path)
        .unwrap()
        .prepare("SELECT id FROM messages")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let missing: Vec<&i64> = before.iter().filter(|id| !kept.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup, missing: {missing:?}"
    );
}

/// Readiness follows the file: an instance whose database file was deleted under it is
/// alive but not ready.
#[tokio::test]
async fn readiness_fails_when_the_database_file_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ready.db");
    let url = sqlite_url(&file);
    let http = reqwest::Client::new();
    let server = Server::start(&[("DATABASE_URL", url.as_str())]);
    let ready = http.get(server.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    std::fs::remove_file(&file).unwrap();
    let ready = http.get(server.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["detail"], "Database connection failed");
    let health = http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let (exit, _) = server.terminate();
    assert!(exit.success());
}

#[test]
fn a_missing_directory_is_one_clear_error() {
    let output = std::process::Command::new(ai_message_testkit::server::binary())
        .env_clear()
        .env("DATABASE_URL", "sqlite:////definitely/not/here/x.db")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("DATABASE_URL: the directory /definitely/not/here does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn migrate_commands_report_and_apply() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("migrate.db"));
    let run = |args: &[&str]| {
        let output = std::process::Command::new(ai_message_testkit::server::binary())
            .args(args)
            .env_clear()
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    assert_eq!(
        run(&["migrate", "current"]).trim(),
        "no migration applied yet"
    );
    assert!(run(&["migrate", "history"]).contains("V1 initial_schema (pending)"));
    let applied = run(&["migrate", "up"]);
    assert!(applied.contains("applied V1 initial_schema"), "{applied}");
    assert!(applied.contains("applied V2"), "{applied}");
    assert_eq!(run(&["migrate", "up"]).trim(), "already at head");
    assert!(run(&["migrate", "current"]).contains("(head)"));
    let history = run(&["migrate", "history"]);
    assert!(!history.contains("pending"), "{history}");

    // `migrate new` writes the next version into both dialect folders.
    let repo = tempfile::tempdir().unwrap();
    for dialect in ["sqlite", "postgres"] {
        let folder = repo.path().join("migrations").join(dialect);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("V1__initial_schema.sql"), "-- one\n").unwrap();
        std::fs::write(folder.join("V2__more.sql"), "-- two\n").unwrap();
    }
    let output = std::process::Command::new(ai_message_testkit::server::binary())
        .args(["migrate", "new", "Add message reactions"])
        .current_dir(repo.path())
        .env_clear()
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for dialect in ["sqlite", "postgres"] {
        let file = repo
            .path()
            .join("migrations")
            .join(dialect)
            .join("V3__add_message_reactions.sql");
        assert!(file.is_file(), "{} written", file.display());
    }
}
