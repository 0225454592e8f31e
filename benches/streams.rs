//! The live-stream benchmark: send-to-receive latency at a fixed rate, on one instance
//! (SQLite, PostgreSQL) and across two PostgreSQL instances, and the server's memory with
//! many idle streams open.
//!
//! `cargo bench --bench streams` runs it in full (1,000 messages/s for 10 s; 10,000 idle
//! streams) on the release binary. Under `cargo test` a short smoke mode runs on the debug
//! binary and fails only on lost messages or errors, never on speed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ai_message_testkit::postgres::ScratchDatabase;
use ai_message_testkit::server::{Server, rss_mib};
use ai_message_testkit::sse::{Next, SseReader};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Options {
    full: bool,
    rate: u64,
    seconds: u64,
    idle_streams: usize,
}

fn options() -> Options {
    // cargo passes `--bench` to bench targets only under `cargo bench`.
    if std::env::args().any(|arg| arg == "--bench") {
        Options {
            full: true,
            rate: 1_000,
            seconds: 10,
            idle_streams: 10_000,
        }
    } else {
        Options {
            full: false,
            rate: 200,
            seconds: 1,
            idle_streams: 200,
        }
    }
}

fn start(database_url: &str, extra: &[(&str, &str)], open_files: u64) -> Server {
    // The start-up line only: a log line per request would cost the server at 1,000/s.
    let mut env = vec![
        ("DATABASE_URL", database_url),
        ("RUST_LOG", "warn,ai_message_cli=info"),
    ];
    env.extend_from_slice(extra);
    Server::start_with_file_limit(&env, open_files, open_files)
}

