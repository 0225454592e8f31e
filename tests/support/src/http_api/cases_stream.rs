//! `GET /messages/stream`: live events, resume, revocation, limits and tickets.

use std::time::Duration;

use serde_json::json;

use super::harness::TestServer;
use crate::sse::{Next, SseEvent};

/// Revocation must close a stream within this.
const REVOCATION: Duration = Duration::from_secs(2);

fn created_id(event: &SseEvent) -> i64 {
    assert_eq!(event.event, "message.created", "{event:?}");
    event.data["id"].as_i64().unwrap()
}

pub async fn a_sent_message_reaches_recipient_and_sender_streams(server: TestServer) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let (mut to_bob, _) = server.stream_of(&bob).await;
    let (mut alices_other, _) = server.stream_of(&alice).await;
    let (mut to_carol, _) = server.stream_of(&carol).await;
    let sent = server.send_message(&alice, bob.id, "hello bob").await;

    let received = to_bob.next_event().await;
    assert_eq!(received.event, "message.created");
    let stored = server
        .get(&format!("/messages/{}", sent["id"]), Some(&bob.access))
        .await;
    assert_eq!(
        received.data,
        *stored.assert_status(200),
        "the message as GET shows it"
    );
    assert_eq!(
        received.id.as_deref(),
        Some(sent["id"].to_string().as_str())
    );
    assert_eq!(created_id(&alices_other.next_event().await), sent["id"]);
    assert_eq!(
        to_carol.next_within(Duration::from_millis(300)).await,
        Next::Quiet,
        "nobody else hears of it"
    );
}

pub async fn edits_receipts_and_deletions_reach_the_right_streams(server: TestServer) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let sent = server.send_message(&alice, bob.id, "first draft").await;
    let id = sent["id"].as_i64().unwrap();
    let (mut alices, _) = server.stream_of(&alice).await;
    let (mut bobs, _) = server.stream_of(&bob).await;

    server
        .put(
            &format!("/messages/{id}"),
            Some(&alice.access),
            json!({"content": "final"}),
        )
        .await
        .assert_status(200);
    for stream in [&mut alices, &mut bobs] {
        let updated = stream.next_event().await;
        assert_eq!(updated.event, "message.updated");
        assert_eq!(updated.data["content"], "final");
    }

    server
        .put_empty(&format!("/messages/{id}/read"), Some(&bob.access))
        .await
        .assert_status(200);
    let receipt = alices.next_event().await;
    assert_eq!(receipt.event, "message.read");
    assert_eq!(receipt.data, json!({"id": id, "reader_id": bob.id}));

    let second = server.send_message(&alice, bob.id, "second").await;
    assert_eq!(created_id(&alices.next_event().await), second["id"]);
    assert_eq!(created_id(&bobs.next_event().await), second["id"]);
    server
        .put_empty("/messages/read-all", Some(&bob.access))
        .await
        .assert_status(200);
    let receipt = alices.next_event().await;
    assert_eq!(
        receipt.event, "message.read",
        "read-all sends one receipt per message"
    );
    assert_eq!(
        receipt.data,
        json!({"id": second["id"], "reader_id": bob.id})
    );

    server
        .delete(&format!("/messages/{id}"), Some(&bob.access))
        .await
        .assert_status(200);
    for stream in [&mut alices, &mut bobs] {
        let deleted = stream.next_event().await;
        assert_eq!(deleted.event, "message.deleted");
        assert_eq!(deleted.data, json!({"id": id}));
    }
    assert_eq!(
        bobs.next_within(Duration::from_millis(300)).await,
        Next::Quiet,
        "the reader gets no receipt of their own reading"
    );
}

