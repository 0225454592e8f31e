//! Messages and conversations, and a scan of every response for secrets.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::TimeDelta;
use serde_json::{Value, json};

use super::harness::*;

fn conv(a: i64, b: i64) -> String {
    format!("conv_{}_{}", a.min(b), a.max(b))
}

pub async fn messages_are_sent_with_default_conversations(server: TestServer) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let sent = server.send_message(&alice, bob.id, "hi bob").await;
    assert_eq!(sent["sender_id"], alice.id);
    assert_eq!(sent["recipient_id"], bob.id);
    assert_eq!(sent["content"], "hi bob");
    assert_eq!(sent["is_read"], false);
    assert_eq!(sent["parent_id"], Value::Null);
    assert_eq!(sent["conversation_id"], conv(alice.id, bob.id));
    let keys: Vec<&String> = sent.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 9, "{keys:?}");
    let named = server
        .post(
            "/messages",
            Some(&alice.access),
            json!({"recipient_id": bob.id, "content": "x", "conversation_id": "project-x"}),
        )
        .await;
    assert_eq!(named.assert_status(201)["conversation_id"], "project-x");
    let to_self = server.send_message(&alice, alice.id, "note to self").await;
    assert_eq!(to_self["conversation_id"], conv(alice.id, alice.id));
    server
        .post(
            "/messages",
            Some(&alice.access),
            json!({"recipient_id": 999_999, "content": "anyone?"}),
        )
        .await
        .assert_error(404, "Recipient not found");
}

pub async fn message_content_is_validated(server: TestServer) {
    let alice = server.user("alice").await;
    let token = Some(alice.access.as_str());
    let cases = [
        (
            json!({"recipient_id": alice.id, "content": ""}),
            "content: must be 1 to 65536 characters long",
        ),
        (
            json!({"recipient_id": alice.id, "content": "  \n\t"}),
            "content: must not be empty or only whitespace",
        ),
        (
            json!({"recipient_id": alice.id, "content": "x".repeat(65_537)}),
            "content: must be 1 to 65536 characters long",
        ),
        (
            json!({"recipient_id": alice.id, "content": 5}),
            "content: invalid type: integer `5`, expected a string",
        ),
        (
            json!({"recipient_id": "one", "content": "x"}),
            "recipient_id: invalid type: string \"one\", expected i64",
        ),
        (json!({"content": "x"}), "recipient_id: field required"),
        (
            json!({"recipient_id": alice.id, "content": "x", "conversation_id": ""}),
            "conversation_id: must be 1 to 100 characters long",
        ),
    ];
    for (body, detail) in cases {
        server
            .post("/messages", token, body)
            .await
            .assert_error(422, detail);
    }
    let longest = server
        .post(
            "/messages",
            token,
            json!({"recipient_id": alice.id, "content": "é".repeat(65_536)}),
        )
        .await;
    longest.assert_status(201);
    server
        .post(
            "/messages",
            token,
            json!({"recipient_id": alice.id, "content": "a\u{0}b"}),
        )
        .await
        .assert_error(422, "content: must not contain NUL characters");
    let injection = "'); DROP TABLE messages; -- \\x00 %s $1 ?1";
    let stored = server.send_message(&alice, alice.id, injection).await;
    let fetched = server
        .get(&format!("/messages/{}", stored["id"]), token)
        .await;
    assert_eq!(fetched.assert_status(200)["content"], injection);
}

pub async fn replies_need_a_visible_parent(server: TestServer) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let eve = server.user("eve").await;
    let parent = server
        .post(
            "/messages",
            Some(&alice.access),
            json!({"recipient_id": bob.id, "content": "question", "conversation_id": "thread-1"}),
        )
        .await
        .assert_status(201)
        .clone();
    let reply = server
        .post(
            "/messages",
            Some(&bob.access),
            json!({"recipient_id": alice.id, "content": "answer", "parent_id": parent["id"]}),
        )
        .await;
    let reply = reply.assert_status(201);
    assert_eq!(reply["parent_id"], parent["id"]);
    assert_eq!(reply["conversation_id"], "thread-1");
    server
        .post(
            "/messages",
            Some(&eve.access),
            json!({"recipient_id": alice.id, "content": "me too", "parent_id": parent["id"]}),
        )
        .await
        .assert_error(404, "Parent message not found");
    server
        .post(
            "/messages",
            Some(&bob.access),
            json!({"recipient_id": alice.id, "content": "?", "parent_id": 999_999}),
        )
        .await
        .assert_error(404, "Parent message not found");
}

