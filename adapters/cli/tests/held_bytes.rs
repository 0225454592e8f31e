//! Memory across connections on the real binary: what one client address and the whole
//! process may hold (`ADDRESS_MAX_HELD_BYTES`, `MAX_HELD_BYTES`), how many connections one
//! address may open (`ADDRESS_MAX_CONNECTIONS`), budgets kept per connection even where two
//! connections share a peer address, and memory returned once what held it ends.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ai_message_testkit::raw_h2::RawH2;
use ai_message_testkit::server::{Server, rss_mib};
use serde_json::{Value, json};

fn port(server: &Server) -> u16 {
    let url = server.url("");
    url.trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn at(host: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((host, port))
}

/// A connection from `source` (port 0: any) to `target`. Both sockets of a pair may share
/// one source address and port (towards two targets): each sets `SO_REUSEADDR`.
fn connect_from(source: SocketAddr, target: SocketAddr) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(source).unwrap();
        let stream = socket.connect(target).await.unwrap();
        let stream = stream.into_std().unwrap();
        stream.set_nonblocking(false).unwrap();
        stream
    })
}

const DECLARED: usize = 1_000_000;
const SENT: usize = 999_000;

/// Starts a request whose body (1,000,000 bytes declared) stops 1,000 bytes short.
fn stall_a_body(stream: &mut TcpStream) {
    let head = format!(
        "POST /auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {DECLARED}\r\n\r\n"
    );
    // A body refused half-way may meet a closed connection: what the server said is read
    // afterwards.
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&vec![b' '; SENT]);
}

