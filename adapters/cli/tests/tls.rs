//! HTTPS served by the binary itself: certificates made here with rcgen, HTTP/2 by ALPN,
//! and a SIGHUP that swaps the certificate without dropping open connections.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ai_message_testkit::server::{Server, binary};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;

/// A test CA, and leaf certificates for `localhost` and 127.0.0.1 signed by it.
struct Authority {
    certificate: rcgen::Certificate,
    key: KeyPair,
}

struct Leaf {
    pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl Authority {
    fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "ai-message test CA");
        let certificate = params.self_signed(&key).unwrap();
        Self { certificate, key }
    }

    fn leaf(&self, name: &str) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let certificate = params
            .signed_by(&key, &self.certificate, &self.key)
            .unwrap();
        Leaf {
            pem: certificate.pem(),
            key_pem: key.serialize_pem(),
            der: certificate.der().clone(),
        }
    }

    fn pem(&self) -> String {
        self.certificate.pem()
    }

    fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.certificate.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

fn write_pair(dir: &Path, leaf: &Leaf) {
    // Written beside and renamed into place, as certificate tools do.
    for (name, text) in [("cert.pem", &leaf.pem), ("key.pem", &leaf.key_pem)] {
        let staged = dir.join(format!("{name}.new"));
        std::fs::write(&staged, text).unwrap();
        std::fs::rename(&staged, dir.join(name)).unwrap();
    }
}

fn tls_env(dir: &Path) -> (String, String) {
    (
        dir.join("cert.pem").display().to_string(),
        dir.join("key.pem").display().to_string(),
    )
}

/// A server on HTTPS with a leaf certificate of `authority`, and the directory holding its
/// files (kept as long as the server runs).
fn start_tls(authority: &Authority, extra: &[(&str, &str)]) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path(), &authority.leaf("first"));
    let (cert, key) = tls_env(dir.path());
    let mut env = vec![
        ("TLS_CERT_FILE", cert.as_str()),
        ("TLS_KEY_FILE", key.as_str()),
    ];
    env.extend_from_slice(extra);
    (Server::start(&env), dir)
}

fn port_of(server: &Server) -> u16 {
    let base = server.url("");
    assert!(base.starts_with("https://"), "{base}");
    base.rsplit(':').next().unwrap().parse().unwrap()
}

/// One HTTP/1.1 keep-alive connection over rustls, to see the certificate the server
/// presents and to prove the connection outlives a reload.
struct RawTls {
    connection: rustls::ClientConnection,
    socket: TcpStream,
}

impl RawTls {
    fn open(port: u16, config: Arc<rustls::ClientConfig>) -> Self {
        let name = ServerName::try_from("localhost").unwrap();
        let connection = rustls::ClientConnection::new(config, name).unwrap();
        let socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut raw = Self { connection, socket };
        raw.get("/health");
        raw
    }

