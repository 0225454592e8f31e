//! What one connection, one client address and the whole process may hold at once. An
//! HTTP/1.1 connection runs one request at a time; an HTTP/2 connection runs up to its stream
//! limit, so without these bounds one connection pinned hundreds of megabytes (a hundred
//! large pages being built, a hundred responses its client never takes, a hundred bodies
//! that never end), and a thousand connections each within their own bound pinned a
//! gigabyte.
//!
//! Each connection is known by its two ends, the server's address it reached and its peer's:
//! unique among open TCP connections, where the peer's alone is not (with the server on
//! `0.0.0.0`, one client address and port can hold a connection to each of its addresses).
//! It gets:
//! - a cap on requests being handled at once; further streams wait their turn;
//! - bytes held for it: request bodies being read and response bodies not yet taken by the
//!   client, charged to the connection, to its client address (connections from a trusted
//!   proxy excepted: it speaks for many clients) and to the process, each with its own
//!   bound. A request whose body would pass one is answered 503; so is a response that
//!   would;
//! - a stall deadline: a response of which the client takes nothing for that long ends its
//!   connection, as a stalled write does on HTTP/1.1 (`connections`), and frees what it held.
//!
//! A client address may also open only so many connections (`ConnectionBudgets::open`). Once
//! most of a large peak of held bytes is given back, malloc is asked to return its free
//! memory to the system (`allocator`).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::task::AtomicWaker;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use tokio::sync::Semaphore;

use crate::TrustedProxies;
use crate::errors::ApiError;

/// How much a connection, a client address and the process may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionRules {
    /// Requests handled at once on one connection (HTTP/2 streams beyond wait).
    pub active_requests: usize,
    /// Bytes of request bodies being read and responses not yet taken, together, on one
    /// connection.
    pub held_bytes: usize,
    /// The same, over all connections of one client address.
    pub address_held_bytes: usize,
    /// Connections one client address may have open at once.
    pub address_connections: usize,
    /// The same bytes over every connection of the process.
    pub process_held_bytes: usize,
    /// How long a response may wait for its client to take any of it.
    pub stall_timeout: Duration,
}

impl Default for ConnectionRules {
    fn default() -> Self {
        Self {
            active_requests: 4,
            held_bytes: 16 * 1024 * 1024,
            address_held_bytes: 64 * 1024 * 1024,
            address_connections: 256,
            process_held_bytes: 256 * 1024 * 1024,
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// Responses up to this size are sent as they are: one connection's stream limit times this
/// stays small. Larger ones are held against the budget and handed out this much at a time.
const PACED_ABOVE: usize = 16 * 1024;

/// Once the process held this much and then gave back three quarters of it, free memory is
/// returned to the system.
const RETURN_MEMORY_AFTER: usize = 32 * 1024 * 1024;

/// Bytes held against a ceiling, taken without waiting.
struct Tally {
    held: AtomicUsize,
    max: usize,
}

impl Tally {
    fn new(max: usize) -> Self {
        Self {
            held: AtomicUsize::new(0),
            max,
        }
    }

    /// Takes `bytes` if they fit; the new total.
    fn take(&self, bytes: usize) -> Option<usize> {
        let max = self.max;
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes).filter(|total| *total <= max)
            })
            .ok()
            .map(|before| before + bytes)
    }

    /// Gives `bytes` back; what is left held.
    fn give_back(&self, bytes: usize) -> usize {
        self.held.fetch_sub(bytes, Ordering::AcqRel) - bytes
    }
}

/// What every connection of the process holds, and its high mark since free memory was last
/// returned to the system.
struct ProcessTally {
    bytes: Tally,
    peak: AtomicUsize,
}

impl ProcessTally {
    fn take(&self, bytes: usize) -> bool {
        let Some(total) = self.bytes.take(bytes) else {
            return false;
        };
        self.peak.fetch_max(total, Ordering::AcqRel);
        true
    }

    fn give_back(&self, bytes: usize) {
        let left = self.bytes.give_back(bytes);
        let peak = self.peak.load(Ordering::Acquire);
        // malloc keeps freed memory for reuse: after a burst of stalled bodies the process
        // kept hundreds of MiB that nothing used any more.
        if peak >= RETURN_MEMORY_AFTER
            && left <= peak / 4
            && self
                .peak
                .compare_exchange(peak, left, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            crate::allocator::return_free_memory();
        }
    }
}

