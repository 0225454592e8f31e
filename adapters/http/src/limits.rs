//! Abuse limits of the HTTP adapter: refresh and registration rate-limited per client
//! address, request bodies capped in size and in time. (Failed logins are throttled by the
//! login use case, behind a port that PostgreSQL shares between instances.)
//!
//! These counters live in each instance's memory: behind a load balancer every instance
//! enforces its own share, which bounds a client to (instances × limit).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use parking_lot::Mutex;
use poem::http::StatusCode;
use poem::{Body, Endpoint, Request, Response};

/// How many events a key may have within a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// 0 turns the limit off.
    pub max: u32,
    pub window: Duration,
}

impl Quota {
    pub const fn new(max: u32, window: Duration) -> Self {
        Self { max, window }
    }

    pub const fn unlimited() -> Self {
        Self {
            max: 0,
            window: Duration::from_secs(1),
        }
    }
}

/// A sliding-window log per key. Only what is recorded counts, so it serves both "failures
/// only" (logins) and "every request" (refresh, register); and `retry_after` looks without
/// counting. Memory stays bounded: old events are dropped, and past `MAX_KEYS` keys the
/// quietest are forgotten.
pub struct SlidingWindow {
    quota: Quota,
    events: Mutex<HashMap<String, VecDeque<Instant>>>,
}

const MAX_KEYS: usize = 100_000;

impl SlidingWindow {
    pub fn new(quota: Quota) -> Self {
        Self {
            quota,
            events: Mutex::new(HashMap::new()),
        }
    }

    fn prune(log: &mut VecDeque<Instant>, window: Duration, now: Instant) {
        while log
            .front()
            .is_some_and(|oldest| now.duration_since(*oldest) >= window)
        {
            log.pop_front();
        }
    }

    /// How long `key` must wait before its next attempt, if it is over its quota now.
    pub fn retry_after(&self, key: &str) -> Option<Duration> {
        if self.quota.max == 0 {
            return None;
        }
        let now = Instant::now();
        let mut events = self.events.lock();
        let log = events.get_mut(key)?;
        Self::prune(log, self.quota.window, now);
        if log.len() < self.quota.max as usize {
            return None;
        }
        let oldest = *log.front()?;
        Some(self.quota.window.saturating_sub(now.duration_since(oldest)))
    }

    /// Counts one event for `key`.
    pub fn record(&self, key: &str) {
        if self.quota.max == 0 {
            return;
        }
        let now = Instant::now();
        let mut events = self.events.lock();
        if events.len() >= MAX_KEYS && !events.contains_key(key) {
            let window = self.quota.window;
            events.retain(|_, log| {
                Self::prune(log, window, now);
                !log.is_empty()
            });
            if events.len() >= MAX_KEYS {
                // Still full of live keys: forget an arbitrary one rather than grow.
                if let Some(victim) = events.keys().next().cloned() {
                    events.remove(&victim);
                }
            }
        }
        let log = events.entry(key.to_string()).or_default();
        Self::prune(log, self.quota.window, now);
        log.push_back(now);
        let keep = self.quota.max as usize;
        while log.len() > keep {
            log.pop_front();
        }
    }

    /// Forgets `key` (a successful login clears its username's failures).
    pub fn clear(&self, key: &str) {
        self.events.lock().remove(key);
    }

    /// Counts an event and says whether it was over the quota (for every-request limits).
    pub fn hit(&self, key: &str) -> Option<Duration> {
        if let Some(wait) = self.retry_after(key) {
            return Some(wait);
        }
        self.record(key);
        None
    }
}

/// The quotas of the server, read from the environment by the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    pub refresh_per_address: Quota,
    pub register_per_address: Quota,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest time a request body may take to arrive.
    pub body_read_timeout: Duration,
    /// Between the comment lines a live stream sends so that proxies keep it open.
    pub stream_heartbeat: Duration,
    /// IPv6 clients are counted per this prefix (see `ai_message_core::address_limit_key`).
    pub ipv6_limit_prefix: u8,
    /// What a connection, a client address and the process may hold (`connection_budget`).
    pub connection: crate::connection_budget::ConnectionRules,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            refresh_per_address: Quota::new(60, Duration::from_secs(60)),
            register_per_address: Quota::new(20, Duration::from_secs(60 * 60)),
            max_body_bytes: 1024 * 1024,
            body_read_timeout: Duration::from_secs(30),
            stream_heartbeat: Duration::from_secs(15),
            ipv6_limit_prefix: 64,
            connection: crate::connection_budget::ConnectionRules::default(),
        }
    }
}

impl LimitSettings {
    /// No rate limits (tests and benchmarks that hammer one address on purpose); the body
    /// cap and timeout stay.
    pub fn without_rate_limits() -> Self {
        Self {
            refresh_per_address: Quota::unlimited(),
            register_per_address: Quota::unlimited(),
            ..Self::default()
        }
    }
}

/// The live limiters of one server.
pub struct Limits {
    pub settings: LimitSettings,
    /// The budgets of the open connections; the connection layer registers each.
    pub connections: Arc<crate::connection_budget::ConnectionBudgets>,
    pub refresh_by_address: SlidingWindow,
    pub register_by_address: SlidingWindow,
}

