//! Connections that cannot hang. A network path that loses its state (NAT, firewall, load
//! balancer) leaves a TCP connection open with nothing ever arriving again; TCP keepalives
//! and `TCP_USER_TIMEOUT` end it when the peer itself goes silent, but a middlebox that
//! still acknowledges (a proxy, a relay) hides that. So every pooled connection is also
//! watched from above: once a request has been written, a reply must start arriving within
//! [`REPLY_DEADLINE`], or the connection fails, its requests answer "unavailable", and the
//! pool replaces it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use deadpool_postgres::Connect;
use socket2::{SockRef, TcpKeepalive};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Sleep;
use tokio_postgres::config::Host;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Server-side bound on one statement (`statement_timeout`).
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(8);
/// Client-side bound on silence after a request: the statement limit and a margin.
pub(crate) const REPLY_DEADLINE: Duration = Duration::from_secs(10);
/// TCP: probe an idle connection after this long, then every interval, a few times.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_RETRIES: u32 = 3;
/// TCP: data unacknowledged this long ends the connection.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(15);

/// Applies the bounds of this module to a pool's configuration: keepalives, the user
/// timeout and `statement_timeout` for every session.
pub(crate) fn bounded_config(config: &tokio_postgres::Config) -> tokio_postgres::Config {
    let mut config = config.clone();
    config
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .keepalives_interval(KEEPALIVE_INTERVAL)
        .keepalives_retries(KEEPALIVE_RETRIES)
        .tcp_user_timeout(TCP_USER_TIMEOUT);
    let statement_timeout = format!("-c statement_timeout={}", STATEMENT_TIMEOUT.as_millis());
    let options = match config.get_options() {
        Some(existing) if !existing.is_empty() => format!("{existing} {statement_timeout}"),
        _ => statement_timeout,
    };
    config.options(options);
    config
}

/// A TCP stream that fails a read when a written request gets no reply in time.
pub(crate) struct ReplyDeadline<S> {
    inner: S,
    deadline: Duration,
    /// Bytes were written and nothing has been read since.
    awaiting_reply: bool,
    /// One timer for the connection's life, moved forward at each request: pushing a
    /// registered deadline later is a lock-free update in tokio, where a new timer per
    /// request took the timer wheel's lock twice and an allocation.
    timer: Pin<Box<Sleep>>,
}

impl<S> ReplyDeadline<S> {
    pub(crate) fn new(inner: S, deadline: Duration) -> Self {
        Self {
            inner,
            deadline,
            awaiting_reply: false,
            timer: Box::pin(tokio::time::sleep(deadline)),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReplyDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    // The timer stays armed; firing while idle is one harmless wake-up.
                    self.awaiting_reply = false;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.awaiting_reply => {
                if self.timer.as_mut().poll(cx).is_ready() {
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "PostgreSQL sent no reply within {} s",
                            self.deadline.as_secs()
                        ),
                    )))
                } else {
                    Poll::Pending
                }
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReplyDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = written
            && n > 0
            && !self.awaiting_reply
        {
            // The clock starts now, and polling it registers this task's waker: a reader
            // that went idle before this write (tokio-postgres reads, then writes, in one
            // poll) is woken when the deadline passes.
            self.awaiting_reply = true;
            let deadline = tokio::time::Instant::now() + self.deadline;
            self.timer.as_mut().reset(deadline);
            let _ = self.timer.as_mut().poll(cx);
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

/// Opens pooled connections over [`ReplyDeadline`] streams with keepalives and the user
/// timeout set on the socket. Unix-socket hosts (local, no middlebox) connect as usual.
pub(crate) struct GuardedConnect {
    pub(crate) tls: MakeRustlsConnect,
    pub(crate) security: crate::connect::Security,
}

impl GuardedConnect {
    async fn connect_with(
        &self,
        config: tokio_postgres::Config,
    ) -> Result<(tokio_postgres::Client, JoinHandle<()>), tokio_postgres::Error> {
        let mut tls = self.tls.clone();
        match open_tcp(&config).await {
            Ok((stream, host)) => {
                let stream = ReplyDeadline::new(stream, REPLY_DEADLINE);
                // Bad host names surface at the handshake; building the connector cannot fail.
                let Ok(tls) = <MakeRustlsConnect as MakeTlsConnect<
                    ReplyDeadline<TcpStream>,
                >>::make_tls_connect(&mut tls, &host);
                let (client, connection) = config.connect_raw(stream, tls).await?;
                Ok((client, spawn_connection(connection)))
            }
            // A Unix socket, or a TCP connect that failed: tokio-postgres connects (or
            // says why it cannot) in its own words.
            Err(error) => {
                tracing::debug!(%error, "PostgreSQL: connecting without the reply guard");
                let (client, connection) = config.connect(tls).await?;
                Ok((client, spawn_connection(connection)))
            }
        }
    }
}

async fn open_tcp(config: &tokio_postgres::Config) -> io::Result<(TcpStream, String)> {
    let Some(Host::Tcp(host)) = config.get_hosts().first() else {
        return Err(io::Error::other("not a TCP host"));
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let connect = TcpStream::connect((host.as_str(), port));
    let timeout = config
        .get_connect_timeout()
        .copied()
        .unwrap_or(Duration::from_secs(5));
    let stream = tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    let socket = SockRef::from(&stream);
    socket.set_tcp_keepalive(
        &TcpKeepalive::new()
            .with_time(KEEPALIVE_IDLE)
            .with_interval(KEEPALIVE_INTERVAL)
            .with_retries(KEEPALIVE_RETRIES),
    )?;
    #[cfg(target_os = "linux")]
    socket.set_tcp_user_timeout(Some(TCP_USER_TIMEOUT))?;
    Ok((stream, host.clone()))
}

fn spawn_connection<F>(connection: F) -> JoinHandle<()>
where
    F: Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "PostgreSQL connection ended");
        }
    })
}