type AddressShares = parking_lot::Mutex<HashMap<String, Weak<AddressShare>>>;

/// What the connections of one client address hold together; lives while one of them is
/// open or something they hold is not yet given back.
struct AddressShare {
    key: String,
    bytes: Tally,
    connections: AtomicUsize,
    shares: Arc<AddressShares>,
}

impl Drop for AddressShare {
    fn drop(&mut self) {
        let mut shares = self.shares.lock();
        // A new connection from the address may have made a new share already.
        if shares
            .get(&self.key)
            .is_some_and(|share| share.strong_count() == 0)
        {
            shares.remove(&self.key);
        }
    }
}

/// Which bound a request would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Connection,
    Address,
    Process,
}

impl Refusal {
    fn answer(self) -> Response {
        match self {
            Self::Connection => ApiError::connection_full(),
            Self::Address => ApiError::address_full(),
            Self::Process => ApiError::server_full(),
        }
        .into_response()
    }
}

/// The budget of one open connection.
pub struct Budget {
    active: Arc<Semaphore>,
    bytes: Tally,
    /// `None` for a trusted proxy's connection.
    address: Option<Arc<AddressShare>>,
    process: Arc<ProcessTally>,
    stall_timeout: Duration,
    /// Set when a response stalled past its deadline: the connection is to end.
    stalled: AtomicBool,
    /// The connection's reader, woken to end it.
    connection: AtomicWaker,
}

impl Budget {
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

    /// Holds `bytes` for this connection, if its own bound, its address's and the
    /// process's all have room for them now.
    pub fn hold(self: &Arc<Self>, bytes: usize) -> Result<Held, Refusal> {
        if self.bytes.take(bytes).is_none() {
            return Err(Refusal::Connection);
        }
        if let Some(address) = &self.address
            && address.bytes.take(bytes).is_none()
        {
            self.bytes.give_back(bytes);
            return Err(Refusal::Address);
        }
        if !self.process.take(bytes) {
            self.bytes.give_back(bytes);
            if let Some(address) = &self.address {
                address.bytes.give_back(bytes);
            }
            return Err(Refusal::Process);
        }
        Ok(Held {
            budget: self.clone(),
            bytes,
        })
    }

    fn give_back(&self, bytes: usize) {
        self.bytes.give_back(bytes);
        if let Some(address) = &self.address {
            address.bytes.give_back(bytes);
        }
        self.process.give_back(bytes);
    }
}

/// Bytes held for a connection (and its address, and the process), given back when
/// released or dropped.
pub struct Held {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Held {
    fn merge(&mut self, mut other: Held) {
        self.bytes += std::mem::take(&mut other.bytes);
    }

    fn release(&mut self, bytes: usize) {
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        self.budget.give_back(bytes);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.give_back(self.bytes);
        }
    }
}

/// The two ends of a TCP connection: no two open connections share them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionEnds {
    /// The server's address the client reached (not the listener's `0.0.0.0`).
    pub local: SocketAddr,
    pub peer: SocketAddr,
}

/// The budgets of the open connections, by their ends, and the shares of their addresses.
pub struct ConnectionBudgets {
    rules: ConnectionRules,
    ipv6_prefix: u8,
    /// Peers that speak for many clients: not bounded per address.
    proxies: TrustedProxies,
    process: Arc<ProcessTally>,
    open: parking_lot::Mutex<HashMap<ConnectionEnds, Arc<Budget>>>,
    addresses: Arc<AddressShares>,
}

impl ConnectionBudgets {
    /// IPv6 clients share one address's bounds per `ipv6_prefix`, as they do the rate
    /// limits; `proxies` are the trusted ones.
    pub fn new(rules: ConnectionRules, ipv6_prefix: u8, proxies: TrustedProxies) -> Arc<Self> {
        Arc::new(Self {
            rules,
            ipv6_prefix,
            proxies,
            process: Arc::new(ProcessTally {
                bytes: Tally::new(rules.process_held_bytes),
                peak: AtomicUsize::new(0),
            }),
            open: parking_lot::Mutex::new(HashMap::new()),
            addresses: Arc::new(parking_lot::Mutex::new(HashMap::new())),
        })
    }

