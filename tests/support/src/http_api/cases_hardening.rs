//! Inputs an attacker would try that a plain client never sends.

use serde_json::json;

use super::harness::TestServer;

pub async fn a_message_cannot_join_the_conversation_of_two_other_users(server: TestServer) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mallory = server.user("mallory").await;
    let private = server.send_message(&alice, bob.id, "between us").await;
    let conversation = private["conversation_id"].as_str().unwrap().to_string();
    for (path, body) in [
        (
            "/messages".to_string(),
            json!({"recipient_id": bob.id, "content": "I'm in", "conversation_id": conversation}),
        ),
        (
            format!("/auth/conversations/{conversation}/messages"),
            json!({"recipient_id": bob.id, "content": "I'm in"}),
        ),
    ] {
        server
            .post(&path, Some(&mallory.access), body)
            .await
            .assert_error(403, "Not a participant of this conversation");
    }
    // The participants keep using it, and a new id is anyone's to start.
    server
        .post(
            "/messages",
            Some(&bob.access),
            json!({"recipient_id": alice.id, "content": "reply", "conversation_id": conversation}),
        )
        .await
        .assert_status(201);
    server
        .post(
            "/messages",
            Some(&mallory.access),
            json!({"recipient_id": bob.id, "content": "hi", "conversation_id": "mallory-new"}),
        )
        .await
        .assert_status(201);
    let thread = server
        .get(
            &format!("/auth/conversations/{conversation}/messages"),
            Some(&bob.access),
        )
        .await;
    assert!(
        !thread.text.contains("I'm in"),
        "the outsider's message is not in their thread: {}",
        thread.text
    );
}

pub async fn duplicate_keys_in_a_json_body_are_refused(server: TestServer) {
    server
        .post_raw(
            "/auth/register",
            None,
            "application/json",
            r#"{"username": "alice", "email": "alice@example.com", "password": "password1", "username": "root"}"#,
        )
        .await
        .assert_error(422, "body: invalid JSON: duplicate key `username`");
    let alice = server.user("alice").await;
    server
        .send(
            poem::http::Method::PUT,
            "/auth/me",
            Some(&alice.access),
            super::harness::Body::Raw(
                "application/json",
                r#"{"bio": "a", "nested": {"x": 1, "x": 2}}"#.to_string(),
            ),
            &[],
        )
        .await
        .assert_error(422, "body: invalid JSON: duplicate key `x`");
}

/// Conversation ids are predictable; a third user squatting the id of two others before
/// they ever talk gains nothing: the canonical id `conv_<a>_<b>` only ever holds a's and
/// b's messages, and b's first message to a lands there, not under the squatter's.
pub async fn a_conversation_id_cannot_be_squatted_before_its_pair_talks(server: TestServer) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let eve = server.user("eve").await;
    let theirs = format!("conv_{}_{}", alice.id.min(bob.id), alice.id.max(bob.id));
    let assistants = format!("conv_-1_{}", alice.id);
    for (path, body) in [
        (
            "/messages".to_string(),
            json!({"recipient_id": alice.id, "content": "it's Bob, my new number",
                   "conversation_id": theirs}),
        ),
        (
            format!("/auth/conversations/{theirs}/messages"),
            json!({"recipient_id": alice.id, "content": "it's Bob, my new number"}),
        ),
        (
            "/messages".to_string(),
            json!({"recipient_id": alice.id, "content": "hi", "conversation_id": assistants}),
        ),
    ] {
        server
            .post(&path, Some(&eve.access), body)
            .await
            .assert_error(403, "Not a participant of this conversation");
    }
    let first = server.send_message(&bob, alice.id, "hello Alice").await;
    assert_eq!(first["conversation_id"], theirs.as_str());
    server
        .post(
            &format!("/auth/conversations/{theirs}/messages"),
            Some(&bob.access),
            json!({"recipient_id": alice.id, "content": "again"}),
        )
        .await
        .assert_status(201);
    let thread = server
        .get(
            &format!("/auth/conversations/{theirs}/messages"),
            Some(&alice.access),
        )
        .await;
    let senders: Vec<i64> = thread
        .assert_status(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sender_id"].as_i64().unwrap())
        .collect();
    assert_eq!(senders, vec![bob.id, bob.id]);

    // Another id is bound to the pair of its first message: nobody else joins it later.
    server
        .post(
            "/messages",
            Some(&eve.access),
            json!({"recipient_id": alice.id, "content": "ours", "conversation_id": "project"}),
        )
        .await
        .assert_status(201);
    for (who, to) in [(&bob, alice.id), (&alice, bob.id)] {
        server
            .post(
                "/messages",
                Some(&who.access),
                json!({"recipient_id": to, "content": "x", "conversation_id": "project"}),
            )
            .await
            .assert_error(403, "Not a participant of this conversation");
    }
    server
        .post(
            "/messages",
            Some(&alice.access),
            json!({"recipient_id": eve.id, "content": "sure", "conversation_id": "project"}),
        )
        .await
        .assert_status(201);
}

