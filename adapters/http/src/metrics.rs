//! Request metrics, through the `metrics` facade: nothing is recorded until the binary
//! installs a recorder (`METRICS_ADDR`), and then each request costs a few atomic updates.
//!
//! Routes are labelled by their template (`/messages/:id`, the document's parameter names
//! in the `:name` form, which every exposition parser reads), never by the raw path, so the
//! number of series stays bounded whatever clients send; a path no route matched is
//! `unmatched`.

use std::collections::HashMap;
use std::time::Duration;

use poem::PathPattern;
use poem::Response;
use poem::http::Method;

pub const REQUESTS: &str = "http_requests_total";
pub const DURATION: &str = "http_request_duration_seconds";
pub const IN_FLIGHT: &str = "http_requests_in_flight";
pub const THROTTLED: &str = "http_throttle_refusals_total";
pub const STREAMS_OPEN: &str = "live_streams_open";

/// Whether a recorder is installed: without one, naming routes and building labels would
/// be work for nothing on every request.
static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn enabled() -> bool {
    ENABLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Turns request metrics on (the binary calls it once it installed a recorder), and
/// describes them for the exposition's `# HELP` lines.
pub fn describe() {
    ENABLED.store(true, std::sync::atomic::Ordering::Relaxed);
    metrics::describe_counter!(
        REQUESTS,
        "HTTP requests answered, by route template, method and status"
    );
    metrics::describe_histogram!(
        DURATION,
        metrics::Unit::Seconds,
        "Time from request to response head, by route template, method and status"
    );
    metrics::describe_gauge!(IN_FLIGHT, "HTTP requests being served");
    metrics::describe_counter!(
        THROTTLED,
        "Requests refused by a rate limit (429) on login, registration or refresh"
    );
    metrics::describe_gauge!(STREAMS_OPEN, "Live message streams open on this instance");
}

/// Holds one place in [`IN_FLIGHT`] (or [`STREAMS_OPEN`]) while it lives.
pub struct Occupied(&'static str);

impl Occupied {
    pub fn take(gauge: &'static str) -> Self {
        metrics::gauge!(gauge).increment(1.0);
        Self(gauge)
    }
}

impl Drop for Occupied {
    fn drop(&mut self) {
        metrics::gauge!(self.0).decrement(1.0);
    }
}

/// Names the route that answered by the document's template: poem-openapi routes by
/// patterns whose parameters are `:param0`, `:param1`…, the document names them
/// (`/messages/{id}`, labelled `/messages/:id`).
pub struct RouteNames {
    /// Pattern with every parameter as `*` → the label.
    by_shape: HashMap<String, String>,
}

impl RouteNames {
    pub fn from_document(document: &str) -> Self {
        let parsed: serde_json::Value = serde_json::from_str(document).unwrap_or_default();
        let by_shape = parsed["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .keys()
                    .map(|path| (shape(path, |s| s.starts_with('{')), label(path)))
                    .collect()
            })
            .unwrap_or_default();
        Self { by_shape }
    }

    /// The template of the route that answered, or `unmatched`.
    pub fn name_of(&self, response: &Response) -> String {
        match response.data::<PathPattern>() {
            Some(PathPattern(pattern)) if !pattern.is_empty() => {
                let shape = shape(pattern, |s| s.starts_with(':'));
                self.by_shape
                    .get(&shape)
                    .cloned()
                    .unwrap_or_else(|| pattern.to_string())
            }
            _ => "unmatched".to_string(),
        }
    }
}

/// The document's path with `{name}` parameters as `:name`.
fn label(path: &str) -> String {
    path.split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!(":{name}"),
                None => segment.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// The path with each parameter segment (as `is_parameter` tells) replaced by `*`.
fn shape(path: &str, is_parameter: impl Fn(&str) -> bool) -> String {
    path.split('/')
        .map(|segment| if is_parameter(segment) { "*" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

/// The method as a label: the standard methods by name, any other as `other`, so that a
/// client inventing methods (`QWERTYUIOPAS /health`) cannot add a series per request.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    STANDARD
        .iter()
        .find(|standard| *standard == method)
        .map_or("other", Method::as_str)
}

/// The routes whose 429 is a rate limit (the others' are per-user caps).
const LIMITED_ROUTES: [&str; 3] = ["/auth/login", "/auth/register", "/auth/refresh"];

pub fn record(
    names: &RouteNames,
    response: &Response,
    method: &Method,
    status: u16,
    elapsed: Duration,
) {
    if !enabled() {
        return;
    }
    let route = names.name_of(response);
    if status == 429 && LIMITED_ROUTES.contains(&route.as_str()) {
        metrics::counter!(THROTTLED, "route" => route.clone()).increment(1);
    }
    let labels = [
        ("route", route),
        ("method", method_label(method).to_string()),
        ("status", status.to_string()),
    ];
    metrics::counter!(REQUESTS, &labels).increment(1);
    metrics::histogram!(DURATION, &labels).record(elapsed.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        for invented in ["QWERTYUIOPAS", "PROPFIND", &"X".repeat(2_000)] {
            let method = Method::from_bytes(invented.as_bytes()).unwrap();
            assert_eq!(method_label(&method), "other", "{invented:.20}");
        }
    }

    #[test]
    fn routes_are_named_by_the_documents_template() {
        let names = RouteNames::from_document(
            r#"{"paths": {"/messages/{id}/read": {}, "/messages/stream": {}, "/health": {}}}"#,
        );
        let mut response = Response::default();
        assert_eq!(names.name_of(&response), "unmatched");
        response.set_data(PathPattern("".into()));
        assert_eq!(names.name_of(&response), "unmatched", "the catch-all nest");
        response.set_data(PathPattern("/messages/:param0/read".into()));
        assert_eq!(names.name_of(&response), "/messages/:id/read");
        response.set_data(PathPattern("/messages/stream".into()));
        assert_eq!(names.name_of(&response), "/messages/stream");
        response.set_data(PathPattern("/docs".into()));
        assert_eq!(
            names.name_of(&response),
            "/docs",
            "routes outside the document"
        );
    }
}