pub async fn only_sender_and_recipient_see_a_message(server: TestServer) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let eve = server.user("eve").await;
    let message = server.send_message(&alice, bob.id, "private").await;
    let path = format!("/messages/{}", message["id"]);
    server
        .get(&path, Some(&alice.access))
        .await
        .assert_status(200);
    server
        .get(&path, Some(&bob.access))
        .await
        .assert_status(200);
    server
        .get(&path, Some(&eve.access))
        .await
        .assert_error(403, "You don't have access to this message");
    server
        .get("/messages/999999", Some(&alice.access))
        .await
        .assert_error(404, "Message not found");

    server
        .put(
            &path,
            Some(&bob.access),
            json!({"content": "edited by bob"}),
        )
        .await
        .assert_error(403, "Only the sender can update this message");
    server
        .put(
            &path,
            Some(&eve.access),
            json!({"content": "edited by eve"}),
        )
        .await
        .assert_error(403, "Only the sender can update this message");
    let unchanged = server.put(&path, Some(&alice.access), json!({})).await;
    assert_eq!(unchanged.assert_status(200)["content"], "private");
    server
        .put(&path, Some(&alice.access), json!({"content": " "}))
        .await
        .assert_error(422, "content: must not be empty or only whitespace");
    let edited = server
        .put(&path, Some(&alice.access), json!({"content": "edited"}))
        .await;
    assert_eq!(edited.assert_status(200)["content"], "edited");

    let read_path = format!("{path}/read");
    server
        .put_empty(&read_path, Some(&alice.access))
        .await
        .assert_error(403, "Only the recipient can mark this message as read");
    let read = server.put_empty(&read_path, Some(&bob.access)).await;
    assert_eq!(
        read.assert_status(200),
        &json!({"message": "Message marked as read"})
    );
    assert_eq!(
        server.get(&path, Some(&alice.access)).await.json["is_read"],
        true
    );

    server
        .delete(&path, Some(&eve.access))
        .await
        .assert_error(403, "You don't have permission to delete this message");
    let deleted = server.delete(&path, Some(&bob.access)).await;
    assert_eq!(
        deleted.assert_status(200),
        &json!({"message": "Message deleted successfully"})
    );
    server
        .get(&path, Some(&alice.access))
        .await
        .assert_error(404, "Message not found");
    server
        .delete(&path, Some(&alice.access))
        .await
        .assert_error(404, "Message not found");
}

