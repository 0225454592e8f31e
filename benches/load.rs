//! The load benchmark: starts the real server on each storage adapter, seeds data, and
//! measures requests per second, latency percentiles, errors and the server's memory.
//!
//! `cargo bench --bench load` runs the full benchmark on the release binary (10 s per
//! scenario, 1,000,000 messages). Under `cargo test` it runs a short smoke mode on the debug
//! binary that fails only on errors or non-2xx answers, never on speed.
//! `BENCH_ADAPTERS=memory,sqlite,postgres` picks adapters; results also go to
//! `target/bench/load.json`.

use ai_message_testkit::server::rss_mib;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ai_message_bcrypt::BcryptHasher;
use ai_message_core::Password;
use ai_message_core::ports::PasswordHasher;
use chrono::{TimeZone, Utc};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

const SECRET: &str = "benchmark-signing-key-for-load-runs-only";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Adapter {
    Memory,
    Sqlite,
    Postgres,
}

impl Adapter {
    fn name(self) -> &'static str {
        match self {
            Adapter::Memory => "memory",
            Adapter::Sqlite => "sqlite",
            Adapter::Postgres => "postgres",
        }
    }
}

struct Options {
    full: bool,
    duration: Duration,
    warmup: Duration,
    connections: usize,
    small_messages: u64,
    large_messages: u64,
    conversations: usize,
    binary: PathBuf,
    adapters: Vec<Adapter>,
}

fn options() -> Options {
    // cargo passes `--bench` to bench targets only under `cargo bench`.
    let full = std::env::args().any(|arg| arg == "--bench");
    let adapters = std::env::var("BENCH_ADAPTERS")
        .unwrap_or_else(|_| "memory,sqlite,postgres".into())
        .split(',')
        .filter_map(|name| match name.trim() {
            "memory" => Some(Adapter::Memory),
            "sqlite" => Some(Adapter::Sqlite),
            "postgres" => Some(Adapter::Postgres),
            _ => None,
        })
        .collect();
    let binary = server_binary(full);
    if full {
        Options {
            full,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            connections: 32,
            small_messages: 1_000,
            large_messages: 1_000_000,
            conversations: 1_000,
            binary,
            adapters,
        }
    } else {
        Options {
            full,
            duration: Duration::from_millis(700),
            warmup: Duration::from_millis(200),
            connections: 4,
            small_messages: 100,
            large_messages: 2_000,
            conversations: 20,
            binary,
            adapters,
        }
    }
}

/// The release binary for the full run (built here if needed), the debug one for the smoke.
fn server_binary(full: bool) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    if full {
        ai_message_testkit::server::build_release_binary(env!("CARGO_MANIFEST_DIR"));
        target.join("release").join("ai-message")
    } else {
        let binary = target.join("debug").join("ai-message");
        assert!(
            binary.is_file(),
            "{} is missing: cargo test builds it with the workspace",
            binary.display()
        );
        binary
    }
}

/// A running server process.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(binary: &Path, database_url: &str, bcrypt_cost: u32) -> Self {
        let mut child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .env("PORT", "0")
            .env("SECRET_KEY", SECRET)
            .env("BCRYPT_COST", bcrypt_cost.to_string())
            // The benchmark registers and logs in from one address on purpose.
            .env("REGISTER_MAX_PER_HOUR", "0")
            .env("LOGIN_MAX_FAILURES_PER_ADDRESS", "0")
            .env("RUST_LOG", "warn,ai_message_cli=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("the server announces where it listens")
                .unwrap();
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        Self { child, base }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// No server outlives the benchmark, even one that panics before stopping it.
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[derive(Debug, Clone)]
struct Row {
    adapter: &'static str,
    scenario: String,
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    errors: u64,
    peak_rss_mib: f64,
    server_cpu_us: f64,
    database_cpu_us: f64,
    note: String,
}

impl Row {
    fn json(&self) -> Value {
        json!({
            "adapter": self.adapter,
            "scenario": self.scenario,
            "requests_per_second": self.requests_per_second,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "requests": self.requests,
            "errors": self.errors,
            "peak_rss_mib": self.peak_rss_mib,
            "server_cpu_us_per_request": self.server_cpu_us,
            "database_cpu_us_per_request": self.database_cpu_us,
            "note": self.note,
        })
    }
}

type RequestFactory = Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync>;

struct LoadResult {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    histogram: Histogram<u64>,
    peak_rss_mib: f64,
    /// CPU time (user + system) over the measured window, in µs per request: the server
    /// process, and PostgreSQL's processes (all of them: the benchmark's database is the
    /// only busy one).
    server_cpu_us: f64,
    database_cpu_us: f64,
}

/// Clock ticks per second of `/proc/<pid>/stat`'s CPU times.
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User + system CPU seconds of one process so far (0 when it is gone).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index).and_then(|f| f.parse::<f64>().ok());
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    ticks(11)
        .zip(ticks(12))
        .map_or(0.0, |(u, s)| (u + s) / clock_ticks())
}

