//! The assistant files and reads facility reports by tool calls, as the user who is talking.

use std::time::Duration;

use ai_message_core::usecases::assistant::{AssistantSettings, FALLBACK_REPLY};
use serde_json::{Value, json};

use super::harness::{Client, TestServer};
use crate::fake_model::{Answer, FakeModel};

fn settings(max_tool_rounds: u32) -> AssistantSettings {
    AssistantSettings {
        max_tool_rounds,
        ..AssistantSettings::default()
    }
}

async fn ask(server: &TestServer, user: &Client, question: &str) -> Value {
    let reply = server
        .post(
            "/messages/ai",
            Some(&user.access),
            json!({"content": question}),
        )
        .await;
    reply.assert_status(200).clone()
}

/// The `tool` messages the model was given in request `index`, parsed.
fn tool_results(model: &FakeModel, index: usize) -> Vec<Value> {
    model.recorded()[index].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| serde_json::from_str(m["content"].as_str().unwrap()).unwrap())
        .collect()
}

pub async fn a_chat_files_a_report_that_the_reports_list_shows(server: TestServer) {
    let model = FakeModel::start().await;
    model.script([
        Answer::tool_call(
            "create_report",
            json!({"title": "Lift on level 3", "content": "It stops between floors 2 and 3"}),
        ),
        Answer::Streamed("I filed report about the lift.".into()),
    ]);
    let server = server.with_assistant(&model, settings(5), Duration::from_secs(10));
    let root = server.superuser("root").await;
    let alice = server.user("alice").await;
    let (mut roots, _) = server.stream_of(&root).await;

    let reply = ask(&server, &alice, "make a report about the lift on level 3").await;
    assert_eq!(reply["content"], "I filed report about the lift.");
    let mine = server.get("/reports", Some(&alice.access)).await;
    let mine = mine.assert_status(200).as_array().unwrap().clone();
    assert_eq!(mine.len(), 1, "the report is real");
    assert_eq!(mine[0]["title"], "Lift on level 3");
    assert_eq!(
        mine[0]["reporter_id"], alice.id,
        "filed as the user who is talking"
    );
    assert_eq!(roots.next_event().await.event, "report.created");

    let asked = model.recorded();
    assert_eq!(asked.len(), 2, "the call, then the reply");
    let offered: Vec<&str> = asked[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        offered,
        [
            "get_my_reports",
            "get_report",
            "create_report",
            "update_report"
        ]
    );
    let results = tool_results(&model, 1);
    assert_eq!(results[0]["report"]["id"], mine[0]["id"]);
    let history = server.get("/messages/history", Some(&alice.access)).await;
    let history = history.assert_status(200);
    assert_eq!(
        history["message_count"], 2,
        "tool calls and results are not messages: {history}"
    );
}

pub async fn the_assistant_shows_only_the_callers_reports(server: TestServer) {
    let model = FakeModel::start().await;
    let server = server.with_assistant(&model, settings(5), Duration::from_secs(10));
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    for (user, title) in [(&alice, "Alice's lift"), (&bob, "Bob's window")] {
        server
            .post(
                "/reports",
                Some(&user.access),
                json!({"title": title, "content": "broken"}),
            )
            .await
            .assert_status(201);
    }
    model.script([
        Answer::tool_call("get_my_reports", json!({})),
        Answer::Streamed("You have one report.".into()),
    ]);
    ask(&server, &alice, "show my reports").await;
    let results = tool_results(&model, 1);
    let titles: Vec<&str> = results[0]["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Alice's lift"]);
}

pub async fn a_tool_call_on_another_users_report_is_refused_and_changes_nothing(
    server: TestServer,
) {
    let model = FakeModel::start().await;
    let server = server.with_assistant(&model, settings(5), Duration::from_secs(10));
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let bobs = server
        .post(
            "/reports",
            Some(&bob.access),
            json!({"title": "Bob's window", "content": "cracked"}),
        )
        .await;
    let bobs = bobs.assert_status(201).clone();
    let id = bobs["id"].as_i64().unwrap();
    model.script([
        Answer::ToolCalls(vec![
            ("get_report".into(), json!({"report_id": id}).to_string()),
            (
                "update_report".into(),
                json!({"report_id": id, "title": "hijacked"}).to_string(),
            ),
        ]),
        Answer::Streamed("I cannot do that.".into()),
    ]);
    let reply = ask(&server, &alice, "rename report {id}").await;
    assert_eq!(reply["content"], "I cannot do that.");
    let results = tool_results(&model, 1);
    assert_eq!(results.len(), 2);
    for result in &results {
        assert!(result["error"].is_string(), "refused: {result}");
        assert!(
            result.get("report").is_none(),
            "nothing of it shown: {result}"
        );
    }
    let kept = server
        .get(&format!("/reports/{id}"), Some(&bob.access))
        .await;
    assert_eq!(kept.assert_status(200), &bobs, "unchanged");
}