pub async fn a_resumed_stream_gets_exactly_what_it_missed_then_live_events(server: TestServer) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (mut stream, _) = server.stream_of(&bob).await;
    let before = server.send_message(&alice, bob.id, "seen live").await;
    let seen = stream.next_event().await;
    assert_eq!(created_id(&seen), before["id"]);
    let cursor = seen.id.clone().unwrap();
    drop(stream);

    let mut missed = Vec::new();
    for n in 0..3 {
        missed.push(
            server
                .send_message(&alice, bob.id, &format!("missed {n}"))
                .await["id"]
                .clone(),
        );
    }
    let mut resumed = server
        .open_stream(
            "/messages/stream",
            Some(&bob.access),
            &[("Last-Event-ID", &cursor)],
        )
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.text));
    let opened = resumed.next_event().await;
    assert_eq!(opened.event, "stream.open");
    assert_eq!(opened.id.as_deref(), Some(cursor.as_str()));
    let replayed: Vec<i64> = resumed.events(3).await.iter().map(created_id).collect();
    assert_eq!(
        replayed,
        missed
            .iter()
            .map(|id| id.as_i64().unwrap())
            .collect::<Vec<_>>()
    );

    let live = server.send_message(&alice, bob.id, "live again").await;
    assert_eq!(created_id(&resumed.next_event().await), live["id"]);
    assert_eq!(
        resumed.next_within(Duration::from_millis(300)).await,
        Next::Quiet,
        "no message twice"
    );
}

pub async fn an_unusable_or_too_old_cursor_resets_the_stream(server: TestServer) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let last = server.send_message(&alice, bob.id, "hi").await;
    let mut stream = server
        .open_stream(
            "/messages/stream",
            Some(&bob.access),
            &[("Last-Event-ID", "yesterday")],
        )
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.text));
    let reset = stream.next_event().await;
    assert_eq!(reset.event, "stream.reset");
    assert_eq!(reset.id.as_deref(), Some(last["id"].to_string().as_str()));
    assert_eq!(reset.data["cursor"], last["id"]);

    // Over a thousand missed messages are not replayed: the client reloads instead.
    for n in 0..1_001 {
        server
            .send_message(&alice, bob.id, &format!("flood {n}"))
            .await;
    }
    let mut stream = server
        .open_stream(
            "/messages/stream",
            Some(&bob.access),
            &[("Last-Event-ID", "0")],
        )
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.text));
    assert_eq!(stream.next_event().await.event, "stream.open");
    assert_eq!(stream.next_event().await.event, "stream.reset");
}

async fn assert_closes(stream: &mut crate::sse::SseReader, what: &str) {
    loop {
        match stream.next_within(REVOCATION).await {
            Next::Closed => return,
            Next::Quiet => panic!("{what}: the stream was still open after {REVOCATION:?}"),
            Next::Event(_) => {}
        }
    }
}

pub async fn revocation_closes_the_sessions_streams(server: TestServer) {
    let root = server.superuser("root").await;
    let alice = server.user("alice").await;
    let (mut stream, _) = server.stream_of(&alice).await;
    server
        .post("/auth/logout", Some(&alice.access), json!({}))
        .await
        .assert_status(200);
    assert_closes(&mut stream, "logout").await;

    let first = server.login("alice").await;
    let second = server.login("alice").await;
    let (mut first_stream, _) = server.stream_of(&first).await;
    let (mut second_stream, _) = server.stream_of(&second).await;
    server
        .put(
            "/auth/me/password",
            Some(&second.access),
            json!({"current_password": "alice-password", "new_password": "alice-new-password"}),
        )
        .await
        .assert_status(200);
    assert_closes(&mut first_stream, "password change").await;
    assert_eq!(
        second_stream.next_within(Duration::from_millis(300)).await,
        Next::Quiet,
        "the session that changed the password keeps its stream"
    );

    server
        .put_empty(
            &format!("/auth/users/{}/disable", alice.id),
            Some(&root.access),
        )
        .await
        .assert_status(200);
    assert_closes(&mut second_stream, "disable").await;

    let bob = server.user("bob").await;
    let other = server.login("bob").await;
    let (mut bob_stream, _) = server.stream_of(&bob).await;
    server
        .post("/auth/logout-all", Some(&other.access), json!({}))
        .await
        .assert_status(200);
    assert_closes(&mut bob_stream, "logout-all").await;

    // A session ended from another one takes its streams with it.
    let carol = server.user("carol").await;
    let other = server.login("carol").await;
    let (mut carol_stream, _) = server.stream_of(&carol).await;
    let sessions = server.get("/auth/sessions", Some(&other.access)).await;
    let ended = sessions
        .assert_status(200)
        .as_array()
        .unwrap()
        .iter()
        .find(|session| session["current"] == false)
        .expect("carol's first session")["id"]
        .clone();
    server
        .delete(&format!("/auth/sessions/{ended}"), Some(&other.access))
        .await
        .assert_status(200);
    assert_closes(&mut carol_stream, "session deleted").await;

    let dave = server.user("dave").await;
    let (mut dave_stream, _) = server.stream_of(&dave).await;
    server
        .delete(&format!("/auth/users/{}", dave.id), Some(&root.access))
        .await
        .assert_status(200);
    assert_closes(&mut dave_stream, "user deleted").await;
}

