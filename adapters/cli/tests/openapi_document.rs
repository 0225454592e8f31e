//! `openapi/openapi.json` is generated from the code; this test fails when they drift apart.

const REGENERATE: &str = "cargo run -p ai-message-cli -- openapi > openapi/openapi.json";

#[test]
fn committed_document_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/openapi.json");
    let committed = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}; create it with: {REGENERATE}"));
    let generated = ai_message_cli::openapi_document();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json is out of date; regenerate it with:\n    {REGENERATE}"
    );
}

#[test]
fn every_operation_has_an_id_a_tag_a_summary_and_documented_errors() {
    let document: serde_json::Value =
        serde_json::from_str(&ai_message_cli::openapi_document()).unwrap();
    let mut ids = std::collections::BTreeSet::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(
                id.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{id} is not snake_case"
            );
            assert!(ids.insert(id.to_string()), "{id} is used twice");
            let tags = operation["tags"].as_array().unwrap();
            assert_eq!(tags.len(), 1, "{id}");
            assert!(
                [
                    "service",
                    "auth",
                    "admin",
                    "messages",
                    "conversations",
                    "Reports"
                ]
                .contains(&tags[0].as_str().unwrap()),
                "{id}"
            );
            assert!(
                operation["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{id}"
            );
            let secured = operation.get("security").is_some();
            if secured {
                let unauthorized = &operation["responses"]["401"];
                assert_eq!(
                    unauthorized["content"]["application/json; charset=utf-8"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{id} documents its 401 with the detail schema"
                );
            }
        }
    }
    // The 39 routes of the contract, two of live delivery, three of the assistant, seven of
    // reports and the backup.
    assert_eq!(ids.len(), 54, "every route of the contract: {ids:?}");
}
