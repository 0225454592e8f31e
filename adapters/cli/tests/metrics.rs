//! Prometheus metrics on `METRICS_ADDR`: scraped from the real binary and read with a
//! Prometheus text parser.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ai_message_testkit::server::Server;
use futures_util::StreamExt;
use prometheus_parse::{Sample, Scrape, Value};
use serde_json::{Value as Json, json};

fn metrics_url(server: &Server) -> String {
    server
        .startup_log()
        .iter()
        .find_map(|line| line.split("metrics on ").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap().to_string())
        .expect("the server says where its metrics are")
}

async fn scrape(url: &str) -> Scrape {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
    );
    let text = response.text().await.unwrap();
    Scrape::parse(text.lines().map(|line| Ok(line.to_string()))).unwrap()
}

/// The value of the one sample of `metric` whose labels include `labels`.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<&Sample> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert!(matching.len() <= 1, "{metric} {labels:?}: {matching:#?}");
    matching.first().map(|s| match &s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
        Value::Summary(_) => f64::NAN,
    })
}

async fn eventually(url: &str, metric: &str, expected: f64) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let scrape = scrape(url).await;
        if value(&scrape, metric, &[]) == Some(expected) {
            return scrape;
        }
        assert!(
            Instant::now() < deadline,
            "{metric} never became {expected}: {:?}",
            value(&scrape, metric, &[])
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_apart_and_parse_as_prometheus_text() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite:///{}", dir.path().join("metrics.db").display());
    let server = Server::start(&[
        ("DATABASE_URL", database.as_str()),
        ("METRICS_ADDR", "127.0.0.1:0"),
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS", "1"),
        // A stream learns its client left when it next writes: beat often.
        ("STREAM_HEARTBEAT_SECONDS", "1"),
    ]);
    let url = metrics_url(&server);
    let http = reqwest::Client::new();

    let register = http
        .post(server.url("/auth/register"))
        .json(&json!({"username": "alice", "email": "alice@example.com", "password": "alice-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 201);
    let login: Json = http
        .post(server.url("/auth/login"))
        .json(&json!({"username": "alice", "password": "alice-password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_string();
    for attempt in 0..2 {
        let wrong = http
            .post(server.url("/auth/login"))
            .json(&json!({"username": "alice", "password": "not-her-password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), if attempt == 0 { 401 } else { 429 });
    }
    for id in ["4242", "4343"] {
        let missing = http
            .get(server.url(&format!("/messages/{id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
    }
    let nowhere = http.get(server.url("/no/such/route")).send().await.unwrap();
    assert_eq!(nowhere.status(), 404);
    let not_here = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(
        not_here.status(),
        404,
        "metrics are not on the API's listener"
    );

    let mut stream = http
        .get(server.url("/messages/stream"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes_stream();
    stream.next().await.unwrap().unwrap();

    let scrape = eventually(&url, "storage_pool_connections", 5.0).await;
    let count = |labels: &[(&str, &str)]| value(&scrape, "http_requests_total", labels);
    assert_eq!(
        count(&[
            ("route", "/auth/register"),
            ("method", "POST"),
            ("status", "201")
        ]),
        Some(1.0)
    );
    assert_eq!(
        count(&[
            ("route", "/auth/login"),
            ("method", "POST"),
            ("status", "429")
        ]),
        Some(1.0)
    );
    assert_eq!(
        count(&[
            ("route", "/messages/:id"),
            ("method", "GET"),
            ("status", "404")
        ]),
        Some(2.0),
        "requests are labelled by route template, not by path"
    );
    assert_eq!(
        count(&[("route", "unmatched"), ("method", "GET"), ("status", "404")]),
        Some(2.0),
        "paths no route matched share one label"
    );
    assert!(
        !scrape
            .samples
            .iter()
            .any(|s| s.labels.get("route").is_some_and(|r| r.contains("4242"))),
        "no raw path becomes a label"
    );
    let latency = value(
        &scrape,
        "http_request_duration_seconds",
        &[
            ("route", "/auth/register"),
            ("method", "POST"),
            ("status", "201"),
        ],
    );
    assert_eq!(latency, Some(1.0), "one observation in the histogram");
    assert_eq!(
        value(
            &scrape,
            "http_throttle_refusals_total",
            &[("route", "/auth/login")]
        ),
        Some(1.0)
    );
    assert_eq!(value(&scrape, "live_streams_open", &[]), Some(1.0));
    let gauges: HashMap<&str, Option<f64>> = [
        "http_requests_in_flight",
        "password_hash_queue_depth",
        "password_hash_refusals_total",
        "assistant_model_calls_in_flight",
        "storage_pool_waiting",
    ]
    .into_iter()
    .map(|name| (name, value(&scrape, name, &[])))
    .collect();
    for (name, sampled) in &gauges {
        assert!(sampled.is_some(), "{name} is exposed: {gauges:?}");
    }
    assert_eq!(gauges["password_hash_refusals_total"], Some(0.0));
    assert!(
        scrape.docs.contains_key("http_requests_total"),
        "HELP lines"
    );

    drop(stream);
    eventually(&url, "live_streams_open", 0.0).await;
    let (exit, _) = server.terminate();
    assert!(exit.success());
}

#[test]
fn a_bad_metrics_address_stops_start_up() {
    let output = std::process::Command::new(ai_message_testkit::server::binary())
        .env_clear()
        .env("DATABASE_URL", "memory://")
        .env("METRICS_ADDR", "not-an-address")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("METRICS_ADDR"));
}

/// Methods a client invents fold into one `method="other"` series: 300 requests with 300
/// different methods (one of 2,000 bytes) add a handful of series, not hundreds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_add_no_series() {
    let server = Server::start(&[
        ("DATABASE_URL", "memory://"),
        ("METRICS_ADDR", "127.0.0.1:0"),
    ]);
    let url = metrics_url(&server);
    let http = reqwest::Client::new();
    let before = reqwest::get(&url).await.unwrap().text().await.unwrap();
    for n in 0..300 {
        let method = if n == 0 {
            "X".repeat(2_000)
        } else {
            format!("INVENTED{n}")
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let answered = http
            .request(method, server.url("/health"))
            .send()
            .await
            .unwrap();
        assert!(answered.status().is_client_error(), "{}", answered.status());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(
        !text.contains("INVENTED"),
        "an invented method became a label"
    );
    assert!(text.contains(r#"method="other""#));
    let series = |text: &str| text.lines().filter(|l| !l.starts_with('#')).count();
    assert!(
        series(&text) < series(&before) + 40,
        "{} series before, {} after",
        series(&before),
        series(&text)
    );
}
