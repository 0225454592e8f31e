//! Abuse limits and hostile input, end to end through the HTTP application (in-memory
//! storage: these behaviours do not depend on the adapter).

use std::sync::Arc;
use std::time::Duration;

use ai_message_bcrypt::BcryptHasher;
use ai_message_cli::{Application, Parts};
use ai_message_core::ports::Quota as LoginQuota;
use ai_message_core::usecases::{LoginLimits, Settings};
use ai_message_http::limits::{LimitSettings, Quota};
use ai_message_memory::MemoryStore;
use ai_message_testkit::http_api::harness::{SECRET, TestServer};
use chrono::TimeDelta;
use futures_util::StreamExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use poem::{Endpoint, EndpointExt};
use serde_json::json;

fn server() -> TestServer {
    TestServer::new(MemoryStore::storage())
}

fn limits(change: impl FnOnce(&mut LimitSettings)) -> LimitSettings {
    let mut settings = LimitSettings::without_rate_limits();
    change(&mut settings);
    settings
}

const MINUTE: Duration = Duration::from_secs(60);

/// The application on in-memory storage with a hasher and limits of the test's choosing.
fn app_with(hasher: BcryptHasher, limits: LimitSettings) -> impl Endpoint<Output = poem::Response> {
    Application::build(Parts {
        hasher: Arc::new(hasher),
        limits,
        signing_key: SECRET.to_vec(),
        access_token_ttl: TimeDelta::minutes(5),
        ..Parts::around(MemoryStore::storage())
    })
    .endpoint()
}

fn login_limits(pair: u32, account: u32, address: u32) -> LoginLimits {
    let window = TimeDelta::minutes(15);
    LoginLimits {
        per_account_and_address: LoginQuota::new(pair, window),
        per_account: LoginQuota::new(account, window),
        per_address: LoginQuota::new(address, window),
    }
}

const ATTACKER: &str = "198.51.100.66";
const OWNER: &str = "203.0.113.10";

#[tokio::test]
async fn failed_logins_are_throttled_per_account_and_address_alike_for_unknown_users() {
    let server = server().with_login_limits(login_limits(3, 100, 100));
    server.register("alice").await;
    for name in ["alice", "ghost"] {
        for _ in 0..3 {
            server
                .login_from(name, "wrong-password", ATTACKER)
                .await
                .assert_error(401, "Incorrect username or password");
        }
        let throttled = server.login_from(name, "alice-password", ATTACKER).await;
        throttled.assert_error(429, "Too many failed login attempts, retry later");
        let wait: u64 = throttled.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=900).contains(&wait), "{wait}");
    }
    // Other accounts are not affected.
    server.register("bob").await;
    server
        .login_from("bob", "bob-password", ATTACKER)
        .await
        .assert_status(200);
}

#[tokio::test]
async fn the_owner_gets_in_from_another_address_while_an_attacker_is_locked_out() {
    let server = server().with_login_limits(login_limits(5, 100, 100));
    server.register("alice").await;
    for _ in 0..5 {
        server
            .login_from("alice", "wrong-password", ATTACKER)
            .await
            .assert_status(401);
    }
    server
        .login_from("alice", "alice-password", ATTACKER)
        .await
        .assert_status(429);
    server
        .login_from("alice", "alice-password", OWNER)
        .await
        .assert_status(200);
}

#[tokio::test]
async fn an_account_wide_ceiling_stops_guessing_spread_over_addresses() {
    let server = server().with_login_limits(login_limits(5, 6, 100));
    server.register("alice").await;
    for i in 0..6 {
        server
            .login_from("alice", "wrong-password", &format!("192.0.2.{i}"))
            .await
            .assert_status(401);
    }
    server
        .login_from("alice", "wrong-password", "192.0.2.99")
        .await
        .assert_error(429, "Too many failed login attempts, retry later");
}

