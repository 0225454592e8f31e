//! Service routes, registration, login, tokens, the caller's account and sessions.

use ai_message_core::usecases::Settings;
use chrono::TimeDelta;
use poem::http::Method;
use serde_json::{Value, json};

use super::harness::*;

fn is_wire_timestamp(value: &Value) -> bool {
    let Some(text) = value.as_str() else {
        return false;
    };
    // 2026-11-27T01:29:37.123456Z
    text.len() == 27
        && text.ends_with('Z')
        && text.as_bytes()[10] == b'T'
        && text.as_bytes()[19] == b'.'
        && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

pub async fn service_routes_answer(server: TestServer) {
    let root = server.get("/", None).await;
    assert_eq!(
        root.assert_status(200),
        &json!({"message": "Hello World", "docs": "/docs"})
    );
    let health = server.get("/health", None).await;
    assert_eq!(
        health.assert_status(200),
        &json!({"status": "healthy", "version": env!("CARGO_PKG_VERSION")})
    );
    let ready = server.get("/health/ready", None).await;
    assert_eq!(ready.assert_status(200), &json!({"status": "ready"}));
    let db = server.get("/db-test", None).await;
    assert_eq!(
        db.assert_status(200),
        &json!({"status": "database connection working"})
    );
}

pub async fn documentation_is_served(server: TestServer) {
    let docs = server.get("/docs", None).await;
    docs.assert_status(200);
    assert!(
        docs.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(docs.text.contains("SwaggerUIBundle"));
    let redoc = server.get("/redoc", None).await;
    redoc.assert_status(200);
    assert!(redoc.text.to_lowercase().contains("redoc"));
    let spec = server.get("/openapi.json", None).await;
    let document = spec.assert_status(200);
    assert_eq!(
        document["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"],
        "/auth/login"
    );
    assert!(document["paths"]["/messages/read-all"]["put"].is_object());
    assert_eq!(
        document["paths"]["/auth/login"]["post"]["operationId"],
        "login"
    );
    // Swagger UI embeds the same document it would fetch.
    assert!(docs.text.contains("\"tokenUrl\": \"/auth/login\""));
}

pub async fn unknown_routes_and_methods_answer_json(server: TestServer) {
    server
        .get("/nowhere", None)
        .await
        .assert_error(404, "Not Found");
    let patch = server
        .send(Method::PATCH, "/health", None, Body::Empty, &[])
        .await;
    patch.assert_error(405, "Method Not Allowed");
    assert_eq!(patch.header("allow"), Some("GET"));
    let trace = server
        .send(Method::TRACE, "/messages/7", None, Body::Empty, &[])
        .await;
    trace.assert_error(405, "Method Not Allowed");
    assert_eq!(trace.header("allow"), Some("GET, PUT, DELETE"));
}

/// A path with a trailing slash is redirected to the route without it, as the original
/// (FastAPI) does: 307 keeps the method and body, the query is kept; a path that names no
/// route stays a 404, and no Location can point off the server.
pub async fn trailing_slashes_redirect_to_the_route_keeping_method_and_query(server: TestServer) {
    let alice = server.user("alice").await;
    let cases = [
        (Method::GET, "/reports/?status=open", "/reports?status=open"),
        (Method::POST, "/messages/", "/messages"),
        (Method::GET, "/auth/users/", "/auth/users"),
        (Method::PUT, "/auth/me/", "/auth/me"),
        (Method::GET, "/auth/me//", "/auth/me"),
        (Method::DELETE, "/messages/7/", "/messages/7"),
        (Method::GET, "/docs/", "/docs"),
    ];
    for (method, path, location) in cases {
        let response = server
            .send(method.clone(), path, Some(&alice.access), Body::Empty, &[])
            .await;
        assert_eq!(response.status, 307, "{method} {path}");
        assert_eq!(
            response.header("location"),
            Some(location),
            "{method} {path}"
        );
    }
    for path in [
        "/nowhere/",
        "//reports/",
        "//evil.example/",
        "/reports/7/nothing/",
    ] {
        server.get(path, None).await.assert_error(404, "Not Found");
    }
    server
        .get("/reports", Some(&alice.access))
        .await
        .assert_status(200);
}

pub async fn register_returns_the_user_without_secrets(server: TestServer) {
    let response = server
        .post(
            "/auth/register",
            None,
            json!({
                "username": "alice",
                "email": "alice@example.com",
                "password": "alice-password",
                "full_name": "Alice Liddell"
            }),
        )
        .await;
    let user = response.assert_status(201);
    assert!(user["id"].as_i64().unwrap() > 0);
    assert_eq!(user["username"], "alice");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["full_name"], "Alice Liddell");
    assert_eq!(user["bio"], Value::Null);
    assert_eq!(user["phone_number"], Value::Null);
    assert_eq!(user["phone_verified"], false);
    assert_eq!(user["is_active"], true);
    assert_eq!(user["is_superuser"], false);
    assert!(
        is_wire_timestamp(&user["created_at"]),
        "{}",
        user["created_at"]
    );
    assert!(is_wire_timestamp(&user["updated_at"]));
    let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 11, "exactly the User fields: {keys:?}");
    assert!(!response.text.contains("hashed_password"));
    assert!(!response.text.contains("$2b$"));
}

