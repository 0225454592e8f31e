//! What one connection may hold at once. An HTTP/1.1 connection runs one request at a time;
//! an HTTP/2 connection runs up to its stream limit, so without these bounds one connection
//! pinned hundreds of megabytes: a hundred large pages being built, a hundred responses its
//! client never takes (a zero flow-control window), a hundred bodies that never end.
//!
//! Each connection (known by its peer address, unique among open TCP connections) gets:
//! - a cap on requests being handled at once; further streams wait their turn;
//! - a cap on bytes held for it: request bodies being read and response bodies not yet
//!   taken by the client. A request whose body would pass it is answered 503; so is a
//!   response that would;
//! - a stall deadline: a response of which the client takes nothing for that long ends its
//!   connection, as a stalled write does on HTTP/1.1 (`connections`), and frees what it held.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::task::AtomicWaker;
use poem::web::RemoteAddr;
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::errors::ApiError;

/// How much one connection may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionRules {
    /// Requests handled at once on one connection (HTTP/2 streams beyond wait).
    pub active_requests: usize,
    /// Bytes of request bodies being read and responses not yet taken, together.
    pub held_bytes: usize,
    /// How long a response may wait for its client to take any of it.
    pub stall_timeout: Duration,
}

impl Default for ConnectionRules {
    fn default() -> Self {
        Self {
            active_requests: 4,
            held_bytes: 16 * 1024 * 1024,
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// Responses up to this size are sent as they are: one connection's stream limit times this
/// stays small. Larger ones are held against the budget and handed out this much at a time.
const PACED_ABOVE: usize = 16 * 1024;

/// The budget of one open connection.
pub struct Budget {
    active: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    stall_timeout: Duration,
    /// Set when a response stalled past its deadline: the connection is to end.
    stalled: AtomicBool,
    /// The connection's reader, woken to end it.
    connection: AtomicWaker,
}

impl Budget {
    fn new(rules: ConnectionRules) -> Self {
        Self {
            active: Arc::new(Semaphore::new(rules.active_requests.max(1))),
            bytes: Arc::new(Semaphore::new(rules.held_bytes.min(Semaphore::MAX_PERMITS))),
            stall_timeout: rules.stall_timeout,
            stalled: AtomicBool::new(false),
            connection: AtomicWaker::new(),
        }
    }

    /// Called by the connection's reader: true once a response of this connection has
    /// stalled past its deadline (the connection must end); registers the reader otherwise.
    pub fn poll_stalled(&self, cx: &mut Context<'_>) -> bool {
        self.connection.register(cx.waker());
        self.stalled.load(Ordering::Acquire)
    }

    fn end_connection(&self) {
        self.stalled.store(true, Ordering::Release);
        self.connection.wake();
    }

    /// Reserves `bytes` of the budget, if that many are free now.
    pub fn hold(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let bytes = u32::try_from(bytes).ok()?;
        self.bytes.clone().try_acquire_many_owned(bytes).ok()
    }
}

/// The budgets of the open connections, by peer address.
pub struct ConnectionBudgets {
    rules: ConnectionRules,
    open: parking_lot::Mutex<HashMap<SocketAddr, Arc<Budget>>>,
}

impl ConnectionBudgets {
    pub fn new(rules: ConnectionRules) -> Arc<Self> {
        Arc::new(Self {
            rules,
            open: parking_lot::Mutex::new(HashMap::new()),
        })
    }

    pub fn rules(&self) -> ConnectionRules {
        self.rules
    }

    /// A new connection from `peer`: its budget lives until the registration is dropped.
    pub fn open(self: &Arc<Self>, peer: SocketAddr) -> Registration {
        let budget = Arc::new(Budget::new(self.rules));
        self.open.lock().insert(peer, budget.clone());
        Registration {
            budgets: self.clone(),
            peer,
            budget,
        }
    }

    fn of(&self, peer: &RemoteAddr) -> Option<Arc<Budget>> {
        let peer = peer.as_socket_addr()?;
        self.open.lock().get(peer).cloned()
    }
}

/// A connection's hold on its budget; dropped with the connection.
pub struct Registration {
    budgets: Arc<ConnectionBudgets>,
    peer: SocketAddr,
    budget: Arc<Budget>,
}

impl Registration {
    pub fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = self.budgets.open.lock();
        // The peer's port may already serve a newer connection: remove only our own entry.
        if open
            .get(&self.peer)
            .is_some_and(|b| Arc::ptr_eq(b, &self.budget))
        {
            open.remove(&self.peer);
        }
    }
}

/// Called by `limits::limit_body` (whose cap and deadline apply to the body read here): runs
/// a request within its connection's budget (see the module doc). Requests that
/// came through no registered connection (in-process tests) run unbounded.
pub async fn within_budget<E: Endpoint>(
    endpoint: Arc<E>,
    mut request: Request,
    budgets: Arc<ConnectionBudgets>,
) -> poem::Result<Response> {
    let Some(budget) = budgets.of(request.remote_addr()) else {
        return endpoint
            .call(request)
            .await
            .map(IntoResponse::into_response);
    };
    // The body is read before the request takes its turn, so a client slow to send one body
    // holds no turn that its other requests wait for; what it holds counts meanwhile.
    let mut held: Option<OwnedSemaphorePermit> = None;
    let mut chunks = Vec::new();
    let mut body = request.take_body().into_bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                let error = poem::Error::from(poem::error::ReadBodyError::Io(error));
                return Ok(crate::errors::render_framework_error(error).await);
            }
        };
        let Some(permit) = budget.hold(chunk.len()) else {
            return Ok(ApiError::connection_full().into_response());
        };
        match held.as_mut() {
            Some(held) => held.merge(permit),
            None => held = Some(permit),
        }
        chunks.push(chunk);
    }
    drop(body);
    request.set_body(match chunks.len() {
        0 => Body::empty(),
        1 => Body::from(chunks.pop().unwrap_or_default()),
        _ => Body::from(chunks.concat()),
    });
    let turn = budget.active.clone().acquire_owned().await;
    let response = endpoint.call(request).await;
    drop(turn);
    drop(held);
    let mut response = response?.into_response();
    let body: http_body_util::combinators::BoxBody<bytes::Bytes, io::Error> =
        response.take_body().into();
    // Small bodies go as they are; so do streams (a live stream's events), which have no
    // exact size and are bounded by their own rules.
    let size = http_body::Body::size_hint(&body).exact();
    let Some(size) = size
        .and_then(|s| usize::try_from(s).ok())
        .filter(|s| *s > PACED_ABOVE)
    else {
        response.set_body(Body::from(body));
        return Ok(response);
    };
    let Some(permit) = budget.hold(size) else {
        return Ok(ApiError::connection_full().into_response());
    };
    // A whole body already (its size is exact): collecting it only takes it out of its box.
    let bytes = Body::from(body).into_bytes().await?;
    response.set_body(PacedBody::start(bytes, permit, &budget));
    Ok(response)
}

