//! Who an identifier names: lookalike usernames, email case, and usernames that could pass
//! for another account's email.

use serde_json::json;

use super::harness::TestServer;

fn registration(username: &str, email: &str) -> serde_json::Value {
    json!({"username": username, "email": email, "password": "password1"})
}

pub async fn lookalike_usernames_are_refused_with_a_reason(server: TestServer) {
    server.register("root").await;
    let refused = [
        (
            "root\u{200b}",
            422,
            "username: must not contain control, formatting, invisible or compatibility characters",
        ),
        (
            "root\u{00ad}",
            422,
            "username: must not contain control, formatting, invisible or compatibility characters",
        ),
        (
            "ｒｏｏｔ",
            422,
            "username: must not contain control, formatting, invisible or compatibility characters",
        ),
        (
            " root",
            422,
            "username: must not start or end with whitespace",
        ),
        (
            "r\u{043e}\u{043e}t",
            422,
            "username: must not mix letters of different scripts",
        ),
        (
            "Root",
            400,
            "Username is too similar to an existing username",
        ),
        (
            "ROOT",
            400,
            "Username is too similar to an existing username",
        ),
        // An accent typed as one letter, and as a separate combining mark.
        (
            "róot",
            400,
            "Username is too similar to an existing username",
        ),
        (
            "roo\u{0301}t",
            400,
            "Username is too similar to an existing username",
        ),
    ];
    for (i, (name, status, detail)) in refused.into_iter().enumerate() {
        server
            .post(
                "/auth/register",
                None,
                registration(name, &format!("l{i}@example.com")),
            )
            .await
            .assert_error(status, detail);
    }
    // A whole-Cyrillic name is one script, and its skeleton is not `root`'s.
    server
        .post(
            "/auth/register",
            None,
            registration("иван", "ivan@example.com"),
        )
        .await
        .assert_status(201);
}

pub async fn emails_are_unique_ignoring_case(server: TestServer) {
    server.register("alice").await;
    server
        .post(
            "/auth/register",
            None,
            registration("alicia", "ALICE@Example.com"),
        )
        .await
        .assert_error(400, "Email already registered");
    // Login by email ignores case too.
    server
        .login_as("Alice@EXAMPLE.com", "alice-password")
        .await
        .assert_status(200);
}

pub async fn a_username_cannot_pass_for_another_accounts_email(server: TestServer) {
    server.register("victim").await;
    server
        .post(
            "/auth/register",
            None,
            registration("victim@example.com", "attacker@example.com"),
        )
        .await
        .assert_error(
            422,
            "username: must not contain '@' (it would read as an email address at login)",
        );
    let login = server
        .login_as("victim@example.com", "victim-password")
        .await;
    assert_eq!(login.assert_status(200)["user"]["username"], "victim");
}