impl Connect for GuardedConnect {
    fn connect(
        &self,
        config: &tokio_postgres::Config,
    ) -> futures_util::future::BoxFuture<
        '_,
        Result<(tokio_postgres::Client, JoinHandle<()>), tokio_postgres::Error>,
    > {
        let config = config.clone();
        Box::pin(async move {
            crate::connect::with_tls_fallback(self.security, &config, |config| {
                self.connect_with(config)
            })
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Polls like tokio-postgres's connection task: read first, then write the request, in
    /// one task; done when the read ends.
    struct ReadThenWrite<'a> {
        stream: &'a mut ReplyDeadline<tokio::io::DuplexStream>,
        written: bool,
    }

    impl Future for ReadThenWrite<'_> {
        type Output = io::Result<usize>;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let mut byte = [0u8; 1];
            let mut buf = ReadBuf::new(&mut byte);
            if let Poll::Ready(result) = Pin::new(&mut *self.stream).poll_read(cx, &mut buf) {
                return Poll::Ready(result.map(|()| buf.filled().len()));
            }
            if !self.written {
                let _ = Pin::new(&mut *self.stream).poll_write(cx, b"Q");
                self.written = true;
            }
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_reader_idle_before_the_request_is_woken_at_the_deadline() {
        let (client, _server) = tokio::io::duplex(64);
        let mut guarded = ReplyDeadline::new(client, Duration::from_millis(100));
        let task = ReadThenWrite {
            stream: &mut guarded,
            written: false,
        };
        let outcome = tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .expect("the deadline wakes the reader");
        assert_eq!(outcome.unwrap_err().kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn a_request_without_a_reply_fails_at_the_deadline() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut guarded = ReplyDeadline::new(client, Duration::from_millis(100));
        // Idle: no deadline while nothing was asked.
        let mut byte = [0u8; 1];
        assert!(
            tokio::time::timeout(Duration::from_millis(250), guarded.read(&mut byte))
                .await
                .is_err()
        );
        guarded.write_all(b"Q").await.unwrap();
        server.write_all(b"R").await.unwrap();
        assert_eq!(guarded.read(&mut byte).await.unwrap(), 1, "a reply in time");
        guarded.write_all(b"Q").await.unwrap();
        let error = guarded.read(&mut byte).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    /// The one timer moves with each request: requests answered in time never fail, however
    /// long the connection has lived, and one left unanswered still does, a deadline after it
    /// was written.
    #[tokio::test]
    async fn each_request_gets_the_whole_deadline_however_long_the_connection_lived() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut guarded = ReplyDeadline::new(client, Duration::from_millis(100));
        let mut byte = [0u8; 1];
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            guarded.write_all(b"Q").await.unwrap();
            tokio::time::sleep(Duration::from_millis(60)).await;
            server.write_all(b"R").await.unwrap();
            assert_eq!(
                guarded.read(&mut byte).await.unwrap(),
                1,
                "answered in time"
            );
        }
        let asked = tokio::time::Instant::now();
        guarded.write_all(b"Q").await.unwrap();
        let error = guarded.read(&mut byte).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(
            asked.elapsed() >= Duration::from_millis(100),
            "not before the deadline"
        );
    }
}