/// CPU seconds of every PostgreSQL process on this machine.
fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .map(cpu_seconds)
        .sum()
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap()
}

/// Runs `connections` closed loops of requests for `duration` after `warmup`, while sampling
/// the server's memory.
async fn load(
    client: &reqwest::Client,
    pid: u32,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    request: RequestFactory,
) -> LoadResult {
    let started = Instant::now();
    let measuring_from = started + warmup;
    let until = measuring_from + duration;
    let errors = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut peak: f64 = 0.0;
            while sampling.load(Ordering::Relaxed) {
                peak = peak.max(rss_mib(pid));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            peak.max(rss_mib(pid))
        })
    };
    // CPU is read at the start and the end of the measured window.
    let cpu_at_start = tokio::spawn(async move {
        tokio::time::sleep_until(measuring_from.into()).await;
        (cpu_seconds(pid), postgres_cpu_seconds())
    });
    let mut workers = Vec::new();
    for _ in 0..connections {
        let client = client.clone();
        let request = request.clone();
        let errors = errors.clone();
        workers.push(tokio::spawn(async move {
            let mut histogram = histogram();
            let mut requests = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= until {
                    break;
                }
                let ok = match request(&client).send().await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        let _ = response.bytes().await;
                        ok
                    }
                    Err(_) => false,
                };
                if sent >= measuring_from {
                    requests += 1;
                    let micros = sent.elapsed().as_micros() as u64;
                    histogram.saturating_record(micros.max(1));
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                } else if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            (requests, histogram)
        }));
    }
    let mut total = histogram();
    let mut requests = 0;
    for worker in workers {
        let (count, histogram) = worker.await.unwrap();
        requests += count;
        total.add(histogram).unwrap();
    }
    let (server_end, database_end) = (cpu_seconds(pid), postgres_cpu_seconds());
    let (server_start, database_start) = cpu_at_start.await.unwrap();
    sampling.store(false, Ordering::Relaxed);
    let per_request = |seconds: f64| seconds * 1e6 / requests.max(1) as f64;
    LoadResult {
        requests,
        errors: errors.load(Ordering::Relaxed),
        elapsed: duration,
        histogram: total,
        peak_rss_mib: sampler.await.unwrap(),
        server_cpu_us: per_request(server_end - server_start),
        database_cpu_us: per_request(database_end - database_start),
    }
}

fn row(adapter: Adapter, scenario: &str, result: &LoadResult, note: impl Into<String>) -> Row {
    let ms = |q: f64| result.histogram.value_at_quantile(q) as f64 / 1000.0;
    Row {
        adapter: adapter.name(),
        scenario: scenario.to_string(),
        requests_per_second: result.requests as f64 / result.elapsed.as_secs_f64(),
        p50_ms: ms(0.50),
        p99_ms: ms(0.99),
        requests: result.requests,
        errors: result.errors,
        peak_rss_mib: result.peak_rss_mib,
        server_cpu_us: result.server_cpu_us,
        database_cpu_us: result.database_cpu_us,
        note: note.into(),
    }
}

async fn post(client: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut request = client.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "seeding failed with {status}: {body}");
    body
}

struct Account {
    id: i64,
    token: String,
}

async fn account(client: &reqwest::Client, server: &Server, name: &str) -> Account {
    let password = format!("{name}-password");
    let user = post(
        client,
        server.url("/auth/register"),
        None,
        json!({"username": name, "email": format!("{name}@example.com"), "password": password}),
    )
    .await;
    login(client, server, name, user["id"].as_i64().unwrap()).await
}

