//! `/reports`: facility reports, as the original's newest frontend uses them, and what this
//! server does better (validation, paging, live events).

use std::time::Duration;

use serde_json::{Value, json};

use super::harness::{Client, TestServer};
use crate::sse::Next;

async fn file(server: &TestServer, reporter: &Client, title: &str) -> Value {
    let response = server
        .post(
            "/reports",
            Some(&reporter.access),
            json!({"title": title, "content": format!("{title}: broken")}),
        )
        .await;
    response.assert_status(201).clone()
}

fn ids(reports: &Value) -> Vec<i64> {
    reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

pub async fn reports_are_filed_and_shown_to_their_reporter_and_superusers(server: TestServer) {
    let root = server.superuser("root").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let created = file(&server, &alice, "Lift on level 3").await;
    assert_eq!(created["status"], "open");
    assert_eq!(created["reporter_id"], alice.id);
    assert_eq!(created["reporter_username"], "alice");
    assert_eq!(created["title"], "Lift on level 3");
    assert_eq!(created["content"], "Lift on level 3: broken");
    for empty in ["comment", "resolved_at", "resolved_by", "resolver_username"] {
        assert_eq!(created[empty], Value::Null, "{empty}");
    }
    assert_eq!(created["created_at"], created["updated_at"]);
    let id = created["id"].as_i64().unwrap();
    let path = format!("/reports/{id}");

    let own = server.get(&path, Some(&alice.access)).await;
    assert_eq!(own.assert_status(200), &created);
    server
        .get(&path, Some(&root.access))
        .await
        .assert_status(200);
    server
        .get(&path, Some(&bob.access))
        .await
        .assert_error(403, "Not authorized to view this report");
    server
        .get("/reports/987654", Some(&alice.access))
        .await
        .assert_error(404, "Report not found");
    server
        .get(&path, None)
        .await
        .assert_error(401, "Not authenticated");

    let second = file(&server, &alice, "Broken window").await;
    file(&server, &bob, "Bob's projector").await;
    let mine = server.get("/reports", Some(&alice.access)).await;
    assert_eq!(
        ids(mine.assert_status(200)),
        vec![second["id"].as_i64().unwrap(), id],
        "the caller's own, newest first"
    );
    let bobs = server.get("/reports", Some(&bob.access)).await;
    assert_eq!(bobs.assert_status(200).as_array().unwrap().len(), 1);
}

pub async fn a_report_is_edited_by_its_reporter_while_open(server: TestServer) {
    let root = server.superuser("root").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let created = file(&server, &alice, "Lift").await;
    let path = format!("/reports/{}", created["id"]);

    server
        .put(&path, Some(&bob.access), json!({"title": "mine now"}))
        .await
        .assert_error(403, "Not authorized to update this report");
    server
        .put(
            &path,
            Some(&root.access),
            json!({"title": "superusers answer, not edit"}),
        )
        .await
        .assert_error(403, "Not authorized to update this report");
    let edited = server
        .put(
            &path,
            Some(&alice.access),
            json!({"content": "Stuck at floor 2"}),
        )
        .await;
    let edited = edited.assert_status(200);
    assert_eq!(edited["title"], "Lift", "what is absent stays");
    assert_eq!(edited["content"], "Stuck at floor 2");
    assert_ne!(edited["updated_at"], created["updated_at"]);

    server
        .post(
            &format!("{path}/comment"),
            Some(&root.access),
            json!({"comment": "On it", "status": "in_progress"}),
        )
        .await
        .assert_status(200);
    server
        .put(&path, Some(&alice.access), json!({"content": "too late"}))
        .await
        .assert_error(400, "Cannot update a report that is not in open status");
    server
        .put(
            "/reports/987654",
            Some(&alice.access),
            json!({"content": "x"}),
        )
        .await
        .assert_error(404, "Report not found");
}

pub async fn superusers_answer_move_and_resolve_reports(server: TestServer) {
    let root = server.superuser("root").await;
    let alice = server.user("alice").await;
    let created = file(&server, &alice, "Lift").await;
    let id = created["id"].as_i64().unwrap();
    let comment = format!("/reports/{id}/comment");
    let resolve = format!("/reports/{id}/resolve");

    for (method_path, body) in [
        (comment.as_str(), json!({"comment": "no"})),
        (resolve.as_str(), json!({"comment": "no"})),
    ] {
        let response = if method_path.ends_with("comment") {
            server.post(method_path, Some(&alice.access), body).await
        } else {
            server.put(method_path, Some(&alice.access), body).await
        };
        response.assert_error(403, "Superuser access required");
    }
    server
        .get("/reports/admin/all", Some(&alice.access))
        .await
        .assert_error(403, "Superuser access required");

    server
        .post(
            &comment,
            Some(&root.access),
            json!({"comment": "x", "status": "done"}),
        )
        .await
        .assert_error(
            400,
            "Invalid status. Must be one of: open, in_progress, resolved",
        );
    let answered = server
        .post(&comment, Some(&root.access), json!({"comment": "Seen"}))
        .await;
    let answered = answered.assert_status(200);
    assert_eq!(answered["comment"], "Seen");
    assert_eq!(answered["status"], "open", "no status: unchanged");

    let resolved = server
        .put(&resolve, Some(&root.access), json!({"comment": "Repaired"}))
        .await;
    let resolved = resolved.assert_status(200).clone();
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["comment"], "Repaired");
    assert_eq!(resolved["resolved_by"], root.id);
    assert_eq!(resolved["resolver_username"], "root");
    assert!(resolved["resolved_at"].is_string());

    let again = server
        .put(&resolve, Some(&root.access), json!({"comment": ""}))
        .await;
    let again = again.assert_status(200);
    assert_eq!(
        again["comment"], "Repaired",
        "an empty comment keeps the answer"
    );
    assert_eq!(
        again["resolved_at"], resolved["resolved_at"],
        "still resolved"
    );

    let seen_by_reporter = server
        .get(&format!("/reports/{id}"), Some(&alice.access))
        .await;
    assert_eq!(seen_by_reporter.assert_status(200)["comment"], "Repaired");

    let reopened = server
        .post(
            &comment,
            Some(&root.access),
            json!({"comment": "It broke again", "status": "open"}),
        )
        .await;
    let reopened = reopened.assert_status(200);
    assert_eq!(reopened["status"], "open");
    assert_eq!(
        reopened["resolved_at"],
        Value::Null,
        "reopening clears the resolution"
    );
    assert_eq!(reopened["resolver_username"], Value::Null);
    server
        .put("/reports/987654/resolve", Some(&root.access), json!({}))
        .await
        .assert_error(404, "Report not found");
}