pub async fn message_lists_show_the_newest_page_in_order(server: TestServer) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mut sent_by_bob = Vec::new();
    for i in 0..5 {
        server.clock.advance(TimeDelta::seconds(1));
        let m = server.send_message(&bob, alice.id, &format!("b{i}")).await;
        sent_by_bob.push(m["id"].as_i64().unwrap());
    }
    server.clock.advance(TimeDelta::seconds(1));
    let from_alice = server.send_message(&alice, bob.id, "a0").await["id"]
        .as_i64()
        .unwrap();
    let token = Some(alice.access.as_str());
    let received = server.get("/messages/received", token).await;
    assert_eq!(ids(received.assert_status(200)), sent_by_bob);
    let page = server.get("/messages/received?limit=2", token).await;
    assert_eq!(ids(page.assert_status(200)), sent_by_bob[3..5]);
    let page = server.get("/messages/received?skip=2&limit=2", token).await;
    assert_eq!(ids(page.assert_status(200)), sent_by_bob[1..3]);
    let sent = server.get("/messages/sent", token).await;
    assert_eq!(ids(sent.assert_status(200)), vec![from_alice]);
    let all = server.get("/messages?limit=3", token).await;
    assert_eq!(
        ids(all.assert_status(200)),
        vec![sent_by_bob[3], sent_by_bob[4], from_alice]
    );
    server
        .put_empty(&format!("/messages/{}/read", sent_by_bob[0]), token)
        .await
        .assert_status(200);
    let unread = server
        .get("/messages/received?unread_only=true", token)
        .await;
    assert_eq!(ids(unread.assert_status(200)), sent_by_bob[1..]);
    let unread_all = server.get("/messages?unread_only=true", token).await;
    assert_eq!(ids(unread_all.assert_status(200)), sent_by_bob[1..]);
    for query in ["limit=0", "limit=501", "skip=-1", "unread_only=maybe"] {
        let response = server.get(&format!("/messages?{query}"), token).await;
        assert_eq!(response.status.as_u16(), 422, "{query}: {}", response.text);
    }
    server
        .get("/messages/sent?limit=500", token)
        .await
        .assert_status(200);
}

pub async fn unread_count_and_read_all(server: TestServer) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    for i in 0..3 {
        server.send_message(&bob, alice.id, &format!("m{i}")).await;
    }
    server.send_message(&alice, bob.id, "reply").await;
    let count = server
        .get("/messages/unread/count", Some(&alice.access))
        .await;
    assert_eq!(count.assert_status(200), &json!({"unread_count": 3}));
    let read_all = server
        .put_empty("/messages/read-all", Some(&alice.access))
        .await;
    assert_eq!(
        read_all.assert_status(200),
        &json!({"message": "All messages marked as read"})
    );
    let count = server
        .get("/messages/unread/count", Some(&alice.access))
        .await;
    assert_eq!(count.json, json!({"unread_count": 0}));
    let bobs = server
        .get("/messages/unread/count", Some(&bob.access))
        .await;
    assert_eq!(bobs.json, json!({"unread_count": 1}));
}

pub async fn concurrent_sends_are_all_stored(server: TestServer) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let server = Arc::new(server);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let server = server.clone();
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move {
            let response = server
                .post(
                    "/messages",
                    Some(&alice.access),
                    json!({"recipient_id": bob.id, "content": format!("message {i}")}),
                )
                .await;
            assert_eq!(response.status.as_u16(), 201, "{}", response.text);
            response.json["id"].as_i64().unwrap()
        }));
    }
    let mut created = BTreeSet::new();
    for task in tasks {
        created.insert(task.await.unwrap());
    }
    assert_eq!(created.len(), 200);
    let listed = server
        .get("/messages/received?limit=500", Some(&bob.access))
        .await;
    let stored: BTreeSet<i64> = ids(listed.assert_status(200)).into_iter().collect();
    assert_eq!(stored, created);
    let count = server
        .get("/messages/unread/count", Some(&bob.access))
        .await;
    assert_eq!(count.json["unread_count"], 200);
}

pub async fn conversations_are_summarised(server: TestServer) {
    let root = server.superuser("root").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    server.send_message(&bob, alice.id, "hello alice").await;
    server.clock.advance(TimeDelta::seconds(1));
    server
        .send_message(&bob, alice.id, &"long ".repeat(40))
        .await;
    server.clock.advance(TimeDelta::seconds(1));
    server.send_message(&carol, alice.id, "from carol").await;
    server.clock.advance(TimeDelta::seconds(1));
    server.send_message(&alice, carol.id, "back to carol").await;
    let listed = server.get("/auth/conversations", Some(&alice.access)).await;
    let conversations = listed.assert_status(200).as_array().unwrap().clone();
    assert_eq!(conversations.len(), 2);
    let first = &conversations[0];
    assert_eq!(first["conversation_id"], conv(alice.id, carol.id));
    assert_eq!(first["other_user_id"], carol.id);
    assert_eq!(first["other_user_name"], "carol");
    assert_eq!(first["last_message"], "back to carol");
    assert_eq!(first["unread_count"], 1);
    let second = &conversations[1];
    assert_eq!(second["conversation_id"], conv(alice.id, bob.id));
    assert_eq!(second["other_user_name"], "bob");
    assert_eq!(
        second["last_message"].as_str().unwrap().chars().count(),
        100
    );
    assert_eq!(second["unread_count"], 2);

    server
        .delete(&format!("/auth/users/{}", bob.id), Some(&root.access))
        .await
        .assert_status(200);
    let listed = server.get("/auth/conversations", Some(&alice.access)).await;
    let after = listed.assert_status(200).as_array().unwrap().clone();
    assert_eq!(after[1]["other_user_name"], "Unknown");
    assert_eq!(after[1]["other_user_id"], bob.id);
}

