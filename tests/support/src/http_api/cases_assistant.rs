//! The AI assistant (user id -1) against a fake OpenAI-compatible model.

use std::time::Duration;

use ai_message_core::usecases::assistant::{AssistantSettings, FALLBACK_REPLY};
use serde_json::json;

use super::harness::TestServer;
use crate::fake_model::{Answer, FakeModel, Hold};

const SYSTEM: &str = "You are the test assistant.";

fn settings(history_max: u32) -> AssistantSettings {
    AssistantSettings {
        name: "AI Assistant".into(),
        system_prompt: SYSTEM.into(),
        history_max,
        max_concurrency: 8,
        ..AssistantSettings::default()
    }
}

fn turns(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(role, content)| (role.to_string(), content.to_string()))
        .collect()
}

pub async fn the_assistant_answers_503_when_no_model_is_configured(server: TestServer) {
    let alice = server.user("alice").await;
    server
        .post(
            "/messages/ai",
            Some(&alice.access),
            json!({"content": "hello"}),
        )
        .await
        .assert_error(503, "AI assistant is not configured");
    server
        .post(
            "/messages",
            Some(&alice.access),
            json!({"recipient_id": -1, "content": "hello"}),
        )
        .await
        .assert_error(503, "AI assistant is not configured");
    let history = server.get("/messages/history", Some(&alice.access)).await;
    assert_eq!(
        *history.assert_status(200),
        json!({"history": [], "message_count": 0})
    );
}

pub async fn asking_the_assistant_sends_the_history_since_the_last_clear(server: TestServer) {
    let model = FakeModel::start().await;
    model.script([
        Answer::Streamed("Bonjour, ça va ? 👋".into()),
        Answer::Plain("Second answer".into()),
        Answer::Streamed("After the clear".into()),
    ]);
    let server = server.with_assistant(&model, settings(50), Duration::from_secs(10));
    let alice = server.user("alice").await;

    let reply = server
        .post(
            "/messages/ai",
            Some(&alice.access),
            json!({"content": "first question"}),
        )
        .await;
    let reply = reply.assert_status(200).clone();
    assert_eq!(reply["sender_id"], -1);
    assert_eq!(reply["recipient_id"], alice.id);
    assert_eq!(
        reply["content"], "Bonjour, ça va ? 👋",
        "the model's text, unchanged"
    );
    assert_eq!(reply["conversation_id"], format!("conv_-1_{}", alice.id));
    server
        .post(
            "/messages/ai",
            Some(&alice.access),
            json!({"content": "second question"}),
        )
        .await
        .assert_status(200);

    let asked = model.recorded();
    assert_eq!(asked.len(), 2);
    assert_eq!(asked[0].authorization.as_deref(), Some("Bearer sk-test"));
    assert_eq!(
        asked[0].body["model"], "test-model",
        "LiteLLM's openai/ prefix is dropped"
    );
    assert_eq!(asked[0].body["stream"], true);
    assert_eq!(
        asked[0].messages(),
        turns(&[("system", SYSTEM), ("user", "first question")])
    );
    assert_eq!(
        asked[1].messages(),
        turns(&[
            ("system", SYSTEM),
            ("user", "first question"),
            ("assistant", "Bonjour, ça va ? 👋"),
            ("user", "second question"),
        ])
    );
    let history = server.get("/messages/history", Some(&alice.access)).await;
    let history = history.assert_status(200);
    assert_eq!(history["message_count"], 4);
    assert_eq!(
        history["history"][3],
        json!({"role": "assistant", "content": "Second answer"})
    );

    server
        .delete("/messages/history/clear", Some(&alice.access))
        .await
        .assert_status(200);
    let cleared = server.get("/messages/history", Some(&alice.access)).await;
    assert_eq!(cleared.json["message_count"], 0);
    server
        .post(
            "/messages/ai",
            Some(&alice.access),
            json!({"content": "fresh start"}),
        )
        .await
        .assert_status(200);
    assert_eq!(
        model.recorded()[2].messages(),
        turns(&[("system", SYSTEM), ("user", "fresh start")])
    );
    let received = server.get("/messages/received", Some(&alice.access)).await;
    assert_eq!(
        received.json.as_array().unwrap().len(),
        3,
        "clearing keeps the messages"
    );
}

