//! Live streams on the real binary: over TCP, past the idle timeout, through shutdown, and
//! never in a log line.

use std::time::{Duration, Instant};

use ai_message_testkit::server::Server;
use ai_message_testkit::sse::{Next, SseReader};
use futures_util::StreamExt;
use serde_json::{Value, json};

const ROOT: [(&str, &str); 3] = [
    ("FIRST_SUPERUSER_USERNAME", "root"),
    ("FIRST_SUPERUSER_EMAIL", "root@example.com"),
    ("FIRST_SUPERUSER_PASSWORD", "root-password"),
];

async fn login(http: &reqwest::Client, server: &Server) -> (String, i64) {
    let body: Value = http
        .post(server.url("/auth/login"))
        .json(&json!({"username": "root", "password": "root-password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["user"]["id"].as_i64().unwrap(),
    )
}

async fn ticket(http: &reqwest::Client, server: &Server, token: &str) -> String {
    let response = http
        .post(server.url("/messages/stream/ticket"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["ticket"].as_str().unwrap().to_string()
}

async fn open(http: &reqwest::Client, url: String) -> SseReader {
    let response = http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    SseReader::new(
        response
            .bytes_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other)),
    )
}

#[tokio::test]
async fn a_stream_outlives_the_idle_timeout_on_heartbeats_and_no_log_line_holds_a_secret() {
    let mut env = ROOT.to_vec();
    env.extend([
        ("IDLE_TIMEOUT_SECONDS", "1"),
        ("STREAM_HEARTBEAT_SECONDS", "1"),
    ]);
    let server = Server::start(&env);
    let http = reqwest::Client::new();
    let (token, root_id) = login(&http, &server).await;
    let ticket = ticket(&http, &server, &token).await;
    let mut stream = open(
        &http,
        server.url(&format!("/messages/stream?ticket={ticket}&last_event_id=0")),
    )
    .await;
    assert_eq!(stream.next_event().await.event, "stream.open");

    // Three idle timeouts later the stream is still there, kept by its heartbeats.
    assert_eq!(
        stream.next_within(Duration::from_millis(3_500)).await,
        Next::Quiet
    );
    assert!(stream.heartbeats >= 2, "heartbeats: {}", stream.heartbeats);
    let sent = http
        .post(server.url("/messages"))
        .bearer_auth(&token)
        .json(&json!({"recipient_id": root_id, "content": "note to self"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    let created = stream.next_event().await;
    assert_eq!(created.event, "message.created");
    assert_eq!(created.data["content"], "note to self");

    let (_, log) = server.terminate();
    assert!(
        log.iter().any(|line| line.contains("/messages/stream")),
        "the stream request is logged"
    );
    for line in &log {
        assert!(
            !line.contains(&ticket),
            "a log line holds the ticket: {line}"
        );
        assert!(!line.contains(&token), "a log line holds the token: {line}");
    }
}

#[tokio::test]
async fn shutdown_ends_open_streams_and_the_server_stops_at_once() {
    let server = Server::start(&ROOT);
    let http = reqwest::Client::new();
    let (token, _) = login(&http, &server).await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        let ticket = ticket(&http, &server, &token).await;
        let mut stream = open(
            &http,
            server.url(&format!("/messages/stream?ticket={ticket}")),
        )
        .await;
        assert_eq!(stream.next_event().await.event, "stream.open");
        streams.push(stream);
    }
    let signalled = Instant::now();
    let (status, _) = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "streams held the shutdown for {:?}",
        signalled.elapsed()
    );
    for stream in &mut streams {
        assert_eq!(
            stream.next_within(Duration::from_secs(2)).await,
            Next::Closed
        );
    }
}

/// A client that closes its stream frees its place at once (the next one is not refused
/// with 429 until a heartbeat write notices the close).
#[tokio::test]
async fn a_closed_stream_frees_its_place_at_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut env = ROOT.to_vec();
    env.push(("STREAM_MAX_PER_USER", "1"));
    env.push(("STREAM_HEARTBEAT_SECONDS", "30"));
    let server = Server::start(&env);
    let http = reqwest::Client::new();
    let (token, _) = login(&http, &server).await;
    let address = server.url("").trim_start_matches("http://").to_string();
    // A stream over a raw connection, if the server grants one (200), else `None` (429).
    let open = || async {
        let mut raw = tokio::net::TcpStream::connect(&address).await.unwrap();
        raw.write_all(
            format!(
                "GET /messages/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let mut head = [0u8; 512];
        let read = raw.read(&mut head).await.unwrap();
        let head = String::from_utf8_lossy(&head[..read]).to_string();
        if head.starts_with("HTTP/1.1 200") {
            Some(raw)
        } else {
            assert!(head.starts_with("HTTP/1.1 429"), "{head}");
            None
        }
    };
    let mut stream = open().await.expect("the first stream opens");
    for round in 0..3 {
        assert!(open().await.is_none(), "round {round}: one place only");
        drop(stream);
        let closed = Instant::now();
        stream = loop {
            if let Some(next) = open().await {
                break next;
            }
            assert!(
                closed.elapsed() < Duration::from_secs(2),
                "round {round}: the closed stream still held its place after 2 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
    }
    drop(stream);
    let (exit, _) = server.terminate();
    assert!(exit.success());
}