pub async fn malformed_tool_calls_are_answered_as_errors_and_the_reply_still_arrives(
    server: TestServer,
) {
    let model = FakeModel::start().await;
    model.script([
        Answer::ToolCalls(vec![
            ("drop_tables".into(), "{}".into()),
            ("create_report".into(), "{not json".into()),
            (
                "create_report".into(),
                json!({"title": "no content"}).to_string(),
            ),
            (
                "create_report".into(),
                json!({"title": "", "content": "x"}).to_string(),
            ),
        ]),
        Answer::Streamed("Sorry, something went wrong with the report.".into()),
    ]);
    let server = server.with_assistant(&model, settings(5), Duration::from_secs(10));
    let alice = server.user("alice").await;
    let reply = ask(&server, &alice, "file something").await;
    assert_eq!(
        reply["content"],
        "Sorry, something went wrong with the report."
    );
    let results = tool_results(&model, 1);
    let errors: Vec<&str> = results
        .iter()
        .map(|r| r["error"].as_str().unwrap_or("<not an error>"))
        .collect();
    assert!(errors[0].contains("no tool named"), "{errors:?}");
    assert!(errors[1].contains("not JSON"), "{errors:?}");
    assert!(errors[2].starts_with("content"), "{errors:?}");
    assert!(errors[3].starts_with("title"), "{errors:?}");
    let mine = server.get("/reports", Some(&alice.access)).await;
    assert!(mine.assert_status(200).as_array().unwrap().is_empty());
}

pub async fn a_model_that_calls_tools_forever_gets_the_fallback_reply(server: TestServer) {
    let model = FakeModel::start().await;
    model.script((0..10).map(|_| Answer::tool_call("get_my_reports", json!({}))));
    let server = server.with_assistant(&model, settings(2), Duration::from_secs(10));
    let alice = server.user("alice").await;
    let reply = ask(&server, &alice, "loop").await;
    assert_eq!(reply["content"], FALLBACK_REPLY);
    assert_eq!(
        model.recorded().len(),
        3,
        "two rounds of tools, then the call that would start a third"
    );
}

pub async fn a_model_without_tools_is_asked_plainly_once_it_refuses_them(server: TestServer) {
    let model = FakeModel::start().await;
    model.script([
        Answer::Status(400),
        Answer::Streamed("Plain answer".into()),
        Answer::Streamed("Second plain answer".into()),
    ]);
    let server = server.with_assistant(&model, settings(5), Duration::from_secs(10));
    let alice = server.user("alice").await;
    assert_eq!(ask(&server, &alice, "hi").await["content"], "Plain answer");
    assert_eq!(
        ask(&server, &alice, "again").await["content"],
        "Second plain answer"
    );
    let asked = model.recorded();
    assert_eq!(asked.len(), 3);
    assert!(asked[0].body.get("tools").is_some(), "offered at first");
    assert!(asked[1].body.get("tools").is_none(), "asked again without");
    assert!(asked[2].body.get("tools").is_none(), "and from then on");
}

/// A user disabled while the model thinks: the tool call that comes after files nothing
/// (the report's write checks the user in its own transaction) and the model is told why.
pub async fn a_user_disabled_while_the_assistant_thinks_files_no_report(server: TestServer) {
    let model = FakeModel::start().await;
    let hold = crate::fake_model::Hold::default();
    model.script([
        Answer::Held(
            hold.clone(),
            Box::new(Answer::tool_call(
                "create_report",
                json!({"title": "Filed too late", "content": "by a disabled user"}),
            )),
        ),
        Answer::Streamed("Done.".into()),
    ]);
    let server = server.with_assistant(&model, settings(5), Duration::from_secs(10));
    let root = server.superuser("root").await;
    let alice = server.user("alice").await;
    let asking = server.post(
        "/messages/ai",
        Some(&alice.access),
        json!({"content": "file a report"}),
    );
    let disabling = async {
        hold.reached().await;
        server
            .put_empty(
                &format!("/auth/users/{}/disable", alice.id),
                Some(&root.access),
            )
            .await
            .assert_status(200);
        hold.release();
    };
    let (reply, ()) = tokio::join!(asking, disabling);
    reply.assert_status(200);
    let all = server.get("/reports/admin/all", Some(&root.access)).await;
    assert_eq!(
        all.assert_status(200).as_array().unwrap().len(),
        0,
        "nothing filed for a disabled user: {}",
        all.text
    );
    let results = tool_results(&model, 1);
    assert!(
        results[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("disabled")),
        "{results:?}"
    );
}