pub async fn report_lists_filter_by_status_and_page(server: TestServer) {
    let root = server.superuser("root").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mut filed = Vec::new();
    for (reporter, title) in [(&alice, "a1"), (&bob, "b1"), (&alice, "a2"), (&bob, "b2")] {
        filed.push(file(&server, reporter, title).await["id"].as_i64().unwrap());
    }
    server
        .put(
            &format!("/reports/{}/resolve", filed[0]),
            Some(&root.access),
            json!({}),
        )
        .await
        .assert_status(200);
    let all = server.get("/reports/admin/all", Some(&root.access)).await;
    let newest_first: Vec<i64> = filed.iter().rev().copied().collect();
    assert_eq!(ids(all.assert_status(200)), newest_first);
    let resolved = server
        .get(
            "/reports/admin/all?status_filter=resolved",
            Some(&root.access),
        )
        .await;
    assert_eq!(ids(resolved.assert_status(200)), vec![filed[0]]);
    let alices_open = server
        .get("/reports?status_filter=open", Some(&alice.access))
        .await;
    assert_eq!(ids(alices_open.assert_status(200)), vec![filed[2]]);
    let unfiltered = server
        .get("/reports/admin/all?status_filter=", Some(&root.access))
        .await;
    assert_eq!(
        ids(unfiltered.assert_status(200)),
        newest_first,
        "an empty filter is none"
    );
    let window = server
        .get("/reports/admin/all?skip=1&limit=2", Some(&root.access))
        .await;
    assert_eq!(ids(window.assert_status(200)), vec![filed[2], filed[1]]);
    for path in [
        "/reports?status_filter=closed",
        "/reports/admin/all?status_filter=OPEN",
    ] {
        let response = server.get(path, Some(&root.access)).await;
        assert_eq!(response.status.as_u16(), 422, "{path}");
        assert_eq!(
            response.detail(),
            "status_filter: must be one of: open, in_progress, resolved"
        );
    }
    let bad_page = server.get("/reports?limit=0", Some(&alice.access)).await;
    assert_eq!(bad_page.status.as_u16(), 422);
}