async fn login(client: &reqwest::Client, server: &Server, name: &str, id: i64) -> Account {
    let session = post(
        client,
        server.url("/auth/login"),
        None,
        json!({"username": name, "password": format!("{name}-password")}),
    )
    .await;
    Account {
        id,
        token: session["access_token"].as_str().unwrap().to_string(),
    }
}

/// Sends `count` messages from `from` to `to`, 16 at a time.
async fn send_many(client: &reqwest::Client, server: &Server, from: &Account, to: i64, count: u64) {
    let url = server.url("/messages");
    let mut pending = Vec::new();
    for i in 0..count {
        let client = client.clone();
        let url = url.clone();
        let token = from.token.clone();
        pending.push(tokio::spawn(async move {
            post(
                &client,
                url,
                Some(&token),
                json!({"recipient_id": to, "content": format!("m{i}")}),
            )
            .await;
        }));
        if pending.len() == 16 {
            for task in pending.drain(..) {
                task.await.unwrap();
            }
        }
    }
    for task in pending {
        task.await.unwrap();
    }
}

/// A fresh database for one adapter; dropped (and removed) at the end.
enum Database {
    Memory,
    Sqlite(tempfile::TempDir),
    Postgres(ai_message_testkit::postgres::ScratchDatabase),
}

impl Database {
    async fn create(adapter: Adapter) -> Self {
        match adapter {
            Adapter::Memory => Database::Memory,
            Adapter::Sqlite => Database::Sqlite(tempfile::tempdir().unwrap()),
            Adapter::Postgres => {
                Database::Postgres(ai_message_testkit::postgres::ScratchDatabase::create().await)
            }
        }
    }

    fn url(&self) -> String {
        match self {
            Database::Memory => "memory://".into(),
            Database::Sqlite(dir) => format!("sqlite:///{}", dir.path().join("bench.db").display()),
            Database::Postgres(db) => db.url.clone(),
        }
    }

    /// Adds messages straight through the storage adapter (not over HTTP).
    async fn seed(&self, sender: i64, recipient: i64, count: u64) -> bool {
        let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        let (sender, recipient) = (
            ai_message_core::UserId::new(sender),
            ai_message_core::UserId::new(recipient),
        );
        match self {
            Database::Memory => false,
            Database::Sqlite(dir) => {
                let location = ai_message_sqlite::Location::File(dir.path().join("bench.db"));
                let store = ai_message_sqlite::SqliteStore::open(&location)
                    .await
                    .unwrap();
                store
                    .seed_messages(sender, recipient, "seed", count, start)
                    .await
                    .unwrap();
                true
            }
            Database::Postgres(db) => {
                let url = ai_message_postgres::PostgresUrl::parse(&db.url).unwrap();
                let store = ai_message_postgres::PostgresStore::open(&url, 2)
                    .await
                    .unwrap();
                store
                    .seed_messages(sender, recipient, "seed", count, start)
                    .await
                    .unwrap();
                true
            }
        }
    }
}

impl Database {
    /// PostgreSQL: gathers planner statistics after seeding, as autovacuum would within a
    /// minute. A fresh table has none, and then the planner reads a user's whole inbox by
    /// bitmap scan and sorts it instead of walking `ix_messages_recipient_created`: the
    /// benchmark would measure the first minute of a new database, run by run differently.
    async fn analyze(&self) {
        let Database::Postgres(db) = self else {
            return;
        };
        let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let connection = tokio::spawn(connection);
        client.batch_execute("ANALYZE").await.unwrap();
        drop(client);
        let _ = connection.await;
    }
}

/// Seconds per cost-12 bcrypt hash, measured here, and the login bound it implies.
async fn bcrypt_bound() -> (f64, f64) {
    let hasher = BcryptHasher::new(12, 1).unwrap();
    let password = Password::parse("measure-me-please").unwrap();
    let rounds = 3;
    let started = Instant::now();
    for _ in 0..rounds {
        hasher.hash(&password).await.unwrap();
    }
    let per_hash = started.elapsed().as_secs_f64() / rounds as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    (per_hash, cores / per_hash)
}

struct AdapterReport {
    rows: Vec<Row>,
    idle_rss_mib: f64,
}