pub async fn register_refuses_taken_names_and_emails(server: TestServer) {
    server.register("alice").await;
    server
        .post(
            "/auth/register",
            None,
            json!({"username": "alice", "email": "other@example.com", "password": "password1"}),
        )
        .await
        .assert_error(400, "Username already registered");
    server
        .post(
            "/auth/register",
            None,
            json!({"username": "alicia", "email": "alice@example.com", "password": "password1"}),
        )
        .await
        .assert_error(400, "Email already registered");
}

pub async fn register_validates_every_field(server: TestServer) {
    let cases = [
        (
            json!({"email": "a@example.com", "password": "password1"}),
            "username: field required",
        ),
        (
            json!({"username": "", "email": "a@example.com", "password": "password1"}),
            "username: must be 1 to 100 characters long",
        ),
        (
            json!({"username": "x".repeat(101), "email": "a@example.com", "password": "password1"}),
            "username: must be 1 to 100 characters long",
        ),
        (
            json!({"username": "a\u{7}b", "email": "a@example.com", "password": "password1"}),
            "username: must not contain control characters",
        ),
        (
            json!({"username": "a", "email": "not-an-email", "password": "password1"}),
            "email: must be a valid email address",
        ),
        (
            json!({"username": "a", "email": "a@example.com", "password": "short"}),
            "password: must be 8 to 72 bytes long (UTF-8), got 5",
        ),
        (
            json!({"username": "a", "email": "a@example.com", "password": "password1", "full_name": "x".repeat(256)}),
            "full_name: must be at most 255 characters long",
        ),
        (
            json!({"username": 5, "email": "a@example.com", "password": "password1"}),
            "username: invalid type: integer `5`, expected a string",
        ),
    ];
    for (body, detail) in cases {
        server
            .post("/auth/register", None, body)
            .await
            .assert_error(422, detail);
    }
    let malformed = server
        .post_raw(
            "/auth/register",
            None,
            "application/json",
            "{\"username\": ",
        )
        .await;
    assert_eq!(malformed.status.as_u16(), 422, "{}", malformed.text);
    assert!(
        malformed.detail().starts_with("body: invalid JSON"),
        "{}",
        malformed.text
    );
    let wrong_type = server
        .post_raw("/auth/register", None, "text/plain", "hello")
        .await;
    assert_eq!(wrong_type.status.as_u16(), 422, "{}", wrong_type.text);
    let empty = server
        .post_raw("/auth/register", None, "application/json", "")
        .await;
    empty.assert_error(422, "body: field required");
    let array = server
        .post_raw(
            "/auth/register",
            None,
            "application/json",
            r#"["a", "a@example.com", "password1"]"#,
        )
        .await;
    array.assert_error(422, "body: must be a JSON object");
}

pub async fn password_limit_is_72_bytes(server: TestServer) {
    // 24 three-byte characters: exactly 72 bytes.
    let at_limit = "€".repeat(24);
    server
        .post(
            "/auth/register",
            None,
            json!({"username": "euro", "email": "euro@example.com", "password": at_limit}),
        )
        .await
        .assert_status(201);
    server.login_as("euro", &at_limit).await.assert_status(200);
    // A 73rd byte is refused, never cut off.
    let over = format!("{}x", "a".repeat(72));
    server
        .post(
            "/auth/register",
            None,
            json!({"username": "long", "email": "long@example.com", "password": over}),
        )
        .await
        .assert_error(422, "password: must be 8 to 72 bytes long (UTF-8), got 73");
    // A login with a password that shares the first 72 bytes of a real one fails.
    let seventy_two = "b".repeat(72);
    server
        .post(
            "/auth/register",
            None,
            json!({"username": "bee", "email": "bee@example.com", "password": seventy_two}),
        )
        .await
        .assert_status(201);
    server
        .login_as("bee", &format!("{seventy_two}extra"))
        .await
        .assert_error(401, "Incorrect username or password");
}