#[tokio::test]
async fn the_username_and_the_email_of_one_account_share_their_counters() {
    let server = server().with_login_limits(login_limits(4, 100, 100));
    server.register("alice").await;
    for login in ["alice", "alice@example.com", "ALICE@example.com", "alice"] {
        server
            .login_from(login, "wrong-password", ATTACKER)
            .await
            .assert_status(401);
    }
    server
        .login_from("alice@example.com", "alice-password", ATTACKER)
        .await
        .assert_status(429);
    // Unknown identifiers count under their normalised form: case and width do not help.
    for login in ["ghost", "Ghost", "ＧＨＯＳＴ", "GHOST"] {
        server
            .login_from(login, "wrong-password", ATTACKER)
            .await
            .assert_status(401);
    }
    server
        .login_from("gHost", "wrong-password", ATTACKER)
        .await
        .assert_status(429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_wrong_passwords_are_evaluated_at_most_the_limit() {
    let server = Arc::new(server().with_login_limits(login_limits(5, 100, 1000)));
    server.register("alice").await;
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            server
                .login_from("alice", "wrong-password", ATTACKER)
                .await
                .status
                .as_u16()
        }));
    }
    let mut evaluated = 0;
    for task in tasks {
        match task.await.unwrap() {
            401 => evaluated += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(evaluated, 5, "exactly the limit was evaluated");
}

#[tokio::test]
async fn a_successful_login_clears_the_failures_of_its_address() {
    let server = server().with_login_limits(login_limits(3, 100, 100));
    server.register("alice").await;
    for _ in 0..2 {
        server
            .login_from("alice", "wrong-password", OWNER)
            .await
            .assert_status(401);
    }
    server
        .login_from("alice", "alice-password", OWNER)
        .await
        .assert_status(200);
    for _ in 0..2 {
        server
            .login_from("alice", "wrong-password", OWNER)
            .await
            .assert_status(401);
    }
    server
        .login_from("alice", "alice-password", OWNER)
        .await
        .assert_status(200);
}

#[tokio::test]
async fn failed_logins_are_throttled_per_client_address() {
    let server = server().with_login_limits(login_limits(100, 100, 4));
    for i in 0..4 {
        server
            .login_from(&format!("user{i}"), "wrong-password", ATTACKER)
            .await
            .assert_status(401);
    }
    server
        .login_from("someone-else", "whatever-pw", ATTACKER)
        .await
        .assert_error(429, "Too many failed login attempts, retry later");
    server
        .login_from("someone-else", "whatever-pw", OWNER)
        .await
        .assert_status(401);
}

#[tokio::test]
async fn the_session_records_the_client_a_trusted_proxy_names() {
    let server = server();
    server.register("alice").await;
    let login = server
        .login_from("alice", "alice-password", "6.6.6.6, 198.51.100.23")
        .await;
    let token = login.assert_status(200)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let sessions = server.get("/auth/sessions", Some(&token)).await;
    assert_eq!(
        sessions.assert_status(200)[0]["ip_address"],
        "198.51.100.23",
        "with every peer trusted (`*`), the right-most hop is the client: the left-most \
         (6.6.6.6) is what the client itself wrote"
    );
}

#[tokio::test]
async fn refresh_and_register_are_rate_limited_per_client_address() {
    let server = server().with_limits(limits(|l| {
        l.refresh_per_address = Quota::new(2, MINUTE);
        l.register_per_address = Quota::new(3, MINUTE);
    }));
    server.register("a").await;
    server.register("b").await;
    server.register("c").await;
    let over = server
        .post(
            "/auth/register",
            None,
            json!({"username": "d", "email": "d@example.com", "password": "d-password"}),
        )
        .await;
    over.assert_error(429, "Too many registrations from this address, retry later");
    assert!(over.header("retry-after").is_some());

    let alice = server.login("a").await;
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
        .post("/auth/refresh", None, json!({"refresh_token": next}))
        .await
        .assert_status(200);
    server
        .post("/auth/refresh", None, json!({"refresh_token": "anything"}))
        .await
        .assert_error(429, "Too many refreshes from this address, retry later");
}

#[tokio::test]
async fn request_bodies_are_capped() {
    let server = server().with_limits(limits(|l| l.max_body_bytes = 2048));
    let big = json!({
        "username": "alice",
        "email": "alice@example.com",
        "password": "alice-password",
        "full_name": "x".repeat(3000)
    });
    server
        .post("/auth/register", None, big)
        .await
        .assert_error(413, "body: larger than the limit of 2048 bytes");
    server.register("alice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_hashing_queue_answers_503_with_retry_after() {
    // One hash at a time and none waiting, at a cost slow enough to overlap.
    let hasher = BcryptHasher::with_queue(12, 1, 0).unwrap();
    let app = Arc::new(app_with(hasher, LimitSettings::without_rate_limits()).boxed());
    let mut logins = Vec::new();
    for _ in 0..3 {
        let app = app.clone();
        logins.push(tokio::spawn(async move {
            let request = poem::Request::builder()
                .method(poem::http::Method::POST)
                .uri("/auth/login".parse().unwrap())
                .content_type("application/json")
                .body(r#"{"username":"nobody","password":"whatever-pw"}"#);
            let response = app.get_response(request).await;
            let retry = response.headers().get("retry-after").is_some();
            (response.status().as_u16(), retry)
        }));
    }
    let mut outcomes = Vec::new();
    for login in logins {
        outcomes.push(login.await.unwrap());
    }
    assert!(outcomes.contains(&(401, true)) || outcomes.contains(&(401, false)));
    assert!(outcomes.contains(&(503, true)), "{outcomes:?}");
}

fn forge(header: Header, claims: serde_json::Value, key: &[u8]) -> String {
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(key)).unwrap()
}

#[tokio::test]
async fn forged_and_foreign_tokens_are_refused() {
    let server = server();
    let alice = server.user("alice").await;
    // A genuine token to learn the session id from.
    let genuine = alice.access.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims: serde_json::Value =
        serde_json::from_slice(&engine.decode(genuine).unwrap()).unwrap();
    let now = chrono::Utc::now().timestamp();
    let with = |changes: serde_json::Value| {
        let mut c = claims.clone();
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let alg_none = format!(
        "{}.{}.",
        engine.encode(br#"{"alg":"none","typ":"JWT"}"#),
        engine.encode(claims.to_string())
    );
    let rs256_header = format!(
        "{}.{}.{}",
        engine.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        engine.encode(claims.to_string()),
        engine.encode(b"not-a-signature")
    );
    let tokens = [
        ("alg none", alg_none),
        ("RS256 header", rs256_header),
        (
            "HS512",
            forge(Header::new(Algorithm::HS512), claims.clone(), SECRET),
        ),
        (
            "another key",
            forge(Header::default(), claims.clone(), b"another-key"),
        ),
        (
            "expired",
            forge(
                Header::default(),
                with(json!({"exp": now - 10, "iat": now - 100, "nbf": now - 100})),
                SECRET,
            ),
        ),
        (
            "not yet valid",
            forge(
                Header::default(),
                with(json!({"nbf": now + 600, "iat": now + 600})),
                SECRET,
            ),
        ),
        (
            "refresh type",
            forge(Header::default(), with(json!({"type": "refresh"})), SECRET),
        ),
        (
            "another user's id",
            forge(Header::default(), with(json!({"sub": "999"})), SECRET),
        ),
    ];
    for (what, token) in tokens {
        let response = server.get("/auth/me", Some(&token)).await;
        assert_eq!(
            (response.status.as_u16(), response.detail()),
            (401, "Could not validate credentials"),
            "{what}"
        );
    }
    // The same claims, properly signed, work: the refusals above are about the forgery.
    let honest = forge(Header::default(), claims.clone(), SECRET);
    server
        .get("/auth/me", Some(&honest))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn injection_strings_are_stored_and_returned_verbatim() {
    let server = server();
    let root = server.superuser("root").await;
    let nasty = [
        "'; DROP TABLE users; --",
        "\" OR \"1\"=\"1",
        "Robert'); DELETE FROM messages WHERE ('1'='1",
        "%' OR 1=1 --",
        "$1; SELECT pg_sleep(10)",
        "<script>alert(1)</script>",
    ];
    for (i, text) in nasty.iter().enumerate() {
        let username = format!("{text}{i}");
        let created = server
            .post(
                "/auth/register",
                None,
                json!({"username": username, "email": format!("o'brien{i}@example.com"),
                       "password": "password-1", "full_name": text}),
            )
            .await;
        let user = created.assert_status(201).clone();
        assert_eq!(user["username"], username);
        assert_eq!(user["full_name"], *text);
        assert_eq!(user["email"], format!("o'brien{i}@example.com"));
        let login = server.login_as(&username, "password-1").await;
        let token = login.assert_status(200)["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let me = server
            .put("/auth/me", Some(&token), json!({"bio": text}))
            .await;
        assert_eq!(me.assert_status(200)["bio"], *text);
        let sent = server
            .post(
                "/messages",
                Some(&token),
                json!({"recipient_id": root.id, "content": text, "conversation_id": text}),
            )
            .await;
        let sent = sent.assert_status(201).clone();
        assert_eq!(sent["content"], *text);
        assert_eq!(sent["conversation_id"], *text);
        let role = server
            .post(
                "/auth/roles",
                Some(&root.access),
                json!({"name": format!("{text}{i}"), "description": text}),
            )
            .await;
        assert_eq!(role.assert_status(201)["description"], *text);
    }
    // Every row is still there: nothing was interpreted as SQL.
    let users = server.get("/auth/users", Some(&root.access)).await;
    assert_eq!(
        users.assert_status(200).as_array().unwrap().len(),
        nasty.len() + 1
    );
    let received = server.get("/messages/received", Some(&root.access)).await;
    assert_eq!(
        received.assert_status(200).as_array().unwrap().len(),
        nasty.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_takes_as_long_for_an_unknown_user_as_for_a_wrong_password() {
    // Cost 10, so one check is long enough to measure against scheduling noise.
    let services = Application::build(Parts {
        hasher: Arc::new(BcryptHasher::new(10, 2).unwrap()),
        // Without login limits: every attempt below must reach the hasher.
        settings: Settings {
            login_limits: LoginLimits::off(),
            ..Settings::default()
        },
        ..Parts::around(MemoryStore::storage())
    })
    .services()
    .clone();
    services
        .accounts
        .register(ai_message_core::usecases::accounts::Registration {
            username: ai_message_core::Username::parse("alice").unwrap(),
            email: ai_message_core::Email::parse("alice@example.com").unwrap(),
            password: ai_message_core::Password::parse("alice-password").unwrap(),
            full_name: None,
            phone_number: None,
        })
        .await
        .unwrap();
    let attempt = |login: &'static str| {
        let services = services.clone();
        async move {
            let started = std::time::Instant::now();
            let result = services
                .auth
                .login(ai_message_core::usecases::auth::LoginRequest {
                    login: login.into(),
                    password: "wrong-password".into(),
                    device_info: None,
                    ip_address: None,
                })
                .await;
            assert!(result.is_err());
            started.elapsed().as_secs_f64()
        }
    };
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    // Interleaved, so machine load hits both sides alike.
    for _ in 0..7 {
        known.push(attempt("alice").await);
        unknown.push(attempt("nobody-here").await);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (known, unknown) = (median(&mut known), median(&mut unknown));
    let ratio = unknown / known;
    // Without the dummy hash an unknown user answers in microseconds: a ratio near 0.
    assert!(
        (0.6..=1.6).contains(&ratio),
        "unknown {unknown:.4}s vs wrong password {known:.4}s (ratio {ratio:.2})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_is_cut_off_with_408() {
    let mut settings = LimitSettings::without_rate_limits();
    settings.body_read_timeout = Duration::from_millis(300);
    let app = app_with(BcryptHasher::new(4, 1).unwrap(), settings);
    // The first bytes arrive, the rest never does.
    let first = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"{\"username\": \"slow"))
    });
    let stalled = first.chain(futures_util::stream::pending());
    let request = poem::Request::builder()
        .method(poem::http::Method::POST)
        .uri("/auth/register".parse().unwrap())
        .content_type("application/json")
        .body(poem::Body::from_bytes_stream(stalled));
    let started = std::time::Instant::now();
    let response = app.get_response(request).await;
    assert_eq!(response.status().as_u16(), 408);
    let body = response.into_body().into_string().await.unwrap();
    assert_eq!(body, r#"{"detail":"body: took too long to arrive"}"#);
    assert!(started.elapsed() < Duration::from_secs(5));
}