    fn presented(&self) -> CertificateDer<'static> {
        self.connection.peer_certificates().unwrap()[0].clone()
    }

    /// Sends a GET and reads the whole answer; returns its status and body.
    fn get(&mut self, path: &str) -> (u16, String) {
        let mut stream = rustls::Stream::new(&mut self.connection, &mut self.socket);
        write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        stream.flush().unwrap();
        let mut received = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "the connection was closed");
            received.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&received).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let head = &text[..end];
                let length: usize = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                if text.len() >= end + 4 + length {
                    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
                    return (status, text[end + 4..end + 4 + length].to_string());
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_served_with_http2_by_alpn() {
    let authority = Authority::new();
    let (server, _files) = start_tls(&authority, &[]);
    let root = reqwest::Certificate::from_pem(authority.pem().as_bytes()).unwrap();

    let http2 = reqwest::Client::builder()
        .add_root_certificate(root.clone())
        .build()
        .unwrap();
    let health = http2.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.version(), reqwest::Version::HTTP_2, "h2 by ALPN");
    let body: Value = health.json().await.unwrap();
    assert_eq!(body["status"], "healthy");

    let http1 = reqwest::Client::builder()
        .add_root_certificate(root)
        .http1_only()
        .build()
        .unwrap();
    let registered = http1
        .post(server.url("/auth/register"))
        .json(&serde_json::json!({
            "username": "alice", "email": "alice@example.com", "password": "alice-password"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    assert_eq!(registered.version(), reqwest::Version::HTTP_11);

    let untrusting = reqwest::Client::new();
    assert!(
        untrusting.get(server.url("/health")).send().await.is_err(),
        "a client without the CA refuses the certificate"
    );
    let (exit, _) = server.terminate();
    assert!(exit.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_and_keeps_open_connections() {
    let authority = Authority::new();
    let first = authority.leaf("first");
    let second = authority.leaf("second");
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path(), &first);
    let (cert, key) = tls_env(dir.path());
    // The original's variable names.
    let server = Server::start(&[
        ("AI_MESSAGE_SSL_CERT", cert.as_str()),
        ("AI_MESSAGE_SSL_KEY", key.as_str()),
    ]);
    let port = port_of(&server);
    let client = authority.client_config();
    let mut open = RawTls::open(port, client.clone());
    assert_eq!(open.presented(), first.der);

    write_pair(dir.path(), &second);
    hang_up(&server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while RawTls::open(port, client.clone()).presented() != second.der {
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, body) = open.get("/health");
    assert_eq!(
        status, 200,
        "the connection opened before the reload still serves"
    );
    assert!(body.contains("healthy"), "{body}");
    assert_eq!(open.presented(), first.der);

    // A broken pair is refused and the certificate in service stays.
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    hang_up(&server);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(RawTls::open(port, client).presented(), second.der);
    let (exit, log) = server.terminate();
    assert!(exit.success());
    assert!(
        log.iter()
            .any(|line| line.contains("TLS certificate not reloaded")),
        "{log:#?}"
    );
}

fn hang_up(server: &Server) {
    let status = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn bad_tls_settings_stop_start_up_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let authority = Authority::new();
    let leaf = authority.leaf("only");
    write_pair(dir.path(), &leaf);
    let (cert, key) = tls_env(dir.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN NOTHING-----").unwrap();
    let other_key = dir.path().join("other-key.pem");
    std::fs::write(&other_key, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let garbage = garbage.display().to_string();
    let other_key = other_key.display().to_string();
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("TLS_CERT_FILE", &cert)], "TLS_CERT_FILE"),
        (&[("AI_MESSAGE_SSL_KEY", &key)], "AI_MESSAGE_SSL_KEY"),
        (
            &[("TLS_CERT_FILE", &garbage), ("TLS_KEY_FILE", &key)],
            "no PEM certificate",
        ),
        (
            &[("TLS_CERT_FILE", &cert), ("TLS_KEY_FILE", &other_key)],
            "do not make a TLS configuration",
        ),
    ];
    for (env, expected) in cases {
        let mut command = Command::new(binary());
        command
            .env_clear()
            .env("DATABASE_URL", "memory://")
            .env("PORT", "0");
        for (name, value) in env {
            command.env(name, value);
        }
        let output = command.output().unwrap();
        assert!(!output.status.success(), "{env:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{env:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}

#[test]
fn a_tls_handshake_that_stalls_is_cut_at_the_head_deadline() {
    let authority = Authority::new();
    let (server, _files) = start_tls(&authority, &[("HEADER_READ_TIMEOUT_SECONDS", "1")]);
    let port = port_of(&server);
    // Silent from the start, and silent after the first bytes of a ClientHello.
    for opening in [&b""[..], &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01][..]] {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
        socket.write_all(opening).unwrap();
        // The stalled handshake holds up no one else: another client is served meanwhile.
        let mut other = RawTls::open(port, authority.client_config());
        assert_eq!(other.get("/health").0, 200);
        socket.set_nonblocking(true).unwrap();
        let still_open = socket.peek(&mut [0u8; 1]);
        assert!(
            matches!(&still_open, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "the other client was served while the stalled handshake was still pending: \
             {still_open:?}"
        );
        socket.set_nonblocking(false).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 64];
        // The server closes (end of input or a reset), without answering anything.
        let outcome = socket.read(&mut buf);
        let waited = started.elapsed();
        assert!(
            matches!(outcome, Ok(0) | Err(_)) && waited < Duration::from_secs(4),
            "cut at the 1 s head deadline, not the idle timeout: {outcome:?} after {waited:?}"
        );
        assert!(
            !matches!(&outcome, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "the read timed out instead of the server closing"
        );
    }
}

#[test]
fn three_thousand_unread_streams_over_tls_pin_a_bounded_amount() {
    use ai_message_testkit::raw_h2::RawH2;
    use ai_message_testkit::server::rss_mib;

    let authority = Authority::new();
    let (server, _files) = start_tls(&authority, &[("WRITE_TIMEOUT_SECONDS", "2")]);
    let port = port_of(&server);
    let mut config = (*authority.client_config()).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let mut connection =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    while connection.is_handshaking() {
        connection.complete_io(&mut socket).unwrap();
    }
    assert_eq!(connection.alpn_protocol(), Some(&b"h2"[..]));
    socket
        .set_read_timeout(Some(Duration::from_millis(2)))
        .unwrap();
    let tls = rustls::StreamOwned::new(connection, socket);
    let before = rss_mib(server.pid());
    let mut peak = before;
    // A window of 0: the server may send no byte of any response body.
    let mut attacker = RawH2::open(tls, "localhost", true, 0).unwrap();
    let mut opened = 0;
    'attack: for _ in 0..30 {
        for i in 0..100 {
            let path = if i % 2 == 0 { "/docs" } else { "/openapi.json" };
            if attacker.request("GET", path, &[], true).is_err() {
                break 'attack;
            }
            opened += 1;
        }
        if attacker.flush().is_err() {
            break;
        }
        attacker.listen(Duration::from_millis(20));
        peak = peak.max(rss_mib(server.pid()));
    }
    let until = Instant::now() + Duration::from_secs(5);
    while !attacker.heard.closed && Instant::now() < until {
        attacker.listen(Duration::from_millis(100));
        peak = peak.max(rss_mib(server.pid()));
    }
    let growth = peak - before;
    let heard = &attacker.heard;
    println!(
        "TLS: {opened} streams opened, {} answered, {} reset, closed {}, RSS +{growth:.1} MiB",
        heard.responses.len(),
        heard.resets.len(),
        heard.closed
    );
    assert!(
        heard.responses.len() <= 100,
        "at most the stream limit is taken"
    );
    assert!(
        heard.closed,
        "the connection was ended (refusals or the write deadline)"
    );
    assert!(growth < 48.0, "RSS grew by {growth:.1} MiB");
}
