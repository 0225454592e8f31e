//! The connection layer under the HTTP server: at most `max` connections open at once (the
//! rest wait in the kernel's backlog), accept errors (out of descriptors) met with a pause
//! instead of a busy loop, and a deadline on each request head so a client trickling header
//! bytes is cut.

use std::future::Future;
use std::io;
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

/// How the connection layer is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// From the first byte of a request head to its blank line.
    pub header_read_timeout: Duration,
}

/// Wraps an acceptor with [`ConnectionLimits`].
pub struct GuardedAcceptor<A> {
    inner: A,
    slots: Arc<Semaphore>,
    header_read_timeout: Duration,
    /// The pause after the last accept error, doubled up to a second while errors repeat.
    backoff: Duration,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

impl<A: Acceptor> GuardedAcceptor<A> {
    pub fn new(inner: A, limits: ConnectionLimits) -> Self {
        Self {
            inner,
            slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            header_read_timeout: limits.header_read_timeout,
            backoff: FIRST_BACKOFF,
        }
    }
}

impl<A: Acceptor> Acceptor for GuardedAcceptor<A> {
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
                    let io = GuardedConnection::new(io, slot, self.header_read_timeout);
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
    /// Reading a head; `tail` holds the last bytes seen, to find `\r\n\r\n` across reads.
    Reading { timer: Pin<Box<Sleep>>, tail: u32 },
    /// Past the head (a body, or an HTTP/2 connection): other limits govern.
    Done,
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
}

const HTTP2_PREFACE_START: &[u8] = b"PRI * HTTP/2.0";

impl<T> GuardedConnection<T> {
    fn new(inner: T, slot: OwnedSemaphorePermit, header_read_timeout: Duration) -> Self {
        Self {
            inner,
            _slot: slot,
            header_read_timeout,
            head: Head::Idle,
            seen_first_bytes: false,
            http2: false,
        }
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
        if matches!(self.head, Head::Idle) {
            let mut timer = Box::pin(tokio::time::sleep(self.header_read_timeout));
            // Registers this task, so a client that then goes quiet is still cut.
            let _ = timer.as_mut().poll(cx);
            self.head = Head::Reading { timer, tail: 0 };
        }
        if let Head::Reading { tail, .. } = &mut self.head
            && Self::scan(tail, bytes)
        {
            self.head = Head::Done;
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for GuardedConnection<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Head::Reading { timer, .. } = &mut self.head
            && timer.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request head not received in time",
            )));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let fresh = buf.filled()[before..].to_vec();
            self.on_read(&fresh, cx);
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
        let written = Pin::new(&mut self.inner).poll_write(cx, data);
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
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn connection(io: tokio::io::DuplexStream) -> GuardedConnection<tokio::io::DuplexStream> {
        let slot = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        GuardedConnection::new(io, slot, Duration::from_millis(200))
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
}