pub async fn report_titles_and_contents_are_validated(server: TestServer) {
    let alice = server.user("alice").await;
    let token = Some(alice.access.as_str());
    for (body, field) in [
        (json!({"title": "", "content": "x"}), "title"),
        (json!({"title": "   ", "content": "x"}), "title"),
        (json!({"title": "t".repeat(256), "content": "x"}), "title"),
        (json!({"title": "t", "content": " \n "}), "content"),
        (json!({"title": "t"}), "content"),
        (json!({"title": 5, "content": "x"}), "title"),
    ] {
        let response = server.post("/reports", token, body.clone()).await;
        assert_eq!(response.status.as_u16(), 422, "{body}: {}", response.text);
        assert!(
            response.detail().starts_with(field),
            "{body}: {}",
            response.text
        );
    }
    let longest = server
        .post(
            "/reports",
            token,
            json!({"title": "t".repeat(255), "content": "x"}),
        )
        .await;
    longest.assert_status(201);
    let listed = server.get("/reports", token).await;
    assert_eq!(listed.assert_status(200).as_array().unwrap().len(), 1);
}

pub async fn reports_go_with_their_reporter_and_keep_their_resolution(server: TestServer) {
    let root = server.superuser("root").await;
    let helper = server.superuser("helper").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    file(&server, &alice, "alice's").await;
    let bobs = file(&server, &bob, "bob's").await;
    let bobs_path = format!("/reports/{}", bobs["id"]);
    server
        .put(
            &format!("{bobs_path}/resolve"),
            Some(&helper.access),
            json!({}),
        )
        .await
        .assert_status(200);
    for user in [alice.id, helper.id] {
        server
            .delete(&format!("/auth/users/{user}"), Some(&root.access))
            .await
            .assert_status(200);
    }
    let all = server.get("/reports/admin/all", Some(&root.access)).await;
    assert_eq!(
        ids(all.assert_status(200)),
        vec![bobs["id"].as_i64().unwrap()]
    );
    let kept = server.get(&bobs_path, Some(&bob.access)).await;
    let kept = kept.assert_status(200);
    assert_eq!(kept["status"], "resolved");
    assert_eq!(kept["resolved_by"], Value::Null);
    assert_eq!(kept["resolver_username"], Value::Null);
}

pub async fn report_events_reach_the_reporter_and_superusers(server: TestServer) {
    let root = server.superuser("root").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (mut roots, _) = server.stream_of(&root).await;
    let (mut alices, _) = server.stream_of(&alice).await;
    let (mut bobs, _) = server.stream_of(&bob).await;

    let created = file(&server, &alice, "Lift").await;
    let announced = roots.next_event().await;
    assert_eq!(announced.event, "report.created");
    assert_eq!(announced.data, created, "the report as the API shows it");
    let own = alices.next_event().await;
    assert_eq!(own.event, "report.created", "the reporter's other devices");

    let answered = server
        .post(
            &format!("/reports/{}/comment", created["id"]),
            Some(&root.access),
            json!({"comment": "On it", "status": "in_progress"}),
        )
        .await;
    let answered = answered.assert_status(200).clone();
    let told = alices.next_event().await;
    assert_eq!(told.event, "report.updated");
    assert_eq!(told.data, answered);
    assert_eq!(
        bobs.next_within(Duration::from_millis(300)).await,
        Next::Quiet,
        "nobody else hears of it"
    );
}

