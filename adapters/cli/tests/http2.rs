//! HTTP/2 attacks on the real binary (h2c on the plain port; the TLS ones are in `tls.rs`):
//! one connection opening thousands of streams it never reads, bodies that never end, a huge
//! header. Each ends with the server's resident memory grown by less than a stated bound.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use ai_message_testkit::raw_h2::{Heard, REFUSED_STREAM, RawH2};
use ai_message_testkit::server::{Server, rss_mib};
use serde_json::{Value, json};

const ROOT: [(&str, &str); 3] = [
    ("FIRST_SUPERUSER_USERNAME", "root"),
    ("FIRST_SUPERUSER_EMAIL", "root@example.com"),
    ("FIRST_SUPERUSER_PASSWORD", "root-password"),
];

fn start(extra: &[(&str, &str)]) -> Server {
    let mut env: Vec<(&str, &str)> = ROOT.to_vec();
    env.extend_from_slice(&[
        ("WRITE_TIMEOUT_SECONDS", "2"),
        ("BODY_READ_TIMEOUT_SECONDS", "3"),
    ]);
    env.extend_from_slice(extra);
    Server::start(&env)
}

fn authority(server: &Server) -> String {
    server.url("").trim_start_matches("http://").to_string()
}

fn h2c(server: &Server, initial_window: u32) -> RawH2<TcpStream> {
    let socket = TcpStream::connect(authority(server)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(2)))
        .unwrap();
    socket.set_nodelay(true).unwrap();
    RawH2::open(socket, &authority(server), false, initial_window).unwrap()
}