pub async fn login_accepts_json_form_and_email(server: TestServer) {
    let user = server.register("alice").await;
    let response = server.login_as("alice", "alice-password").await;
    let body = response.assert_status(200);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 1800);
    assert_eq!(body["user"]["id"], user["id"]);
    assert!(body["refresh_token"].as_str().unwrap().len() >= 43);
    let access = body["access_token"].as_str().unwrap();
    server
        .get("/auth/me", Some(access))
        .await
        .assert_status(200);

    // The OAuth2 form Swagger UI posts, with the extra fields it may add.
    let form = server
        .post_raw(
            "/auth/login",
            None,
            "application/x-www-form-urlencoded",
            "grant_type=password&username=alice&password=alice-password&scope=&client_id=docs",
        )
        .await;
    assert_eq!(form.assert_status(200)["user"]["username"], "alice");
    server
        .post_raw(
            "/auth/login",
            None,
            "application/x-www-form-urlencoded",
            "grant_type=client_credentials&username=alice&password=alice-password",
        )
        .await
        .assert_error(422, "grant_type: must be \"password\"");

    let by_email = server.login_as("alice@example.com", "alice-password").await;
    assert_eq!(by_email.assert_status(200)["user"]["username"], "alice");
    // Two logins in the same second get different tokens.
    let again = server.login_as("alice", "alice-password").await;
    assert_ne!(again.json["access_token"], body["access_token"]);
    assert_ne!(again.json["refresh_token"], body["refresh_token"]);
}

