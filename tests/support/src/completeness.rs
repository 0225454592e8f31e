//! The live stream's promise, counted: concurrent senders write to one user while two of
//! that user's streams read, one that never reconnects and one that reconnects with
//! `Last-Event-ID` every few hundred milliseconds at most. At the end, what the user holds
//! (`GET /messages`, every page) is the truth: each stream must have delivered exactly that
//! set, each message once.
//!
//! Run by the HTTP contract on every adapter (small), across two PostgreSQL instances, and
//! by the streams benchmark (large).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::watch;

use crate::http_api::harness::{Client, TestServer};
use crate::sse::{Next, SseEvent, SseReader};

/// The size of a run.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Users sending to the recipient at once (one more sender is the recipient itself, on
    /// another device, writing to them).
    pub senders: usize,
    /// How long the senders send.
    pub duration: Duration,
    /// At most this many messages per sender.
    pub max_per_sender: usize,
    /// The reconnecting stream drops and resumes after at most this long.
    pub reconnect_every: Duration,
    /// Each sender waits this long between its sends (`None`: as fast as it can).
    pub pace: Option<Duration>,
}

/// What one stream delivered, against the truth.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StreamCount {
    pub delivered: usize,
    /// Held by the user, never delivered.
    pub missing: Vec<i64>,
    /// Delivered more than once.
    pub repeated: Vec<i64>,
    /// Delivered but not held (would be another user's).
    pub foreign: Vec<i64>,
    pub resets: usize,
    pub reconnects: usize,
    /// The server ended the stream (a stream that must never reconnect then misses out).
    pub closed_by_server: bool,
}

/// The first few ids of a long list, and how many there are.
fn few(ids: &[i64]) -> String {
    let shown: Vec<String> = ids.iter().take(12).map(i64::to_string).collect();
    let more = ids.len().saturating_sub(12);
    if more > 0 {
        format!("{} [{}, … {more} more]", ids.len(), shown.join(", "))
    } else {
        format!("{} [{}]", ids.len(), shown.join(", "))
    }
}

impl std::fmt::Debug for StreamCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "delivered {}, missing {}, repeated {}, foreign {}, resets {}, reconnects {}, \
             closed by the server: {}",
            self.delivered,
            few(&self.missing),
            few(&self.repeated),
            few(&self.foreign),
            self.resets,
            self.reconnects,
            self.closed_by_server
        )
    }
}

impl StreamCount {
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
            && self.repeated.is_empty()
            && self.foreign.is_empty()
            && self.resets == 0
            && !self.closed_by_server
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub sent: usize,
    pub held: usize,
    pub steady: StreamCount,
    pub reconnecting: StreamCount,
    pub elapsed: Duration,
}

impl Report {
    #[track_caller]
    pub fn assert_complete(&self) {
        assert!(
            self.sent > 0 && self.held == self.sent,
            "every acknowledged send is held: {self:?}"
        );
        assert!(self.steady.is_complete(), "the steady stream: {self:?}");
        assert!(
            self.reconnecting.is_complete(),
            "the reconnecting stream: {self:?}"
        );
    }
}

/// A run: senders through `senders` (one of them per user, the recipient among them), the
/// streams through `streams` (another instance on the same database, or the same server).
/// `disrupt` runs once, halfway through the sending (to cut a listening connection).
pub async fn run<F, Fut>(
    senders: Arc<TestServer>,
    streams: Arc<TestServer>,
    load: Load,
    disrupt: F,
) -> Report
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let recipient = senders.user("recipient").await;
    let mut writers = Vec::new();
    for n in 0..load.senders {
        writers.push(senders.user(&format!("sender{n}")).await);
    }
    // The recipient, logged in elsewhere, writes too: those reach its streams as well.
    let other_device = senders.login("recipient").await;

    let (truth_sender, truth) = watch::channel(None::<BTreeSet<i64>>);
    // Both streams open before the first send: everything sent is theirs to deliver.
    let (steady, _) = streams.stream_of(&recipient).await;
    let first = streams.stream_of(&recipient).await;
    // The readers are clients: on a thread of their own, as another process would be, so
    // senders that keep the test's runtime busy do not starve them.
    let steady_task = on_own_thread(read_steady(steady, truth.clone()));
    let reconnecting_task = on_own_thread(read_reconnecting(
        streams.clone(),
        recipient.clone(),
        first,
        load.reconnect_every,
        truth,
    ));

    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (n, writer) in writers.iter().enumerate() {
        tasks.push(tokio::spawn(send_for(
            senders.clone(),
            writer.clone(),
            recipient.id,
            load,
            stop.clone(),
            n,
        )));
    }
    tasks.push(tokio::spawn(send_for(
        senders.clone(),
        other_device,
        writers[0].id,
        load,
        stop.clone(),
        load.senders,
    )));
    tokio::time::sleep(load.duration / 2).await;
    disrupt().await;
    tokio::time::sleep(load.duration / 2).await;
    stop.store(true, Ordering::Relaxed);
    let mut sent = 0;
    for task in tasks {
        sent += task.await.expect("a sender");
    }
    let elapsed = started.elapsed();

    let held = held_by(&senders, &recipient).await;
    truth_sender.send_replace(Some(held.clone()));
    let steady = steady_task.await.expect("the steady reader");
    let reconnecting = reconnecting_task.await.expect("the reconnecting reader");
    drop(streams);
    Report {
        sent,
        held: held.len(),
        steady: count(steady, &held),
        reconnecting: count(reconnecting, &held),
        elapsed,
    }
}