pub async fn conversation_routes_send_and_mark_read(server: TestServer) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let eve = server.user("eve").await;
    let sent = server
        .post(
            "/auth/conversations/team-chat/messages",
            Some(&bob.access),
            json!({"recipient_id": alice.id, "content": "standup?"}),
        )
        .await;
    let sent = sent.assert_status(201).clone();
    assert_eq!(sent["conversation_id"], "team-chat");
    server.send_message(&alice, bob.id, "elsewhere").await;
    server
        .post(
            "/auth/conversations/team-chat/messages",
            Some(&bob.access),
            json!({"recipient_id": 999_999, "content": "?"}),
        )
        .await
        .assert_error(404, "Recipient not found");
    server
        .post(
            "/auth/conversations/team-chat/messages",
            Some(&bob.access),
            json!({"recipient_id": alice.id, "content": ""}),
        )
        .await
        .assert_status(422);
    let long_id = "c".repeat(101);
    server
        .get(
            &format!("/auth/conversations/{long_id}/messages"),
            Some(&alice.access),
        )
        .await
        .assert_error(422, "conversation_id: must be 1 to 100 characters long");

    let in_thread = server
        .get(
            "/auth/conversations/team-chat/messages",
            Some(&alice.access),
        )
        .await;
    assert_eq!(
        ids(in_thread.assert_status(200)),
        vec![sent["id"].as_i64().unwrap()]
    );
    let hidden = server
        .get("/auth/conversations/team-chat/messages", Some(&eve.access))
        .await;
    assert!(ids(hidden.assert_status(200)).is_empty());
    server
        .get(
            "/auth/conversations/team-chat/messages?limit=0",
            Some(&alice.access),
        )
        .await
        .assert_status(422);

    let marked = server
        .put_empty("/auth/conversations/team-chat/read", Some(&alice.access))
        .await;
    assert_eq!(
        marked.assert_status(200),
        &json!({"message": "Conversation marked as read"})
    );
    let count = server
        .get("/messages/unread/count", Some(&alice.access))
        .await;
    assert_eq!(count.json["unread_count"], 0);
    let count = server
        .get("/messages/unread/count", Some(&bob.access))
        .await;
    assert_eq!(count.json["unread_count"], 1, "bob's own unread stays");
}

pub async fn no_response_carries_a_hash_or_token_secret(server: TestServer) {
    let root = server.superuser("root").await;
    let alice = server.user("alice").await;
    let token = Some(root.access.as_str());
    let responses = [
        server.get("/auth/me", Some(&alice.access)).await,
        server.get("/auth/users", token).await,
        server
            .get(&format!("/auth/users/{}", alice.id), token)
            .await,
        server.get("/auth/sessions", Some(&alice.access)).await,
        server.login_as("alice", "alice-password").await,
    ];
    for response in responses {
        response.assert_status(200);
        assert!(!response.text.contains("$2b$"), "{}", response.text);
        assert!(
            !response.text.contains("hashed_password"),
            "{}",
            response.text
        );
        assert!(
            !response.text.contains("session_token"),
            "{}",
            response.text
        );
        assert!(
            !response.text.contains("alice-password"),
            "{}",
            response.text
        );
    }
}
