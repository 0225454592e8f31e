//! The binary on PostgreSQL: adoption of an original database, two instances on one database,
//! and the database going away and coming back while serving.

mod common;

use std::time::{Duration, Instant};

use ai_message_testkit::postgres::ScratchDatabase;
use ai_message_testkit::relay::{Relay, upstream_address};
use ai_message_testkit::server::Server;
use serde_json::{Value, json};

const SECRET: &str = "shared-secret-of-the-cluster-of-two-instances";

async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// The DDL SQLAlchemy emitted for the original implementation's models on PostgreSQL.
const ORIGINAL_DDL: &str = "
CREATE TABLE users (
	id SERIAL NOT NULL, username VARCHAR(100) NOT NULL, email VARCHAR(255) NOT NULL,
	hashed_password VARCHAR(255) NOT NULL, is_active BOOLEAN, is_superuser BOOLEAN,
	full_name VARCHAR(255), bio TEXT, created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, PRIMARY KEY (id));
CREATE UNIQUE INDEX ix_users_username ON users (username);
CREATE UNIQUE INDEX ix_users_email ON users (email);
CREATE INDEX ix_users_id ON users (id);
CREATE TABLE roles (
	id SERIAL NOT NULL, name VARCHAR(100) NOT NULL, description VARCHAR(255),
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, PRIMARY KEY (id));
CREATE INDEX ix_roles_id ON roles (id);
CREATE UNIQUE INDEX ix_roles_name ON roles (name);
CREATE TABLE messages (
	id SERIAL NOT NULL, sender_id INTEGER NOT NULL, recipient_id INTEGER NOT NULL,
	content TEXT NOT NULL, is_read BOOLEAN, parent_id INTEGER, conversation_id VARCHAR(100),
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, PRIMARY KEY (id));
CREATE INDEX ix_messages_sender_id ON messages (sender_id);
CREATE INDEX ix_messages_conversation_id ON messages (conversation_id);
CREATE INDEX ix_messages_id ON messages (id);
CREATE INDEX ix_messages_recipient_id ON messages (recipient_id);
CREATE TABLE user_roles (
	id SERIAL NOT NULL, user_id INTEGER NOT NULL, role_id INTEGER NOT NULL,
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, PRIMARY KEY (id),
	FOREIGN KEY(user_id) REFERENCES users (id), FOREIGN KEY(role_id) REFERENCES roles (id));
CREATE INDEX ix_user_roles_role_id ON user_roles (role_id);
CREATE INDEX ix_user_roles_id ON user_roles (id);
CREATE INDEX ix_user_roles_user_id ON user_roles (user_id);
CREATE TABLE sessions (
	id SERIAL NOT NULL, user_id INTEGER NOT NULL, session_token VARCHAR(255) NOT NULL,
	device_info VARCHAR(255), ip_address VARCHAR(50), is_active BOOLEAN,
	expires_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, PRIMARY KEY (id),
	FOREIGN KEY(user_id) REFERENCES users (id));
CREATE UNIQUE INDEX ix_sessions_session_token ON sessions (session_token);
CREATE INDEX ix_sessions_id ON sessions (id);
CREATE TABLE refresh_tokens (
	id SERIAL NOT NULL, user_id INTEGER NOT NULL, token VARCHAR(255) NOT NULL,
	expires_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, is_used BOOLEAN,
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, PRIMARY KEY (id),
	FOREIGN KEY(user_id) REFERENCES users (id));
CREATE INDEX ix_refresh_tokens_id ON refresh_tokens (id);
CREATE UNIQUE INDEX ix_refresh_tokens_token ON refresh_tokens (token);
";

/// Python's `bcrypt` 5.0.0: `bcrypt.hashpw(b"correct horse battery", bcrypt.gensalt(4))`.
const PYTHON_HASH: &str = "$2b$04$xJk7aUKjADnp5iV.7uhQc.Y4sdQ7XuClz.GQW9JZ3SLCnBLVNTbAO";

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

