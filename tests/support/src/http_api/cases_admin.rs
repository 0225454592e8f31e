//! Superuser routes: users and roles.

use poem::http::Method;
use serde_json::json;

use super::harness::*;

pub async fn admin_routes_require_a_superuser(server: TestServer) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let token = Some(alice.access.as_str());
    let routes = [
        server.get("/auth/users", token).await,
        server.get(&format!("/auth/users/{}", bob.id), token).await,
        server
            .post(
                "/auth/users",
                token,
                json!({"username": "c", "email": "c@example.com", "password": "password1"}),
            )
            .await,
        server
            .delete(&format!("/auth/users/{}", bob.id), token)
            .await,
        server
            .put_empty(&format!("/auth/users/{}/disable", bob.id), token)
            .await,
        server
            .put_empty(&format!("/auth/users/{}/enable", bob.id), token)
            .await,
        server
            .put_empty(
                &format!("/auth/users/{}/superuser?is_superuser=true", bob.id),
                token,
            )
            .await,
        server.get("/auth/roles", token).await,
        server
            .post("/auth/roles", token, json!({"name": "x"}))
            .await,
        server.delete("/auth/roles/1", token).await,
        server
            .put(
                &format!("/auth/users/{}/roles", bob.id),
                token,
                json!({"role_ids": []}),
            )
            .await,
        server
            .get(&format!("/auth/users/{}/roles", bob.id), token)
            .await,
    ];
    for response in routes {
        response.assert_error(403, "Superuser access required");
    }
    // Nothing happened to bob.
    server
        .get("/auth/me", Some(&bob.access))
        .await
        .assert_status(200);
}

pub async fn admin_lists_and_gets_users(server: TestServer) {
    let root = server.superuser("root").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let token = Some(root.access.as_str());
    let all = server.get("/auth/users", token).await;
    assert_eq!(ids(all.assert_status(200)), vec![root.id, alice.id, bob.id]);
    assert!(!all.text.contains("$2b$"));
    let window = server.get("/auth/users?skip=1&limit=1", token).await;
    assert_eq!(ids(window.assert_status(200)), vec![alice.id]);
    for (query, detail) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("skip=-1", "skip"),
        ("limit=ten", "limit"),
    ] {
        let response = server.get(&format!("/auth/users?{query}"), token).await;
        assert_eq!(response.status.as_u16(), 422, "{query}: {}", response.text);
        assert!(
            response.detail().contains(detail),
            "{query}: {}",
            response.text
        );
    }
    let one = server.get(&format!("/auth/users/{}", bob.id), token).await;
    assert_eq!(one.assert_status(200)["username"], "bob");
}

pub async fn unknown_user_ids_are_404_everywhere(server: TestServer) {
    let root = server.superuser("root").await;
    let token = Some(root.access.as_str());
    let missing = 987_654;
    let responses = [
        server.get(&format!("/auth/users/{missing}"), token).await,
        server
            .delete(&format!("/auth/users/{missing}"), token)
            .await,
        server
            .put_empty(&format!("/auth/users/{missing}/disable"), token)
            .await,
        server
            .put_empty(&format!("/auth/users/{missing}/enable"), token)
            .await,
        server
            .put_empty(
                &format!("/auth/users/{missing}/superuser?is_superuser=true"),
                token,
            )
            .await,
        server
            .put(
                &format!("/auth/users/{missing}/roles"),
                token,
                json!({"role_ids": []}),
            )
            .await,
        server
            .get(&format!("/auth/users/{missing}/roles"), token)
            .await,
    ];
    for response in responses {
        response.assert_error(404, "User not found");
    }
}

pub async fn admin_creates_users(server: TestServer) {
    let root = server.superuser("root").await;
    let token = Some(root.access.as_str());
    let created = server
        .post(
            "/auth/users",
            token,
            json!({"username": "carol", "email": "carol@example.com", "password": "carol-password"}),
        )
        .await;
    let created = created.assert_status(201);
    assert_eq!(created["username"], "carol");
    assert_eq!(created["is_superuser"], false);
    server.login("carol").await;
    server
        .post(
            "/auth/users",
            token,
            json!({"username": "carol", "email": "c2@example.com", "password": "carol-password"}),
        )
        .await
        .assert_error(400, "Username already registered");
    server
        .post(
            "/auth/users",
            token,
            json!({"username": "c2", "email": "carol@example.com", "password": "carol-password"}),
        )
        .await
        .assert_error(400, "Email already registered");
    server
        .post(
            "/auth/users",
            token,
            json!({"username": "c3", "email": "c3@example.com", "password": "x"}),
        )
        .await
        .assert_status(422);
}