async fn bench_adapter(options: &Options, adapter: Adapter, login_bound: f64) -> AdapterReport {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.connections * 2)
        .build()
        .unwrap();
    let database = Database::create(adapter).await;
    let url = database.url();
    let mut rows = Vec::new();
    let server = Server::start(&options.binary, &url, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_rss_mib = rss_mib(server.pid());
    let run = |server: &Server, request: RequestFactory, connections: usize| {
        load(
            &client,
            server.pid(),
            connections,
            options.warmup,
            options.duration,
            request,
        )
    };

    let health_url = server.url("/health");
    let result = run(
        &server,
        Arc::new(move |c: &reqwest::Client| c.get(&health_url)),
        options.connections,
    )
    .await;
    rows.push(row(adapter, "GET /health", &result, "the ceiling"));

    let reader = account(&client, &server, "reader").await;
    let sender = account(&client, &server, "sender").await;
    send_many(&client, &server, &sender, reader.id, options.small_messages).await;
    database.analyze().await;
    let received_url = server.url("/messages/received?limit=20");
    let token = reader.token.clone();
    let read = move |c: &reqwest::Client| c.get(&received_url).bearer_auth(&token);
    let result = run(&server, Arc::new(read.clone()), options.connections).await;
    rows.push(row(
        adapter,
        &format!("read, {} messages", options.small_messages),
        &result,
        "GET /messages/received?limit=20",
    ));

    let talker = account(&client, &server, "talker").await;
    for i in 0..options.conversations {
        let partner = account(&client, &server, &format!("partner{i}")).await;
        send_many(&client, &server, &talker, partner.id, 1).await;
    }
    database.analyze().await;
    let conversations_url = server.url("/auth/conversations");
    let token = talker.token.clone();
    let result = run(
        &server,
        Arc::new(move |c: &reqwest::Client| c.get(&conversations_url).bearer_auth(&token)),
        options.connections,
    )
    .await;
    rows.push(row(
        adapter,
        &format!("conversations, {}", options.conversations),
        &result,
        "GET /auth/conversations",
    ));

    let send_url = server.url("/messages");
    let token = sender.token.clone();
    let recipient = talker.id;
    let result = run(
        &server,
        Arc::new(move |c: &reqwest::Client| {
            c.post(&send_url)
                .bearer_auth(&token)
                .json(&json!({"recipient_id": recipient, "content": "benchmark message"}))
        }),
        options.connections,
    )
    .await;
    rows.push(row(
        adapter,
        "POST /messages",
        &result,
        "one pair: every send takes the same two users' next positions",
    ));

    // The same sends spread over 32 pairs of users, round robin: what contention on one
    // pair costs shows as the difference to the row above.
    let mut pairs = Vec::new();
    for i in 0..32 {
        let from = account(&client, &server, &format!("pair-sender{i}")).await;
        let to = account(&client, &server, &format!("pair-recipient{i}")).await;
        pairs.push((from.token, to.id));
    }
    let pairs = Arc::new(pairs);
    let next_pair = Arc::new(AtomicU64::new(0));
    let send_url = server.url("/messages");
    let result = run(
        &server,
        Arc::new(move |c: &reqwest::Client| {
            let n = next_pair.fetch_add(1, Ordering::Relaxed) as usize % pairs.len();
            let (token, recipient) = &pairs[n];
            c.post(&send_url)
                .bearer_auth(token)
                .json(&json!({"recipient_id": recipient, "content": "benchmark message"}))
        }),
        options.connections,
    )
    .await;
    rows.push(row(adapter, "POST /messages, 32 pairs", &result, ""));

    // The large table: seeded straight through the adapter while the server is down.
    let server = if adapter == Adapter::Memory {
        rows.push(Row {
            adapter: adapter.name(),
            scenario: format!("read, {} messages", options.large_messages),
            requests_per_second: 0.0,
            p50_ms: 0.0,
            p99_ms: 0.0,
            requests: 0,
            errors: 0,
            peak_rss_mib: 0.0,
            server_cpu_us: 0.0,
            database_cpu_us: 0.0,
            note: "n/a: memory:// lives inside the server process and cannot be seeded \
                   from outside"
                .into(),
        });
        server
    } else {
        server.stop();
        let extra = options.large_messages - options.small_messages;
        let seeded = Instant::now();
        assert!(database.seed(sender.id, reader.id, extra).await);
        database.analyze().await;
        let seed_seconds = seeded.elapsed().as_secs_f64();
        let server = Server::start(&options.binary, &url, 4);
        let received_url = server.url("/messages/received?limit=20");
        let token = reader.token.clone();
        let result = run(
            &server,
            Arc::new(move |c: &reqwest::Client| c.get(&received_url).bearer_auth(&token)),
            options.connections,
        )
        .await;
        rows.push(row(
            adapter,
            &format!("read, {} messages", options.large_messages),
            &result,
            format!("seeded through the adapter in {seed_seconds:.1} s"),
        ));
        server
    };
    server.stop();

    // Logins at cost 12, with a liveness probe beside them.
    let server = Server::start(&options.binary, &url, 12);
    let hasher = account(&client, &server, "hasher12").await;
    let _ = hasher.id;
    let login_url = server.url("/auth/login");
    let probe_url = server.url("/health");
    let probing = Arc::new(AtomicBool::new(true));
    let probe = {
        let client = client.clone();
        let probing = probing.clone();
        let warmup = options.warmup;
        tokio::spawn(async move {
            let mut histogram = histogram();
            let mut errors = 0u64;
            tokio::time::sleep(warmup).await;
            while probing.load(Ordering::Relaxed) {
                let sent = Instant::now();
                match client.get(&probe_url).send().await {
                    Ok(response) if response.status().is_success() => {}
                    _ => errors += 1,
                }
                histogram.saturating_record(sent.elapsed().as_micros() as u64);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (histogram, errors)
        })
    };
    let result = run(
        &server,
        Arc::new(move |c: &reqwest::Client| {
            c.post(&login_url)
                .json(&json!({"username": "hasher12", "password": "hasher12-password"}))
        }),
        4,
    )
    .await;
    probing.store(false, Ordering::Relaxed);
    let (probe_histogram, probe_errors) = probe.await.unwrap();
    let login_row = row(
        adapter,
        "POST /auth/login, cost 12",
        &result,
        format!(
            "{:.0}% of the bcrypt bound ({login_bound:.2}/s)",
            100.0 * result.requests as f64 / result.elapsed.as_secs_f64() / login_bound
        ),
    );
    rows.push(login_row);
    rows.push(Row {
        adapter: adapter.name(),
        scenario: "GET /health beside logins".into(),
        requests_per_second: probe_histogram.len() as f64 / options.duration.as_secs_f64(),
        p50_ms: probe_histogram.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: probe_histogram.value_at_quantile(0.99) as f64 / 1000.0,
        requests: probe_histogram.len(),
        errors: probe_errors,
        peak_rss_mib: result.peak_rss_mib,
        server_cpu_us: 0.0,
        database_cpu_us: 0.0,
        note: "one probe every 20 ms".into(),
    });
    server.stop();
    drop(database);
    AdapterReport { rows, idle_rss_mib }
}

fn find<'a>(rows: &'a [Row], adapter: &str, prefix: &str) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.adapter == adapter && r.scenario.starts_with(prefix))
}