pub async fn the_history_given_to_the_model_is_capped_and_never_anothers(server: TestServer) {
    let model = FakeModel::start().await;
    let server = server.with_assistant(&model, settings(3), Duration::from_secs(10));
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    for n in 0..2 {
        server
            .post(
                "/messages/ai",
                Some(&alice.access),
                json!({"content": format!("alice {n}")}),
            )
            .await
            .assert_status(200);
    }
    server
        .post(
            "/messages/ai",
            Some(&bob.access),
            json!({"content": "bob 0"}),
        )
        .await
        .assert_status(200);
    let asked = model.recorded();
    assert_eq!(
        asked[1].messages(),
        turns(&[
            ("system", SYSTEM),
            ("user", "alice 0"),
            ("assistant", "echo: alice 0"),
            ("user", "alice 1"),
        ])
    );
    assert_eq!(
        asked[2].messages(),
        turns(&[("system", SYSTEM), ("user", "bob 0")]),
        "bob's history holds none of alice's turns"
    );
    let history = server.get("/messages/history", Some(&alice.access)).await;
    assert_eq!(history.json["message_count"], 3, "capped at AI_HISTORY_MAX");
}

pub async fn a_failing_or_slow_model_gets_the_fallback_reply(server: TestServer) {
    let model = FakeModel::start().await;
    model.script([
        Answer::Status(500),
        Answer::Slow(Duration::from_secs(3), "too late".into()),
    ]);
    let server = server.with_assistant(&model, settings(50), Duration::from_secs(1));
    let alice = server.user("alice").await;
    for question in ["during an outage", "while it is slow"] {
        let reply = server
            .post(
                "/messages/ai",
                Some(&alice.access),
                json!({"content": question}),
            )
            .await;
        assert_eq!(
            reply.assert_status(200)["content"],
            FALLBACK_REPLY,
            "{question}"
        );
    }
}

pub async fn a_message_to_the_assistant_is_answered_in_the_background(server: TestServer) {
    let model = FakeModel::start().await;
    model.script([Answer::Slow(Duration::from_millis(300), "later".into())]);
    // Streamed in pieces of four characters: "late", "r".
    let server = server.with_assistant(&model, settings(50), Duration::from_secs(10));
    let alice = server.user("alice").await;
    let (mut stream, _) = server.stream_of(&alice).await;
    let sent = server
        .post(
            "/messages",
            Some(&alice.access),
            json!({"recipient_id": -1, "content": "are you there?"}),
        )
        .await;
    let sent = sent.assert_status(201).clone();
    assert_eq!(sent["recipient_id"], -1);
    assert_eq!(sent["content"], "are you there?");
    let first = stream.next_event().await;
    assert_eq!(first.data["id"], sent["id"], "the user's own message first");
    // The reply as the model writes it, then the stored reply.
    let mut written = String::new();
    let reply = loop {
        let event = stream.next_event().await;
        if event.event != "assistant.delta" {
            break event;
        }
        assert_eq!(event.data["reply_to"], sent["id"]);
        written.push_str(event.data["delta"].as_str().unwrap());
    };
    assert_eq!(written, "later", "the pieces make the reply");
    assert_eq!(reply.event, "message.created");
    assert_eq!(reply.data["sender_id"], -1);
    assert_eq!(reply.data["content"], "later");

    let conversations = server.get("/auth/conversations", Some(&alice.access)).await;
    let listed = &conversations.assert_status(200)[0];
    assert_eq!(listed["other_user_id"], -1);
    assert_eq!(listed["other_user_name"], "AI Assistant");
}