/// What is left to send of one response, and what it holds of the budget.
struct Unsent {
    rest: bytes::Bytes,
    permit: Option<OwnedSemaphorePermit>,
    last_taken: Instant,
    expired: bool,
}

/// A response body handed out [`PACED_ABOVE`] bytes at a time, releasing its budget as the
/// client takes it; a watchdog frees it and ends the connection if the client takes nothing
/// for the stall deadline.
struct PacedBody {
    unsent: Arc<parking_lot::Mutex<Unsent>>,
}

impl PacedBody {
    fn start(rest: bytes::Bytes, permit: OwnedSemaphorePermit, budget: &Arc<Budget>) -> Body {
        let unsent = Arc::new(parking_lot::Mutex::new(Unsent {
            rest,
            permit: Some(permit),
            last_taken: Instant::now(),
            expired: false,
        }));
        tokio::spawn(watch(
            Arc::downgrade(&unsent),
            Arc::downgrade(budget),
            budget.stall_timeout,
        ));
        let body = http_body_util::combinators::BoxBody::new(Self { unsent });
        Body::from(body)
    }
}

impl http_body::Body for PacedBody {
    type Data = bytes::Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, io::Error>>> {
        let mut unsent = self.unsent.lock();
        if unsent.expired {
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took none of the response in time",
            ))));
        }
        if unsent.rest.is_empty() {
            return Poll::Ready(None);
        }
        let n = unsent.rest.len().min(PACED_ABOVE);
        let chunk = unsent.rest.split_to(n);
        if let Some(permit) = unsent.permit.as_mut() {
            drop(permit.split(n));
        }
        unsent.last_taken = Instant::now();
        Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        let unsent = self.unsent.lock();
        unsent.rest.is_empty() && !unsent.expired
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.unsent.lock().rest.len() as u64)
    }
}

