//! Backups on the real binary, each server with a `TMPDIR` of its own: the copy waits in a
//! directory only its user can read, which is gone however the backup ends (downloaded,
//! abandoned by its client, the server stopped or killed in the middle and started again),
//! and one backup runs at a time.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ai_message_testkit::server::Server;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Long enough for a snapshot or a directory to be gone on a busy machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// A database holding 64 MiB of ballast: its snapshot lasts long enough to be caught in the
/// middle, and its download is more than the sockets' buffers take.
fn ballasted_database(dir: &Path) -> String {
    let path = dir.join("live.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TABLE ballast (b BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 64)
             INSERT INTO ballast SELECT randomblob(1048576) FROM n;",
        )
        .unwrap();
    format!("sqlite:///{}", path.display())
}

/// A server on `url` whose temporary directory is `tmp`, with the superuser `root`.
fn start(url: &str, tmp: &Path) -> Server {
    Server::start(&[
        ("DATABASE_URL", url),
        ("TMPDIR", tmp.to_str().unwrap()),
        ("FIRST_SUPERUSER_USERNAME", "root"),
        ("FIRST_SUPERUSER_EMAIL", "root@example.com"),
        ("FIRST_SUPERUSER_PASSWORD", "root-password"),
    ])
}

/// A directory with its own `tmp/`, where the server may put temporary files.
fn workplace() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    (dir, tmp)
}