async fn register_and_login(http: &reqwest::Client, server: &Server, name: &str) -> (String, i64) {
    let password = format!("{name}-password");
    let registered = http
        .post(server.url("/auth/register"))
        .json(&json!({"username": name, "email": format!("{name}@example.com"), "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201, "register {name}");
    let login: Value = http
        .post(server.url("/auth/login"))
        .json(&json!({"username": name, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        login["access_token"].as_str().unwrap().to_string(),
        login["user"]["id"].as_i64().unwrap(),
    )
}

/// What one latency run measured.
struct Latency {
    sent: u64,
    received: u64,
    errors: u64,
    histogram: Histogram<u64>,
}

/// Sends `rate` messages a second for `seconds` through `sender`, to a user whose stream is
/// open on `receiver`, and times each from the start of its POST to its event.
async fn latency(receiver: &Server, sender: &Server, options: &Options, tag: &str) -> Latency {
    let http = reqwest::Client::new();
    let (alice_token, _) = register_and_login(&http, sender, &format!("alice{tag}")).await;
    let (bob_token, bob_id) = register_and_login(&http, sender, &format!("bob{tag}")).await;
    let response = http
        .get(receiver.url("/messages/stream"))
        .bearer_auth(&bob_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = SseReader::new(
        response
            .bytes_stream()
            .map(|c| c.map_err(std::io::Error::other)),
    );
    match stream.next_within(Duration::from_secs(5)).await {
        Next::Event(event) => assert_eq!(event.event, "stream.open"),
        other => panic!("no stream.open: {other:?}"),
    }

    let total = options.rate * options.seconds;
    let started = Arc::new(std::sync::Mutex::new(vec![None::<Instant>; total as usize]));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sending = {
        let started = started.clone();
        let errors = errors.clone();
        let url = sender.url("/messages");
        let rate = options.rate;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut posts = Vec::with_capacity(total as usize);
            for n in 0..total {
                tick.tick().await;
                let (http, url, token) = (http.clone(), url.clone(), alice_token.clone());
                let (started, errors) = (started.clone(), errors.clone());
                posts.push(tokio::spawn(async move {
                    started.lock().unwrap()[n as usize] = Some(Instant::now());
                    let sent = http
                        .post(url)
                        .bearer_auth(token)
                        .json(&json!({"recipient_id": bob_id, "content": n.to_string()}))
                        .send()
                        .await;
                    if !sent.is_ok_and(|r| r.status() == 201) {
                        errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }));
            }
            for post in posts {
                let _ = post.await;
            }
        })
    };

    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let mut received = 0;
    while received < total {
        match stream.next_within(Duration::from_secs(10)).await {
            Next::Event(event) if event.event == "message.created" => {
                let arrived = Instant::now();
                let n: usize = event.data["content"].as_str().unwrap().parse().unwrap();
                if let Some(start) = started.lock().unwrap()[n] {
                    let micros = arrived.duration_since(start).as_micros() as u64;
                    histogram.record(micros.max(1)).unwrap();
                }
                received += 1;
            }
            Next::Event(_) => {}
            Next::Quiet | Next::Closed => break,
        }
    }
    sending.await.unwrap();
    Latency {
        sent: total,
        received,
        errors: errors.load(std::sync::atomic::Ordering::Relaxed),
        histogram,
    }
}

/// Opens `count` streams over plain TCP (100 per user) and keeps them; returns the server's
/// RSS before and after, in MiB.
async fn idle_streams(count: usize) -> (f64, f64, usize) {
    let per_user = 100usize;
    let max = (count + 512).to_string();
    let server = start(
        "memory://",
        &[
            ("MAX_CONNECTIONS", &max),
            // Every stream comes from 127.0.0.1.
            ("ADDRESS_MAX_CONNECTIONS", &max),
            ("STREAM_MAX_PER_USER", "100"),
            ("REGISTER_MAX_PER_HOUR", "0"),
        ],
        count as u64 + 1_024,
    );
    let http = reqwest::Client::new();
    let users = count.div_ceil(per_user);
    let mut tokens = Vec::new();
    for n in 0..users {
        tokens.push(
            register_and_login(&http, &server, &format!("idle{n}"))
                .await
                .0,
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_mib(server.pid());
    let address = server.url("").trim_start_matches("http://").to_string();
    let mut open = Vec::with_capacity(count);
    for n in 0..count {
        let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
        let request = format!(
            "GET /messages/stream HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {}\r\n\r\n",
            tokens[n / per_user]
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut seen = Vec::new();
        let mut buffer = [0u8; 1024];
        while !String::from_utf8_lossy(&seen).contains("stream.open") {
            let read = socket.read(&mut buffer).await.unwrap();
            assert!(
                read > 0,
                "stream {n} closed: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buffer[..read]);
        }
        open.push(socket);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_mib(server.pid());
    let held = open.len();
    drop(open);
    let _ = server.terminate();
    (before, after, held)
}

fn main() {
    let options = options();
    if options.full {
        ai_message_testkit::server::build_release_binary(env!("CARGO_MANIFEST_DIR"));
    }
    // The bench holds one end of every idle stream.
    let _ = rlimit::increase_nofile_limit(options.idle_streams as u64 + 2_048);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "streams bench: {} mode, {} messages/s for {} s, {} idle streams, {} cores",
        if options.full { "full" } else { "smoke" },
        options.rate,
        options.seconds,
        options.idle_streams,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut failures = 0;
    let mut rows = Vec::new();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let sqlite_url = format!("sqlite:///{}", dir.path().join("streams.db").display());
        let sqlite = start(&sqlite_url, &[], 4_096);
        rows.push((
            "SQLite, one instance",
            latency(&sqlite, &sqlite, &options, "s").await,
        ));
        drop(sqlite);

        let database = ScratchDatabase::create().await;
        let first = start(&database.url, &[], 4_096);
        rows.push((
            "PostgreSQL, one instance",
            latency(&first, &first, &options, "p").await,
        ));
        let second = start(&database.url, &[], 4_096);
        rows.push((
            "PostgreSQL, sent on B, streamed on A",
            latency(&first, &second, &options, "x").await,
        ));
        drop((first, second));
        drop(database);
    });
    println!("\n| setup | sent | received | errors | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (setup, result) in &rows {
        let ms = |q: f64| result.histogram.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "| {setup} | {} | {} | {} | {:.2} | {:.2} | {:.2} |",
            result.sent,
            result.received,
            result.errors,
            ms(0.5),
            ms(0.99),
            result.histogram.max() as f64 / 1000.0
        );
        if result.received != result.sent || result.errors > 0 {
            failures += 1;
        }
    }
    let (before, after, held) = runtime.block_on(idle_streams(options.idle_streams));
    println!(
        "\nidle streams: {held} open; server RSS {before:.1} MiB before, {after:.1} MiB with \
         them ({:.1} KiB per stream)",
        (after - before) * 1024.0 / held.max(1) as f64
    );
    if held != options.idle_streams {
        failures += 1;
    }
    assert_eq!(
        failures, 0,
        "messages were lost, sends failed or streams did not open"
    );
}