/// Issue 15's targets: each storage adapter's throughput as a share of the memory adapter's
/// in this same run (ratios carry across machines, absolute figures do not), and the memory
/// adapter's read as a share of `/health`. Printed as a table; also returned for the JSON.
fn ratio_table(rows: &[Row], options: &Options) -> Vec<Value> {
    let rate = |adapter: &str, prefix: &str| {
        find(rows, adapter, prefix)
            .filter(|r| r.requests > 0)
            .map(|r| r.requests_per_second)
    };
    let read = format!("read, {} messages", options.small_messages);
    let conversations = format!("conversations, {}", options.conversations);
    let scenarios: [(&str, &str, f64, f64); 3] = [
        ("authenticated read, 20 messages", read.as_str(), 0.70, 0.50),
        ("send", "POST /messages", 0.40, 0.25),
        ("conversations list", conversations.as_str(), 0.50, 0.40),
    ];
    let percent =
        |value: Option<f64>| value.map_or("—".to_string(), |v| format!("{:.0} %", v * 100.0));
    println!(
        "
| scenario | SQLite / memory | target | PostgreSQL / memory | target |"
    );
    println!("|---|---:|---:|---:|---:|");
    let mut table = Vec::new();
    for (name, prefix, sqlite_target, postgres_target) in scenarios {
        let memory = rate("memory", prefix);
        let share = |adapter: &str| rate(adapter, prefix).zip(memory).map(|(a, m)| a / m);
        let (sqlite, postgres) = (share("sqlite"), share("postgres"));
        println!(
            "| {name} | {} | ≥ {:.0} % | {} | ≥ {:.0} % |",
            percent(sqlite),
            sqlite_target * 100.0,
            percent(postgres),
            postgres_target * 100.0
        );
        table.push(json!({"scenario": name, "sqlite": sqlite, "postgres": postgres}));
    }
    let memory_read = rate("memory", &read)
        .zip(rate("memory", "GET /health"))
        .map(|(r, h)| r / h);
    println!(
        "| memory read / `GET /health` | {} | ≥ 45 % | | |",
        percent(memory_read)
    );
    table.push(json!({"scenario": "memory read vs health", "memory": memory_read}));
    table
}