fn token(server: &Server) -> String {
    let body: Value = reqwest::blocking::Client::new()
        .post(server.url("/auth/login"))
        .json(&json!({"username": "root", "password": "root-password"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// Stores `count` notes to self of `chars` characters each, so one page is large.
fn store_large_messages(server: &Server, token: &str, count: usize, chars: usize) {
    let http = reqwest::blocking::Client::new();
    let me: Value = http
        .get(server.url("/auth/me"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let content = "x".repeat(chars);
    for _ in 0..count {
        let response = http
            .post(server.url("/messages"))
            .bearer_auth(token)
            .json(&json!({"recipient_id": me["id"], "content": content}))
            .send()
            .unwrap();
        assert_eq!(response.status(), 201);
    }
}

/// The largest resident size seen while `attack` runs, minus the size before it.
fn growth_during(server: &Server, attack: impl FnOnce(&dyn Fn())) -> f64 {
    let pid = server.pid();
    let before = rss_mib(pid);
    let peak = std::cell::Cell::new(before);
    let sample = || peak.set(peak.get().max(rss_mib(pid)));
    attack(&sample);
    sample();
    peak.get() - before
}

fn refused(heard: &Heard) -> usize {
    heard
        .resets
        .values()
        .filter(|code| **code == REFUSED_STREAM)
        .count()
}

#[test]
fn a_flood_of_unread_streams_on_one_connection_is_refused_and_pins_a_bounded_amount() {
    let server = start(&[]);
    let token = token(&server);
    // One page of 50 such messages is about 3 MB of JSON.
    store_large_messages(&server, &token, 50, 60_000);
    let bearer = format!("Bearer {token}");
    let mut opened = 0;
    let growth = growth_during(&server, |sample| {
        // A window of 0: the server may send no byte of any response body.
        let mut attacker = h2c(&server, 0);
        'attack: for _ in 0..100 {
            for i in 0..100 {
                let path = if i % 2 == 0 {
                    "/messages?limit=50"
                } else {
                    "/openapi.json"
                };
                if attacker
                    .request("GET", path, &[("authorization", &bearer)], true)
                    .is_err()
                {
                    break 'attack;
                }
                opened += 1;
            }
            if attacker.flush().is_err() {
                break 'attack;
            }
            attacker.listen(Duration::from_millis(20));
            sample();
        }
        // Streams past the limit are refused (and a connection that keeps opening them is
        // ended with ENHANCE_YOUR_CALM), or the write deadline ends the connection first.
        // Generous: under a loaded CI machine the server's timers run late.
        let until = Instant::now() + Duration::from_secs(20);
        while !attacker.heard.closed && refused(&attacker.heard) == 0 && Instant::now() < until {
            attacker.listen(Duration::from_millis(100));
            sample();
        }
        let heard = &attacker.heard;
        println!(
            "flood: {opened} streams opened, {} answered, {} refused, GOAWAY {:?}",
            heard.responses.len(),
            refused(heard),
            heard.goaway
        );
        assert!(
            heard.responses.len() <= 100,
            "at most the stream limit is taken"
        );
        assert!(
            refused(heard) > 0 || heard.closed,
            "streams past the limit are refused or the connection ended: {heard:?}"
        );
        assert_eq!(heard.data_bytes, 0, "a zero window was granted");
    });
    println!("flood of unread streams: RSS +{growth:.1} MiB");
    assert!(growth < 48.0, "RSS grew by {growth:.1} MiB");
}

#[test]
fn unread_responses_are_bounded_per_connection_and_end_it_after_the_write_deadline() {
    let server = start(&[]);
    let token = token(&server);
    // One page of 50 such messages is about 3 MB of JSON.
    store_large_messages(&server, &token, 50, 60_000);
    let bearer = format!("Bearer {token}");
    let mut first_page = None;
    let mut ended_after = None;
    let mut ok = 0;
    let mut answered = 0;
    let growth = growth_during(&server, |sample| {
        let mut attacker = h2c(&server, 0);
        // Within the stream limit, so nothing is refused: every stream wants a 3 MB page.
        for _ in 0..100 {
            attacker
                .request(
                    "GET",
                    "/messages?limit=50",
                    &[("authorization", &bearer)],
                    true,
                )
                .unwrap();
        }
        attacker.flush().unwrap();
        let until = Instant::now() + Duration::from_secs(40);
        while !attacker.heard.closed && Instant::now() < until {
            attacker.listen(Duration::from_millis(50));
            if first_page.is_none() && !attacker.heard.ok.is_empty() {
                first_page = Some(Instant::now());
            }
            ok = ok.max(attacker.heard.ok.len());
            sample();
        }
        if attacker.heard.closed {
            ended_after = first_page.map(|first| first.elapsed());
        }
        answered = attacker.heard.responses.len();
        assert_eq!(attacker.heard.data_bytes, 0, "a zero window was granted");
    });
    println!(
        "100 unread 3 MB pages on one connection: {answered} answered, {ok} of them 200 (the rest \
         503), ended {ended_after:?} after the first page, RSS +{growth:.1} MiB"
    );
    assert!(ok >= 1, "a page within the budget is served");
    assert!(
        ok <= 6,
        "the connection's budget (16 MiB) holds at most five such pages: {ok} were taken"
    );
    let ended_after = ended_after.expect("the connection was ended");
    assert!(
        ended_after < Duration::from_secs(14),
        "ended by the write deadline (2 s after a page nobody takes; timers run late on a busy machine): {ended_after:?}"
    );
    assert!(growth < 48.0, "RSS grew by {growth:.1} MiB");
}

#[test]
fn bodies_that_never_end_pin_a_bounded_amount() {
    let server = start(&[]);
    let token = token(&server);
    let bearer = format!("Bearer {token}");
    let chunk = vec![b' '; 900 * 1024];
    let mut taken = 0;
    let mut answered = 0;
    let growth = growth_during(&server, |sample| {
        let mut attacker = h2c(&server, 65_535);
        let mut open = Vec::new();
        for _ in 0..100 {
            let stream = attacker
                .request(
                    "POST",
                    "/messages",
                    &[
                        ("authorization", &bearer),
                        ("content-type", "application/json"),
                        ("content-length", "1000000"),
                    ],
                    false,
                )
                .unwrap();
            open.push((stream, 0usize));
        }
        attacker.flush().unwrap();
        // 900 KiB of whitespace into every stream (90 MB in all), as the windows allow.
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until && !attacker.heard.closed {
            for (stream, sent) in open.iter_mut() {
                if attacker.heard.responses.contains(stream) || *sent >= chunk.len() {
                    continue;
                }
                match attacker.data(*stream, &chunk[*sent..]) {
                    Ok(n) => *sent += n,
                    Err(_) => break,
                }
            }
            let _ = attacker.flush();
            attacker.listen(Duration::from_millis(10));
            sample();
        }
        taken = open.iter().map(|(_, sent)| sent).sum::<usize>() / (1024 * 1024);
        // Past the body deadline (3 s), every stream has its answer: 503 or 408.
        attacker.listen(Duration::from_secs(4));
        sample();
        answered = open
            .iter()
            .filter(|(stream, _)| attacker.heard.responses.contains(stream))
            .count();
        assert!(
            attacker.heard.ok.is_empty(),
            "no unfinished body was accepted"
        );
    });
    println!(
        "100 bodies that never end: {taken} MiB sent, {answered} answered, RSS +{growth:.1} MiB"
    );
    assert_eq!(answered, 100, "every stream is answered");
    assert!(taken >= 32, "the attack got its bytes through: {taken} MiB");
    assert!(growth < 48.0, "RSS grew by {growth:.1} MiB");
}

#[test]
fn a_header_block_over_the_limit_is_refused() {
    let server = start(&[]);
    let mut attacker = h2c(&server, 65_535);
    let huge = "a".repeat(200_000);
    let big = attacker
        .request("GET", "/health", &[("x-big", &huge)], true)
        .unwrap();
    attacker.flush().unwrap();
    attacker.listen(Duration::from_secs(1));
    let heard = &attacker.heard;
    assert!(
        !heard.ok.contains(&big),
        "a 200 kB header was served: {heard:?}"
    );
    assert!(
        heard.responses.contains(&big) || heard.resets.contains_key(&big) || heard.closed,
        "the server said something: {heard:?}"
    );
    // The server itself is fine.
    let health = reqwest::blocking::get(server.url("/health")).unwrap();
    assert_eq!(health.status(), 200);
}