async fn login(http: &reqwest::Client, server: &Server, name: &str, password: &str) -> Value {
    let response = http
        .post(server.url("/auth/login"))
        .json(&json!({"username": name, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    json_of(response).await
}

/// The original's newest version has `users.phone_number` (unique, indexed) already; its
/// numbers were never proven, so V14 keeps each as its account's claim (issue 38).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_originals_newest_version_keeps_its_phone_numbers_and_reports() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let database = ScratchDatabase::create().await;
    let db = client(&database.url).await;
    db.batch_execute(ORIGINAL_DDL).await.unwrap();
    db.batch_execute(
        "ALTER TABLE users ADD COLUMN phone_number VARCHAR(20);
         CREATE UNIQUE INDEX ix_users_phone_number ON users (phone_number);",
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO users (username, email, hashed_password, is_active, is_superuser, \
         created_at, updated_at, phone_number) VALUES ('legacy', 'legacy@example.com', $1, \
         true, false, '2024-05-01 10:00:00', '2024-05-01 10:00:00', '+60123456789')",
        &[&PYTHON_HASH],
    )
    .await
    .unwrap();
    db.batch_execute(
        "CREATE TABLE reports (
            id SERIAL NOT NULL, reporter_id INTEGER NOT NULL, title VARCHAR(255) NOT NULL,
            content TEXT NOT NULL, status VARCHAR(50) NOT NULL, comment TEXT,
            resolved_at TIMESTAMP WITHOUT TIME ZONE, resolved_by INTEGER,
            created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
            updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, PRIMARY KEY (id),
            FOREIGN KEY(reporter_id) REFERENCES users (id) ON DELETE CASCADE,
            FOREIGN KEY(resolved_by) REFERENCES users (id) ON DELETE SET NULL);
         CREATE INDEX ix_reports_id ON reports (id);
         INSERT INTO reports (reporter_id, title, content, status, comment, resolved_at,
             resolved_by, created_at, updated_at) VALUES
             (1, 'Lift', 'Stuck on 3', 'resolved', 'Fixed', '2024-05-03 08:00:00.5', 1,
              '2024-05-02 09:00:00', '2024-05-03 08:00:00.5'),
             (1, 'Window', 'Cracked', 'open', NULL, NULL, NULL,
              '2024-05-04 09:00:00', '2024-05-04 09:00:00');",
    )
    .await
    .unwrap();
    let server = Server::start(&[("DATABASE_URL", database.url.as_str())]);
    let http = reqwest::Client::new();
    let session = login(&http, &server, "legacy", "correct horse battery").await;
    assert_eq!(session["user"]["phone_number"], "+60123456789");
    assert_eq!(
        session["user"]["phone_verified"], false,
        "a claim until proven"
    );
    let token = session["access_token"].as_str().unwrap();
    common::the_originals_reports_are_kept(&http, &server, token).await;
    let claimed = http
        .post(server.url("/auth/register"))
        .json(&json!({"username": "newer", "email": "newer@example.com",
            "password": "newer-password", "phone_number": "+60123456789"}))
        .send()
        .await
        .unwrap();
    assert_eq!(claimed.status(), 201, "an unproven number blocks nobody");
    let (exit, _) = server.terminate();
    assert!(exit.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_original_implementation_is_adopted() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let database = ScratchDatabase::create().await;
    let db = client(&database.url).await;
    db.batch_execute(ORIGINAL_DDL).await.unwrap();
    db.execute(
        "INSERT INTO users (username, email, hashed_password, is_active, is_superuser, \
         full_name, created_at, updated_at) VALUES ('legacy', 'legacy@example.com', $1, true, \
         false, 'Legacy User', '2024-05-01 10:00:00.123456', '2024-05-01 10:00:00.123456')",
        &[&PYTHON_HASH],
    )
    .await
    .unwrap();
    // A second account that collides with the first under the new keys (case of both).
    db.execute(
        "INSERT INTO users (username, email, hashed_password, is_active, is_superuser, \
         created_at, updated_at) VALUES ('Legacy', 'LEGACY@example.com', $1, true, false, \
         '2024-05-01 11:00:00', '2024-05-01 11:00:00')",
        &[&PYTHON_HASH],
    )
    .await
    .unwrap();
    db.batch_execute(
        "INSERT INTO messages (sender_id, recipient_id, content, is_read, conversation_id, \
         created_at, updated_at) VALUES (1, 1, 'note from the Python days', false, 'conv_1_1', \
         '2024-05-02 09:00:00', '2024-05-02 09:00:00')",
    )
    .await
    .unwrap();

    let server = Server::start(&[("DATABASE_URL", database.url.as_str())]);
    let http = reqwest::Client::new();
    let session = login(&http, &server, "legacy", "correct horse battery").await;
    assert_eq!(session["user"]["created_at"], "2024-05-01T10:00:00.123456Z");
    let token = session["access_token"].as_str().unwrap();
    let messages = json_of(
        http.get(server.url("/messages"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(messages[0]["content"], "note from the Python days");
    let registered = http
        .post(server.url("/auth/register"))
        .json(
            &json!({"username": "newcomer", "email": "new@example.com", "password": "newcomer-pw"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        registered.status(),
        201,
        "the adopted sequence hands out a fresh id"
    );
    let twin = login(&http, &server, "Legacy", "correct horse battery").await;
    assert_eq!(
        twin["user"]["id"], 2,
        "the colliding adopted account still logs in"
    );
    let (exit, log) = server.terminate();
    assert!(exit.success());
    assert_eq!(
        log.iter()
            .filter(|line| line.contains("collides with user 1"))
            .count(),
        2,
        "one warning each for the username and the email: {log:#?}"
    );
    let versions: Vec<i32> = db
        .query(
            "SELECT version FROM refinery_schema_history ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let known: Vec<i32> = ai_message_postgres::migrations::known()
        .iter()
        .map(|m| i32::try_from(m.version).unwrap())
        .collect();
    assert_eq!(versions, known, "every migration the binary carries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_sessions_and_messages() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let database = ScratchDatabase::create().await;
    let env = [
        ("DATABASE_URL", database.url.as_str()),
        ("SECRET_KEY", SECRET),
    ];
    // Started together: both migrate the same empty database.
    let (first, second) = std::thread::scope(|scope| {
        let a = scope.spawn(|| Server::start(&env));
        let b = scope.spawn(|| Server::start(&env));
        (a.join().unwrap(), b.join().unwrap())
    });
    let http = reqwest::Client::new();
    for (name, server) in [("alice", &first), ("bob", &second)] {
        let response = http
            .post(server.url("/auth/register"))
            .json(&json!({"username": name, "email": format!("{name}@example.com"), "password": format!("{name}-password")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let alice = login(&http, &first, "alice", "alice-password").await;
    let token = alice["access_token"].as_str().unwrap().to_string();
    let bob_id = json_of(
        http.get(second.url("/auth/users/2"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        bob_id["detail"], "Superuser access required",
        "B accepts A's token"
    );

    let sent = http
        .post(second.url("/messages"))
        .bearer_auth(&token)
        .json(&json!({"recipient_id": 2, "content": "sent through B"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    let listed = json_of(
        http.get(first.url("/messages/sent"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed[0]["content"], "sent through B");

    let logout = http
        .post(first.url("/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);
    let refused = http
        .get(second.url("/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        401,
        "a session ended through A is refused by B"
    );

    for server in [first, second] {
        let (exit, _) = server.terminate();
        assert!(exit.success());
    }
    let db = client(&database.url).await;
    let applied: i64 = db
        .query_one("SELECT COUNT(*) FROM refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    let known = ai_message_postgres::migrations::known().len() as i64;
    assert_eq!(applied, known, "each migration applied once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_answer_503_while_the_database_is_away_and_recover_by_themselves() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let database = ScratchDatabase::create().await;
    let mut relay = Relay::start(upstream_address()).await;
    let relayed_url =
        database
            .url
            .replacen(&upstream_address(), &format!("127.0.0.1:{}", relay.port), 1);
    let server = Server::start(&[("DATABASE_URL", relayed_url.as_str())]);
    let http = reqwest::Client::new();
    let registered = http
        .post(server.url("/auth/register"))
        .json(&json!({"username": "alice", "email": "alice@example.com", "password": "alice-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let session = login(&http, &server, "alice", "alice-password").await;
    let token = session["access_token"].as_str().unwrap().to_string();

    let ready = http.get(server.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    relay.cut();
    let ready = http.get(server.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "not ready while the database is away");
    assert!(ready.headers().contains_key("retry-after"));
    assert_eq!(json_of(ready).await["detail"], "Database connection failed");
    let db_test = http.get(server.url("/db-test")).send().await.unwrap();
    assert_eq!(db_test.status(), 503);
    assert!(db_test.headers().contains_key("retry-after"));
    assert_eq!(
        json_of(db_test).await["detail"],
        "Database connection failed"
    );
    let me = http
        .get(server.url("/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 503);
    let body = json_of(me).await;
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    let health = http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(
        health.status(),
        200,
        "liveness does not depend on the database"
    );

    relay.restore().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = http
            .get(server.url("/db-test"))
            .send()
            .await
            .unwrap()
            .status();
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "service did not resume");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let me = http
        .get(server.url("/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let ready = http.get(server.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "ready again once the database is back");
    let (exit, _) = server.terminate();
    assert!(exit.success());
}

/// A network path that loses its state leaves pooled connections open and silent. Requests
/// caught on them fail within the reply deadline, the pool replaces them, and service is back
/// within 15 s, with no restart and no 500.
/// An instance is ready only while the database holds every migration it carries (say a
/// restore from an older backup took the newest away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_requires_every_migration_applied() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let database = ScratchDatabase::create().await;
    let server = Server::start(&[("DATABASE_URL", database.url.as_str())]);
    let http = reqwest::Client::new();
    let ready = http.get(server.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(json_of(ready).await, json!({"status": "ready"}));

    let admin = client(&database.url).await;
    admin
        .execute(
            "DELETE FROM refinery_schema_history \
             WHERE version = (SELECT max(version) FROM refinery_schema_history)",
            &[],
        )
        .await
        .unwrap();
    let ready = http.get(server.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(
        json_of(ready).await["detail"],
        "Database migrations pending"
    );
    let health = http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200, "still alive");
    let (exit, _) = server.terminate();
    assert!(exit.success());
}

/// A server on a fresh database reached through a relay the test can freeze (a pool of 3),
/// a client with a 30 s timeout, and the access token of a user registered there.
async fn behind_a_relay_with_alice() -> (ScratchDatabase, Relay, Server, reqwest::Client, String) {
    let database = ScratchDatabase::create().await;
    let relay = Relay::start(upstream_address()).await;
    let relayed_url =
        database
            .url
            .replacen(&upstream_address(), &format!("127.0.0.1:{}", relay.port), 1);
    let server = Server::start(&[
        ("DATABASE_URL", relayed_url.as_str()),
        ("DATABASE_POOL_SIZE", "3"),
    ]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let registered = http
        .post(server.url("/auth/register"))
        .json(&json!({"username": "alice", "email": "alice@example.com", "password": "alice-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let session = login(&http, &server, "alice", "alice-password").await;
    let token = session["access_token"].as_str().unwrap().to_string();
    (database, relay, server, http, token)
}

/// After a pause, the connection the hot reads share is checked before it serves, as the
/// pool checks its idle connections: a path that went silent meanwhile costs its short
/// check (2 s), not a request waiting out the reply deadline (10 s) and failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_read_connection_silent_after_a_pause_is_checked_not_waited_on() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let (_database, relay, server, http, token) = behind_a_relay_with_alice().await;
    let me = || http.get(server.url("/auth/me")).bearer_auth(&token).send();
    assert_eq!(me().await.unwrap().status(), 200);
    // Longer than the idle check's threshold (5 s), then every open path goes silent.
    tokio::time::sleep(Duration::from_secs(6)).await;
    relay.freeze_open_links();
    let asked = Instant::now();
    let status = me().await.unwrap().status();
    let took = asked.elapsed();
    println!("first request after the pause and the freeze: {status} in {took:?}");
    assert_eq!(status, 200, "answered on fresh connections");
    assert!(
        took < Duration::from_secs(8),
        "the request waited {took:?}: the silent connection was not checked first"
    );
    let (exit, _) = server.terminate();
    assert!(exit.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_replaced_and_service_returns_within_15_seconds() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let (_database, relay, server, http, token) = behind_a_relay_with_alice().await;
    // Warm every pooled connection, then cut their paths while they are fresh (no idle check).
    let warm: Vec<_> = (0..6)
        .map(|_| http.get(server.url("/auth/me")).bearer_auth(&token).send())
        .collect();
    for response in futures_util::future::join_all(warm).await {
        assert_eq!(response.unwrap().status(), 200);
    }
    relay.freeze_open_links();
    let frozen_at = Instant::now();

    let mut statuses = Vec::new();
    let recovered_after = loop {
        let requests: Vec<_> = (0..3)
            .map(|_| http.get(server.url("/auth/me")).bearer_auth(&token).send())
            .collect();
        let mut ok = false;
        for response in futures_util::future::join_all(requests).await {
            let status = response.map_or(0, |r| r.status().as_u16());
            statuses.push(status);
            ok |= status == 200;
        }
        if ok {
            break frozen_at.elapsed();
        }
        if frozen_at.elapsed() > Duration::from_secs(40) {
            let (_, log) = server.terminate();
            panic!("no recovery: {statuses:?}\n{}", log.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "only 503 while the paths were dead: {statuses:?}"
    );
    println!("silent connections: service back after {recovered_after:?}");
    assert!(
        recovered_after <= Duration::from_secs(15),
        "service returned after {recovered_after:?}"
    );
    let (exit, _) = server.terminate();
    assert!(exit.success());
}