    pub fn rules(&self) -> ConnectionRules {
        self.rules
    }

    /// A new connection: its budget lives until the registration is dropped. `None` when
    /// its client address has as many connections open as it may.
    pub fn open(self: &Arc<Self>, ends: ConnectionEnds) -> Option<Registration> {
        let address = if self.proxies.trusts(Some(ends.peer.ip())) {
            None
        } else {
            Some(self.place_for(ends.peer.ip())?)
        };
        let budget = Arc::new(Budget {
            active: Arc::new(Semaphore::new(self.rules.active_requests.max(1))),
            bytes: Tally::new(self.rules.held_bytes),
            address,
            process: self.process.clone(),
            stall_timeout: self.rules.stall_timeout,
            stalled: AtomicBool::new(false),
            connection: AtomicWaker::new(),
        });
        self.open.lock().insert(ends, budget.clone());
        Some(Registration {
            budgets: self.clone(),
            ends,
            budget,
        })
    }

    /// The share of `ip`'s address with one more connection counted, if it has room.
    fn place_for(&self, ip: IpAddr) -> Option<Arc<AddressShare>> {
        let key = ai_message_core::address_limit_key(&ip.to_string(), self.ipv6_prefix);
        let share = {
            let mut shares = self.addresses.lock();
            match shares.get(&key).and_then(Weak::upgrade) {
                Some(share) => share,
                None => {
                    let share = Arc::new(AddressShare {
                        key: key.clone(),
                        bytes: Tally::new(self.rules.address_held_bytes),
                        connections: AtomicUsize::new(0),
                        shares: self.addresses.clone(),
                    });
                    shares.insert(key, Arc::downgrade(&share));
                    share
                }
            }
        };
        // Dropped (when refused) outside the lock, which its `Drop` takes.
        let max = self.rules.address_connections;
        share
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            })
            .ok()?;
        Some(share)
    }

    /// The budget of the connection a request came through.
    fn of(&self, local: &LocalAddr, peer: &RemoteAddr) -> Option<Arc<Budget>> {
        let ends = ConnectionEnds {
            local: *local.as_socket_addr()?,
            peer: *peer.as_socket_addr()?,
        };
        self.open.lock().get(&ends).cloned()
    }
}

/// A connection's hold on its budget; dropped with the connection.
pub struct Registration {
    budgets: Arc<ConnectionBudgets>,
    ends: ConnectionEnds,
    budget: Arc<Budget>,
}

