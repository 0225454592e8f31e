//! Crashes, shutdowns and logs: acknowledged writes survive SIGKILL, SIGTERM lets in-flight
//! requests finish, and no log line carries a secret.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ai_message_testkit::server::Server;
use serde_json::{Value, json};

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

async fn register_and_login(http: &reqwest::Client, server: &Server, name: &str) -> (i64, Value) {
    let user = json_of(
        http.post(server.url("/auth/register"))
            .json(&json!({"username": name, "email": format!("{name}@example.com"), "password": format!("{name}-password")}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let session = json_of(
        http.post(server.url("/auth/login"))
            .json(&json!({"username": name, "password": format!("{name}-password")}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    (user["id"].as_i64().unwrap(), session)
}

/// Writes from 8 clients, kills the server mid-stream, restarts it, and checks that every
/// message answered 201 is there.
async fn acknowledged_messages_survive_a_kill(database_url: &str) {
    let env = [("DATABASE_URL", database_url)];
    let server = Server::start(&env);
    let http = reqwest::Client::new();
    let (_, alice) = register_and_login(&http, &server, "alice").await;
    let (bob_id, bob) = register_and_login(&http, &server, "bob").await;
    let alice_token = alice["access_token"].as_str().unwrap().to_string();
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let stop_at = Instant::now() + Duration::from_secs(5);
    let mut writers = Vec::new();
    for writer in 0..8 {
        let http = http.clone();
        let url = server.url("/messages");
        let token = alice_token.clone();
        let acknowledged = acknowledged.clone();
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < stop_at {
                n += 1;
                let sent = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"recipient_id": bob_id, "content": format!("w{writer} #{n}")}))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == 201 => {
                        let body: Value = response.json().await.unwrap();
                        acknowledged
                            .lock()
                            .unwrap()
                            .insert(body["id"].as_i64().unwrap());
                    }
                    Ok(response) => assert!(
                        !response.status().is_server_error(),
                        "a 5xx before the kill: {}",
                        response.status()
                    ),
                    // The server is gone.
                    Err(_) => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 20,
        "the load ran: {}",
        acknowledged.len()
    );

    let server = Server::start(&env);
    let bob_token = bob["access_token"].as_str().unwrap();
    let mut stored = BTreeSet::new();
    let mut skip = 0;
    loop {
        let page = json_of(
            http.get(server.url(&format!("/messages/received?limit=500&skip={skip}")))
                .bearer_auth(bob_token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        let page = page.as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        skip += page.len();
        stored.extend(page.iter().map(|m| m["id"].as_i64().unwrap()));
    }
    let lost: Vec<&i64> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    let (exit, _) = server.terminate();
    assert!(exit.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_sigkill_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("durable.db");
    acknowledged_messages_survive_a_kill(&format!("sqlite:///{}", path.display())).await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_sigkill_on_postgres() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let database = ai_message_testkit::postgres::ScratchDatabase::create().await;
    acknowledged_messages_survive_a_kill(&database.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish_and_refuses_new_connections() {
    // Cost-12 logins take a quarter second each: slow enough to be caught in flight.
    let server = Server::start(&[("BCRYPT_COST", "12")]);
    let http = reqwest::Client::new();
    let registered = http
        .post(server.url("/auth/register"))
        .json(
            &json!({"username": "slow", "email": "slow@example.com", "password": "slow-password"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let address = server.url("").trim_start_matches("http://").to_string();
    let mut in_flight = Vec::new();
    for _ in 0..4 {
        let http = http.clone();
        let url = server.url("/auth/login");
        in_flight.push(tokio::spawn(async move {
            http.post(url)
                .json(&json!({"username": "slow", "password": "slow-password"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let signalled = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(150)).await;
    let fresh = tokio::net::TcpStream::connect(&address).await;
    assert!(fresh.is_err(), "a new connection after SIGTERM is refused");
    for request in in_flight {
        assert_eq!(
            request.await.unwrap().ok(),
            Some(200),
            "in-flight requests complete"
        );
    }
    let (exit, _) = server.terminate_after_signal();
    assert!(exit.success(), "{exit:?}");
    assert!(signalled.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_no_password_token_or_hash_even_at_debug_level() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let database = ai_message_testkit::postgres::ScratchDatabase::create().await;
    let server = Server::start(&[
        ("DATABASE_URL", database.url.as_str()),
        ("RUST_LOG", "debug"),
    ]);
    let http = reqwest::Client::new();
    let (_, session) = register_and_login(&http, &server, "alice").await;
    let access = session["access_token"].as_str().unwrap().to_string();
    let refresh = session["refresh_token"].as_str().unwrap().to_string();
    let failed = http
        .post(server.url("/auth/login"))
        .json(&json!({"username": "alice", "password": "wrong-secret-guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 401);
    let rotated = json_of(
        http.post(server.url("/auth/refresh"))
            .json(&json!({"refresh_token": refresh}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let changed = http
        .put(server.url("/auth/me/password"))
        .bearer_auth(&access)
        .json(&json!({"current_password": "alice-password", "new_password": "brand-new-secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let (exit, log) = server.terminate();
    assert!(exit.success());
    let log = log.join("\n");
    assert!(log.contains("/auth/login"), "the log was captured: {log}");
    for secret in [
        "alice-password",
        "wrong-secret-guess",
        "brand-new-secret",
        access.as_str(),
        refresh.as_str(),
        rotated["refresh_token"].as_str().unwrap(),
        rotated["access_token"].as_str().unwrap(),
        "$2b$",
    ] {
        assert!(!log.contains(secret), "the log shows {secret}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    use tokio::io::AsyncReadExt;
    let server = Server::start(&[("IDLE_TIMEOUT_SECONDS", "1")]);
    let address = server.url("").trim_start_matches("http://").to_string();
    let mut silent = tokio::net::TcpStream::connect(&address).await.unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 64];
    // Sends nothing: the server hangs up (read returns 0 or an error), well before 10 s.
    let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buffer)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    let (exit, _) = server.terminate();
    assert!(exit.success());
}

/// SIGTERM while the assistant is thinking (a model that would take 30 s, a 60 s model
/// timeout, a 10 s grace): the question asked and waited for gets its answer (the fallback)
/// before the process exits, and the question answered in the background has its reply
/// stored, as a restart shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_answers_the_assistants_questions_in_flight() {
    use ai_message_core::usecases::assistant::FALLBACK_REPLY;
    use ai_message_testkit::fake_model::{Answer, FakeModel};
    let model = FakeModel::start().await;
    model.script([
        Answer::Slow(Duration::from_secs(30), "too late".into()),
        Answer::Slow(Duration::from_secs(30), "too late".into()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite:///{}", dir.path().join("shutdown.db").display());
    let env = [
        ("DATABASE_URL", database.as_str()),
        ("AI_API_BASE", model.base_url.as_str()),
        ("AI_MODEL", "slow-model"),
        ("AI_TIMEOUT_SECONDS", "60"),
    ];
    let server = Server::start(&env);
    let http = reqwest::Client::new();
    let (_, session) = register_and_login(&http, &server, "alice").await;
    let token = session["access_token"].as_str().unwrap().to_string();
    let background = http
        .post(server.url("/messages"))
        .bearer_auth(&token)
        .json(&json!({"recipient_id": -1, "content": "answer me later"}))
        .send()
        .await
        .unwrap();
    assert_eq!(background.status(), 201);
    // Another session asks and waits (one question at a time per user).
    let (_, bob) = register_and_login(&http, &server, "bob").await;
    let asking = tokio::spawn({
        let http = http.clone();
        let url = server.url("/messages/ai");
        let token = bob["access_token"].as_str().unwrap().to_string();
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({"content": "answer me now"}))
                .send()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let signalled = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    let answered = asking
        .await
        .unwrap()
        .expect("the waiting caller gets an answer");
    assert_eq!(answered.status(), 200);
    assert_eq!(json_of(answered).await["content"], FALLBACK_REPLY);
    let (exit, _) = server.terminate_after_signal();
    assert!(exit.success(), "{exit:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "within the grace: {:?}",
        signalled.elapsed()
    );

    let restarted = Server::start(&env);
    let login = json_of(
        http.post(restarted.url("/auth/login"))
            .json(&json!({"username": "alice", "password": "alice-password"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let history = json_of(
        http.get(restarted.url("/messages/history"))
            .bearer_auth(login["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(history["message_count"], 2, "{history}");
    assert_eq!(history["history"][1]["content"], FALLBACK_REPLY);
    let (exit, _) = restarted.terminate();
    assert!(exit.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_a_crash_left_unanswered_is_answered_after_restart() {
    use ai_message_testkit::fake_model::{Answer, FakeModel};
    let model = FakeModel::start().await;
    model.script([
        Answer::Slow(Duration::from_secs(60), "never heard".into()),
        Answer::Streamed("the answer after the crash".into()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite:///{}", dir.path().join("crash.db").display());
    // A 1 s model timeout and no tool rounds (one model call per answer): a question is
    // forgotten once 1 + 10 (grace) + 5 s old.
    let env = [
        ("DATABASE_URL", database.as_str()),
        ("AI_API_BASE", model.base_url.as_str()),
        ("AI_MODEL", "slow-model"),
        ("AI_TIMEOUT_SECONDS", "1"),
        ("AI_MAX_TOOL_ROUNDS", "0"),
    ];
    let server = Server::start(&env);
    let http = reqwest::Client::new();
    let (_, session) = register_and_login(&http, &server, "alice").await;
    let token = session["access_token"].as_str().unwrap().to_string();
    // The model is slower than the timeout, but the process dies before the fallback.
    let question = http
        .post(server.url("/messages"))
        .bearer_auth(&token)
        .json(&json!({"recipient_id": -1, "content": "are you there?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(question.status(), 201);
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();

    let restarted = Server::start(&env);
    let history = || async {
        json_of(
            http.get(restarted.url("/messages/history"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
        )
        .await
    };
    assert_eq!(
        history().await["message_count"],
        1,
        "unanswered after the crash"
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    let answered = loop {
        let now = history().await;
        if now["message_count"] == 2 {
            break now;
        }
        assert!(Instant::now() < deadline, "never answered: {now}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(
        answered["history"][1]["content"],
        "the answer after the crash"
    );
    // Answered once: another sweep later adds nothing.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(history().await["message_count"], 2);
    let (exit, _) = restarted.terminate();
    assert!(exit.success());
}
