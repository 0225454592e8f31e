//! The binary under connection pressure: the descriptor limit, the cap on connections, accept
//! errors, and clients that trickle their request heads.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ai_message_testkit::server::Server;

fn address(server: &Server) -> String {
    server.url("").trim_start_matches("http://").to_string()
}

/// CPU time (user + system) of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start after ") ".
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// One plain HTTP/1.1 request on a fresh connection, with a deadline.
fn health(server: &Server, timeout: Duration) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(address(server))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

fn open_idle_connections(server: &Server, count: usize) -> Vec<TcpStream> {
    (0..count)
        .filter_map(|_| TcpStream::connect(address(server)).ok())
        .collect()
}

#[test]
fn the_soft_descriptor_limit_is_raised_and_a_client_gets_in_past_it() {
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    if hard < 4096 {
        panic!("this test needs a hard open-file limit of at least 4096, found {hard}");
    }
    rlimit::increase_nofile_limit(4096).unwrap();
    // Every connection comes from 127.0.0.1: what one address may open is not the point here.
    let server = Server::start_with_file_limit(&[("ADDRESS_MAX_CONNECTIONS", "10000")], 1024, hard);
    let idle = open_idle_connections(&server, 1_100);
    assert_eq!(idle.len(), 1_100);
    let answer = health(&server, Duration::from_secs(5)).expect("answered within 5 s");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(idle);
    let (exit, log) = server.terminate();
    assert!(exit.success());
    let limits = log
        .iter()
        .find(|line| line.contains("connection limits"))
        .expect("the limits are logged");
    assert!(
        !limits.contains("open_files=1024 "),
        "the soft limit was raised: {limits}"
    );
}

#[test]
fn out_of_descriptors_the_server_pauses_instead_of_spinning_and_recovers() {
    // Soft = hard: nothing to raise. More connections are allowed than descriptors exist.
    let server = Server::start_with_file_limit(&[("MAX_CONNECTIONS", "10000")], 200, 200);
    let idle = open_idle_connections(&server, 300);
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(server.pid());
    std::thread::sleep(Duration::from_secs(2));
    let spent = cpu_ticks(server.pid()) - before;
    println!("out of descriptors: {spent} ticks of CPU in 2 s");
    assert!(spent < 60, "the accept loop spun: {spent} ticks in 2 s");
    drop(idle);
    let started = Instant::now();
    let answer = loop {
        match health(&server, Duration::from_secs(2)) {
            Ok(answer) if answer.starts_with("HTTP/1.1 200") => break answer,
            _ if started.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(200))
            }
            other => panic!("no recovery: {other:?}"),
        }
    };
    assert!(answer.contains(r#""status":"healthy""#), "{answer}");
    let (exit, log) = server.terminate();
    assert!(exit.success());
    assert!(
        log.iter().any(|line| line.contains("accept failed")),
        "{log:#?}"
    );
}

#[test]
fn a_client_trickling_its_request_head_is_cut() {
    let server = Server::start(&[
        ("HEADER_READ_TIMEOUT_SECONDS", "1"),
        ("IDLE_TIMEOUT_SECONDS", "60"),
    ]);
    let mut slow = TcpStream::connect(address(&server)).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut cut = false;
    for byte in b"GET /health HTTP/1.1\r\nHost: test\r\nX-Padding: aaaaaaaaaaaaaaaa" {
        if slow.write_all(&[*byte]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !cut {
        let mut rest = Vec::new();
        // The server closes (EOF, or a reset) instead of waiting for the rest.
        let _ = slow.read_to_end(&mut rest);
        cut = started.elapsed() < Duration::from_secs(8);
    }
    assert!(cut, "the trickling client kept its connection");
    // A client that sends its head at once is served.
    let answer = health(&server, Duration::from_secs(5)).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (exit, _) = server.terminate();
    assert!(exit.success());
}

#[test]
fn connections_past_the_cap_wait_until_a_slot_frees() {
    let server = Server::start(&[("MAX_CONNECTIONS", "4")]);
    let held = open_idle_connections(&server, 4);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        health(&server, Duration::from_millis(700)).is_err(),
        "a fifth connection is not served while four are open"
    );
    drop(held);
    let answer = health(&server, Duration::from_secs(5)).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (exit, _) = server.terminate();
    assert!(exit.success());
}