pub async fn login_failures_look_alike(server: TestServer) {
    server.register("alice").await;
    server
        .login_as("ali\u{0}ce", "alice-password")
        .await
        .assert_error(401, "Incorrect username or password");
    server
        .login_as("alice@example.com\u{0}", "alice-password")
        .await
        .assert_error(401, "Incorrect username or password");
    for (login, password) in [("alice", "wrong-password"), ("nobody", "alice-password")] {
        let response = server.login_as(login, password).await;
        response.assert_error(401, "Incorrect username or password");
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
    let root = server.superuser("root").await;
    let alice = server.login("alice").await;
    server
        .put_empty(
            &format!("/auth/users/{}/disable", alice.id),
            Some(&root.access),
        )
        .await
        .assert_status(200);
    server
        .login_as("alice", "alice-password")
        .await
        .assert_error(403, "User is disabled");
    // A disabled account with a wrong password still looks like any wrong password.
    server
        .login_as("alice", "nope-nope")
        .await
        .assert_error(401, "Incorrect username or password");
}

pub async fn login_records_device_and_address(server: TestServer) {
    server.register("alice").await;
    let body = json!({"username": "alice", "password": "alice-password"});
    let with_agent = server
        .send(
            Method::POST,
            "/auth/login",
            None,
            Body::Json(body.clone()),
            &[("user-agent", "agent/1.0 (test)")],
        )
        .await;
    let token = with_agent.assert_status(200)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let long_agent = "x".repeat(300);
    server
        .send(
            Method::POST,
            "/auth/login",
            None,
            Body::Json(body.clone()),
            &[("user-agent", long_agent.as_str())],
        )
        .await
        .assert_status(200);
    server
        .send(Method::POST, "/auth/login", None, Body::Json(body), &[])
        .await
        .assert_status(200);
    let sessions = server.get("/auth/sessions", Some(&token)).await;
    let sessions = sessions.assert_status(200).as_array().unwrap().clone();
    let devices: Vec<&str> = sessions
        .iter()
        .map(|s| s["device_info"].as_str().unwrap())
        .collect();
    assert_eq!(devices[0], "Unknown");
    assert_eq!(devices[1].len(), 255);
    assert_eq!(devices[2], "agent/1.0 (test)");
}

pub async fn missing_or_bad_credentials_are_401(server: TestServer) {
    let alice = server.user("alice").await;
    let no_header = server.get("/auth/me", None).await;
    no_header.assert_error(401, "Not authenticated");
    assert_eq!(no_header.header("www-authenticate"), Some("Bearer"));
    let basic = server
        .send(
            Method::GET,
            "/auth/me",
            None,
            Body::Empty,
            &[("authorization", "Basic YWxpY2U6cGFzc3dvcmQ=")],
        )
        .await;
    basic.assert_error(401, "Not authenticated");
    for token in ["garbage", alice.refresh.as_str(), "a.b.c"] {
        let response = server.get("/auth/me", Some(token)).await;
        response.assert_error(401, "Could not validate credentials");
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
    // A well-formed token signed with another key.
    let foreign = ai_message_http::AccessTokens::new(
        b"another-key",
        TimeDelta::minutes(5),
        std::sync::Arc::new(ai_message_local::SystemClock),
    );
    let user = server
        .services
        .admin
        .ensure_superuser(ai_message_core::usecases::accounts::Registration {
            username: ai_message_core::Username::parse("forger").unwrap(),
            email: ai_message_core::Email::parse("forger@example.com").unwrap(),
            password: ai_message_core::Password::parse("forger-password").unwrap(),
            full_name: None,
            phone_number: None,
        })
        .await
        .unwrap()
        .unwrap();
    let forged = foreign
        .issue(&user, ai_message_core::SessionId::new(1))
        .unwrap();
    server
        .get("/auth/me", Some(&forged.token))
        .await
        .assert_error(401, "Could not validate credentials");
}

pub async fn authentication_comes_before_validation(server: TestServer) {
    let checks = [
        server
            .post_raw("/messages", None, "application/json", "{not json")
            .await,
        server.post("/messages", None, json!({"content": 5})).await,
        server.get("/messages/not-a-number", None).await,
        server.get("/messages?limit=0", None).await,
        server.put("/auth/me/password", None, json!({})).await,
        server
            .put("/auth/users/abc/roles", None, json!({"role_ids": "x"}))
            .await,
        server.get("/auth/users?skip=-1", None).await,
    ];
    for response in checks {
        response.assert_error(401, "Not authenticated");
    }
    let bad = server
        .post_raw(
            "/messages",
            Some("garbage"),
            "application/json",
            "{not json",
        )
        .await;
    bad.assert_error(401, "Could not validate credentials");
}

/// The lists check the session in the same storage trip as their read; a token whose
/// session ended, or whose user was disabled, still gets the refusal every other route
/// gives, before any verdict on its input, and none of the data.
pub async fn an_ended_session_is_refused_before_its_input(server: TestServer) {
    let root = server.superuser("root").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.send_message(&alice, bob.id, "hello").await;
    let reads = [
        "/messages",
        "/messages/sent",
        "/messages/received?limit=20",
        "/auth/conversations",
        "/auth/conversations/team/messages",
    ];
    let bad_inputs = [
        "/messages?limit=0",
        "/messages/sent?skip=-1",
        "/messages/received?limit=501",
        "/messages?unread_only=maybe",
        "/auth/conversations/team/messages?limit=0",
        &format!("/auth/conversations/{}/messages", "x".repeat(101)),
    ];
    for path in reads {
        server.get(path, Some(&bob.access)).await.assert_status(200);
    }
    for path in bad_inputs {
        server.get(path, Some(&bob.access)).await.assert_status(422);
    }

    server
        .post("/auth/logout", Some(&alice.access), json!({}))
        .await
        .assert_status(200);
    for path in reads.iter().chain(bad_inputs.iter()) {
        server
            .get(path, Some(&alice.access))
            .await
            .assert_error(401, "Could not validate credentials");
    }
    let sends = [
        (
            "/messages",
            json!({"recipient_id": bob.id, "content": "late"}),
        ),
        ("/messages", json!({"recipient_id": bob.id, "content": 5})),
        (
            "/messages",
            json!({"recipient_id": 999_999, "content": "late"}),
        ),
        ("/messages", json!({"recipient_id": -1, "content": "late"})),
        (
            "/auth/conversations/team/messages",
            json!({"recipient_id": bob.id, "content": "late"}),
        ),
        (
            "/auth/conversations/team/messages",
            json!({"recipient_id": bob.id}),
        ),
    ];
    for (path, body) in &sends {
        server
            .post(path, Some(&alice.access), body.clone())
            .await
            .assert_error(401, "Could not validate credentials");
    }
    server
        .post_raw(
            "/messages",
            Some(&alice.access),
            "application/json",
            "{not json",
        )
        .await
        .assert_error(401, "Could not validate credentials");
    // A body of the wrong type, and none at all, are input refusals too.
    for (path, content_type) in [
        ("/messages", "text/plain"),
        ("/auth/conversations/team/messages", "application/xml"),
    ] {
        server
            .post_raw(path, Some(&alice.access), content_type, "late")
            .await
            .assert_error(401, "Could not validate credentials");
        server
            .post_raw(path, Some(&alice.access), "application/json", "")
            .await
            .assert_error(401, "Could not validate credentials");
    }
    let again = server.login("alice").await;
    let sent = server.get("/messages/sent", Some(&again.access)).await;
    assert_eq!(
        sent.assert_status(200).as_array().map(Vec::len),
        Some(1),
        "nothing was stored under the ended session"
    );

    server
        .put_empty(
            &format!("/auth/users/{}/disable", bob.id),
            Some(&root.access),
        )
        .await
        .assert_status(200);
    for path in reads.iter().chain(bad_inputs.iter()) {
        server
            .get(path, Some(&bob.access))
            .await
            .assert_error(403, "User is disabled");
    }
}

/// Phone numbers (the original's newest version, proven since issue 38): E.164, one stored
/// form. A number a user types in (registration, profile, `PUT /auth/me/phone`) is a claim
/// that blocks nobody; a superuser's roster (`POST /auth/users`) proves it, and proven
/// numbers are unique.
pub async fn phone_numbers_are_e164_and_unique_everywhere(server: TestServer) {
    let register = |name: &str, phone: Value| {
        server.post(
            "/auth/register",
            None,
            json!({
                "username": name,
                "email": format!("{name}@example.com"),
                "password": format!("{name}-password"),
                "phone_number": phone,
            }),
        )
    };
    let alice = register("alice", json!("+60 12-345 6789")).await;
    let alice = alice.assert_status(201);
    assert_eq!(alice["phone_number"], "+60123456789");
    assert_eq!(alice["phone_verified"], false);
    let invalid = register("bob", json!("0123456789")).await;
    assert_eq!(invalid.status, 422);
    assert!(
        invalid.detail().starts_with("phone_number:"),
        "{}",
        invalid.detail()
    );
    let bob = register("bob", json!("+60123456789")).await;
    assert_eq!(
        bob.assert_status(201)["phone_number"],
        "+60123456789",
        "a claim blocks nobody"
    );
    let carol = register("carol", Value::Null).await;
    assert_eq!(carol.assert_status(201)["phone_number"], Value::Null);
    let erin = register("erin", json!("")).await;
    assert_eq!(erin.assert_status(201)["phone_number"], Value::Null);

    let alice = server.login("alice").await;
    let bob = server.login("bob").await;
    let claimed = server
        .put(
            "/auth/me/phone",
            Some(&bob.access),
            json!({"phone_number": "+44 20 7946 0958"}),
        )
        .await;
    let claimed = claimed.assert_status(200);
    assert_eq!(claimed["phone_number"], "+442079460958");
    assert_eq!(claimed["phone_verified"], false);
    let code = claimed["verification"]["code"].as_str().unwrap();
    assert!(
        code.len() == 8 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    assert!(claimed["verification"]["expires_at"].is_string());
    let renamed = server
        .put("/auth/me", Some(&bob.access), json!({"full_name": "Bob"}))
        .await;
    assert_eq!(
        renamed.assert_status(200)["phone_number"],
        "+442079460958",
        "absent fields stay"
    );
    let me = server.get("/auth/me", Some(&bob.access)).await;
    let me = me.assert_status(200);
    assert_eq!(me["phone_number"], "+442079460958");
    assert_eq!(me.get("verification"), None, "the code is shown once");

    let cleared = server
        .put(
            "/auth/me/phone",
            Some(&alice.access),
            json!({"phone_number": null}),
        )
        .await;
    let cleared = cleared.assert_status(200);
    assert_eq!(cleared["phone_number"], Value::Null);
    assert_eq!(cleared["verification"], Value::Null);

    // A superuser's roster proves the number: unique among proven numbers, and it drops
    // the claims of it.
    let carol = server.login("carol").await;
    server
        .put(
            "/auth/me",
            Some(&carol.access),
            json!({"phone_number": "+60123456789"}),
        )
        .await
        .assert_status(200);
    let root = server.superuser("root").await;
    let roster = |name: &'static str| {
        server.post(
            "/auth/users",
            Some(&root.access),
            json!({
                "username": name,
                "email": format!("{name}@example.com"),
                "password": format!("{name}-password"),
                "phone_number": "+60123456789",
            }),
        )
    };
    let dave = roster("dave").await;
    let dave = dave.assert_status(201);
    assert_eq!(
        (dave["phone_number"].clone(), dave["phone_verified"].clone()),
        (json!("+60123456789"), json!(true))
    );
    roster("frank")
        .await
        .assert_error(400, "Phone number already registered");
    let carol_me = server.get("/auth/me", Some(&carol.access)).await;
    assert_eq!(carol_me.assert_status(200)["phone_number"], Value::Null);
    let dave = server.login("dave").await;
    let again = server
        .put(
            "/auth/me/phone",
            Some(&dave.access),
            json!({"phone_number": "+60 12 345 6789"}),
        )
        .await;
    let again = again.assert_status(200);
    assert_eq!(
        again["phone_verified"], true,
        "a proven number stays proven"
    );
    assert_eq!(again["verification"], Value::Null);

    server
        .put(
            "/auth/me/phone",
            None,
            json!({"phone_number": "+60123456789"}),
        )
        .await
        .assert_error(401, "Not authenticated");
    server
        .put(
            "/auth/me/phone",
            Some(&alice.access),
            json!({"phone_number": "+1"}),
        )
        .await
        .assert_status(422);
}

pub async fn profile_can_be_read_and_updated(server: TestServer) {
    let alice = server.user("alice").await;
    let me = server.get("/auth/me", Some(&alice.access)).await;
    assert_eq!(me.assert_status(200)["username"], "alice");
    let updated = server
        .put(
            "/auth/me",
            Some(&alice.access),
            json!({"full_name": "Alice L", "bio": "Down the rabbit hole"}),
        )
        .await;
    let updated = updated.assert_status(200).clone();
    assert_eq!(updated["full_name"], "Alice L");
    assert_eq!(updated["bio"], "Down the rabbit hole");
    let partial = server
        .put(
            "/auth/me",
            Some(&alice.access),
            json!({"bio": "Changed", "full_name": null}),
        )
        .await;
    let partial = partial.assert_status(200);
    assert_eq!(partial["full_name"], "Alice L");
    assert_eq!(partial["bio"], "Changed");
    server
        .put(
            "/auth/me",
            Some(&alice.access),
            json!({"bio": "x".repeat(10_001)}),
        )
        .await
        .assert_error(422, "bio: must be at most 10000 characters long");
    let unchanged = server.put("/auth/me", Some(&alice.access), json!({})).await;
    assert_eq!(unchanged.assert_status(200)["bio"], "Changed");
}

pub async fn password_change_ends_other_sessions(server: TestServer) {
    let alice = server.user("alice").await;
    let other = server.login("alice").await;
    server
        .put(
            "/auth/me/password",
            Some(&alice.access),
            json!({"current_password": "wrong", "new_password": "new-password"}),
        )
        .await
        .assert_error(400, "Current password is incorrect");
    server
        .put(
            "/auth/me/password",
            Some(&alice.access),
            json!({"current_password": "alice-password", "new_password": "short"}),
        )
        .await
        .assert_error(
            422,
            "new_password: must be 8 to 72 bytes long (UTF-8), got 5",
        );
    let changed = server
        .put(
            "/auth/me/password",
            Some(&alice.access),
            json!({"current_password": "alice-password", "new_password": "new-password"}),
        )
        .await;
    assert_eq!(
        changed.assert_status(200),
        &json!({"message": "Password changed successfully"})
    );
    server
        .get("/auth/me", Some(&alice.access))
        .await
        .assert_status(200);
    server
        .get("/auth/me", Some(&other.access))
        .await
        .assert_error(401, "Could not validate credentials");
    server
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": other.refresh}),
        )
        .await
        .assert_error(401, "Refresh token not found or already used");
    server
        .login_as("alice", "alice-password")
        .await
        .assert_error(401, "Incorrect username or password");
    server
        .login_as("alice", "new-password")
        .await
        .assert_status(200);
}

pub async fn logout_takes_effect_on_the_next_request(server: TestServer) {
    let alice = server.user("alice").await;
    let other = server.login("alice").await;
    let response = server
        .send(
            Method::POST,
            "/auth/logout",
            Some(&alice.access),
            Body::Empty,
            &[],
        )
        .await;
    assert_eq!(
        response.assert_status(200),
        &json!({"message": "Successfully logged out"})
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
        .assert_error(401, "Refresh token not found or already used");
    server
        .get("/auth/me", Some(&other.access))
        .await
        .assert_status(200);
    // An empty JSON object is a valid body too.
    server
        .post("/auth/logout", Some(&other.access), json!({}))
        .await
        .assert_status(200);
    server
        .get("/auth/me", Some(&other.access))
        .await
        .assert_error(401, "Could not validate credentials");
}

pub async fn logout_with_a_refresh_token_ends_its_session(server: TestServer) {
    let alice = server.user("alice").await;
    let phone = server.login("alice").await;
    server
        .post(
            "/auth/logout",
            Some(&alice.access),
            json!({"refresh_token": phone.refresh}),
        )
        .await
        .assert_status(200);
    server
        .get("/auth/me", Some(&phone.access))
        .await
        .assert_error(401, "Could not validate credentials");
    server
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": phone.refresh}),
        )
        .await
        .assert_error(401, "Refresh token not found or already used");
}

pub async fn logout_all_ends_every_session(server: TestServer) {
    let alice = server.user("alice").await;
    let other = server.login("alice").await;
    let bob = server.user("bob").await;
    let response = server
        .send(
            Method::POST,
            "/auth/logout-all",
            Some(&alice.access),
            Body::Empty,
            &[],
        )
        .await;
    assert_eq!(
        response.assert_status(200),
        &json!({"message": "Successfully logged out from all devices"})
    );
    for token in [&alice.access, &other.access] {
        server
            .get("/auth/me", Some(token))
            .await
            .assert_error(401, "Could not validate credentials");
    }
    for refresh in [&alice.refresh, &other.refresh] {
        server
            .post("/auth/refresh", None, json!({"refresh_token": refresh}))
            .await
            .assert_status(401);
    }
    server
        .get("/auth/me", Some(&bob.access))
        .await
        .assert_status(200);
}

pub async fn sessions_are_listed_and_ended(server: TestServer) {
    let alice = server.user("alice").await;
    server.clock.advance(TimeDelta::seconds(1));
    let laptop = server.login("alice").await;
    let bob = server.user("bob").await;
    let listed = server.get("/auth/sessions", Some(&alice.access)).await;
    let sessions = listed.assert_status(200).as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["current"], false, "newest first: the laptop");
    assert_eq!(sessions[1]["current"], true);
    assert!(!listed.text.contains("session_token"));
    for session in &sessions {
        assert_eq!(session["user_id"], alice.id);
        assert_eq!(session["is_active"], true);
        assert!(is_wire_timestamp(&session["expires_at"]));
    }
    let laptop_session = sessions[0]["id"].as_i64().unwrap();
    server
        .delete(
            &format!("/auth/sessions/{laptop_session}"),
            Some(&bob.access),
        )
        .await
        .assert_error(404, "Session not found");
    server
        .delete("/auth/sessions/999999", Some(&alice.access))
        .await
        .assert_error(404, "Session not found");
    let deleted = server
        .delete(
            &format!("/auth/sessions/{laptop_session}"),
            Some(&alice.access),
        )
        .await;
    assert_eq!(
        deleted.assert_status(200),
        &json!({"message": "Session deleted successfully"})
    );
    server
        .get("/auth/me", Some(&laptop.access))
        .await
        .assert_error(401, "Could not validate credentials");
    server
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": laptop.refresh}),
        )
        .await
        .assert_status(401);
    let remaining = server.get("/auth/sessions", Some(&alice.access)).await;
    assert_eq!(remaining.assert_status(200).as_array().unwrap().len(), 1);
    server
        .delete("/auth/sessions/abc", Some(&alice.access))
        .await
        .assert_error(422, "id: must be an integer");
}

