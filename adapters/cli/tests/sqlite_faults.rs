//! The binary on SQLite when the files go wrong under it: a disk that fills up, a directory
//! deleted while serving, a read-only file at start. These tests mount small tmpfs file
//! systems, so they need root with CAP_SYS_ADMIN (CI and the development machines have it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ai_message_testkit::server::{Server, binary};
use serde_json::{Value, json};

/// A tmpfs of `megabytes` mounted on a fresh directory; unmounted when dropped.
struct SmallDisk {
    _parent: tempfile::TempDir,
    mount_point: PathBuf,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> Self {
        let parent = tempfile::tempdir().unwrap();
        let mount_point = parent.path().join("disk");
        std::fs::create_dir(&mount_point).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&mount_point)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "these tests mount a tmpfs and need root with CAP_SYS_ADMIN"
        );
        Self {
            _parent: parent,
            mount_point,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.mount_point.join(name)
    }

    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.mount_point)
            .status()
            .unwrap();
        assert!(status.success(), "remount {options}");
    }

    /// Writes zeros into `name` until the disk is full.
    fn fill(&self, name: &str) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.path(name)).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mount_point)
            .status();
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite:///{}", path.display())
}

async fn register_and_login(http: &reqwest::Client, server: &Server, name: &str) -> Value {
    let registered = http
        .post(server.url("/auth/register"))
        .json(&json!({"username": name, "email": format!("{name}@example.com"), "password": "password1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    http.post(server.url("/auth/login"))
        .json(&json!({"username": name, "password": "password1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn send(
    http: &reqwest::Client,
    server: &Server,
    token: &str,
    to: i64,
    i: usize,
) -> reqwest::Response {
    http.post(server.url("/messages"))
        .bearer_auth(token)
        .json(&json!({"recipient_id": to, "content": format!("message {i} {}", "x".repeat(2000))}))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_with_retry_after_and_writes_resume_when_space_returns() {
    let disk = SmallDisk::mount(3);
    let url = sqlite_url(&disk.path("app.db"));
    let server = Server::start(&[("DATABASE_URL", url.as_str())]);
    let http = reqwest::Client::new();
    let alice = register_and_login(&http, &server, "alice").await;
    let token = alice["access_token"].as_str().unwrap().to_string();
    let me = alice["user"]["id"].as_i64().unwrap();

    disk.fill("filler");
    let mut refused = 0;
    for i in 0..200 {
        let response = send(&http, &server, &token, me, i).await;
        let status = response.status().as_u16();
        assert!(status == 201 || status == 503, "status {status}");
        if status == 503 {
            assert!(response.headers().contains_key("retry-after"));
            refused += 1;
            if refused >= 5 {
                break;
            }
        }
    }
    assert!(refused >= 5, "a full disk refuses writes");
    let health = http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200, "the process lives");

    std::fs::remove_file(disk.path("filler")).unwrap();
    let started = Instant::now();
    loop {
        let status = send(&http, &server, &token, me, 999)
            .await
            .status()
            .as_u16();
        if status == 201 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "writes did not resume"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (exit, log) = server.terminate();
    assert!(exit.success(), "{log:#?}");
    assert!(!log.iter().any(|l| l.contains("status=500")), "{log:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_directory_deleted_while_serving_refuses_writes_with_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let url = sqlite_url(&data.join("app.db"));
    let server = Server::start(&[("DATABASE_URL", url.as_str())]);
    let http = reqwest::Client::new();
    let alice = register_and_login(&http, &server, "alice").await;
    let token = alice["access_token"].as_str().unwrap().to_string();
    let me = alice["user"]["id"].as_i64().unwrap();
    assert_eq!(send(&http, &server, &token, me, 0).await.status(), 201);

    std::fs::remove_dir_all(&data).unwrap();
    for i in 1..4 {
        let response = send(&http, &server, &token, me, i).await;
        assert_eq!(
            response.status(),
            503,
            "no write is acknowledged into a deleted file"
        );
        assert!(response.headers().contains_key("retry-after"));
    }
    let db_test = http.get(server.url("/db-test")).send().await.unwrap();
    assert_eq!(db_test.status(), 503);
    let (exit, log) = server.terminate();
    assert!(exit.success());
    let noticed: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("deleted or replaced while in use"))
        .collect();
    assert_eq!(
        noticed.len(),
        1,
        "one log line, not one per request: {log:#?}"
    );
}

#[test]
fn starting_on_a_read_only_database_is_refused_in_one_line_naming_the_file() {
    let disk = SmallDisk::mount(2);
    let path = disk.path("app.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER);").unwrap();
    }
    disk.remount("ro");
    let output = Command::new(binary())
        .env_clear()
        .env("DATABASE_URL", sqlite_url(&path))
        .env("BCRYPT_COST", "4")
        .env("PORT", "0")
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "a read-only database must not be served"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].contains(&path.display().to_string()), "{stderr}");
    assert!(lines[0].contains("read-only"), "{stderr}");
}