/// Runs `work` on a runtime on a thread of its own; the answer comes back on this one.
fn on_own_thread<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> tokio::sync::oneshot::Receiver<T> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a reader runtime");
        let _ = answer.send(runtime.block_on(work));
    });
    answered
}

/// Sends until told to stop (or the cap); returns how many were acknowledged.
async fn send_for(
    server: Arc<TestServer>,
    from: Client,
    to: i64,
    load: Load,
    stop: Arc<AtomicBool>,
    n: usize,
) -> usize {
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) && sent < load.max_per_sender {
        let response = server
            .post(
                "/messages",
                Some(&from.access),
                json!({"recipient_id": to, "content": format!("{n}/{sent}")}),
            )
            .await;
        assert_eq!(response.status.as_u16(), 201, "{}", response.text);
        sent += 1;
        if let Some(pace) = load.pace {
            tokio::time::sleep(pace).await;
        }
    }
    sent
}

/// Every message the user sent or received, from its lists.
async fn held_by(server: &TestServer, user: &Client) -> BTreeSet<i64> {
    let mut held = BTreeSet::new();
    for skip in (0..).step_by(500) {
        let page = server
            .get(
                &format!("/messages?skip={skip}&limit=500"),
                Some(&user.access),
            )
            .await;
        let ids = crate::http_api::harness::ids(page.assert_status(200));
        if ids.is_empty() {
            break;
        }
        held.extend(ids);
    }
    held
}

/// What a reader saw: created ids in order, resets, reconnects, whether the server closed.
#[derive(Default)]
struct Seen {
    ids: Vec<i64>,
    unique: std::collections::HashSet<i64>,
    resets: usize,
    reconnects: usize,
    closed_by_server: bool,
}

impl Seen {
    fn take(&mut self, event: &SseEvent) {
        match event.event.as_str() {
            "message.created" => {
                let id = event.data["id"].as_i64().expect("an id");
                self.ids.push(id);
                self.unique.insert(id);
            }
            "stream.reset" => self.resets += 1,
            _ => {}
        }
    }

    /// Done once the truth is known and every held message was seen.
    fn has_all(&self, truth: &watch::Receiver<Option<BTreeSet<i64>>>) -> bool {
        truth.borrow().as_ref().is_some_and(|held| {
            self.unique.len() >= held.len() && held.iter().all(|id| self.unique.contains(id))
        })
    }
}

/// How long a reader waits, once the truth is known, for messages it has not seen.
const SETTLE: Duration = Duration::from_secs(3);

async fn read_steady(mut stream: SseReader, truth: watch::Receiver<Option<BTreeSet<i64>>>) -> Seen {
    let mut seen = Seen::default();
    let mut settled_at: Option<Instant> = None;
    loop {
        if seen.has_all(&truth) {
            // A short look for repeats after the last one.
            while let Next::Event(event) = stream.next_within(Duration::from_millis(200)).await {
                seen.take(&event);
            }
            return seen;
        }
        if truth.borrow().is_some() {
            let since = *settled_at.get_or_insert_with(Instant::now);
            if since.elapsed() > SETTLE {
                return seen;
            }
        }
        match stream.next_within(Duration::from_millis(100)).await {
            Next::Event(event) => seen.take(&event),
            Next::Quiet => {}
            Next::Closed => {
                seen.closed_by_server = true;
                return seen;
            }
        }
    }
}

async fn read_reconnecting(
    server: Arc<TestServer>,
    user: Client,
    (first, opened_at): (SseReader, String),
    every: Duration,
    truth: watch::Receiver<Option<BTreeSet<i64>>>,
) -> Seen {
    let mut seen = Seen::default();
    let mut cursor = opened_at;
    let mut stream = Some(first);
    let mut settled_at: Option<Instant> = None;
    loop {
        let mut reader = match stream.take() {
            Some(reader) => reader,
            None => {
                seen.reconnects += 1;
                server
                    .open_stream(
                        "/messages/stream",
                        Some(&user.access),
                        &[("Last-Event-ID", &cursor)],
                    )
                    .await
                    .unwrap_or_else(|r| panic!("resume refused: {} {}", r.status, r.text))
            }
        };
        let deadline = Instant::now() + every;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match reader.next_within(left).await {
                Next::Event(event) => {
                    if let Some(id) = &event.id {
                        cursor = id.clone();
                    }
                    seen.take(&event);
                }
                Next::Quiet => break,
                Next::Closed => break,
            }
        }
        drop(reader);
        if seen.has_all(&truth) {
            // One more resume must bring nothing new.
            settled_at.get_or_insert_with(Instant::now);
            if settled_at.is_some_and(|at| at.elapsed() >= every) {
                return seen;
            }
        } else if truth.borrow().is_some() {
            let since = *settled_at.get_or_insert_with(Instant::now);
            if since.elapsed() > SETTLE {
                return seen;
            }
        }
    }
}

fn count(seen: Seen, held: &BTreeSet<i64>) -> StreamCount {
    let mut times: BTreeMap<i64, usize> = BTreeMap::new();
    for id in &seen.ids {
        *times.entry(*id).or_default() += 1;
    }
    StreamCount {
        delivered: seen.ids.len(),
        missing: held
            .iter()
            .filter(|id| !times.contains_key(id))
            .copied()
            .collect(),
        repeated: times
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, _)| *id)
            .collect(),
        foreign: times
            .keys()
            .filter(|id| !held.contains(id))
            .copied()
            .collect(),
        resets: seen.resets,
        reconnects: seen.reconnects,
        closed_by_server: seen.closed_by_server,
    }
}
