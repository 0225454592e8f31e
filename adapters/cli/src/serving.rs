//! The accept loop: each connection served by hyper's HTTP/1 or HTTP/2 server directly.
//!
//! poem's own loop serves through hyper-util's `auto` builder, which reads a connection's
//! first 24 bytes itself to tell HTTP/1 from h2c and hands them to hyper as a prefix. hyper's
//! first read then returns those 24 bytes alone, and the read that follows has to grow its
//! 8 KiB buffer to 16 KiB, for the life of every connection. Here the first bytes are looked
//! at the same way, but the read that returns them also takes what else has arrived, so the
//! request head comes in one read and the buffer stays at 8 KiB (an idle stream or
//! keep-alive connection: 8 KiB less). The rest is poem's behaviour: the request converted
//! to poem's, an idle connection closed after `idle_timeout`, and on shutdown no new
//! connections, open ones asked to finish, and whatever is left after the grace period cut.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, EndpointExt, IntoEndpoint, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How connections are served.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// A connection with no byte read or written this long is closed.
    pub idle_timeout: Duration,
    pub http2_max_concurrent_streams: u32,
    pub http2_max_header_list_size: u32,
    /// How long open connections may take to finish after the shutdown signal.
    pub grace: Duration,
}

const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves `endpoint` on every connection `acceptor` yields until `shutdown` resolves, then
/// lets open connections finish (at most `options.grace`).
pub async fn serve<A, E>(
    mut acceptor: A,
    endpoint: E,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    A: Acceptor + 'static,
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    let endpoint: Arc<BoxEndpoint<'static, Response>> =
        Arc::new(endpoint.into_endpoint().map_to_response().boxed());
    let connections = TaskTracker::new();
    let finishing = CancellationToken::new();
    let cut = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = acceptor.accept() => {
                // The acceptor pauses and retries on its own errors; one that comes out ends
                // the server (its listener is gone).
                let (io, local, remote, scheme) = accepted?;
                let endpoint = endpoint.clone();
                let finishing = finishing.clone();
                let cut = cut.clone();
                connections.spawn(async move {
                    let peer = remote.clone();
                    let served =
                        serve_connection(io, local, remote, scheme, endpoint, options, finishing);
                    tokio::select! {
                        ended = served => if let Err(error) = ended {
                            tracing::debug!(remote_addr = %peer, %error, "connection ended");
                        },
                        () = cut.cancelled() => {}
                    }
                });
            }
        }
    }
    drop(acceptor);
    tracing::info!(
        grace_seconds = options.grace.as_secs_f32(),
        "shutting down: open connections may finish"
    );
    finishing.cancel();
    connections.close();
    if tokio::time::timeout(options.grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the grace period are cut");
        cut.cancel();
        connections.wait().await;
    }
    Ok(())
}

async fn serve_connection<Io>(
    io: Io,
    local: LocalAddr,
    remote: RemoteAddr,
    scheme: Scheme,
    endpoint: Arc<BoxEndpoint<'static, Response>>,
    options: ServeOptions,
    finishing: CancellationToken,
) -> io::Result<()>
where
    Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let activity = Arc::new(Activity::default());
    let io = Watched {
        inner: io,
        activity: activity.clone(),
    };
    let (io, http2) = tokio::select! {
        sniffed = Sniffed::read_from(io) => sniffed?,
        () = finishing.cancelled() => return Ok(()),
        () = activity.quiet(options.idle_timeout) => {
            tracing::info!("closing connection due to inactivity");
            return Ok(());
        }
    };
    let service = hyper::service::service_fn(move |request| {
        let endpoint = endpoint.clone();
        let request = poem::Request::from((request, local.clone(), remote.clone(), scheme.clone()));
        async move {
            let response = endpoint.get_response(request).await;
            Ok::<_, std::convert::Infallible>(hyper::Response::from(response))
        }
    });
    let io = TokioIo::new(io);
    if http2 {
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .max_concurrent_streams(options.http2_max_concurrent_streams)
            .max_header_list_size(options.http2_max_header_list_size);
        let connection = builder.serve_connection(io, service);
        drive(connection, &activity, options.idle_timeout, &finishing).await
    } else {
        let connection = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .with_upgrades();
        drive(connection, &activity, options.idle_timeout, &finishing).await
    }
}

/// What hyper's HTTP/1 and HTTP/2 connections have in common here.
trait GracefulConnection: Future<Output = hyper::Result<()>> {
    fn begin_graceful_shutdown(self: Pin<&mut Self>);
}

