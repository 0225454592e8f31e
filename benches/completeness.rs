//! The live stream's completeness, counted at size: concurrent senders write to one user for
//! a while, one stream of that user never reconnects and another resumes with
//! `Last-Event-ID` every 200 ms; at the end each must have delivered exactly the messages
//! the user holds, once (`ai_message_testkit::completeness`).
//!
//! `cargo bench --bench completeness` runs 32 senders for 30 s on each adapter (memory,
//! SQLite, PostgreSQL, and PostgreSQL across two instances); under `cargo test` a short
//! smoke mode runs. Both fail when a stream misses or repeats a message. Results print as a
//! table and go to `target/bench/completeness.json`.

use std::sync::Arc;
use std::time::Duration;

use ai_message_core::ports::Storage;
use ai_message_testkit::completeness::{self, Load, Report};
use ai_message_testkit::http_api::harness::TestServer;
use ai_message_testkit::{postgres, sqlite};
use serde_json::json;

fn load(full: bool) -> Load {
    if full {
        Load {
            senders: 32,
            duration: Duration::from_secs(30),
            max_per_sender: 1_000_000,
            reconnect_every: Duration::from_millis(200),
            pace: Some(Duration::from_millis(20)),
        }
    } else {
        Load {
            senders: 8,
            duration: Duration::from_millis(600),
            max_per_sender: 40,
            reconnect_every: Duration::from_millis(100),
            pace: None,
        }
    }
}

async fn run_on(storage: Storage, load: Load) -> Report {
    let server = Arc::new(TestServer::new(storage));
    completeness::run(server.clone(), server, load, || async {}).await
}

async fn across_instances(load: Load) -> Report {
    let (first, database) = postgres::fresh_postgres().await;
    let url = ai_message_postgres::PostgresUrl::parse(&database.url).unwrap();
    let second = ai_message_postgres::PostgresStore::open(&url, 10)
        .await
        .unwrap()
        .storage();
    let report = completeness::run(
        Arc::new(TestServer::new(second)),
        Arc::new(TestServer::new(first)),
        load,
        || async {},
    )
    .await;
    drop(database);
    report
}

fn main() {
    // cargo passes `--bench` to bench targets only under `cargo bench`.
    let full = std::env::args().any(|arg| arg == "--bench");
    let load = load(full);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let reports: Vec<(&str, Report)> = runtime.block_on(async {
        let mut reports = vec![(
            "memory",
            run_on(ai_message_memory::MemoryStore::storage(), load).await,
        )];
        let (storage, _dir) = sqlite::fresh_sqlite().await;
        reports.push(("sqlite", run_on(storage, load).await));
        let (storage, database) = postgres::fresh_postgres().await;
        reports.push(("postgres", run_on(storage, load).await));
        drop(database);
        reports.push(("postgres, two instances", across_instances(load).await));
        reports
    });
    println!(
        "\ncompleteness: {} senders (+ the recipient's other device) for {:?}, reconnecting \
         every {:?}\n",
        load.senders, load.duration, load.reconnect_every
    );
    println!(
        "| storage | sent | held | steady: delivered / missing / repeated | reconnecting: \
         delivered / missing / repeated / resumes | sends/s |"
    );
    println!("|---|---:|---:|---|---|---:|");
    let mut rows = Vec::new();
    let mut complete = true;
    for (name, report) in &reports {
        let (steady, resumed) = (&report.steady, &report.reconnecting);
        println!(
            "| {name} | {} | {} | {} / {} / {}{} | {} / {} / {} / {}{} | {:.0} |",
            report.sent,
            report.held,
            steady.delivered,
            steady.missing.len(),
            steady.repeated.len(),
            if steady.closed_by_server {
                " (closed by the server)"
            } else {
                ""
            },
            resumed.delivered,
            resumed.missing.len(),
            resumed.repeated.len(),
            resumed.reconnects,
            if resumed.resets > 0 { " (reset)" } else { "" },
            report.sent as f64 / report.elapsed.as_secs_f64(),
        );
        complete &= report.held == report.sent && steady.is_complete() && resumed.is_complete();
        rows.push(json!({
            "storage": name,
            "sent": report.sent,
            "held": report.held,
            "steady": {"delivered": steady.delivered, "missing": steady.missing.len(),
                       "repeated": steady.repeated.len(), "closed_by_server": steady.closed_by_server},
            "reconnecting": {"delivered": resumed.delivered, "missing": resumed.missing.len(),
                             "repeated": resumed.repeated.len(), "reconnects": resumed.reconnects,
                             "resets": resumed.resets},
            "seconds": report.elapsed.as_secs_f64(),
        }));
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let _ = std::fs::create_dir_all(&out);
    let file = out.join(if full {
        "completeness.json"
    } else {
        "completeness-smoke.json"
    });
    std::fs::write(&file, serde_json::to_string_pretty(&rows).unwrap()).unwrap();
    println!("\nwrote {}", file.display());
    if !complete {
        eprintln!("completeness: a stream missed or repeated a message (above)");
        std::process::exit(1);
    }
}