/// `n` calls of `create_report`, each with its own title.
fn reports_filed(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let arguments = json!({"title": format!("Report {i}"), "content": "broken"});
            ("create_report".to_string(), arguments.to_string())
        })
        .collect()
}

async fn reports_of(server: &TestServer, user: &Client) -> usize {
    let mine = server.get("/reports?limit=500", Some(&user.access)).await;
    mine.assert_status(200).as_array().unwrap().len()
}

/// One answer runs at most `AI_MAX_TOOL_CALLS` tool calls over all its rounds, whether the
/// model streams its calls or answers them in one JSON object: a model answer that would go
/// past the cap runs none of its calls, and the user gets the fallback reply.
pub async fn tool_calls_past_the_cap_are_not_run_on_any_path(server: TestServer) {
    let model = FakeModel::start().await;
    model.script([
        // Far past the cap in one non-streamed answer.
        Answer::PlainToolCalls(reports_filed(40)),
        // Within the cap in each round, past it over two rounds.
        Answer::ToolCalls(reports_filed(10)),
        Answer::PlainToolCalls(reports_filed(10)),
    ]);
    // The default cap, 16.
    let server = server.with_assistant(&model, settings(5), Duration::from_secs(10));
    let alice = server.user("alice").await;

    assert_eq!(
        ask(&server, &alice, "file forty").await["content"],
        FALLBACK_REPLY
    );
    assert_eq!(
        reports_of(&server, &alice).await,
        0,
        "none of the forty ran"
    );
    assert_eq!(model.recorded().len(), 1, "the model is not asked again");

    assert_eq!(
        ask(&server, &alice, "file twenty").await["content"],
        FALLBACK_REPLY
    );
    assert_eq!(
        reports_of(&server, &alice).await,
        10,
        "the first round ran, the round that went past the cap did not"
    );
}

/// A user's long reports cannot make the requests to the model grow: five reports of 65,536
/// control characters (the longest a report holds, each character escaped in a request) and
/// rounds of `get_my_reports` on either path give requests within `AI_MAX_PROMPT_BYTES`
/// (beside the tools' fixed description), each result a page that says what it cut and what
/// it left off.
pub async fn requests_to_the_model_stay_within_their_byte_bound(server: TestServer) {
    const MAX_PROMPT: usize = 64 * 1024;
    // The tools' descriptions, the model's name and the request's own keys.
    const FIXED_PART: usize = 8 * 1024;
    let model = FakeModel::start().await;
    let lists = |n: usize| vec![("get_my_reports".to_string(), "{}".to_string()); n];
    model.script([
        Answer::ToolCalls(lists(4)),
        Answer::PlainToolCalls(lists(4)),
        Answer::Streamed("You have five long reports.".into()),
    ]);
    let bounded = AssistantSettings {
        max_tool_result_bytes: 8 * 1024,
        max_prompt_bytes: MAX_PROMPT,
        ..settings(5)
    };
    let server = server.with_assistant(&model, bounded, Duration::from_secs(30));
    let alice = server.user("alice").await;
    for i in 0..5 {
        server
            .post(
                "/reports",
                Some(&alice.access),
                json!({"title": format!("Report {i}"), "content": "\u{1}".repeat(65_536)}),
            )
            .await
            .assert_status(201);
    }
    let reply = ask(&server, &alice, "read me my reports, again and again").await;
    assert_eq!(reply["content"], "You have five long reports.");

    let asked = model.recorded();
    assert_eq!(asked.len(), 3, "two rounds of tools, then the reply");
    for (n, request) in asked.iter().enumerate() {
        assert!(
            request.bytes <= MAX_PROMPT + FIXED_PART,
            "request {n} is {} bytes",
            request.bytes
        );
    }
    let results = tool_results(&model, 2);
    assert_eq!(results.len(), 8);
    for result in &results {
        let shown = result["reports"].as_array().unwrap();
        assert_eq!(result["shown"], shown.len());
        assert_eq!(
            shown.len() + result["omitted"].as_u64().unwrap() as usize,
            5,
            "each report shown or counted: {result}"
        );
        assert!(!shown.is_empty(), "a page shows some: {result}");
        for report in shown {
            assert!(report["content"].as_str().unwrap().ends_with(" […]"));
        }
    }
}