pub async fn streams_per_user_are_limited(server: TestServer) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mut open = Vec::new();
    for _ in 0..10 {
        open.push(server.stream_of(&alice).await.0);
    }
    let refused = server
        .open_stream("/messages/stream", Some(&alice.access), &[])
        .await
        .err()
        .expect("the eleventh stream is refused");
    refused.assert_error(429, "Too many open streams, close one first");
    assert!(refused.header("retry-after").is_some());
    server.stream_of(&bob).await;
    drop(open.pop());
    server.stream_of(&alice).await;
}

pub async fn a_ticket_opens_one_stream_once(server: TestServer) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let issued = server
        .post("/messages/stream/ticket", Some(&bob.access), json!({}))
        .await;
    let body = issued.assert_status(201).clone();
    assert_eq!(body["expires_in"], 60);
    let ticket = body["ticket"].as_str().unwrap().to_string();
    assert!(ticket.len() >= 32);
    let path = format!("/messages/stream?ticket={ticket}");
    let mut stream = server
        .open_stream(&path, None, &[])
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.text));
    let opened = stream.next_event().await;
    assert_eq!(opened.event, "stream.open");
    let sent = server.send_message(&alice, bob.id, "via ticket").await;
    assert_eq!(created_id(&stream.next_event().await), sent["id"]);

    server
        .open_stream(&path, None, &[])
        .await
        .err()
        .expect("a ticket is used once")
        .assert_error(401, "Could not validate credentials");

    // With a ticket, the cursor comes in the query.
    let again = server
        .post("/messages/stream/ticket", Some(&bob.access), json!({}))
        .await;
    let ticket = again.json["ticket"].as_str().unwrap().to_string();
    let cursor = opened.id.unwrap();
    let mut resumed = server
        .open_stream(
            &format!("/messages/stream?ticket={ticket}&last_event_id={cursor}"),
            None,
            &[],
        )
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.text));
    assert_eq!(resumed.next_event().await.event, "stream.open");
    assert_eq!(created_id(&resumed.next_event().await), sent["id"]);

    // A ticket dies with its session.
    let late = server
        .post("/messages/stream/ticket", Some(&bob.access), json!({}))
        .await;
    let ticket = late.json["ticket"].as_str().unwrap().to_string();
    server
        .post("/auth/logout", Some(&bob.access), json!({}))
        .await
        .assert_status(200);
    server
        .open_stream(&format!("/messages/stream?ticket={ticket}"), None, &[])
        .await
        .err()
        .expect("the session ended")
        .assert_error(401, "Could not validate credentials");
}

pub async fn a_stream_needs_credentials(server: TestServer) {
    server
        .open_stream("/messages/stream", None, &[])
        .await
        .err()
        .expect("no credentials")
        .assert_error(401, "Not authenticated");
    server
        .open_stream("/messages/stream?ticket=made-up", None, &[])
        .await
        .err()
        .expect("an unknown ticket")
        .assert_error(401, "Could not validate credentials");
    server
        .post("/messages/stream/ticket", None, json!({}))
        .await
        .assert_error(401, "Not authenticated");
}

/// The promise of the cursor, counted: 8 concurrent senders (and the recipient on another
/// device) for 2 s, one stream that never reconnects and one that resumes with
/// `Last-Event-ID` every 150 ms; each delivers exactly what the recipient holds, once.
pub async fn every_message_reaches_a_live_stream_once_under_concurrent_senders(server: TestServer) {
    let server = std::sync::Arc::new(server);
    let load = crate::completeness::Load {
        senders: 8,
        duration: Duration::from_secs(2),
        max_per_sender: 150,
        reconnect_every: Duration::from_millis(150),
        pace: None,
    };
    let report = crate::completeness::run(server.clone(), server, load, || async {}).await;
    report.assert_complete();
}