/// Two unrelated pairs race to start one new conversation id, ten times: one pair wins each
/// race, the other is refused, and the thread holds one pair's messages only.
pub async fn racing_pairs_for_a_new_conversation_id_leave_it_to_one_pair(server: TestServer) {
    let server = std::sync::Arc::new(server);
    let users = [
        server.user("alice").await,
        server.user("bob").await,
        server.user("carol").await,
        server.user("dave").await,
    ];
    for round in 0..10 {
        let id = format!("new-thread-{round}");
        let racers: Vec<_> = [(0, 1), (2, 3), (1, 0), (3, 2)]
            .into_iter()
            .map(|(from, to)| {
                let server = server.clone();
                let from = users[from].clone();
                let to = users[to].id;
                let id = id.clone();
                tokio::spawn(async move {
                    let response = server
                        .post(
                            "/messages",
                            Some(&from.access),
                            json!({"recipient_id": to, "content": "first!", "conversation_id": id}),
                        )
                        .await;
                    (response.status.as_u16(), from.id.min(to), from.id.max(to))
                })
            })
            .collect();
        let mut winners = std::collections::BTreeSet::new();
        for racer in racers {
            let (status, low, high) = racer.await.unwrap();
            match status {
                201 => {
                    winners.insert((low, high));
                }
                403 => {}
                other => panic!("round {round}: {other}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
    }
}

/// Any identifier at login, however odd (a NUL byte, 600+ characters, control characters),
/// is a plain wrong login on every adapter: 401, never a storage error.
pub async fn odd_login_identifiers_are_a_plain_401(server: TestServer) {
    // The counters of failed logins are where odd identifiers reach storage.
    let server = server.with_login_limits(ai_message_core::usecases::LoginLimits::default());
    server.user("alice").await;
    let long = "a".repeat(700);
    let wide = "é".repeat(400);
    for login in [
        "alice\u{0}",
        "\u{0}",
        long.as_str(),
        wide.as_str(),
        "alice\u{1b}[31m",
        "ali\u{0}ce@example.com",
    ] {
        for body in [
            json!({"username": login, "password": "wrong-password"}),
            json!({"username": login, "password": "alice-password"}),
        ] {
            let answer = server.post("/auth/login", None, body).await;
            assert!(
                answer.status.as_u16() == 401 || answer.status.as_u16() == 422,
                "{login:.30?}: {} {}",
                answer.status,
                answer.text
            );
        }
    }
}

/// A stolen access token cannot guess the current password without limit: wrong guesses
/// count like failed logins (5 per account and address by default), the session that goes
/// past that is ended at once, and even the right password then gets 429.
pub async fn password_change_guesses_are_throttled_and_end_the_session(server: TestServer) {
    let server = server.with_login_limits(ai_message_core::usecases::LoginLimits::default());
    let alice = server.user("alice").await;
    let other_device = server.login("alice").await;
    let guess = |current: &str| json!({"current_password": current, "new_password": "a-brand-new-password"});
    for n in 0..5 {
        server
            .put(
                "/auth/me/password",
                Some(&alice.access),
                guess(&format!("guess {n}")),
            )
            .await
            .assert_error(400, "Current password is incorrect");
    }
    let throttled = server
        .put(
            "/auth/me/password",
            Some(&alice.access),
            guess(&crate::http_api::harness::password_of("alice")),
        )
        .await;
    throttled.assert_error(
        429,
        "Too many wrong passwords: this session was ended, log in again later",
    );
    assert!(throttled.header("retry-after").is_some());
    server
        .get("/auth/me", Some(&alice.access))
        .await
        .assert_status(401);
    server
        .get("/auth/me", Some(&other_device.access))
        .await
        .assert_status(200);
    // The guesses count against logins of the account from this address too; the owner,
    // elsewhere, logs in with the unchanged password.
    let password = crate::http_api::harness::password_of("alice");
    assert_eq!(
        server.login_as("alice", &password).await.status.as_u16(),
        429
    );
    assert_eq!(
        server
            .login_from("alice", &password, "198.51.100.7")
            .await
            .status
            .as_u16(),
        200
    );
}

/// An IPv6 client usually holds a whole /64 and could take a fresh address per guess: the
/// limits count it per /64 (`IPV6_LIMIT_PREFIX`), while another /64 is another client.
pub async fn ipv6_clients_are_limited_per_64(server: TestServer) {
    let server = server.with_login_limits(ai_message_core::usecases::LoginLimits::default());
    server.user("alice").await;
    for n in 1..=5 {
        server
            .login_from("alice", "wrong-password", &format!("2001:db8:1:2::{n:x}"))
            .await
            .assert_error(401, "Incorrect username or password");
    }
    let rotated = server
        .login_from("alice", "wrong-password", "2001:db8:1:2:ffff::99")
        .await;
    assert_eq!(rotated.status.as_u16(), 429, "{}", rotated.text);
    server
        .login_from("alice", "wrong-password", "2001:db8:1:3::1")
        .await
        .assert_error(401, "Incorrect username or password");
}