/// What the server answered within `wait` (empty: nothing yet, or the connection closed).
fn answer_within(stream: &mut TcpStream, wait: Duration) -> String {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&answer);
        // One answer: its head and its (short, JSON) body.
        if let Some((_, body)) = text.split_once("\r\n\r\n")
            && body.ends_with('}')
        {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// Stalls a body on each connection, then collects the 503s: those come at once, while a
/// body that is held waits for the rest of its bytes.
fn refused_of(mut connections: Vec<TcpStream>) -> Vec<String> {
    for connection in connections.iter_mut() {
        stall_a_body(connection);
    }
    connections
        .iter_mut()
        .map(|connection| answer_within(connection, Duration::from_millis(1500)))
        .filter(|answer| answer.starts_with("HTTP/1.1 503"))
        .collect()
}

fn detail_of(answer: &str) -> String {
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    let body: Value = serde_json::from_str(body).unwrap();
    body["detail"].as_str().unwrap().to_string()
}

fn assert_retry_after(answer: &str) {
    assert!(
        answer.to_ascii_lowercase().contains("\r\nretry-after: "),
        "{answer}"
    );
}

#[test]
fn bodies_past_what_one_address_may_hold_are_answered_503() {
    let server = Server::start(&[
        ("ADDRESS_MAX_HELD_BYTES", "16777216"),
        ("BODY_READ_TIMEOUT_SECONDS", "60"),
    ]);
    let port = port(&server);
    let from_one_address: Vec<TcpStream> = (0..24)
        .map(|_| connect_from(at([127, 0, 0, 1], 0), at([127, 0, 0, 1], port)))
        .collect();
    let refused = refused_of(from_one_address);
    // 16 bodies of 999,000 bytes fit in 16 MiB, a 17th does not: 8 of 24 at least are
    // refused, though each connection holds far less than its own 16 MiB (half of those
    // is enough here: a 503 sent while its body still arrives may be lost to a reset).
    assert!(refused.len() >= 4, "{} refused", refused.len());
    for answer in &refused {
        assert_retry_after(answer);
        assert!(detail_of(answer).contains("client address"), "{answer}");
    }
    // Another address has its own share.
    let mut other = connect_from(at([127, 0, 0, 2], 0), at([127, 0, 0, 1], port));
    other
        .write_all(
            b"POST /auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
              Content-Length: 2\r\n\r\n{}",
        )
        .unwrap();
    let answer = answer_within(&mut other, Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 422"), "{answer}");
}

#[test]
fn bodies_past_what_the_process_may_hold_are_answered_503() {
    let server = Server::start(&[
        ("MAX_HELD_BYTES", "16777216"),
        ("BODY_READ_TIMEOUT_SECONDS", "60"),
    ]);
    let port = port(&server);
    // Several connections from each of five addresses, 5 MB per address: 8 of 24 bodies at
    // least are refused, half of those counted (see above).
    let connections: Vec<TcpStream> = (0..24u8)
        .map(|i| connect_from(at([127, 0, 0, 1 + i % 5], 0), at([127, 0, 0, 1], port)))
        .collect();
    let refused = refused_of(connections);
    assert!(refused.len() >= 4, "{} refused", refused.len());
    for answer in &refused {
        assert_retry_after(answer);
        assert!(detail_of(answer).contains("server"), "{answer}");
    }
}

/// A plain request on a new connection from `source`: its status line, or what went wrong.
fn health_from(source: [u8; 4], port: u16) -> String {
    let mut stream = connect_from(at(source, 0), at([127, 0, 0, 1], port));
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let answer = answer_within(&mut stream, Duration::from_secs(3));
    answer.lines().next().unwrap_or("no answer").to_string()
}

#[test]
fn connections_past_what_one_address_may_open_are_refused_until_one_closes() {
    let server = Server::start(&[("ADDRESS_MAX_CONNECTIONS", "3")]);
    let port = port(&server);
    let mut open: Vec<TcpStream> = (0..3)
        .map(|_| connect_from(at([127, 0, 0, 1], 0), at([127, 0, 0, 1], port)))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        health_from([127, 0, 0, 1], port),
        "no answer",
        "a fourth connection from the address is closed unanswered"
    );
    assert_eq!(
        health_from([127, 0, 0, 2], port),
        "HTTP/1.1 200 OK",
        "another address gets in"
    );
    drop(open.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = health_from([127, 0, 0, 1], port);
        if answer == "HTTP/1.1 200 OK" {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {answer}");
        std::thread::sleep(Duration::from_millis(200));
    }
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

/// Notes to self of 60,000 characters, 50 of them: one page of 50 is about 3 MB of JSON.
fn store_a_large_page(server: &Server, token: &str) {
    let http = reqwest::blocking::Client::new();
    let me: Value = http
        .get(server.url("/auth/me"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let content = "x".repeat(60_000);
    for _ in 0..50 {
        let response = http
            .post(server.url("/messages"))
            .bearer_auth(token)
            .json(&json!({"recipient_id": me["id"], "content": content}))
            .send()
            .unwrap();
        assert_eq!(response.status(), 201);
    }
}

#[test]
fn a_connection_keeps_its_budget_when_another_with_the_same_peer_address_closes() {
    // On 0.0.0.0 the server answers at 127.0.0.1 and 127.0.0.2 alike: one client address
    // and port can hold a connection to each.
    let server = Server::start(&[
        ("HOST", "0.0.0.0"),
        ("WRITE_TIMEOUT_SECONDS", "2"),
        ("FIRST_SUPERUSER_USERNAME", "root"),
        ("FIRST_SUPERUSER_EMAIL", "root@example.com"),
        ("FIRST_SUPERUSER_PASSWORD", "root-password"),
    ]);
    let port = port(&server);
    let token = token(&server);
    store_a_large_page(&server, &token);
    let source = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let first = connect_from(source, at([127, 0, 0, 1], port));
    let second = connect_from(source, at([127, 0, 0, 2], port));
    assert_eq!(first.local_addr().unwrap(), second.local_addr().unwrap());
    std::thread::sleep(Duration::from_millis(300));
    drop(second);
    std::thread::sleep(Duration::from_millis(300));

    // The first connection asks for pages it never takes (a window of 0): its budget
    // (16 MiB) holds five of them, answers the rest 503, and the write deadline ends it.
    first
        .set_read_timeout(Some(Duration::from_millis(2)))
        .unwrap();
    let authority = format!("127.0.0.1:{port}");
    let mut attacker = RawH2::open(first, &authority, false, 0).unwrap();
    let bearer = format!("Bearer {token}");
    for _ in 0..20 {
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
    let until = Instant::now() + Duration::from_secs(30);
    while !attacker.heard.closed && Instant::now() < until {
        attacker.listen(Duration::from_millis(50));
    }
    let heard = &attacker.heard;
    println!(
        "20 unread pages: {} answered, {} of them 200, closed: {}",
        heard.responses.len(),
        heard.ok.len(),
        heard.closed
    );
    assert!(
        heard.ok.len() <= 6,
        "the connection's budget holds at most five pages: {} were taken",
        heard.ok.len()
    );
    assert!(heard.closed, "the write deadline ended the connection");
}

/// Bodies that stall, many of them, then end: the server's resident memory returns close to
/// where it was, instead of the allocator keeping what they held.
#[test]
fn memory_that_stalled_bodies_held_is_returned_once_they_end() {
    let server = Server::start(&[
        ("ADDRESS_MAX_HELD_BYTES", "1073741824"),
        ("MAX_HELD_BYTES", "1073741824"),
        ("BODY_READ_TIMEOUT_SECONDS", "60"),
    ]);
    let port = port(&server);
    let pid = server.pid();
    let before = rss_mib(pid);
    let mut connections: Vec<TcpStream> = (0..200u8)
        .map(|i| connect_from(at([127, 0, 0, 1 + i % 4], 0), at([127, 0, 0, 1], port)))
        .collect();
    for connection in connections.iter_mut() {
        stall_a_body(connection);
    }
    std::thread::sleep(Duration::from_millis(500));
    let during = rss_mib(pid) - before;
    drop(connections);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut after = rss_mib(pid) - before;
    while after > 48.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        after = rss_mib(pid) - before;
    }
    println!(
        "200 stalled bodies of 999 kB: RSS +{during:.1} MiB while held, +{after:.1} MiB after"
    );
    assert!(during > 100.0, "the bodies were held: +{during:.1} MiB");
    assert!(
        after <= 48.0,
        "still held after they ended: +{after:.1} MiB"
    );
}

/// Pages a client never takes, asked for on four connections from one address (three each,
/// a window of 0): each connection's own budget (16 MiB) would hold its three 3 MB pages,
/// the address's (16 MiB here) holds five of the twelve; the rest are answered 503.
fn unread_pages_past_what_one_address_may_hold_are_answered_503(database_url: &str) {
    let server = Server::start(&[
        ("DATABASE_URL", database_url),
        ("ADDRESS_MAX_HELD_BYTES", "16777216"),
        ("FIRST_SUPERUSER_USERNAME", "root"),
        ("FIRST_SUPERUSER_EMAIL", "root@example.com"),
        ("FIRST_SUPERUSER_PASSWORD", "root-password"),
    ]);
    let port = port(&server);
    let token = token(&server);
    store_a_large_page(&server, &token);
    let bearer = format!("Bearer {token}");
    let authority = format!("127.0.0.1:{port}");
    let mut attackers: Vec<RawH2<TcpStream>> = (0..4)
        .map(|_| {
            let socket = connect_from(at([127, 0, 0, 1], 0), at([127, 0, 0, 1], port));
            socket
                .set_read_timeout(Some(Duration::from_millis(2)))
                .unwrap();
            let mut attacker = RawH2::open(socket, &authority, false, 0).unwrap();
            for _ in 0..3 {
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
            attacker
        })
        .collect();
    let answered = |attackers: &[RawH2<TcpStream>]| {
        attackers
            .iter()
            .map(|a| a.heard.responses.len())
            .sum::<usize>()
    };
    let until = Instant::now() + Duration::from_secs(25);
    while answered(&attackers) < 12 && Instant::now() < until {
        for attacker in attackers.iter_mut() {
            attacker.listen(Duration::from_millis(20));
        }
    }
    let ok: usize = attackers.iter().map(|a| a.heard.ok.len()).sum();
    let answered = answered(&attackers);
    println!("12 unread 3 MB pages from one address: {answered} answered, {ok} of them 200");
    assert_eq!(answered, 12, "every page was answered");
    assert!(
        ok <= 5,
        "the address's 16 MiB holds five pages: {ok} were taken"
    );
    assert!(ok >= 1, "a page within the bounds is served");
}

#[test]
fn unread_pages_past_what_one_address_may_hold_are_answered_503_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:///{}", dir.path().join("pages.db").display());
    unread_pages_past_what_one_address_may_hold_are_answered_503(&url);
}

#[test]
fn unread_pages_past_what_one_address_may_hold_are_answered_503_on_postgres() {
    if ai_message_testkit::postgres::skip() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let database = runtime.block_on(ai_message_testkit::postgres::ScratchDatabase::create());
    unread_pages_past_what_one_address_may_hold_are_answered_503(&database.url);
}