/// Issue 27's measure: CPU time per request (server process, plus PostgreSQL's processes for
/// the PostgreSQL adapter) and its ratio to the memory adapter's in the same run, the floor
/// of HTTP, JSON, JWT and the use case with no storage. Printed as a table; also returned for
/// the JSON. Every cell is produced in smoke mode too (`check_cost_table`), values unjudged.
fn cost_table(rows: &[Row], options: &Options) -> Vec<Value> {
    let cost = |adapter: &str, prefix: &str| {
        find(rows, adapter, prefix)
            .filter(|r| r.requests > 0)
            .map(|r| (r.server_cpu_us, r.database_cpu_us))
    };
    let read = format!("read, {} messages", options.small_messages);
    let conversations = format!("conversations, {}", options.conversations);
    // (name, row prefix, SQLite target, PostgreSQL target) as × the floor.
    let scenarios: [(&str, &str, f64, f64); 3] = [
        ("authenticated read, 20 messages", read.as_str(), 1.6, 2.5),
        ("send", "POST /messages", 2.0, 5.0),
        (conversations.as_str(), conversations.as_str(), 2.0, 3.0),
    ];
    let micros = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.0}"));
    let times = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.2}×"));
    println!(
        "\nCPU per request, µs (server process; PostgreSQL: server + database processes):\n\n\
         | scenario | memory (floor) | SQLite | × floor | target | PostgreSQL: server + database \
         | × floor | target | PostgreSQL server alone × floor |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut table = Vec::new();
    for (name, prefix, sqlite_target, postgres_target) in scenarios {
        let floor = cost("memory", prefix).map(|(server, _)| server);
        let sqlite = cost("sqlite", prefix).map(|(server, _)| server);
        let postgres = cost("postgres", prefix);
        let over_floor = |v: Option<f64>| v.zip(floor).map(|(v, f)| v / f.max(f64::MIN_POSITIVE));
        let postgres_total = postgres.map(|(server, database)| server + database);
        println!(
            "| {name} | {} | {} | {} | ≤ {sqlite_target}× | {} | {} | ≤ {postgres_target}× | {} |",
            micros(floor),
            micros(sqlite),
            times(over_floor(sqlite)),
            postgres.map_or("—".to_string(), |(server, database)| format!(
                "{server:.0} + {database:.0} = {:.0}",
                server + database
            )),
            times(over_floor(postgres_total)),
            times(over_floor(postgres.map(|(server, _)| server))),
        );
        table.push(json!({
            "scenario": name,
            "memory_us": floor,
            "sqlite_us": sqlite,
            "sqlite_x_floor": over_floor(sqlite),
            "sqlite_target_x": sqlite_target,
            "postgres_server_us": postgres.map(|(server, _)| server),
            "postgres_database_us": postgres.map(|(_, database)| database),
            "postgres_x_floor": over_floor(postgres_total),
            "postgres_target_x": postgres_target,
            "postgres_server_x_floor": over_floor(postgres.map(|(server, _)| server)),
        }));
    }
    table
}

