//! The real `ai-message` binary: served over TCP, configured by the environment, stopped by
//! SIGTERM.

use std::io::Write;
use std::process::{Command, Stdio};

use ai_message_testkit::server::{Server, binary};
use serde_json::{Value, json};

/// One version everywhere an operator or a client looks: the binary, `/health` (above) and
/// the OpenAPI document.
#[tokio::test]
async fn the_version_is_the_same_everywhere() {
    let printed = Command::new(binary()).arg("--version").output().unwrap();
    assert!(printed.status.success());
    assert_eq!(
        String::from_utf8(printed.stdout).unwrap().trim(),
        format!("ai-message {}", env!("CARGO_PKG_VERSION"))
    );
    let server = Server::start(&[]);
    let document: Value = reqwest::get(server.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    let health: Value = reqwest::get(server.url("/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
}

/// `PASSWORD_MIN_LENGTH=6` accepts the original frontend's 6-character passwords on every
/// route that sets one, and the served document states the lowered minimum.
#[tokio::test]
async fn password_min_length_lowers_the_minimum_everywhere() {
    let http = reqwest::Client::new();
    let register = |server: &Server, name: &str, password: &str| {
        http.post(server.url("/auth/register"))
            .json(&json!({"username": name, "email": format!("{name}@example.com"), "password": password}))
            .send()
    };
    let default = Server::start(&[]);
    let refused = register(&default, "short", "abc123").await.unwrap();
    assert_eq!(refused.status(), 422);

    let lowered = Server::start(&[
        ("PASSWORD_MIN_LENGTH", "6"),
        ("FIRST_SUPERUSER_USERNAME", "root"),
        ("FIRST_SUPERUSER_EMAIL", "root@example.com"),
        ("FIRST_SUPERUSER_PASSWORD", "root12"),
    ]);
    let accepted = register(&lowered, "short", "abc123").await.unwrap();
    assert_eq!(accepted.status(), 201);
    let too_short = register(&lowered, "shorter", "abc12").await.unwrap();
    assert_eq!(too_short.status(), 422);
    let body: Value = too_short.json().await.unwrap();
    assert_eq!(
        body["detail"],
        "password: must be 6 to 72 bytes long (UTF-8), got 5"
    );
    let login: Value = http
        .post(lowered.url("/auth/login"))
        .json(&json!({"username": "short", "password": "abc123"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap();
    let changed = http
        .put(lowered.url("/auth/me/password"))
        .bearer_auth(token)
        .json(&json!({"current_password": "abc123", "new_password": "xyz789"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let root = http
        .post(lowered.url("/auth/login"))
        .json(&json!({"username": "root", "password": "root12"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        root.status(),
        200,
        "the first superuser follows the rule too"
    );

    let document: Value = http
        .get(lowered.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let password = &document["components"]["schemas"]["RegisterRequest"]["properties"]["password"];
    assert_eq!(password["minLength"], 6);
    assert!(
        password["description"]
            .as_str()
            .unwrap()
            .starts_with("6 to 72"),
        "{password}"
    );
    let new_password =
        &document["components"]["schemas"]["PasswordChangeRequest"]["properties"]["new_password"];
    assert_eq!(new_password["minLength"], 6);
}

/// With `LOG_FORMAT=json` every line is one JSON object, and every line logged while a
/// request is served (the access line, and a warning from deep inside) names its id.
#[tokio::test]
async fn request_ids_are_echoed_and_on_every_log_line_of_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ids.db");
    let url = format!("sqlite:///{}", file.display());
    let server = Server::start(&[("LOG_FORMAT", "json"), ("DATABASE_URL", url.as_str())]);
    let http = reqwest::Client::new();
    let health = http
        .get(server.url("/health"))
        .header("x-request-id", "req-test-42")
        .send()
        .await
        .unwrap();
    assert_eq!(health.headers()["x-request-id"], "req-test-42");
    let forged = http
        .get(server.url("/health"))
        .header("x-request-id", "bad id\" injected")
        .send()
        .await
        .unwrap();
    let replaced = forged.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(uuid::Uuid::parse_str(&replaced).is_ok(), "{replaced}");
    let made = http.get(server.url("/")).send().await.unwrap();
    let made = made.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");

    std::fs::remove_file(&file).unwrap();
    let not_ready = http
        .get(server.url("/health/ready"))
        .header("x-request-id", "ready-probe-7")
        .send()
        .await
        .unwrap();
    assert_eq!(not_ready.status(), 503);

    let (exit, log) = server.terminate();
    assert!(exit.success());
    let lines: Vec<Value> = log
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let of_request = |id: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|line| line["span"]["request_id"] == id)
            .collect()
    };
    let health_lines = of_request("req-test-42");
    assert_eq!(health_lines.len(), 1, "{log:#?}");
    assert_eq!(health_lines[0]["fields"]["path"], "/health");
    assert_eq!(health_lines[0]["fields"]["status"], 200);
    assert_eq!(of_request(&replaced).len(), 1);
    assert_eq!(of_request(&made).len(), 1);
    let probe_lines = of_request("ready-probe-7");
    assert!(
        probe_lines.iter().any(|line| line["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("not ready"))),
        "the warning from inside the request names it: {probe_lines:#?}"
    );
    assert!(
        probe_lines
            .iter()
            .any(|line| line["fields"]["message"] == "request"),
        "{probe_lines:#?}"
    );
}

#[tokio::test]
async fn text_logs_name_the_request_id_and_bad_log_formats_are_refused() {
    let server = Server::start(&[]);
    reqwest::Client::new()
        .get(server.url("/health"))
        .header("x-request-id", "text-id-9")
        .send()
        .await
        .unwrap();
    let (_, log) = server.terminate();
    assert!(
        log.iter()
            .any(|line| line.contains("request_id=text-id-9") && line.contains("/health")),
        "{log:#?}"
    );
    let refused = Command::new(binary())
        .env("LOG_FORMAT", "xml")
        .env("PORT", "0")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("LOG_FORMAT"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn serves_over_tcp_and_stops_cleanly_on_sigterm() {
    let server = Server::start(&[
        ("FIRST_SUPERUSER_USERNAME", "root"),
        ("FIRST_SUPERUSER_EMAIL", "root@example.com"),
        ("FIRST_SUPERUSER_PASSWORD", "root-password"),
        ("CORS_ALLOW_ORIGINS", "https://app.example"),
    ]);
    let http = reqwest::Client::new();
    let health: Value = http
        .get(server.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        health,
        json!({"status": "healthy", "version": env!("CARGO_PKG_VERSION")})
    );

    let login = http
        .post(server.url("/auth/login"))
        .header("user-agent", "binary-test/1.0")
        .json(&json!({"username": "root", "password": "root-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let login: Value = login.json().await.unwrap();
    let token = login["access_token"].as_str().unwrap();
    assert_eq!(login["user"]["is_superuser"], true);

    let sessions: Value = http
        .get(server.url("/auth/sessions"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sessions[0]["device_info"], "binary-test/1.0");
    assert_eq!(
        sessions[0]["ip_address"], "127.0.0.1",
        "the peer address is recorded"
    );

    for (origin, allowed) in [
        ("https://app.example", true),
        ("https://evil.example", false),
    ] {
        let preflight = http
            .request(reqwest::Method::OPTIONS, server.url("/auth/me"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .unwrap();
        let allow = preflight
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if allowed {
            assert_eq!(allow.as_deref(), Some(origin), "CORS allows {origin}");
        } else {
            assert_ne!(allow.as_deref(), Some(origin), "CORS refuses {origin}");
        }
    }

    let docs = http.get(server.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);

    let (exit, log) = server.terminate();
    assert!(exit.success(), "exit status {exit:?}");
    let log = log.join("\n");
    assert!(log.contains("status=200"), "one line per request: {log}");
    assert!(!log.contains("root-password"), "no password in the log");
    assert!(!log.contains(token), "no token in the log");
}

#[test]
fn bad_configuration_is_one_clear_line_and_a_failure() {
    for (variable, value, expected) in [
        ("PORT", "eighty", "PORT: 'eighty' is not a whole number"),
        (
            "DATABASE_URL",
            "mysql://u:pw@h/db",
            "DATABASE_URL: unknown scheme 'mysql'",
        ),
        (
            "BCRYPT_COST",
            "40",
            "BCRYPT_COST: 40 is out of range (4 to 31)",
        ),
        (
            "SECRET_KEY",
            "changeme",
            "SECRET_KEY: must be at least 32 bytes (8 given)",
        ),
        (
            "SECRET_KEY",
            "your-secret-key-change-in-production",
            "SECRET_KEY: is a published sample key",
        ),
        (
            "SECRET_KEY",
            "passwordpasswordpasswordpassword",
            "SECRET_KEY: could be guessed in about 10^",
        ),
        (
            "FORWARDED_ALLOW_IPS",
            "10.0.0.0/8, proxy",
            "FORWARDED_ALLOW_IPS: 'proxy' is not an IP address or a CIDR network",
        ),
    ] {
        let output = Command::new(binary())
            .env_clear()
            .env(variable, value)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{variable}={value} must fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line: {stderr}");
        assert!(lines[0].contains(expected), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            !stderr.contains("pw@"),
            "the password stays hidden: {stderr}"
        );
    }
}

#[test]
fn create_superuser_reads_the_password_from_stdin_or_environment() {
    let mut child = Command::new(binary())
        .args([
            "create-superuser",
            "--username",
            "admin",
            "--email",
            "admin@example.com",
        ])
        .env_clear()
        .env("DATABASE_URL", "memory://")
        .env("BCRYPT_COST", "4")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"admin-password\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("created superuser admin"));

    let output = Command::new(binary())
        .args([
            "create-superuser",
            "--username",
            "admin",
            "--email",
            "admin@example.com",
        ])
        .env_clear()
        .env("DATABASE_URL", "memory://")
        .env("BCRYPT_COST", "4")
        .env("AI_MESSAGE_SUPERUSER_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("password: must be 8 to 72 bytes"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A test that panics with a server running leaves no process behind: the testkit's
/// `Server` ends its process when dropped.
#[test]
fn a_server_ends_with_the_test_that_started_it_even_on_panic() {
    let (pid_sender, pid) = std::sync::mpsc::channel();
    let panicked = std::thread::spawn(move || {
        let server = Server::start(&[]);
        pid_sender.send(server.pid()).unwrap();
        panic!("the test fails with its server running");
    })
    .join();
    assert!(panicked.is_err());
    let pid = pid.recv().unwrap();
    let alive = std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.contains(") Z "));
    assert!(!alive, "process {pid} outlived its test");
}

/// Runs the binary with only `env`, and its exit status and standard error once it exits. A
/// process still running after 30 s is killed (also when the test panics) and fails the test.
fn exit_of(args: &[&str], env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = KillOnDrop(command.spawn().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{args:?} {env:?} is still running: it should have refused to start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

/// Failures found only once start-up uses a setting (the database, files, ports) name that
/// setting at the start of the one line they print.
#[test]
fn each_start_up_failure_names_its_setting_on_the_first_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let taken_address = format!("127.0.0.1:{taken_port}");
    let not_pem = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let memory = ("DATABASE_URL", "memory://");
    /// Arguments, environment, and how the error line starts.
    type Case<'a> = (&'a [&'a str], Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            &[],
            vec![("DATABASE_URL", "sqlite:////definitely/not/here/app.db")],
            "DATABASE_URL: the directory /definitely/not/here does not exist",
        ),
        (
            &[],
            vec![(
                "DATABASE_URL",
                "postgresql://postgres@127.0.0.1:1/nothing?connect_timeout=2",
            )],
            "DATABASE_URL: cannot connect to PostgreSQL",
        ),
        (
            &["migrate", "up"],
            vec![memory],
            "DATABASE_URL: memory:// keeps no schema to migrate",
        ),
        (
            &[],
            vec![
                memory,
                ("TLS_CERT_FILE", "/definitely/not/here/cert.pem"),
                ("TLS_KEY_FILE", "/definitely/not/here/key.pem"),
            ],
            "TLS_CERT_FILE: cannot read /definitely/not/here/cert.pem",
        ),
        (
            &[],
            vec![
                memory,
                ("TLS_CERT_FILE", not_pem),
                ("TLS_KEY_FILE", "/definitely/not/here/key.pem"),
            ],
            "TLS_KEY_FILE: cannot read /definitely/not/here/key.pem",
        ),
        (
            &[],
            vec![
                memory,
                ("TLS_CERT_FILE", not_pem),
                ("TLS_KEY_FILE", not_pem),
            ],
            "TLS_CERT_FILE: ",
        ),
        (
            &[],
            vec![memory, ("METRICS_ADDR", &taken_address)],
            "METRICS_ADDR: cannot listen on",
        ),
        (
            &[],
            vec![memory, ("HOST", "127.0.0.1"), ("PORT", &taken_port)],
            "HOST / PORT: cannot listen on",
        ),
        (
            &[],
            vec![
                memory,
                ("FIRST_SUPERUSER_USERNAME", "admin"),
                ("FIRST_SUPERUSER_EMAIL", "admin@example.com"),
                ("FIRST_SUPERUSER_PASSWORD", "short"),
            ],
            "FIRST_SUPERUSER_PASSWORD: ",
        ),
        (
            &[],
            vec![
                memory,
                ("FIRST_SUPERUSER_USERNAME", "admin"),
                ("FIRST_SUPERUSER_EMAIL", "not an email"),
                ("FIRST_SUPERUSER_PASSWORD", "a long enough password"),
            ],
            "FIRST_SUPERUSER_EMAIL: ",
        ),
        (
            &[],
            vec![
                memory,
                ("TWILIO_AUTH_TOKEN", "token"),
                ("TWILIO_WEBHOOK_URL", "https://chat.example.org/messages"),
                ("TWILIO_WEBHOOK_PATH", "/messages"),
            ],
            "TWILIO_WEBHOOK_PATH: '/messages' is a route of the API",
        ),
        (
            &[],
            vec![memory, ("TWILIO_AUTH_TOKEN", "token")],
            "TWILIO_WEBHOOK_URL: required with TWILIO_AUTH_TOKEN",
        ),
        (
            &[],
            vec![memory, ("TWILIO_WEBHOOK_URL", "/twilio_webhook")],
            "TWILIO_WEBHOOK_URL: ",
        ),
        (
            &[],
            vec![memory, ("PHONE_DEFAULT_REGION", "Malaysia")],
            "PHONE_DEFAULT_REGION: ",
        ),
        (
            &[],
            vec![memory, ("RUST_LOG", "info,my_crate=loud")],
            "RUST_LOG: 'info,my_crate=loud' is not a log filter",
        ),
        (
            &[],
            vec![
                memory,
                (
                    "CORS_ALLOW_ORIGINS",
                    "https://app.example.org/, app.example.org",
                ),
            ],
            "CORS_ALLOW_ORIGINS: 'https://app.example.org/' is not an origin",
        ),
        (
            &[],
            vec![memory, ("HOST", "no-such-host.invalid")],
            "HOST: 'no-such-host.invalid' is neither an IP address nor a name",
        ),
        (
            &[],
            vec![memory, ("ENV_FILE", "/definitely/not/here/.env")],
            "ENV_FILE: cannot read /definitely/not/here/.env",
        ),
    ];
    for (args, env, expected) in cases {
        let (status, stderr) = exit_of(args, &env);
        assert!(!status.success(), "{env:?} must fail");
        let first = stderr
            .lines()
            .find(|line| line.contains("error:"))
            .unwrap_or_default();
        assert!(
            first.starts_with(&format!("ai-message: error: {expected}")),
            "{env:?}: the error line names the setting: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    drop(taken);
}

/// The testkit's server ends with its test: a test that panics leaves no process behind.
#[test]
fn a_server_ends_with_the_test_that_started_it_even_one_that_panics() {
    let pid = std::sync::Mutex::new(None);
    let outcome = std::panic::catch_unwind(|| {
        let server = Server::start(&[]);
        *pid.lock().unwrap() = Some(server.pid());
        panic!("a test that fails while its server runs");
    });
    assert!(outcome.is_err());
    let pid = pid.lock().unwrap().expect("the server started");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} outlived its test"
    );
}

/// A reader that stops early (`ai-message openapi | head -c 10`) ends the output quietly:
/// no panic, no error line, a successful exit.
#[test]
fn output_to_a_reader_that_stops_early_ends_quietly() {
    use std::io::Read;
    let mut child = Command::new(binary())
        .arg("openapi")
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The pipe's reader is gone; the document (over 64 KiB) cannot all have fitted in it.
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

/// A port in use is reported before migrations run: the database is not even created.
#[test]
fn a_port_in_use_is_reported_before_the_database_is_touched() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("untouched.db");
    let url = format!("sqlite:///{}", database.display());
    let (status, stderr) = exit_of(
        &[],
        &[
            ("DATABASE_URL", &url),
            ("HOST", "127.0.0.1"),
            ("PORT", &port),
        ],
    );
    assert!(!status.success());
    assert!(stderr.contains("HOST / PORT: cannot listen on"), "{stderr}");
    assert!(!database.exists(), "no migration ran");
}

/// `.env` is read from the working directory alone: one in a parent directory (`/tmp/.env`,
/// which any local user may write, for a server started under `/tmp`) sets nothing.
#[test]
fn a_dotenv_file_in_a_parent_directory_is_not_read() {
    let parent = tempfile::tempdir().unwrap();
    let planted = parent.path().join("planted.db");
    std::fs::write(
        parent.path().join(".env"),
        format!("DATABASE_URL=sqlite:///{}\n", planted.display()),
    )
    .unwrap();
    let work = parent.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let migrate_in_work = || {
        let output = Command::new(binary())
            .args(["migrate", "up"])
            .env_clear()
            .current_dir(&work)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stderr}");
    };
    migrate_in_work();
    assert!(
        !planted.exists(),
        "the parent directory's .env chose the database"
    );
    assert!(work.join("backend.db").exists(), "the default database");

    let own = work.join("own.db");
    std::fs::write(
        work.join(".env"),
        format!("DATABASE_URL=sqlite:///{}\n", own.display()),
    )
    .unwrap();
    migrate_in_work();
    assert!(own.exists(), "the working directory's .env is read");
    assert!(!planted.exists());
}

/// Settings from `.env` (the original's habit) apply under the real environment; a
/// misspelt one is named at start with the setting meant; `HOST=localhost` works.
#[tokio::test]
async fn settings_come_from_dotenv_under_the_environment_and_typos_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("settings.env");
    std::fs::write(
        &env_file,
        "AI_MESSAGE_HOST=localhost\nREGISTER_MAX_PER_HOUR=1\nPASSWORD_MIN_LENGTH=30\n",
    )
    .unwrap();
    let server = Server::start(&[
        ("ENV_FILE", env_file.to_str().unwrap()),
        ("PASSWORD_MIN_LENGTH", "6"),
        ("DATABSE_URL", "sqlite:///./typo.db"),
    ]);
    let log = server.startup_log().join("\n");
    assert!(
        log.contains(
            "DATABSE_URL is not a setting of ai-message and is ignored; did you mean DATABASE_URL?"
        ),
        "{log}"
    );
    assert!(
        server.url("/").starts_with("http://127.0.0.1:"),
        "HOST=localhost"
    );
    let http = reqwest::Client::new();
    let six = http
        .post(server.url("/auth/register"))
        .json(&json!({"username": "sam", "email": "sam@example.com", "password": "sixsix"}))
        .send()
        .await
        .unwrap();
    assert_eq!(six.status(), 201, "the environment's 6 beats the file's 30");
    let second = http
        .post(server.url("/auth/register"))
        .json(&json!({"username": "tom", "email": "tom@example.com", "password": "sixsix"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        second.status(),
        429,
        "the file's REGISTER_MAX_PER_HOUR=1 applies"
    );
}

/// `serve --help` lists every setting with its default and range, as the code reads them.
#[test]
fn serve_help_lists_every_setting_with_its_default_and_range() {
    let output = Command::new(binary())
        .args(["serve", "--help"])
        .env_clear()
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    let line_of = |name: &str| {
        help.lines()
            .find(|line| line.trim_start().starts_with(&format!("{name} ")) || line.trim() == name)
            .unwrap_or_else(|| panic!("{name} is not listed:\n{help}"))
            .to_string()
    };
    assert!(line_of("DATABASE_URL").contains("default sqlite:///./backend.db"));
    assert!(line_of("BCRYPT_COST").contains("default 12, 4 to 31"));
    assert!(line_of("TWILIO_SEND_ATTEMPTS").contains("default 4, 1 to 10"));
    let example = include_str!("../../../.env.example");
    for line in example
        .lines()
        .filter(|l| l.starts_with("# ") && l.contains('='))
    {
        let name = line[2..].split('=').next().unwrap();
        if name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            assert!(
                help.contains(name),
                "{name} is in .env.example but not in serve --help"
            );
        }
    }
}
