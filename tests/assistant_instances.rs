//! The assistant's history lives in the database: it survives a restart, and every instance
//! on one database sees the same one.

use std::time::Duration;

use ai_message_core::usecases::assistant::AssistantSettings;
use ai_message_postgres::{PostgresStore, PostgresUrl};
use ai_message_sqlite::{Location, SqliteStore};
use ai_message_testkit::fake_model::FakeModel;
use ai_message_testkit::http_api::harness::TestServer;
use ai_message_testkit::postgres;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleared_history_stays_cleared_after_a_restart_on_sqlite() {
    let model = FakeModel::start().await;
    let dir = tempfile::tempdir().unwrap();
    let location = Location::File(dir.path().join("assistant.db"));
    let before = TestServer::new(SqliteStore::open(&location).await.unwrap().storage())
        .with_assistant(&model, AssistantSettings::default(), WAIT);
    let alice = before.user("alice").await;
    for question in ["one", "two"] {
        before
            .post(
                "/messages/ai",
                Some(&alice.access),
                json!({"content": question}),
            )
            .await
            .assert_status(200);
    }
    before
        .delete("/messages/history/clear", Some(&alice.access))
        .await
        .assert_status(200);
    before
        .post(
            "/messages/ai",
            Some(&alice.access),
            json!({"content": "three"}),
        )
        .await
        .assert_status(200);
    drop(before);

    let after = TestServer::new(SqliteStore::open(&location).await.unwrap().storage())
        .with_assistant(&model, AssistantSettings::default(), WAIT);
    let history = after.get("/messages/history", Some(&alice.access)).await;
    assert_eq!(
        history.assert_status(200)["history"],
        json!([
            {"role": "user", "content": "three"},
            {"role": "assistant", "content": "echo: three"},
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_instances_share_one_history() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let model = FakeModel::start().await;
    let (first, database) = postgres::fresh_postgres().await;
    let url = PostgresUrl::parse(&database.url).unwrap();
    let second = PostgresStore::open(&url, 2).await.unwrap().storage();
    let a = TestServer::new(first).with_assistant(&model, AssistantSettings::default(), WAIT);
    let b = TestServer::new(second).with_assistant(&model, AssistantSettings::default(), WAIT);
    let alice = a.user("alice").await;
    a.post(
        "/messages/ai",
        Some(&alice.access),
        json!({"content": "asked on A"}),
    )
    .await
    .assert_status(200);
    b.post(
        "/messages/ai",
        Some(&alice.access),
        json!({"content": "asked on B"}),
    )
    .await
    .assert_status(200);
    let on_a = a.get("/messages/history", Some(&alice.access)).await;
    let on_b = b.get("/messages/history", Some(&alice.access)).await;
    assert_eq!(on_a.json, on_b.json);
    assert_eq!(on_a.json["message_count"], 4);
    let asked = model.recorded();
    assert_eq!(
        asked[1].messages().len(),
        4,
        "B gave the model A's turns too"
    );

    b.delete("/messages/history/clear", Some(&alice.access))
        .await
        .assert_status(200);
    let on_a = a.get("/messages/history", Some(&alice.access)).await;
    assert_eq!(on_a.json["message_count"], 0, "a clear on B holds on A");
}