/// A superuser's rights are read when an event arrives, not when the stream opened: once
/// demoted, his open stream stops hearing of other users' reports at once, while his own
/// still reach him.
pub async fn a_demoted_superusers_stream_stops_hearing_of_others_reports(server: TestServer) {
    let root = server.superuser("root").await;
    let warden = server.superuser("warden").await;
    let alice = server.user("alice").await;
    let (mut wardens, _) = server.stream_of(&warden).await;
    file(&server, &alice, "Before").await;
    assert_eq!(
        wardens.next_event().await.event,
        "report.created",
        "a superuser hears of new reports"
    );

    server
        .put(
            &format!("/auth/users/{}/superuser", warden.id),
            Some(&root.access),
            json!({"is_superuser": false}),
        )
        .await
        .assert_status(200);
    file(&server, &alice, "After").await;
    let own = file(&server, &warden, "Mine").await;
    // Events reach a stream in publication order: alice's report came first.
    let next = wardens.next_event().await;
    assert_eq!(next.event, "report.created");
    assert_eq!(next.data, own, "only his own report, not alice's");
}

/// Each report write racing the deletion of the user who makes it answers what the session
/// check would (401), never a 500; nothing is left of a deleted reporter.
pub async fn report_writes_racing_their_actors_deletion_answer_401_never_500(server: TestServer) {
    let server = std::sync::Arc::new(server);
    let root = server.superuser("root").await;
    for round in 0..12 {
        let filer = server.user(&format!("filer{round}")).await;
        let editor = server.user(&format!("editor{round}")).await;
        let helper = server.superuser(&format!("helper{round}")).await;
        let editors = file(&server, &editor, "to edit").await["id"].clone();
        let roots = file(&server, &root, "to resolve").await["id"].clone();
        let writes = [
            (
                "POST",
                "/reports".to_string(),
                filer.clone(),
                json!({"title": "racing", "content": "its reporter's deletion"}),
            ),
            (
                "PUT",
                format!("/reports/{editors}"),
                editor.clone(),
                json!({"title": "edited while deleted"}),
            ),
            (
                "PUT",
                format!("/reports/{roots}/resolve"),
                helper.clone(),
                json!({"comment": "resolved while deleted"}),
            ),
        ];
        let mut tasks = Vec::new();
        for (method, path, actor, body) in writes {
            let (server, root) = (server.clone(), root.clone());
            tasks.push(tokio::spawn(async move {
                let deleting = {
                    let server = server.clone();
                    let path = format!("/auth/users/{}", actor.id);
                    tokio::spawn(async move { server.delete(&path, Some(&root.access)).await })
                };
                let written = match method {
                    "POST" => server.post(&path, Some(&actor.access), body).await,
                    _ => server.put(&path, Some(&actor.access), body).await,
                };
                deleting.await.unwrap().assert_status(200);
                (path, written)
            }));
        }
        for task in tasks {
            let (path, written) = task.await.unwrap();
            match written.status.as_u16() {
                200 | 201 => {}
                401 => written.assert_error(401, "Could not validate credentials"),
                other => panic!("round {round}, {path}: {other} {}", written.text),
            }
        }
        let all = server.get("/reports/admin/all", Some(&root.access)).await;
        for report in all.assert_status(200).as_array().unwrap() {
            assert!(
                report["reporter_id"] == root.id,
                "round {round}: a deleted user's report outlived them: {report}"
            );
            assert_ne!(report["resolved_by"], helper.id, "round {round}");
        }
    }
}