impl Registration {
    pub fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(address) = &self.budget.address {
            address.connections.fetch_sub(1, Ordering::AcqRel);
        }
        let mut open = self.budgets.open.lock();
        // A closed connection's ends may already serve a newer one: remove only our entry.
        if open
            .get(&self.ends)
            .is_some_and(|b| Arc::ptr_eq(b, &self.budget))
        {
            open.remove(&self.ends);
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
    let Some(budget) = budgets.of(request.local_addr(), request.remote_addr()) else {
        return endpoint
            .call(request)
            .await
            .map(IntoResponse::into_response);
    };
    // The body is read before the request takes its turn, so a client slow to send one body
    // holds no turn that its other requests wait for; what it holds counts meanwhile.
    let mut held: Option<Held> = None;
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
        let more = match budget.hold(chunk.len()) {
            Ok(more) => more,
            Err(refusal) => return Ok(refusal.answer()),
        };
        match held.as_mut() {
            Some(held) => held.merge(more),
            None => held = Some(more),
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
    let held = match budget.hold(size) {
        Ok(held) => held,
        Err(refusal) => return Ok(refusal.answer()),
    };
    // A whole body already (its size is exact): collecting it only takes it out of its box.
    let bytes = Body::from(body).into_bytes().await?;
    response.set_body(PacedBody::start(bytes, held, &budget));
    Ok(response)
}

/// What is left to send of one response, and what it holds of the budget.
struct Unsent {
    rest: bytes::Bytes,
    held: Option<Held>,
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
    fn start(rest: bytes::Bytes, held: Held, budget: &Arc<Budget>) -> Body {
        let unsent = Arc::new(parking_lot::Mutex::new(Unsent {
            rest,
            held: Some(held),
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
        if let Some(held) = unsent.held.as_mut() {
            held.release(n);
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
            unsent.held = None;
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
            ..ConnectionRules::default()
        }
    }

    fn budgets(rules: ConnectionRules) -> Arc<ConnectionBudgets> {
        ConnectionBudgets::new(rules, 64, TrustedProxies::none())
    }

    /// A connection from 127.0.0.1 at `port` to the server's 127.0.0.1:8000.
    fn peer(port: u16) -> ConnectionEnds {
        ends([127, 0, 0, 1], port, [127, 0, 0, 1])
    }

    fn ends(peer: [u8; 4], port: u16, local: [u8; 4]) -> ConnectionEnds {
        ConnectionEnds {
            local: SocketAddr::from((local, 8000)),
            peer: SocketAddr::from((peer, port)),
        }
    }

    fn found(budgets: &ConnectionBudgets, ends: ConnectionEnds) -> Option<Arc<Budget>> {
        budgets.of(
            &LocalAddr(poem::Addr::SocketAddr(ends.local)),
            &RemoteAddr(poem::Addr::SocketAddr(ends.peer)),
        )
    }

    #[tokio::test]
    async fn a_paced_body_releases_its_budget_as_it_is_taken() {
        let budgets = budgets(rules(100_000, 10_000));
        let registration = budgets.open(peer(1)).unwrap();
        let budget = registration.budget().clone();
        let permit = budget.hold(60_000).unwrap();
        assert_eq!(
            budget.hold(50_000).err(),
            Some(Refusal::Connection),
            "the budget is spent"
        );
        let body: http_body_util::combinators::BoxBody<bytes::Bytes, io::Error> =
            PacedBody::start(bytes::Bytes::from(vec![7u8; 60_000]), permit, &budget).into();
        let mut body = body;
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.len(), PACED_ABOVE);
        assert!(
            budget.hold(40_000 + PACED_ABOVE).is_ok(),
            "what was taken is free"
        );
        let mut taken = first.len();
        while let Some(frame) = body.frame().await {
            taken += frame.unwrap().into_data().unwrap().len();
        }
        assert_eq!(taken, 60_000);
        assert!(budget.hold(100_000).is_ok(), "all of it is free once sent");
    }

    #[tokio::test]
    async fn a_response_never_taken_is_freed_and_ends_its_connection() {
        let budgets = budgets(rules(100_000, 100));
        let registration = budgets.open(peer(2)).unwrap();
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
        assert!(budget.hold(100_000).is_ok(), "what it held is free");
        let error = body.frame().await.unwrap().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn a_steady_reader_keeps_its_response() {
        let budgets = budgets(rules(100_000, 150));
        let registration = budgets.open(peer(3)).unwrap();
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
    fn a_closed_connection_leaves_a_newer_one_with_the_same_ends_alone() {
        let budgets = budgets(ConnectionRules::default());
        let old = budgets.open(peer(4)).unwrap();
        let new = budgets.open(peer(4)).unwrap();
        drop(old);
        let now = found(&budgets, peer(4)).unwrap();
        assert!(Arc::ptr_eq(&now, new.budget()));
        drop(now);
        drop(new);
        assert!(found(&budgets, peer(4)).is_none());
    }

    #[test]
    fn two_connections_from_one_peer_address_to_two_server_addresses_keep_their_own_budgets() {
        let budgets = budgets(ConnectionRules::default());
        let to_first = ends([127, 0, 0, 9], 5000, [127, 0, 0, 1]);
        let to_second = ends([127, 0, 0, 9], 5000, [127, 0, 0, 2]);
        let first = budgets.open(to_first).unwrap();
        let second = budgets.open(to_second).unwrap();
        assert!(Arc::ptr_eq(
            &found(&budgets, to_first).unwrap(),
            first.budget()
        ));
        drop(second);
        let still = found(&budgets, to_first).expect("the first keeps its budget");
        assert!(Arc::ptr_eq(&still, first.budget()));
        assert!(found(&budgets, to_second).is_none());
    }

    #[test]
    fn bytes_are_charged_to_the_connection_its_address_and_the_process_until_dropped() {
        let budgets = budgets(ConnectionRules {
            held_bytes: 1_000,
            address_held_bytes: 1_500,
            process_held_bytes: 2_000,
            ..ConnectionRules::default()
        });
        let a1 = budgets
            .open(ends([10, 0, 0, 1], 1, [127, 0, 0, 1]))
            .unwrap();
        let a2 = budgets
            .open(ends([10, 0, 0, 1], 2, [127, 0, 0, 1]))
            .unwrap();
        let b = budgets
            .open(ends([10, 0, 0, 2], 1, [127, 0, 0, 1]))
            .unwrap();
        let held_a1 = a1.budget().hold(1_000).unwrap();
        assert_eq!(a1.budget().hold(1).err(), Some(Refusal::Connection));
        // The second connection of the address has room of its own, its address not.
        let held_a2 = a2.budget().hold(500).unwrap();
        assert_eq!(a2.budget().hold(1).err(), Some(Refusal::Address));
        // Another address has room of its own, the process not.
        assert_eq!(b.budget().hold(501).err(), Some(Refusal::Process));
        let mut held_b = b.budget().hold(500).unwrap();
        assert_eq!(budgets.process.bytes.held.load(Ordering::Acquire), 2_000);
        // A refusal takes nothing: what was held stays exactly so.
        assert_eq!(a2.budget().bytes.held.load(Ordering::Acquire), 500);
        held_b.release(200);
        assert_eq!(budgets.process.bytes.held.load(Ordering::Acquire), 1_800);
        drop(held_a1);
        assert!(
            a2.budget().hold(500).is_ok(),
            "the address's share is free again"
        );
        drop((held_a2, held_b));
        assert_eq!(budgets.process.bytes.held.load(Ordering::Acquire), 0);
    }

    #[test]
    fn an_address_opens_only_so_many_connections_and_forgets_them_as_they_close() {
        let budgets = budgets(ConnectionRules {
            address_connections: 2,
            ..ConnectionRules::default()
        });
        let first = budgets
            .open(ends([10, 0, 0, 1], 1, [127, 0, 0, 1]))
            .unwrap();
        let second = budgets
            .open(ends([10, 0, 0, 1], 2, [127, 0, 0, 1]))
            .unwrap();
        assert!(
            budgets
                .open(ends([10, 0, 0, 1], 3, [127, 0, 0, 1]))
                .is_none()
        );
        assert!(
            budgets
                .open(ends([10, 0, 0, 2], 1, [127, 0, 0, 1]))
                .is_some()
        );
        drop(first);
        let third = budgets
            .open(ends([10, 0, 0, 1], 3, [127, 0, 0, 1]))
            .unwrap();
        drop((second, third));
        assert!(
            budgets.addresses.lock().is_empty(),
            "no address is remembered"
        );
    }

    #[test]
    fn ipv6_clients_share_one_address_per_prefix() {
        let budgets = budgets(ConnectionRules {
            address_connections: 1,
            ..ConnectionRules::default()
        });
        let v6 = |host: &str| ConnectionEnds {
            local: "[::1]:8000".parse().unwrap(),
            peer: format!("[{host}]:1000").parse().unwrap(),
        };
        let _first = budgets.open(v6("2001:db8:1:2::1")).unwrap();
        assert!(budgets.open(v6("2001:db8:1:2::ffff")).is_none());
        assert!(budgets.open(v6("2001:db8:1:3::1")).is_some());
    }

    #[test]
    fn a_trusted_proxy_is_bounded_per_connection_and_in_all_but_not_as_one_address() {
        let budgets = ConnectionBudgets::new(
            ConnectionRules {
                held_bytes: 1_000,
                address_held_bytes: 1_000,
                address_connections: 1,
                process_held_bytes: 1_500,
                ..ConnectionRules::default()
            },
            64,
            TrustedProxies::parse("10.0.0.1").unwrap(),
        );
        let first = budgets
            .open(ends([10, 0, 0, 1], 1, [127, 0, 0, 1]))
            .unwrap();
        let second = budgets
            .open(ends([10, 0, 0, 1], 2, [127, 0, 0, 1]))
            .unwrap();
        let _held = first.budget().hold(1_000).unwrap();
        let _also = second
            .budget()
            .hold(500)
            .expect("no share of one address bounds it");
        assert_eq!(second.budget().hold(1).err(), Some(Refusal::Process));
    }
}