/// Frees a response whose client took none of it for `stall` and ends its connection.
async fn watch(unsent: Weak<parking_lot::Mutex<Unsent>>, budget: Weak<Budget>, stall: Duration) {
    loop {
        let due = {
            let Some(unsent) = unsent.upgrade() else {
                return;
            };
            let unsent = unsent.lock();
            if unsent.rest.is_empty() {
                return;
            }
            unsent.last_taken + stall
        };
        tokio::time::sleep_until(due.into()).await;
        let Some(unsent) = unsent.upgrade() else {
            return;
        };
        let mut unsent = unsent.lock();
        if unsent.rest.is_empty() {
            return;
        }
        if unsent.last_taken + stall <= Instant::now() {
            unsent.rest = bytes::Bytes::new();
            unsent.permit = None;
            unsent.expired = true;
            if let Some(budget) = budget.upgrade() {
                tracing::info!("closing a connection whose client took none of a response in time");
                budget.end_connection();
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn rules(held_bytes: usize, stall_ms: u64) -> ConnectionRules {
        ConnectionRules {
            active_requests: 2,
            held_bytes,
            stall_timeout: Duration::from_millis(stall_ms),
        }
    }

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[tokio::test]
    async fn a_paced_body_releases_its_budget_as_it_is_taken() {
        let budgets = ConnectionBudgets::new(rules(100_000, 10_000));
        let registration = budgets.open(peer(1));
        let budget = registration.budget().clone();
        let permit = budget.hold(60_000).unwrap();
        assert!(budget.hold(50_000).is_none(), "the budget is spent");
        let body: http_body_util::combinators::BoxBody<bytes::Bytes, io::Error> =
            PacedBody::start(bytes::Bytes::from(vec![7u8; 60_000]), permit, &budget).into();
        let mut body = body;
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.len(), PACED_ABOVE);
        assert!(
            budget.hold(40_000 + PACED_ABOVE).is_some(),
            "what was taken is free"
        );
        let mut taken = first.len();
        while let Some(frame) = body.frame().await {
            taken += frame.unwrap().into_data().unwrap().len();
        }
        assert_eq!(taken, 60_000);
        assert!(
            budget.hold(100_000).is_some(),
            "all of it is free once sent"
        );
    }

    #[tokio::test]
    async fn a_response_never_taken_is_freed_and_ends_its_connection() {
        let budgets = ConnectionBudgets::new(rules(100_000, 100));
        let registration = budgets.open(peer(2));
        let budget = registration.budget().clone();
        let permit = budget.hold(80_000).unwrap();
        let body: http_body_util::combinators::BoxBody<bytes::Bytes, io::Error> =
            PacedBody::start(bytes::Bytes::from(vec![7u8; 80_000]), permit, &budget).into();
        let mut body = body;
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(!budget.poll_stalled(&mut cx));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(
            budget.poll_stalled(&mut cx),
            "the connection is told to end"
        );
        assert!(budget.hold(100_000).is_some(), "what it held is free");
        let error = body.frame().await.unwrap().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn a_steady_reader_keeps_its_response() {
        let budgets = ConnectionBudgets::new(rules(100_000, 150));
        let registration = budgets.open(peer(3));
        let budget = registration.budget().clone();
        let permit = budget.hold(5 * PACED_ABOVE).unwrap();
        let body: http_body_util::combinators::BoxBody<bytes::Bytes, io::Error> = PacedBody::start(
            bytes::Bytes::from(vec![1u8; 5 * PACED_ABOVE]),
            permit,
            &budget,
        )
        .into();
        let mut body = body;
        let mut taken = 0;
        while let Some(frame) = body.frame().await {
            taken += frame.unwrap().into_data().unwrap().len();
            // Each pause shorter than the deadline, all of them together longer.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(taken, 5 * PACED_ABOVE);
        let waker = futures_util::task::noop_waker();
        assert!(!budget.poll_stalled(&mut Context::from_waker(&waker)));
    }

    #[test]
    fn a_closed_connection_leaves_a_newer_one_on_its_port_alone() {
        let budgets = ConnectionBudgets::new(ConnectionRules::default());
        let old = budgets.open(peer(4));
        let new = budgets.open(peer(4));
        drop(old);
        let found = budgets
            .of(&RemoteAddr(poem::Addr::SocketAddr(peer(4))))
            .unwrap();
        assert!(Arc::ptr_eq(&found, new.budget()));
        drop(new);
        assert!(
            budgets
                .of(&RemoteAddr(poem::Addr::SocketAddr(peer(4))))
                .is_none()
        );
    }
}