/// One user files at most `REPORTS_PER_HOUR` reports (20 by default) an hour, by hand or
/// through the assistant; an hour later they may file again.
pub async fn reports_per_hour_are_limited_by_hand_and_by_the_assistant(server: TestServer) {
    let model = crate::fake_model::FakeModel::start().await;
    let server = server.with_assistant(
        &model,
        ai_message_core::usecases::assistant::AssistantSettings {
            max_tool_rounds: 5,
            ..Default::default()
        },
        Duration::from_secs(10),
    );
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    for n in 0..20 {
        file(&server, &alice, &format!("report {n}")).await;
    }
    let refused = server
        .post(
            "/reports",
            Some(&alice.access),
            json!({"title": "one more", "content": "broken"}),
        )
        .await;
    refused.assert_error(
        429,
        "Report limit reached: at most 20 reports an hour, retry later",
    );
    let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait), "Retry-After: {wait}");
    file(&server, &bob, "another user's quota").await;

    model.script([
        crate::fake_model::Answer::tool_call(
            "create_report",
            json!({"title": "by the assistant", "content": "broken"}),
        ),
        crate::fake_model::Answer::Streamed("I could not file it.".into()),
    ]);
    let reply = server
        .post(
            "/messages/ai",
            Some(&alice.access),
            json!({"content": "file a report"}),
        )
        .await;
    assert_eq!(reply.assert_status(200)["content"], "I could not file it.");
    let told = &model.recorded()[1].body["messages"];
    let result = told
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("the tool's result is given to the model");
    let result: Value = serde_json::from_str(result["content"].as_str().unwrap()).unwrap();
    assert!(
        result["error"]
            .as_str()
            .is_some_and(|e| e.contains("at most 20 reports an hour")),
        "{result}"
    );
    let mine = server.get("/reports?limit=500", Some(&alice.access)).await;
    assert_eq!(mine.assert_status(200).as_array().unwrap().len(), 20);

    server.clock.advance(chrono::TimeDelta::hours(1));
    // Her access token expired meanwhile.
    let alice = server.login("alice").await;
    file(&server, &alice, "an hour later").await;
}

/// A page of reports carries at most 8 MiB of text as JSON writes it (titles, contents and
/// comments), keeping the newest that fit: one user's large reports cannot make the list
/// too big to send to every superuser.
pub async fn a_report_page_keeps_the_newest_reports_that_fit_in_8_mib(server: TestServer) {
    let root = server.superuser("root").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    // U+0001 is six bytes as JSON writes it: 384 KiB a report.
    let content = "\u{1}".repeat(65_536);
    let mut filed = Vec::new();
    for n in 0..24 {
        let reporter = if n % 2 == 0 { &alice } else { &bob };
        let response = server
            .post(
                "/reports",
                Some(&reporter.access),
                json!({"title": format!("r{n}"), "content": content}),
            )
            .await;
        filed.push(response.assert_status(201)["id"].as_i64().unwrap());
    }
    let all = server
        .get("/reports/admin/all?limit=500", Some(&root.access))
        .await;
    let shown = ids(all.assert_status(200));
    let newest_first: Vec<i64> = filed.iter().rev().copied().collect();
    assert_eq!(shown.len(), 21, "8 MiB holds 21 reports of 384 KiB");
    assert_eq!(shown, newest_first[..21], "the newest stay, newest first");
    assert!(
        all.text.len() < 8 * 1024 * 1024 + 64 * 1024,
        "{}",
        all.text.len()
    );
    let alices = server.get("/reports?limit=500", Some(&alice.access)).await;
    assert_eq!(
        ids(alices.assert_status(200)).len(),
        12,
        "4.5 MiB fits whole"
    );
}