impl<I, S, B> GracefulConnection for hyper::server::conn::http2::Connection<I, S, TokioExecutor>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn begin_graceful_shutdown(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, B> GracefulConnection for hyper::server::conn::http1::UpgradeableConnection<I, S>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn begin_graceful_shutdown(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Runs a connection until it ends; asks it to finish (what is in flight completes) when the
/// server shuts down or the connection has been idle for `idle_timeout`.
async fn drive<C: GracefulConnection>(
    connection: C,
    activity: &Activity,
    idle_timeout: Duration,
    finishing: &CancellationToken,
) -> io::Result<()> {
    tokio::pin!(connection);
    let idle = activity.quiet(idle_timeout);
    tokio::pin!(idle);
    let mut asked_to_finish = false;
    loop {
        tokio::select! {
            ended = connection.as_mut() => return ended.map_err(io::Error::other),
            () = finishing.cancelled(), if !asked_to_finish => {
                asked_to_finish = true;
                connection.as_mut().begin_graceful_shutdown();
            }
            () = idle.as_mut(), if !asked_to_finish => {
                tracing::info!("closing connection due to inactivity");
                asked_to_finish = true;
                connection.as_mut().begin_graceful_shutdown();
            }
        }
    }
}

/// When a connection last read or wrote a byte, as milliseconds since the process's clock
/// base: one atomic store per read or write instead of a timer reset.
struct Activity {
    last_ms: AtomicU64,
}

impl Default for Activity {
    /// Accepting counts as activity: the idle clock starts then.
    fn default() -> Self {
        Self {
            last_ms: AtomicU64::new(now_ms()),
        }
    }
}

fn now_ms() -> u64 {
    static BASE: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(tokio::time::Instant::now);
    u64::try_from(base.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Activity {
    fn touch(&self) {
        self.last_ms.store(now_ms(), Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }

    /// Resolves once nothing was read or written for `limit`: one timer, moved on to the
    /// next possible moment whenever it finds activity since it was set.
    async fn quiet(&self, limit: Duration) {
        loop {
            let quiet = self.quiet_for();
            if quiet >= limit {
                return;
            }
            tokio::time::sleep(limit - quiet).await;
        }
    }
}

/// A connection that records its reads and writes in [`Activity`].
struct Watched<Io> {
    inner: Io,
    activity: Arc<Activity>,
}

impl<Io: AsyncRead + Unpin> AsyncRead for Watched<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if polled.is_ready() {
            self.activity.touch();
        }
        polled
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Watched<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if polled.is_ready() {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if polled.is_ready() {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A connection whose first bytes were read to choose the protocol, and are read again
/// first, together with whatever else has arrived by then.
struct Sniffed<Io> {
    inner: Io,
    first: [u8; 24],
    next: usize,
    end: usize,
}

impl<Io: AsyncRead + Unpin> Sniffed<Io> {
    /// Reads until the bytes differ from the HTTP/2 preface (HTTP/1) or match all of it
    /// (HTTP/2); true for HTTP/2.
    async fn read_from(mut inner: Io) -> io::Result<(Self, bool)> {
        let mut first = [0u8; 24];
        let mut end = 0;
        loop {
            let read = inner.read(&mut first[end..]).await?;
            if read == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            end += read;
            if first[..end] != H2_PREFACE[..end] {
                break;
            }
            if end == H2_PREFACE.len() {
                break;
            }
        }
        let http2 = first[..end] == H2_PREFACE[..];
        Ok((
            Self {
                inner,
                first,
                next: 0,
                end,
            },
            http2,
        ))
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for Sniffed<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.next == self.end {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        let take = (self.end - self.next).min(buf.remaining());
        let (next, end) = (self.next, self.next + take);
        buf.put_slice(&self.first[next..end]);
        self.next = end;
        if self.next == self.end && buf.remaining() > 0 {
            // The rest of the request head is most likely here already: hand it over in
            // the same read, so hyper parses the head without reading (and growing) again.
            // Not ready or failing: the bytes above are this read's; the next one says.
            let _ = Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        Poll::Ready(Ok(()))
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Sniffed<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
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
    use tokio::io::AsyncWriteExt;

    const HEAD: &[u8] =
        b"GET /messages/stream HTTP/1.1\r\nHost: example\r\nAuthorization: Bearer t\r\n\r\n";

    /// The point of sniffing here: hyper's first read gets the whole head that has arrived,
    /// not the 24 bytes looked at, so it never reads (and grows its buffer) again for it.
    #[tokio::test]
    async fn an_http1_head_comes_whole_in_the_first_read() {
        let (mut client, server) = tokio::io::duplex(4096);
        client.write_all(HEAD).await.unwrap();
        let (mut sniffed, http2) = Sniffed::read_from(server).await.unwrap();
        assert!(!http2);
        let mut buffer = vec![0u8; 8192];
        let read = sniffed.read(&mut buffer).await.unwrap();
        assert_eq!(&buffer[..read], HEAD);
    }

    #[tokio::test]
    async fn the_http2_preface_is_recognised_and_read_again() {
        let (mut client, server) = tokio::io::duplex(4096);
        let mut sent = H2_PREFACE.to_vec();
        sent.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // an empty SETTINGS frame
        client.write_all(&sent).await.unwrap();
        let (mut sniffed, http2) = Sniffed::read_from(server).await.unwrap();
        assert!(http2);
        let mut received = vec![0u8; sent.len()];
        sniffed.read_exact(&mut received).await.unwrap();
        assert_eq!(received, sent);
    }

    /// A head that starts like the preface but is not one ("PRI" is a valid method name
    /// to a parser) goes to HTTP/1, every byte intact, even when it trickles in.
    #[tokio::test]
    async fn a_lookalike_of_the_preface_arriving_byte_by_byte_is_http1() {
        let (mut client, server) = tokio::io::duplex(4096);
        let head = b"PRI * HTTP/1.1\r\nHost: x\r\n\r\n";
        let writer = tokio::spawn(async move {
            for byte in head {
                client.write_all(&[*byte]).await.unwrap();
                tokio::task::yield_now().await;
            }
            client
        });
        let (mut sniffed, http2) = Sniffed::read_from(server).await.unwrap();
        assert!(!http2);
        let _client = writer.await.unwrap();
        let mut received = vec![0u8; head.len()];
        sniffed.read_exact(&mut received).await.unwrap();
        assert_eq!(&received[..], &head[..]);
    }

    #[tokio::test]
    async fn a_connection_closed_before_a_byte_is_not_served() {
        let (client, server) = tokio::io::duplex(64);
        drop(client);
        let error = Sniffed::read_from(server).await.err().unwrap();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}
