//! The connection layer under the HTTP server: at most `max` connections open at once (the
//! rest wait in the kernel's backlog), accept errors (out of descriptors) met with a pause
//! instead of a busy loop, a deadline on each request head so a client trickling header
//! bytes is cut, and a deadline on each stalled write so a client that stops reading (a
//! response it never takes, a stream it never reads) is cut too and frees what it pins.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

use crate::connection_budget::{ConnectionBudgets, ConnectionEnds, Registration};

/// The server's address a connection was accepted on. With the server on `0.0.0.0` the
/// listener's own address says nothing of which of the machine's addresses the client
/// reached, and without it two connections from one client address and port would look the
/// same (`connection_budget`).
pub trait AcceptedOn {
    fn accepted_on(&self) -> Option<SocketAddr>;
}

impl AcceptedOn for tokio::net::TcpStream {
    fn accepted_on(&self) -> Option<SocketAddr> {
        self.local_addr().ok()
    }
}

/// How the connection layer is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// From the first byte of a request head to its blank line.
    pub header_read_timeout: Duration,
    /// How long a write may wait for the client to take bytes before the connection is
    /// closed.
    pub write_timeout: Duration,
}

/// Wraps an acceptor with [`ConnectionLimits`].
pub struct GuardedAcceptor<A> {
    inner: A,
    slots: Arc<Semaphore>,
    budgets: Arc<ConnectionBudgets>,
    header_read_timeout: Duration,
    write_timeout: Duration,
    /// The pause after the last accept error, doubled up to a second while errors repeat.
    backoff: Duration,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

impl<A: Acceptor> GuardedAcceptor<A> {
    /// `budgets` are the application's (`Limits::connections`): each connection accepted
    /// registers its own.
    pub fn new(inner: A, limits: ConnectionLimits, budgets: Arc<ConnectionBudgets>) -> Self {
        Self {
            inner,
            slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            budgets,
            header_read_timeout: limits.header_read_timeout,
            write_timeout: limits.write_timeout,
            backoff: FIRST_BACKOFF,
        }
    }
}

impl<A: Acceptor<Io: AcceptedOn>> Acceptor for GuardedAcceptor<A> {
    type Io = GuardedConnection<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        // A slot first: while all are taken, new connections wait in the backlog.
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(io::Error::other)?;
        loop {
            match self.inner.accept().await {
                Ok((io, local, remote, scheme)) => {
                    self.backoff = FIRST_BACKOFF;
                    let local = io
                        .accepted_on()
                        .map_or(local, |address| LocalAddr(address.into()));
                    let ends = match (local.as_socket_addr(), remote.as_socket_addr()) {
                        (Some(local), Some(peer)) => Some(ConnectionEnds {
                            local: *local,
                            peer: *peer,
                        }),
                        _ => None,
                    };
                    let budget = match ends.map(|ends| self.budgets.open(ends)) {
                        Some(None) => {
                            // Its address has as many connections open as it may: closed
                            // unanswered, and the slot serves the next one.
                            tracing::debug!(peer = %remote, "refused a connection: too many from its address");
                            continue;
                        }
                        Some(registration) => registration,
                        None => None,
                    };
                    let mut io = GuardedConnection::new(
                        io,
                        slot,
                        self.header_read_timeout,
                        self.write_timeout,
                    );
                    io.budget = budget;
                    io.first_read = FirstRead::AheadOfSniff;
                    return Ok((io, local, remote, scheme));
                }
                Err(error) => {
                    // EMFILE/ENFILE and friends: the server would otherwise spin on the
                    // same pending connection. Pause, then try again.
                    tracing::warn!(%error, pause_ms = self.backoff.as_millis() as u64, "accept failed");
                    tokio::time::sleep(self.backoff).await;
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// Where a connection is in reading a request head.
enum Head {
    /// Between requests: the idle timeout governs.
    Idle,
    /// Reading a head; `tail` holds the last bytes seen, to find `\r\n\r\n` across reads,
    /// and `read` how many bytes of it came so far.
    Reading {
        timer: Pin<Box<Sleep>>,
        tail: u32,
        read: usize,
    },
    /// Just accepted: the first request must begin within the head deadline too, so a
    /// client that connects and stays silent is cut as soon as one that trickles.
    Opened { timer: Pin<Box<Sleep>> },
    /// Past the head (a body, or an HTTP/2 connection): other limits govern.
    Done,
    /// The head grew past [`MAX_HEAD_BYTES`]: the connection ends.
    TooLarge,
}

/// The largest request head (request line and headers) read: a 200 kB header is no
/// client's, and hyper would otherwise buffer up to 400 kB of it per connection.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How many bytes a connection's first read takes ahead of the protocol sniff: a request
/// head of this size or less then reaches hyper in one read.
const READ_AHEAD: usize = 4096;

/// The first read of a connection served through poem, whose server (hyper-util's `auto`
/// builder) first reads 24 bytes to tell the HTTP/2 preface from HTTP/1 and hands them back
/// on their own. hyper's HTTP/1 server then reads the rest of the head in a second read, and
/// making room for it doubles its read buffer to 16 KiB for the life of the connection. So
/// the first read here takes the whole head at once; for HTTP/1 the sniff is given a read of
/// nothing (which it takes as HTTP/1, as at an end of input) and hyper the head.
enum FirstRead {
    /// Reads pass straight through.
    Through,
    /// The sniff's read has not come yet.
    AheadOfSniff,
    /// Read ahead, not yet handed on.
    Held(Vec<u8>),
}

/// One accepted connection: holds its slot until dropped and enforces the head deadline.
pub struct GuardedConnection<T> {
    inner: T,
    _slot: OwnedSemaphorePermit,
    header_read_timeout: Duration,
    head: Head,
    seen_first_bytes: bool,
    /// HTTP/2 (prior knowledge) is framed binary: the head scan does not apply.
    http2: bool,
    write_timeout: Duration,
    /// Running while a write waits for the client to read.
    stalled_write: Option<Pin<Box<Sleep>>>,
    /// A response has begun since the last request head: a close now abandons it.
    responding: bool,
    /// What this connection may hold (`connection_budget`); a response that stalls there
    /// ends the connection here.
    budget: Option<Registration>,
    first_read: FirstRead,
}

const HTTP2_PREFACE_START: &[u8] = b"PRI * HTTP/2.0";

impl<T> GuardedConnection<T> {
    fn new(
        inner: T,
        slot: OwnedSemaphorePermit,
        header_read_timeout: Duration,
        write_timeout: Duration,
    ) -> Self {
        Self {
            inner,
            _slot: slot,
            header_read_timeout,
            head: Head::Opened {
                timer: Box::pin(tokio::time::sleep(header_read_timeout)),
            },
            seen_first_bytes: false,
            http2: false,
            write_timeout,
            stalled_write: None,
            responding: false,
            budget: None,
            first_read: FirstRead::Through,
        }
    }

    /// Keeps the stall deadline of a write: started when the client stops taking bytes,
    /// cleared by progress; past it, the write fails and the server closes the connection.
    fn watch_write<R>(&mut self, polled: &Poll<io::Result<R>>, cx: &mut Context<'_>) -> bool {
        if polled.is_ready() {
            self.stalled_write = None;
            return false;
        }
        let timeout = self.write_timeout;
        let timer = self
            .stalled_write
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        timer.as_mut().poll(cx).is_ready()
    }

    /// True once a response of this connection stalled past its deadline
    /// (`connection_budget`): every read and write then fails, so the connection ends
    /// whichever of them its protocol is waiting on.
    fn response_stalled(&self, cx: &mut Context<'_>) -> bool {
        self.budget
            .as_ref()
            .is_some_and(|registration| registration.budget().poll_stalled(cx))
    }

    /// Follows the bytes of a request head; true once its blank line has arrived.
    fn scan(tail: &mut u32, bytes: &[u8]) -> bool {
        for byte in bytes {
            *tail = (*tail << 8) | u32::from(*byte);
            if *tail == u32::from_be_bytes(*b"\r\n\r\n") {
                return true;
            }
        }
        false
    }

    fn on_read(&mut self, bytes: &[u8], cx: &mut Context<'_>) {
        if bytes.is_empty() {
            return;
        }
        if !self.seen_first_bytes {
            self.seen_first_bytes = true;
            let n = bytes.len().min(HTTP2_PREFACE_START.len());
            if bytes[..n] == HTTP2_PREFACE_START[..n] {
                self.http2 = true;
                self.head = Head::Done;
                return;
            }
        }
        match std::mem::replace(&mut self.head, Head::Done) {
            Head::Idle => {
                self.responding = false;
                let mut timer = Box::pin(tokio::time::sleep(self.header_read_timeout));
                // Registers this task, so a client that then goes quiet is still cut.
                let _ = timer.as_mut().poll(cx);
                self.head = Head::Reading {
                    timer,
                    tail: 0,
                    read: 0,
                };
            }
            // The deadline from the connection's opening goes on for its first head.
            Head::Opened { timer } => {
                self.head = Head::Reading {
                    timer,
                    tail: 0,
                    read: 0,
                };
            }
            other => self.head = other,
        }
        if let Head::Reading { tail, read, .. } = &mut self.head {
            *read += bytes.len();
            if Self::scan(tail, bytes) {
                self.head = Head::Done;
            } else if *read > MAX_HEAD_BYTES {
                self.head = Head::TooLarge;
            }
        }
    }
}

impl<T: AsyncRead + Unpin> GuardedConnection<T> {
    /// The connection's first read (see [`FirstRead`]).
    fn read_ahead(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut ahead = [std::mem::MaybeUninit::<u8>::uninit(); READ_AHEAD];
        let mut ahead = ReadBuf::uninit(&mut ahead);
        match Pin::new(&mut self.inner).poll_read(cx, &mut ahead) {
            Poll::Pending => {
                self.first_read = FirstRead::AheadOfSniff;
                return Poll::Pending;
            }
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Ready(Ok(())) => {}
        }
        let read = ahead.filled();
        self.on_read(read, cx);
        // HTTP/2's preface (or a start of it) goes to the sniff as it came; an HTTP/1 head
        // waits for hyper's HTTP/1 server, and the sniff reads nothing.
        let handed = if self.http2 {
            read.len().min(buf.remaining())
        } else {
            0
        };
        buf.put_slice(&read[..handed]);
        if handed < read.len() {
            self.first_read = FirstRead::Held(read[handed..].to_vec());
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for GuardedConnection<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let timer = match &mut self.head {
            Head::Reading { timer, .. } | Head::Opened { timer } => Some(timer),
            _ => None,
        };
        if let Some(timer) = timer
            && timer.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request head not received in time",
            )));
        }
        if self.response_stalled(cx) {
            return Poll::Ready(Err(stalled()));
        }
        if matches!(self.head, Head::TooLarge) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large",
            )));
        }
        match std::mem::replace(&mut self.first_read, FirstRead::Through) {
            FirstRead::Through => {}
            FirstRead::AheadOfSniff => return self.read_ahead(cx, buf),
            FirstRead::Held(mut held) => {
                let taken = held.len().min(buf.remaining());
                buf.put_slice(&held[..taken]);
                if taken < held.len() {
                    held.drain(..taken);
                    self.first_read = FirstRead::Held(held);
                    return Poll::Ready(Ok(()));
                }
                // Whatever else has arrived joins it, so hyper finds the head whole.
                let before = buf.filled().len();
                if let Poll::Ready(Ok(())) = Pin::new(&mut self.inner).poll_read(cx, buf) {
                    self.on_read(&buf.filled()[before..], cx);
                }
                return Poll::Ready(Ok(()));
            }
        }
        let before = buf.filled().len();
        let room = buf.remaining();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            if room > 0 && buf.filled().len() == before && self.responding {
                // The client closed while its response is being written. As an error, not
                // an end of input: the response (a live stream) is dropped now, freeing what
                // it holds (its place under the per-user limit) instead of at its next
                // heartbeat. (A client that half-closes after its request and before any
                // answer still gets the answer.)
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "the client closed the connection",
                )));
            }
            self.on_read(&buf.filled()[before..], cx);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GuardedConnection<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.response_stalled(cx) {
            return Poll::Ready(Err(stalled()));
        }
        let written = Pin::new(&mut self.inner).poll_write(cx, data);
        if self.watch_write(&written, cx) {
            return Poll::Ready(Err(stalled()));
        }
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.responding = true;
        }
        // A response is going out: the next bytes in begin a new head (HTTP/1.1 keep-alive).
        if matches!(written, Poll::Ready(Ok(n)) if n > 0)
            && matches!(self.head, Head::Done)
            && !self.http2
        {
            self.head = Head::Idle;
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.response_stalled(cx) {
            return Poll::Ready(Err(stalled()));
        }
        let flushed = Pin::new(&mut self.inner).poll_flush(cx);
        if self.watch_write(&flushed, cx) {
            return Poll::Ready(Err(stalled()));
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn stalled() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the client took no bytes of the response in time",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn connection(io: tokio::io::DuplexStream) -> GuardedConnection<tokio::io::DuplexStream> {
        let slot = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        GuardedConnection::new(
            io,
            slot,
            Duration::from_millis(200),
            Duration::from_millis(300),
        )
    }

    #[tokio::test]
    async fn a_client_that_connects_and_says_nothing_is_cut_at_the_head_deadline() {
        let (server_side, _client) = tokio::io::duplex(1024);
        let mut guarded = connection(server_side);
        let mut buf = [0u8; 16];
        let outcome = tokio::time::timeout(Duration::from_secs(2), guarded.read(&mut buf))
            .await
            .expect("cut within the deadline");
        assert_eq!(outcome.unwrap_err().kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn a_head_over_the_size_bound_is_cut() {
        let (server_side, mut client) = tokio::io::duplex(256 * 1024);
        let mut guarded = connection(server_side);
        let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(200_000));
        client.write_all(huge.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 16 * 1024];
        let mut read = 0;
        let error = loop {
            match guarded.read(&mut buf).await {
                Ok(n) => read += n,
                Err(error) => break error,
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(read <= MAX_HEAD_BYTES + buf.len(), "{read} bytes read");
    }

    #[tokio::test]
    async fn a_close_ends_the_connection_only_once_a_response_has_begun() {
        // Half-closed after the request, before any answer: an ordinary end of input.
        let (server_side, mut client) = tokio::io::duplex(1024);
        let mut guarded = connection(server_side);
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        client.shutdown().await.unwrap();
        let mut buf = [0u8; 64];
        let mut seen = 0;
        while seen < 27 {
            seen += guarded.read(&mut buf).await.unwrap();
        }
        assert_eq!(guarded.read(&mut buf).await.unwrap(), 0);
        // Closed while a response was being written: an error, so the response is dropped.
        let (server_side, mut client) = tokio::io::duplex(1024);
        let mut guarded = connection(server_side);
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut seen = 0;
        while seen < 27 {
            seen += guarded.read(&mut buf).await.unwrap();
        }
        guarded.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        drop(client);
        let error = guarded.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_cut_after_the_write_deadline() {
        let (server_side, mut client) = tokio::io::duplex(1024);
        let mut guarded = connection(server_side);
        let writer = tokio::spawn(async move {
            let chunk = [b'x'; 4096];
            let mut written = 0usize;
            loop {
                match guarded.write(&chunk).await {
                    Ok(n) => written += n,
                    Err(error) => return (written, error.kind()),
                }
            }
        });
        // The client reads a little, then nothing.
        let mut buf = [0u8; 512];
        client.read_exact(&mut buf).await.unwrap();
        let (written, error) = tokio::time::timeout(Duration::from_secs(3), writer)
            .await
            .expect("cut within the deadline")
            .unwrap();
        assert_eq!(error, io::ErrorKind::TimedOut);
        assert!(written <= 2 * 1024 + 512, "{written} bytes were taken");
    }

    #[tokio::test]
    async fn a_slow_but_steady_reader_is_not_cut() {
        let (server_side, mut client) = tokio::io::duplex(256);
        let mut guarded = connection(server_side);
        let writer = tokio::spawn(async move {
            for _ in 0..20 {
                guarded.write_all(&[b'y'; 256]).await?;
            }
            Ok::<_, io::Error>(())
        });
        let mut buf = [0u8; 256];
        for _ in 0..20 {
            client.read_exact(&mut buf).await.unwrap();
            // Each pause is shorter than the write deadline; together far longer.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        writer.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_head_trickled_past_the_deadline_is_cut() {
        let (server_side, mut client) = tokio::io::duplex(1024);
        let mut guarded = connection(server_side);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            loop {
                match guarded.read(&mut buf).await {
                    Ok(0) => return Ok(()),
                    Ok(_) => continue,
                    Err(error) => return Err(error.kind()),
                }
            }
        });
        for byte in b"GET / HTTP/1.1\r\nHost: x\r\n" {
            if client.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let outcome = tokio::time::timeout(Duration::from_secs(2), reader)
            .await
            .expect("cut within the deadline")
            .unwrap();
        assert_eq!(outcome, Err(io::ErrorKind::TimedOut));
    }

    #[tokio::test]
    async fn whole_heads_in_time_pass_request_after_request() {
        let (server_side, mut client) = tokio::io::duplex(1024);
        let mut guarded = connection(server_side);
        for _ in 0..3 {
            client
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 64];
            let mut seen = 0;
            while seen < 27 {
                seen += guarded.read(&mut buf).await.unwrap();
            }
            guarded.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
            // Quiet between requests longer than the head deadline: the idle timeout's job.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// As the connection layer sets it up under poem's server.
    fn sniffed_connection(
        io: tokio::io::DuplexStream,
    ) -> GuardedConnection<tokio::io::DuplexStream> {
        let mut guarded = connection(io);
        guarded.first_read = FirstRead::AheadOfSniff;
        guarded
    }

    /// The 24-byte read hyper-util's `auto` builder makes first, to look for the preface.
    async fn sniff(guarded: &mut GuardedConnection<tokio::io::DuplexStream>) -> Vec<u8> {
        let mut preface = [0u8; 24];
        let read = guarded.read(&mut preface).await.unwrap();
        preface[..read].to_vec()
    }

    #[tokio::test]
    async fn an_http1_head_reaches_hyper_whole_in_one_read_after_an_empty_sniff() {
        let (server_side, mut client) = tokio::io::duplex(16 * 1024);
        let mut guarded = sniffed_connection(server_side);
        // Larger than what is read ahead: the rest joins it in the same read.
        let head = format!("GET / HTTP/1.1\r\nCookie: {}\r\n\r\n", "c".repeat(6_000));
        client.write_all(head.as_bytes()).await.unwrap();
        assert_eq!(
            sniff(&mut guarded).await,
            b"",
            "the sniff reads nothing: HTTP/1"
        );
        let mut hyper_buffer = vec![0u8; 8 * 1024];
        let read = guarded.read(&mut hyper_buffer).await.unwrap();
        assert_eq!(&hyper_buffer[..read], head.as_bytes());
        // The head deadline saw the head end: the response goes out as usual.
        guarded.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
    }

    #[tokio::test]
    async fn the_http2_preface_goes_to_the_sniff_and_what_came_with_it_follows() {
        let (server_side, mut client) = tokio::io::duplex(1024);
        let mut guarded = sniffed_connection(server_side);
        let settings = [0u8, 0, 0, 4, 0, 0, 0, 0, 0];
        client
            .write_all(&[&b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..], &settings].concat())
            .await
            .unwrap();
        assert_eq!(
            sniff(&mut guarded).await,
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        );
        let mut frames = [0u8; 64];
        let read = guarded.read(&mut frames).await.unwrap();
        assert_eq!(&frames[..read], &settings);
    }

    #[tokio::test]
    async fn a_connection_closed_before_a_byte_reads_as_ended() {
        let (server_side, client) = tokio::io::duplex(1024);
        let mut guarded = sniffed_connection(server_side);
        drop(client);
        assert_eq!(sniff(&mut guarded).await, b"");
        let mut buffer = [0u8; 64];
        assert_eq!(guarded.read(&mut buffer).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_client_silent_after_connecting_is_still_cut_at_the_head_deadline() {
        let (server_side, _client) = tokio::io::duplex(1024);
        let mut guarded = sniffed_connection(server_side);
        let mut preface = [0u8; 24];
        let outcome = tokio::time::timeout(Duration::from_secs(2), guarded.read(&mut preface))
            .await
            .expect("cut within the deadline");
        assert_eq!(outcome.unwrap_err().kind(), io::ErrorKind::TimedOut);
    }
}