/// The cost table has a figure in every column for every adapter that ran (never judged:
/// a smoke run on a debug binary says nothing about cost).
fn check_cost_table(table: &[Value], adapters: &[Adapter]) -> Result<(), String> {
    let columns: &[(Adapter, &[&str])] = &[
        (Adapter::Memory, &["memory_us"]),
        (Adapter::Sqlite, &["sqlite_us", "sqlite_x_floor"]),
        (
            Adapter::Postgres,
            &[
                "postgres_server_us",
                "postgres_database_us",
                "postgres_x_floor",
                "postgres_server_x_floor",
            ],
        ),
    ];
    for line in table {
        for (adapter, names) in columns {
            let needs_floor = *adapter == Adapter::Memory || adapters.contains(&Adapter::Memory);
            if !adapters.contains(adapter) || !needs_floor {
                continue;
            }
            for name in *names {
                if !line[name].as_f64().is_some_and(f64::is_finite) {
                    return Err(format!(
                        "cost table: {name} missing for {}",
                        line["scenario"]
                    ));
                }
            }
        }
    }
    Ok(())
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (per_hash, bound) = runtime.block_on(bcrypt_bound());
    println!(
        "bench: {} mode; cost-12 bcrypt hash {:.0} ms here, so the login bound is {bound:.2}/s",
        if options.full { "full" } else { "smoke" },
        per_hash * 1000.0
    );
    let mut rows = Vec::new();
    let mut idle = Vec::new();
    for adapter in &options.adapters {
        let report = runtime.block_on(bench_adapter(&options, *adapter, bound));
        idle.push((adapter.name(), report.idle_rss_mib));
        rows.extend(report.rows);
    }

    println!(
        "\n| adapter | scenario | req/s | p50 ms | p99 ms | requests | errors | peak RSS MiB | \
         server CPU µs/req | PostgreSQL CPU µs/req | note |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {:.1} | {:.0} | {:.0} | {} |",
            r.adapter,
            r.scenario,
            r.requests_per_second,
            r.p50_ms,
            r.p99_ms,
            r.requests,
            r.errors,
            r.peak_rss_mib,
            r.server_cpu_us,
            r.database_cpu_us,
            r.note
        );
    }
    println!("\nRatios (targets in BENCHMARKS.md):");
    let mut ratios = Vec::new();
    for (adapter, idle_rss) in &idle {
        let health = find(&rows, adapter, "GET /health").map_or(0.0, |r| r.requests_per_second);
        let small = format!("read, {} messages", options.small_messages);
        let large = format!("read, {} messages", options.large_messages);
        let read = find(&rows, adapter, &small);
        let read_large = find(&rows, adapter, &large).filter(|r| r.requests > 0);
        let send = find(&rows, adapter, "POST /messages");
        let login = find(&rows, adapter, "POST /auth/login");
        let probe = find(&rows, adapter, "GET /health beside");
        let peak_read = read.map_or(0.0, |r| r.peak_rss_mib);
        let line = json!({
            "adapter": adapter,
            "read_vs_health": read.map(|r| r.requests_per_second / health),
            "send_vs_health": send.map(|r| r.requests_per_second / health),
            "login_vs_bound": login.map(|r| r.requests_per_second / bound),
            "probe_p99_ms": probe.map(|r| r.p99_ms),
            "large_vs_small_read_p50": read_large.zip(read).map(|(l, s)| l.p50_ms / s.p50_ms),
            "idle_rss_mib": idle_rss,
            "read_peak_rss_mib": peak_read,
        });
        println!("  {line}");
        ratios.push(line);
    }
    let targets = ratio_table(&rows, &options);
    let cost = cost_table(&rows, &options);
    let errors: u64 = rows.iter().map(|r| r.errors).sum();
    let report = json!({
        "targets": targets,
        "cpu_per_request": cost,
        "mode": if options.full { "full" } else { "smoke" },
        "machine": {
            "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "bcrypt_cost12_ms": per_hash * 1000.0,
            "login_bound_per_second": bound,
        },
        "rows": rows.iter().map(Row::json).collect::<Vec<_>>(),
        "ratios": ratios,
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("bench");
    let _ = std::fs::create_dir_all(&out);
    let file = out.join(if options.full {
        "load.json"
    } else {
        "load-smoke.json"
    });
    std::fs::write(&file, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("\nwrote {}", file.display());
    if errors > 0 {
        eprintln!("bench: {errors} requests failed or answered non-2xx");
        std::process::exit(1);
    }
    if let Err(missing) = check_cost_table(&cost, &options.adapters) {
        eprintln!("bench: {missing}");
        std::process::exit(1);
    }
}