/// A cursor the server cannot honour (beyond the newest position: from before a restore,
/// or made up) must not leave a stream deaf: it is reset, then delivers live.
pub async fn a_cursor_beyond_the_newest_is_reset_and_the_stream_stays_live(server: TestServer) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.send_message(&alice, bob.id, "before").await;
    for cursor in ["9223372036854775807", "1000000", "18446744073709551616"] {
        let mut stream = server
            .open_stream(
                "/messages/stream",
                Some(&bob.access),
                &[("Last-Event-ID", cursor)],
            )
            .await
            .unwrap_or_else(|r| panic!("{} {}", r.status, r.text));
        let reset = stream.next_event().await;
        assert_eq!(reset.event, "stream.reset", "{cursor}");
        let sent = server.send_message(&alice, bob.id, cursor).await;
        let live = stream.next_event().await;
        assert_eq!(
            created_id(&live),
            sent["id"],
            "{cursor}: live after the reset"
        );
        assert!(
            live.id.as_deref().unwrap().parse::<i64>().unwrap()
                > reset.id.as_deref().unwrap().parse::<i64>().unwrap(),
            "the cursor moves on from the reset"
        );
    }
}

/// What the document says of the stream is what goes over the wire: each event's name is
/// listed, its `id` is a cursor, and its `data` is JSON holding every required field of the
/// schema the document names for that event (`x-contentSchema`).
pub async fn stream_events_match_the_documented_schema(server: TestServer) {
    let document = server.get("/openapi.json", None).await.json;
    let schema = document
        .pointer("/paths/~1messages~1stream/get/responses/200/content/text~1event-stream/schema")
        .expect("the stream's per-event schema")
        .clone();
    let data_schema_of = |event: &str| -> serde_json::Value {
        let variant = schema["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["properties"]["event"]["enum"][0] == event)
            .unwrap_or_else(|| panic!("{event} is not documented"));
        let reference = variant["properties"]["data"]["x-contentSchema"]["$ref"]
            .as_str()
            .unwrap();
        let name = reference.rsplit('/').next().unwrap();
        document["components"]["schemas"][name].clone()
    };
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (mut stream, _) = server.stream_of(&bob).await;
    let sent = server.send_message(&alice, bob.id, "hello").await;
    let id = sent["id"].as_i64().unwrap();
    let mut events = vec![stream.next_event().await];
    server
        .put(
            &format!("/messages/{id}"),
            Some(&alice.access),
            json!({"content": "edited"}),
        )
        .await
        .assert_status(200);
    events.push(stream.next_event().await);
    let mine = server.send_message(&bob, alice.id, "to be read").await;
    events.push(stream.next_event().await);
    server
        .put_empty(
            &format!("/messages/{}/read", mine["id"]),
            Some(&alice.access),
        )
        .await
        .assert_status(200);
    events.push(stream.next_event().await);
    server
        .delete(&format!("/messages/{id}"), Some(&bob.access))
        .await
        .assert_status(200);
    events.push(stream.next_event().await);
    let mut reset = server
        .open_stream(
            "/messages/stream",
            Some(&bob.access),
            &[("Last-Event-ID", "x")],
        )
        .await
        .unwrap_or_else(|r| panic!("{}", r.text));
    events.push(reset.next_event().await);
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "message.created",
            "message.updated",
            "message.created",
            "message.read",
            "message.deleted",
            "stream.reset"
        ]
    );
    let listed: Vec<serde_json::Value> = schema["properties"]["event"]["enum"]
        .as_array()
        .unwrap()
        .clone();
    for event in events {
        assert!(listed.contains(&json!(event.event)), "{}", event.event);
        let cursor = event.id.clone().expect("every event carries the cursor");
        assert!(cursor.parse::<u64>().is_ok(), "{cursor}");
        let documented = data_schema_of(&event.event);
        for field in documented["required"].as_array().into_iter().flatten() {
            let field = field.as_str().unwrap();
            assert!(
                event.data.get(field).is_some(),
                "{}: `{field}` is required by the document: {}",
                event.event,
                event.data
            );
        }
        let known: Vec<&String> = documented["properties"]
            .as_object()
            .map(|p| p.keys().collect())
            .unwrap_or_default();
        for field in event.data.as_object().unwrap().keys() {
            assert!(
                known.contains(&field),
                "{}: `{field}` is not documented",
                event.event
            );
        }
    }
}