pub async fn one_question_at_a_time_per_user_and_bounded_model_calls(server: TestServer) {
    let model = FakeModel::start().await;
    model.script([Answer::Slow(Duration::from_millis(800), "slowly".into())]);
    let one_call = AssistantSettings {
        max_concurrency: 1,
        ..settings(50)
    };
    let server = server.with_assistant(&model, one_call, Duration::from_secs(10));
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server
        .post(
            "/messages",
            Some(&alice.access),
            json!({"recipient_id": -1, "content": "think about it"}),
        )
        .await
        .assert_status(201);
    let again = server
        .post(
            "/messages/ai",
            Some(&alice.access),
            json!({"content": "and this?"}),
        )
        .await;
    again.assert_error(
        429,
        "The assistant is still answering your previous message",
    );
    assert!(again.header("retry-after").is_some());
    let other = server
        .post(
            "/messages/ai",
            Some(&bob.access),
            json!({"content": "me too"}),
        )
        .await;
    other.assert_error(503, "AI assistant is busy, please retry");
    assert!(other.header("retry-after").is_some());

    // Once the reply is stored, both may ask again.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let received = server.get("/messages/received", Some(&alice.access)).await;
        if received.json.as_array().is_some_and(|m| !m.is_empty()) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no reply within 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server
        .post(
            "/messages/ai",
            Some(&bob.access),
            json!({"content": "now?"}),
        )
        .await
        .assert_status(200);
}

/// The assistant is a recipient like any other: its conversation route reaches it, and a
/// reply to an earlier message keeps its `parent_id`.
pub async fn every_send_route_reaches_the_assistant_and_keeps_the_parent(server: TestServer) {
    let model = FakeModel::start().await;
    model.script([Answer::Plain("one".into()), Answer::Plain("two".into())]);
    let server = server.with_assistant(&model, settings(50), Duration::from_secs(10));
    let alice = server.user("alice").await;
    let (mut stream, _) = server.stream_of(&alice).await;
    let conversation = format!("conv_-1_{}", alice.id);
    let question = server
        .post(
            &format!("/auth/conversations/{conversation}/messages"),
            Some(&alice.access),
            json!({"recipient_id": -1, "content": "through the conversation route"}),
        )
        .await;
    let question = question.assert_status(201).clone();
    assert_eq!(question["recipient_id"], -1);
    assert_eq!(question["conversation_id"], conversation.as_str());
    let reply = loop {
        let event = stream.next_event().await;
        if event.event == "message.created" && event.data["sender_id"] == -1 {
            break event;
        }
    };
    assert_eq!(reply.data["content"], "one");

    let follow_up = server
        .post(
            "/messages",
            Some(&alice.access),
            json!({"recipient_id": -1, "content": "and a reply", "parent_id": reply.data["id"]}),
        )
        .await;
    let follow_up = follow_up.assert_status(201).clone();
    assert_eq!(
        follow_up["parent_id"], reply.data["id"],
        "the parent is kept"
    );
    assert_eq!(follow_up["conversation_id"], conversation.as_str());
    let second = loop {
        let event = stream.next_event().await;
        if event.event == "message.created" && event.data["sender_id"] == -1 {
            break event;
        }
    };
    assert_eq!(second.data["content"], "two");
    let history = server.get("/messages/history", Some(&alice.access)).await;
    assert_eq!(history.assert_status(200)["message_count"], 4);
}