pub async fn admin_deletes_users_but_not_themself(server: TestServer) {
    let root = server.superuser("root").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let message = server.send_message(&alice, bob.id, "hello bob").await;
    let token = Some(root.access.as_str());
    server
        .delete(&format!("/auth/users/{}", root.id), token)
        .await
        .assert_error(400, "Cannot delete your own account");
    let deleted = server
        .delete(&format!("/auth/users/{}", alice.id), token)
        .await;
    assert_eq!(
        deleted.assert_status(200),
        &json!({"message": "User deleted successfully"})
    );
    server
        .get("/auth/me", Some(&alice.access))
        .await
        .assert_error(401, "Could not validate credentials");
    server
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": alice.refresh}),
        )
        .await
        .assert_status(401);
    // The message stays, for bob.
    let kept = server
        .get(&format!("/messages/{}", message["id"]), Some(&bob.access))
        .await;
    assert_eq!(kept.assert_status(200)["content"], "hello bob");
    server
        .get(&format!("/auth/users/{}", alice.id), token)
        .await
        .assert_error(404, "User not found");
}

pub async fn disabling_a_user_locks_them_out_at_once(server: TestServer) {
    let root = server.superuser("root").await;
    let alice = server.user("alice").await;
    let token = Some(root.access.as_str());
    server
        .put_empty(&format!("/auth/users/{}/disable", root.id), token)
        .await
        .assert_error(400, "Cannot disable your own account");
    let disabled = server
        .put_empty(&format!("/auth/users/{}/disable", alice.id), token)
        .await;
    assert_eq!(
        disabled.assert_status(200),
        &json!({"message": "User disabled successfully"})
    );
    server
        .get("/auth/me", Some(&alice.access))
        .await
        .assert_error(403, "User is disabled");
    server
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": alice.refresh}),
        )
        .await
        .assert_status(401);
    let user = server
        .get(&format!("/auth/users/{}", alice.id), token)
        .await;
    assert_eq!(user.assert_status(200)["is_active"], false);
    let enabled = server
        .put_empty(&format!("/auth/users/{}/enable", alice.id), token)
        .await;
    assert_eq!(
        enabled.assert_status(200),
        &json!({"message": "User enabled successfully"})
    );
    let again = server.login("alice").await;
    server
        .get("/auth/me", Some(&again.access))
        .await
        .assert_status(200);
}

pub async fn superuser_status_by_query_or_body(server: TestServer) {
    let root = server.superuser("root").await;
    let alice = server.user("alice").await;
    let token = Some(root.access.as_str());
    let by_query = server
        .put_empty(
            &format!("/auth/users/{}/superuser?is_superuser=true", alice.id),
            token,
        )
        .await;
    assert_eq!(
        by_query.assert_status(200),
        &json!({"message": "User superuser status set to True"})
    );
    // An optional body may be left out, but a `null` one is not the object it must be.
    for path in [
        format!("/auth/users/{}/superuser?is_superuser=true", alice.id),
        "/auth/logout".to_string(),
    ] {
        let method = if path.starts_with("/auth/users") {
            Method::PUT
        } else {
            Method::POST
        };
        server
            .send(
                method,
                &path,
                token,
                Body::Raw("application/json", "null".into()),
                &[],
            )
            .await
            .assert_error(422, "body: must be a JSON object");
    }
    // Alice is a superuser from her next request on.
    server
        .get("/auth/users", Some(&alice.access))
        .await
        .assert_status(200);
    let by_body = server
        .put(
            &format!("/auth/users/{}/superuser", alice.id),
            token,
            json!({"is_superuser": false}),
        )
        .await;
    assert_eq!(
        by_body.assert_status(200),
        &json!({"message": "User superuser status set to False"})
    );
    server
        .get("/auth/users", Some(&alice.access))
        .await
        .assert_error(403, "Superuser access required");
    server
        .put_empty(&format!("/auth/users/{}/superuser", alice.id), token)
        .await
        .assert_error(422, "is_superuser: field required");
    server
        .put_empty(
            &format!("/auth/users/{}/superuser?is_superuser=false", root.id),
            token,
        )
        .await
        .assert_error(400, "Cannot change your own superuser status");
}