pub async fn refresh_rotates_tokens(server: TestServer) {
    let alice = server.user("alice").await;
    let response = server
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": alice.refresh}),
        )
        .await;
    let token = response.assert_status(200).clone();
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["expires_in"], 1800);
    let keys: Vec<&String> = token.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    let access = token["access_token"].as_str().unwrap();
    let refresh = token["refresh_token"].as_str().unwrap();
    assert_ne!(refresh, alice.refresh);
    server
        .get("/auth/me", Some(access))
        .await
        .assert_status(200);
    // Same session: the old access token keeps working too.
    server
        .get("/auth/me", Some(&alice.access))
        .await
        .assert_status(200);
    server
        .post("/auth/refresh", None, json!({"refresh_token": refresh}))
        .await
        .assert_status(200);
    server
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": "not-a-token"}),
        )
        .await
        .assert_error(401, "Refresh token not found or already used");
    server
        .post("/auth/refresh", None, json!({}))
        .await
        .assert_error(422, "refresh_token: field required");
}

pub async fn refresh_reuse_within_grace_keeps_the_session(server: TestServer) {
    let alice = server.user("alice").await;
    let first = server
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": alice.refresh}),
        )
        .await;
    let next = first.assert_status(200)["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    server
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": alice.refresh}),
        )
        .await
        .assert_error(401, "Refresh token not found or already used");
    server
        .get("/auth/me", Some(&alice.access))
        .await
        .assert_status(200);
    server
        .post("/auth/refresh", None, json!({"refresh_token": next}))
        .await
        .assert_status(200);
}