/// A model endpoint that answers far too much, or control characters, cannot fill memory or
/// the live stream: the reply stops at `AI_MAX_REPLY_BYTES` (64 KiB by default), loses
/// control characters other than newline and tab, and what the stream showed is what is
/// stored.
pub async fn a_hostile_model_reply_is_bounded_and_cleaned(server: TestServer) {
    let model = FakeModel::start().await;
    let long = format!("{}\u{0}\u{1b}[2J", "ab\u{1}c\n".repeat(20_000));
    model.script([
        Answer::Plain(long),
        // Far past any bound: refused while it is read, not held.
        Answer::Plain("z".repeat(2_000_000)),
        Answer::Streamed("x\u{7}y".repeat(30_000)),
    ]);
    let server = server.with_assistant(&model, settings(50), Duration::from_secs(30));
    let alice = server.user("alice").await;
    let reply = server
        .post(
            "/messages/ai",
            Some(&alice.access),
            json!({"content": "say a lot"}),
        )
        .await;
    let content = reply.assert_status(200)["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(content, FALLBACK_REPLY, "a long reply is cut, not refused");
    assert!(content.len() <= 64 * 1024, "{} bytes", content.len());
    assert!(content.starts_with("abc\nabc\n"), "{:.20}", content);
    assert!(
        !content
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'),
        "no control characters"
    );
    let flooded = server
        .post(
            "/messages/ai",
            Some(&alice.access),
            json!({"content": "say two megabytes"}),
        )
        .await;
    assert_eq!(flooded.assert_status(200)["content"], FALLBACK_REPLY);

    let (mut stream, _) = server.stream_of(&alice).await;
    let asked = server
        .post(
            "/messages",
            Some(&alice.access),
            json!({"recipient_id": -1, "content": "and stream it"}),
        )
        .await;
    asked.assert_status(201);
    let mut streamed = String::new();
    let stored = loop {
        let event = stream.next_event().await;
        match event.event.as_str() {
            "assistant.delta" => streamed.push_str(event.data["delta"].as_str().unwrap()),
            "message.created" if event.data["sender_id"] == -1 => break event,
            _ => {}
        }
    };
    let stored = stored.data["content"].as_str().unwrap();
    assert_eq!(streamed, stored, "the stream showed what was stored");
    assert!(stored.len() <= 64 * 1024);
    assert!(stored.starts_with("xyxy"), "{:.10}", stored);
}

/// A question the user deletes while the model thinks gets no reply: none is stored (no
/// reply to a message that is gone), `POST /messages/ai` answers 404, a question sent to the
/// assistant in the background is dropped the same way, and the next question is answered as
/// usual.
pub async fn a_question_deleted_while_the_assistant_thinks_gets_no_reply(server: TestServer) {
    let model = FakeModel::start().await;
    let (asked, sent) = (Hold::default(), Hold::default());
    model.script([
        Answer::Held(
            asked.clone(),
            Box::new(Answer::Streamed("to a deleted question".into())),
        ),
        Answer::Held(
            sent.clone(),
            Box::new(Answer::Streamed("to another deleted question".into())),
        ),
        Answer::Streamed("to a kept question".into()),
    ]);
    let server = server.with_assistant(&model, settings(50), Duration::from_secs(10));
    let alice = server.user("alice").await;
    let (mut stream, _) = server.stream_of(&alice).await;

    let ask = server.post(
        "/messages/ai",
        Some(&alice.access),
        json!({"content": "asked and deleted"}),
    );
    let delete_while_thinking = async {
        let question = stream.next_event().await;
        assert_eq!(question.event, "message.created");
        asked.reached().await;
        server
            .delete(
                &format!("/messages/{}", question.data["id"]),
                Some(&alice.access),
            )
            .await
            .assert_status(200);
        asked.release();
    };
    let (answer, ()) = tokio::join!(ask, delete_while_thinking);
    answer.assert_error(404, "Message not found");

    let question = server
        .post(
            "/messages",
            Some(&alice.access),
            json!({"recipient_id": -1, "content": "sent and deleted"}),
        )
        .await;
    let id = question.assert_status(201)["id"].clone();
    sent.reached().await;
    server
        .delete(&format!("/messages/{id}"), Some(&alice.access))
        .await
        .assert_status(200);
    sent.release();
    // The next question waits (429) until that reply's place is given back, after its store.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let kept = loop {
        let answer = server
            .post(
                "/messages/ai",
                Some(&alice.access),
                json!({"content": "kept"}),
            )
            .await;
        if answer.status.as_u16() != 429 {
            break answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still answering after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(kept.assert_status(200)["content"], "to a kept question");
    let received = server.get("/messages/received", Some(&alice.access)).await;
    let contents: Vec<&str> = received
        .assert_status(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        ["to a kept question"],
        "no reply to a deleted question"
    );
    let history = server.get("/messages/history", Some(&alice.access)).await;
    assert_eq!(history.assert_status(200)["message_count"], 2);
}
