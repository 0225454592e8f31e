//! Prometheus metrics on a listener of their own (`METRICS_ADDR`), apart from the API so that
//! they are never exposed where the API is: the `metrics` facade's recorder, rendered as the
//! text exposition at `GET /metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ai_message_sql::PoolStats;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{EndpointExt, Route, get, handler, web::Data};

/// Samples how busy the storage's connections are.
pub type PoolProbe = Arc<dyn Fn() -> PoolStats + Send + Sync>;

const POOL_CONNECTIONS: &str = "storage_pool_connections";
const POOL_IDLE: &str = "storage_pool_idle_connections";
const POOL_WAITING: &str = "storage_pool_waiting";

/// Request latencies from a millisecond to ten seconds.
const REQUEST_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Model calls take seconds.
const MODEL_BUCKETS: [f64; 9] = [0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0];

/// Why metrics could not be served.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot install the metrics recorder: {0}")]
    Recorder(#[source] metrics_exporter_prometheus::BuildError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Installs the recorder, starts sampling `pool` and serves `/metrics` on `address`;
/// returns where it listens.
pub async fn start(
    address: SocketAddr,
    pool: Option<PoolProbe>,
) -> Result<SocketAddr, MetricsError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(ai_message_http::metrics::DURATION.into()),
            &REQUEST_BUCKETS,
        )
        .and_then(|builder| {
            builder.set_buckets_for_metric(
                Matcher::Full(ai_message_openai::CALL_DURATION.into()),
                &MODEL_BUCKETS,
            )
        })
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(MetricsError::Recorder)?;
    ai_message_http::metrics::describe();
    ai_message_bcrypt::describe_metrics();
    ai_message_openai::describe_metrics();
    ai_message_twilio::describe_metrics();
    metrics::describe_gauge!(POOL_CONNECTIONS, "Storage connections open");
    metrics::describe_gauge!(POOL_IDLE, "Storage connections idle (PostgreSQL)");
    metrics::describe_gauge!(
        POOL_WAITING,
        "Requests waiting for a storage connection (SQLite: jobs queued for its threads)"
    );
    // Gauges that nothing else moves start at zero rather than missing.
    metrics::gauge!(ai_message_http::metrics::IN_FLIGHT).set(0.0);
    metrics::gauge!(ai_message_http::metrics::STREAMS_OPEN).set(0.0);
    metrics::gauge!(ai_message_bcrypt::QUEUE_DEPTH).set(0.0);
    metrics::counter!(ai_message_bcrypt::REFUSALS).absolute(0);
    metrics::gauge!(ai_message_openai::CALLS_IN_FLIGHT).set(0.0);

    let acceptor = TcpListener::bind(address)
        .into_acceptor()
        .await
        .map_err(|source| MetricsError::Bind { address, source })?;
    let bound = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .unwrap_or(address);
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
            if let Some(pool) = &pool {
                let stats = pool();
                metrics::gauge!(POOL_CONNECTIONS).set(stats.connections as f64);
                if let Some(idle) = stats.idle {
                    metrics::gauge!(POOL_IDLE).set(idle as f64);
                }
                metrics::gauge!(POOL_WAITING).set(stats.waiting as f64);
            }
        }
    });
    let app = Route::new().at("/metrics", get(exposition)).data(handle);
    tokio::spawn(async move {
        if let Err(error) = poem::Server::new_with_acceptor(acceptor).run(app).await {
            tracing::error!(%error, "the metrics listener stopped");
        }
    });
    Ok(bound)
}

#[handler]
fn exposition(handle: Data<&PrometheusHandle>) -> poem::Response {
    poem::Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}