pub async fn refresh_reuse_after_grace_ends_the_session(server: TestServer) {
    let alice = server.user("alice").await;
    let first = server
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": alice.refresh}),
        )
        .await;
    let next = first.assert_status(200)["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    server.clock.advance(TimeDelta::seconds(11));
    server
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": alice.refresh}),
        )
        .await
        .assert_error(401, "Refresh token not found or already used");
    server
        .get("/auth/me", Some(&alice.access))
        .await
        .assert_error(401, "Could not validate credentials");
    server
        .post("/auth/refresh", None, json!({"refresh_token": next}))
        .await
        .assert_status(401);

    // With the grace window configured to zero, any reuse ends the session at once.
    let strict = server.with_settings(Settings {
        refresh_reuse_grace: TimeDelta::zero(),
        ..Settings::default()
    });
    let bob = strict.user("bob").await;
    strict
        .post("/auth/refresh", None, json!({"refresh_token": bob.refresh}))
        .await
        .assert_status(200);
    strict.clock.advance(TimeDelta::milliseconds(1));
    strict
        .post("/auth/refresh", None, json!({"refresh_token": bob.refresh}))
        .await
        .assert_status(401);
    strict
        .get("/auth/me", Some(&bob.access))
        .await
        .assert_error(401, "Could not validate credentials");
}

