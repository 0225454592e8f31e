//! What the binary's adoption tests share: a database of the original's newest version holds
//! two reports of user 1 (`Lift`, resolved by that user, then `Window`, open).

use ai_message_testkit::server::Server;
use serde_json::{Value, json};

/// The adopted reports are listed as the API shows reports, and the table takes new ones.
pub async fn the_originals_reports_are_kept(http: &reqwest::Client, server: &Server, token: &str) {
    let reports: Value = http
        .get(server.url("/reports"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reports[0]["title"], "Window", "newest first");
    assert_eq!(reports[1]["status"], "resolved");
    assert_eq!(reports[1]["resolver_username"], "legacy");
    assert_eq!(reports[1]["resolved_at"], "2024-05-03T08:00:00.500000Z");
    let filed = http
        .post(server.url("/reports"))
        .bearer_auth(token)
        .json(&json!({"title": "Door", "content": "Squeaks"}))
        .send()
        .await
        .unwrap();
    assert_eq!(filed.status(), 201, "the adopted table takes new reports");
}