pub async fn roles_are_created_listed_and_deleted(server: TestServer) {
    let root = server.superuser("root").await;
    let token = Some(root.access.as_str());
    let created = server
        .post(
            "/auth/roles",
            token,
            json!({"name": "editor", "description": "Edits things"}),
        )
        .await;
    let editor = created.assert_status(201).clone();
    assert_eq!(editor["name"], "editor");
    assert_eq!(editor["description"], "Edits things");
    let viewer = server
        .post("/auth/roles", token, json!({"name": "viewer"}))
        .await;
    let viewer = viewer.assert_status(201).clone();
    assert_eq!(viewer["description"], serde_json::Value::Null);
    server
        .post("/auth/roles", token, json!({"name": "editor"}))
        .await
        .assert_error(400, "Role already exists");
    server
        .post("/auth/roles", token, json!({"name": ""}))
        .await
        .assert_error(422, "name: must be 1 to 100 characters long");
    server
        .post(
            "/auth/roles",
            token,
            json!({"name": "x", "description": "d".repeat(256)}),
        )
        .await
        .assert_error(422, "description: must be at most 255 characters long");
    let listed = server.get("/auth/roles", token).await;
    assert_eq!(
        ids(listed.assert_status(200)),
        vec![
            editor["id"].as_i64().unwrap(),
            viewer["id"].as_i64().unwrap()
        ]
    );
    let deleted = server
        .delete(&format!("/auth/roles/{}", editor["id"]), token)
        .await;
    assert_eq!(
        deleted.assert_status(200),
        &json!({"message": "Role deleted successfully"})
    );
    server
        .delete(&format!("/auth/roles/{}", editor["id"]), token)
        .await
        .assert_error(404, "Role not found");
    let listed = server.get("/auth/roles", token).await;
    assert_eq!(ids(listed.assert_status(200)).len(), 1);
}

pub async fn roles_are_assigned_atomically(server: TestServer) {
    let root = server.superuser("root").await;
    let alice = server.user("alice").await;
    let token = Some(root.access.as_str());
    let mut role_ids = Vec::new();
    for name in ["a", "b"] {
        let role = server
            .post("/auth/roles", token, json!({"name": name}))
            .await;
        role_ids.push(role.assert_status(201)["id"].as_i64().unwrap());
    }
    let path = format!("/auth/users/{}/roles", alice.id);
    let assigned = server
        .put(
            &path,
            token,
            json!({"role_ids": [role_ids[1], role_ids[0]]}),
        )
        .await;
    assert_eq!(
        assigned.assert_status(200),
        &json!({"message": "Roles assigned successfully"})
    );
    let current = server.get(&path, token).await;
    assert_eq!(ids(current.assert_status(200)), role_ids);
    let unknown = server
        .put(&path, token, json!({"role_ids": [role_ids[0], 9001, 9002]}))
        .await;
    unknown.assert_error(422, "role_ids: unknown role ids: 9001, 9002");
    let unchanged = server.get(&path, token).await;
    assert_eq!(ids(unchanged.assert_status(200)), role_ids);
    server
        .put(&path, token, json!({"role_ids": "all"}))
        .await
        .assert_status(422);
    server
        .put(&path, token, json!({"role_ids": []}))
        .await
        .assert_status(200);
    let cleared = server.get(&path, token).await;
    assert!(ids(cleared.assert_status(200)).is_empty());
}

/// A backup is a superuser's: others get 403, and a store the server cannot copy says which
/// tool backs it up (PostgreSQL: `pg_dump`; `memory://`: nothing to keep). SQLite's copy is
/// checked whole, under load, in `cli/tests/sqlite_files`.
pub async fn backups_are_for_superusers_and_name_the_tool_where_the_server_takes_none(
    server: TestServer,
) {
    let alice = server.user("alice").await;
    let root = server.superuser("root").await;
    server
        .get("/auth/backup", Some(&alice.access))
        .await
        .assert_error(403, "Superuser access required");
    assert_eq!(server.get("/auth/backup", None).await.status, 401);
    let backup = server.get("/auth/backup", Some(&root.access)).await;
    match backup.status.as_u16() {
        200 => assert!(
            backup.text.starts_with("SQLite format 3\0"),
            "an SQLite file"
        ),
        400 => assert!(
            backup.detail().contains("pg_dump") || backup.detail().contains("memory://"),
            "{}",
            backup.detail()
        ),
        other => panic!("backup answered {other}: {}", backup.text),
    }
}