impl Limits {
    /// `proxies` (trusted) speak for many clients: their connections are not bounded per
    /// address.
    pub fn new(settings: LimitSettings, proxies: &crate::TrustedProxies) -> Self {
        Self {
            settings,
            connections: crate::connection_budget::ConnectionBudgets::new(
                settings.connection,
                settings.ipv6_limit_prefix,
                proxies.clone(),
            ),
            refresh_by_address: SlidingWindow::new(settings.refresh_per_address),
            register_by_address: SlidingWindow::new(settings.register_per_address),
        }
    }
}

/// Marks the I/O error a capped body stream ends with, so the error renderer can tell it
/// from a broken connection.
#[derive(Debug, thiserror::Error)]
enum BodyLimitError {
    #[error("request body exceeds {0} bytes")]
    TooLarge(usize),
    #[error("request body took too long to arrive")]
    TooSlow,
}

/// Which body limit a request broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyBreach {
    TooLarge(usize),
    TooSlow,
}

/// Finds a body-limit breach behind a framework error (reading the body failed with it).
pub fn body_limit_breach(error: &poem::Error) -> Option<BodyBreach> {
    use std::error::Error as _;
    let mut source: Option<&(dyn std::error::Error + 'static)> = error.source();
    if let Some(read) = error.downcast_ref::<poem::error::ReadBodyError>() {
        source = Some(read);
    }
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(limit) = inner.downcast_ref::<BodyLimitError>()
        {
            return Some(match limit {
                BodyLimitError::TooLarge(max) => BodyBreach::TooLarge(*max),
                BodyLimitError::TooSlow => BodyBreach::TooSlow,
            });
        }
        source = cause.source();
    }
    // poem-openapi's form parser keeps only the message.
    let text = error.to_string();
    if let Some(rest) = text.split("request body exceeds ").nth(1) {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        return Some(BodyBreach::TooLarge(digits.parse().unwrap_or(0)));
    }
    if text.contains("request body took too long") {
        return Some(BodyBreach::TooSlow);
    }
    None
}

/// Caps the request body: a declared `Content-Length` over the cap is refused at once; an
/// undeclared body is cut off when it grows past the cap or takes longer than the timeout.
/// Then runs the request within its connection's budget (`connection_budget`), which reads
/// the capped body.
pub async fn limit_body<E: Endpoint>(
    endpoint: Arc<E>,
    mut request: Request,
    max_bytes: usize,
    timeout: Duration,
    budgets: Arc<crate::connection_budget::ConnectionBudgets>,
) -> poem::Result<Response> {
    let declared = request
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_bytes as u64) {
        return Ok(too_large(max_bytes));
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let stream = request.take_body().into_bytes_stream();
    let limited = futures_util::stream::unfold(
        (stream, 0usize, false),
        move |(mut stream, seen, done)| async move {
            if done {
                return None;
            }
            let fail = |e: BodyLimitError| std::io::Error::other(e);
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => Some((Err(fail(BodyLimitError::TooSlow)), (stream, seen, true))),
                Ok(None) => None,
                Ok(Some(Err(error))) => Some((Err(error), (stream, seen, true))),
                Ok(Some(Ok(bytes))) => {
                    let seen = seen + bytes.len();
                    if seen > max_bytes {
                        let error = fail(BodyLimitError::TooLarge(max_bytes));
                        Some((Err(error), (stream, seen, true)))
                    } else {
                        Some((Ok(bytes), (stream, seen, false)))
                    }
                }
            }
        },
    );
    request.set_body(Body::from_bytes_stream(limited));
    crate::connection_budget::within_budget(endpoint, request, budgets).await
}

fn too_large(max_bytes: usize) -> Response {
    Response::builder()
        .status(StatusCode::PAYLOAD_TOO_LARGE)
        .content_type("application/json")
        .body(
            serde_json::json!({ "detail": format!("body: larger than the limit of {max_bytes} bytes") })
                .to_string(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_held_back_after_its_quota_until_the_window_slides() {
        let window = SlidingWindow::new(Quota::new(2, Duration::from_millis(200)));
        assert_eq!(window.retry_after("k"), None);
        window.record("k");
        window.record("k");
        let wait = window.retry_after("k").expect("over quota");
        assert!(wait <= Duration::from_millis(200));
        assert_eq!(window.retry_after("other"), None, "keys are separate");
        std::thread::sleep(Duration::from_millis(220));
        assert_eq!(window.retry_after("k"), None);
    }

    #[test]
    fn clearing_forgets_the_failures() {
        let window = SlidingWindow::new(Quota::new(1, Duration::from_secs(60)));
        window.record("k");
        assert!(window.retry_after("k").is_some());
        window.clear("k");
        assert_eq!(window.retry_after("k"), None);
    }

    #[test]
    fn hit_counts_until_the_quota_then_refuses_without_counting() {
        let window = SlidingWindow::new(Quota::new(3, Duration::from_secs(60)));
        for _ in 0..3 {
            assert_eq!(window.hit("ip"), None);
        }
        assert!(window.hit("ip").is_some());
        assert!(window.hit("ip").is_some());
    }

    #[test]
    fn a_zero_quota_never_limits() {
        let window = SlidingWindow::new(Quota::unlimited());
        for _ in 0..1000 {
            window.record("k");
        }
        assert_eq!(window.retry_after("k"), None);
    }
}