async fn root_token(http: &reqwest::Client, server: &Server) -> String {
    let login: Value = http
        .post(server.url("/auth/login"))
        .json(&json!({"username": "root", "password": "root-password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["access_token"].as_str().unwrap().to_string()
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    found.sort();
    found
}

fn snapshot_file(tmp: &Path) -> Option<PathBuf> {
    entries(tmp)
        .into_iter()
        .map(|entry| entry.join("backup.db"))
        .find(|file| file.exists())
}

/// The snapshot file being written in `tmp`, once there is one.
async fn snapshot_under_way(tmp: &Path) -> PathBuf {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(file) = snapshot_file(tmp) {
            return file;
        }
        assert!(Instant::now() < deadline, "no snapshot was started");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Asks for a backup over an HTTP/1 connection of its own until one is under way (the one
/// before holds its turn a moment after its directory is gone: 429 meanwhile); returns the
/// connection, its request unanswered.
async fn http1_backup_under_way(server: &Server, tmp: &Path, token: &str) -> TcpStream {
    let address = server.url("").trim_start_matches("http://").to_string();
    let request = format!(
        "GET /auth/backup HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\n\r\n"
    );
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut client = TcpStream::connect(&address).await.unwrap();
        client.write_all(request.as_bytes()).await.unwrap();
        let mut first = [0u8; 1];
        loop {
            if snapshot_file(tmp).is_some() {
                return client;
            }
            if client.try_read(&mut first).is_ok_and(|read| read > 0) {
                break; // answered before a snapshot began (429): ask again
            }
            assert!(Instant::now() < deadline, "no snapshot was started");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Waits until `tmp` holds nothing but `kept`, and fails if it does not become so.
async fn until_only(tmp: &Path, kept: &[PathBuf]) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left: Vec<PathBuf> = entries(tmp)
            .into_iter()
            .filter(|entry| !kept.contains(entry))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "a backup's files stayed in TMPDIR: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A whole backup, once the one before has ended (429 until then).
async fn whole_backup(http: &reqwest::Client, server: &Server, token: &str) -> Vec<u8> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let response = http
            .get(server.url("/auth/backup"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            let bytes = response.bytes().await.unwrap().to_vec();
            assert!(bytes.starts_with(b"SQLite format 3\0"));
            assert!(bytes.len() > 64 << 20, "the ballast is in the copy");
            return bytes;
        }
        assert_eq!(response.status(), 429);
        assert!(Instant::now() < deadline, "the earlier backup never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client that gives up while the snapshot is taken (curl interrupted: over HTTP/2 its
/// stream is reset, over HTTP/1 its connection closed) leaves no copy behind; while the copy
/// existed, only the server's user could read it (0600 in a 0700 directory); and the next
/// backup is served.
#[tokio::test]
async fn a_backup_abandoned_by_its_client_leaves_no_copy_and_was_private_meanwhile() {
    let (dir, tmp) = workplace();
    let url = ballasted_database(dir.path());
    let server = start(&url, &tmp);
    let http = reqwest::Client::new();
    let root = root_token(&http, &server).await;

    let http2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let request = tokio::spawn({
        let (http2, url, root) = (http2.clone(), server.url("/auth/backup"), root.clone());
        async move {
            let _ = http2.get(url).bearer_auth(root).send().await;
        }
    });
    let file = snapshot_under_way(&tmp).await;
    let mode = |path: &Path| std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777);
    let (directory_mode, file_mode) = (mode(file.parent().unwrap()), mode(&file));
    request.abort();
    let _ = request.await;
    until_only(&tmp, &[]).await;
    assert_eq!(directory_mode.unwrap(), 0o700, "{}", file.display());
    assert_eq!(file_mode.unwrap(), 0o600, "{}", file.display());

    let client = http1_backup_under_way(&server, &tmp, &root).await;
    drop(client);
    until_only(&tmp, &[]).await;

    whole_backup(&http, &server, &root).await;
    until_only(&tmp, &[]).await;
}

/// One backup at a time: while one is taken or downloaded, another is refused with 429, a
/// `detail` and `Retry-After`; once the first download ends, the next is served.
#[tokio::test]
async fn a_second_backup_while_one_is_downloaded_is_told_to_retry_later() {
    let (dir, tmp) = workplace();
    let url = ballasted_database(dir.path());
    let server = start(&url, &tmp);
    let http = reqwest::Client::new();
    let root = root_token(&http, &server).await;

    let first = http
        .get(server.url("/auth/backup"))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    // Its body is not read: the download is under way.
    let second = http
        .get(server.url("/auth/backup"))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 429);
    let retry_after: u64 = second.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body: Value = second.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("backup"),
        "{body}"
    );
    drop(first);

    whole_backup(&http, &server, &root).await;
    until_only(&tmp, &[]).await;
}

/// A server killed (SIGKILL) while it writes a snapshot leaves the file; the next start
/// removes it before it listens, and nothing else: not another program's files named
/// alike, nor the directory of a backup that a live process holds (its lock is taken).
#[tokio::test]
async fn a_snapshot_left_by_a_killed_server_is_removed_at_the_next_start() {
    let (dir, tmp) = workplace();
    let url = ballasted_database(dir.path());
    let notes = tmp.join("ai-message-backup-notes.txt");
    std::fs::write(&notes, "another program's").unwrap();
    let not_ours = tmp.join("ai-message-backup-keep");
    std::fs::create_dir(&not_ours).unwrap();
    let live = tmp.join(format!("ai-message-backup-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir(&live).unwrap();
    let held = std::fs::File::open(&live).unwrap();
    held.lock().unwrap();
    let kept = [notes.clone(), not_ours.clone(), live.clone()];

    let server = start(&url, &tmp);
    let http = reqwest::Client::new();
    let root = root_token(&http, &server).await;
    let request = tokio::spawn({
        let (http, url, root) = (http.clone(), server.url("/auth/backup"), root.clone());
        async move {
            let _ = http.get(url).bearer_auth(root).send().await;
        }
    });
    let file = snapshot_under_way(&tmp).await;
    server.kill();
    let _ = request.await;
    let leftover = file.parent().unwrap().to_path_buf();
    assert!(
        leftover.exists(),
        "killed in mid-snapshot: {leftover:?} was left"
    );

    let restarted = start(&url, &tmp);
    assert!(
        !leftover.exists(),
        "{leftover:?} is removed before the server listens"
    );
    until_only(&tmp, &kept).await;
    for path in &kept {
        assert!(path.exists(), "{path:?} is not the server's to remove");
    }
    // It backs up as before.
    whole_backup(&http, &restarted, &root).await;
    until_only(&tmp, &kept).await;
}

/// A server stopped (SIGTERM) while it writes a snapshot leaves nothing in TMPDIR.
// Two threads: the request goes on while the test waits for the server to stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopped_in_mid_snapshot_leaves_no_copy() {
    let (dir, tmp) = workplace();
    let url = ballasted_database(dir.path());
    let server = start(&url, &tmp);
    let http = reqwest::Client::new();
    let root = root_token(&http, &server).await;
    let request = tokio::spawn({
        let (http, url) = (http.clone(), server.url("/auth/backup"));
        async move {
            let _ = http.get(url).bearer_auth(root).send().await;
        }
    });
    snapshot_under_way(&tmp).await;
    let (exit, _) = server.terminate();
    let _ = request.await;
    assert!(exit.success());
    assert_eq!(entries(&tmp), Vec::<PathBuf>::new());
}
