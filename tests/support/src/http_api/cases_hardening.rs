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