pub async fn refresh_tokens_expire(server: TestServer) {
    let alice = server.user("alice").await;
    server
        .clock
        .advance(TimeDelta::days(7) + TimeDelta::seconds(1));
    server
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": alice.refresh}),
        )
        .await
        .assert_error(401, "Refresh token expired");
    server
        .get("/auth/me", Some(&alice.access))
        .await
        .assert_error(401, "Could not validate credentials");
}

pub async fn concurrent_refreshes_of_one_token_have_one_winner(server: TestServer) {
    let alice = server.user("alice").await;
    let server = std::sync::Arc::new(server);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let server = server.clone();
        let token = alice.refresh.clone();
        tasks.push(tokio::spawn(async move {
            let response = server
                .post("/auth/refresh", None, json!({"refresh_token": token}))
                .await;
            (response.status.as_u16(), response.detail().to_string())
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let winners = outcomes.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(winners, 1, "{outcomes:?}");
    for (status, detail) in outcomes.iter().filter(|(status, _)| *status != 200) {
        assert_eq!(
            (*status, detail.as_str()),
            (401, "Refresh token not found or already used")
        );
    }
    // Losing a race inside the grace window is not theft: the session lives on.
    server
        .get("/auth/me", Some(&alice.access))
        .await
        .assert_status(200);
}

pub async fn concurrent_registrations_of_one_name_have_one_winner(server: TestServer) {
    let server = std::sync::Arc::new(server);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let response = server
                .post(
                    "/auth/register",
                    None,
                    json!({
                        "username": "popular",
                        "email": format!("popular{i}@example.com"),
                        "password": "popular-password"
                    }),
                )
                .await;
            (response.status.as_u16(), response.detail().to_string())
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    assert_eq!(
        outcomes.iter().filter(|(status, _)| *status == 201).count(),
        1,
        "{outcomes:?}"
    );
    for (status, detail) in outcomes.iter().filter(|(status, _)| *status != 201) {
        assert_eq!(*status, 400, "{outcomes:?}");
        assert!(
            detail == "Username already registered" || detail == "Username or email already exists",
            "{detail}"
        );
    }
}
