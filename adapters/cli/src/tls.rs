//! HTTPS served directly: rustls (ring) with a certificate chain and key from PEM files,
//! HTTP/2 or HTTP/1.1 by ALPN. SIGHUP reads the files again: new connections get the new
//! certificate, open ones carry on; a pair that does not load is logged and the one in
//! service stays.
//!
//! The listener is ours rather than poem's `rustls` feature: that feature turns on
//! tokio-rustls' default provider, aws-lc-rs, a second crypto library (a C build of several
//! minutes) beside the ring the rest of the binary uses.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ai_message_http::connections::AcceptedOn;
use poem::listener::{Acceptor, Listener};
use poem::web::{LocalAddr, RemoteAddr};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;

/// Where the certificate chain and its private key are (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Why the certificate and key could not be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        setting: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: no PEM certificate{}", path.display(), source.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    Certificate {
        path: PathBuf,
        #[source]
        source: Option<rustls::pki_types::pem::Error>,
    },
    #[error("{}: no PEM private key: {source}", path.display())]
    Key {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{} and {} do not make a TLS configuration: {source}", cert.display(), key.display())]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("cannot watch SIGHUP: {0}")]
    Hangup(#[source] std::io::Error),
}

impl TlsError {
    /// The setting to look at.
    pub fn setting(&self) -> &'static str {
        match self {
            Self::Read { setting, .. } => setting,
            Self::Certificate { .. } => "TLS_CERT_FILE",
            Self::Key { .. } => "TLS_KEY_FILE",
            Self::Mismatch { .. } | Self::Hangup(_) => "TLS_CERT_FILE / TLS_KEY_FILE",
        }
    }
}

impl TlsFiles {
    /// Reads both files and checks that they make a server configuration (the key parses
    /// and belongs to the first certificate).
    pub fn load(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let read = |path: &PathBuf, setting| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                setting,
                path: path.clone(),
                source,
            })
        };
        let cert = read(&self.cert, "TLS_CERT_FILE")?;
        let key = read(&self.key, "TLS_KEY_FILE")?;
        let chain = CertificateDer::pem_slice_iter(&cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| TlsError::Certificate {
                path: self.cert.clone(),
                source: Some(source),
            })?;
        if chain.is_empty() {
            return Err(TlsError::Certificate {
                path: self.cert.clone(),
                source: None,
            });
        }
        let private = PrivateKeyDer::from_pem_slice(&key).map_err(|source| TlsError::Key {
            path: self.key.clone(),
            source,
        })?;
        let mut config =
            ServerConfig::builder_with_provider(rustls::crypto::ring::default_provider().into())
                .with_safe_default_protocol_versions()
                .and_then(|builder| {
                    builder
                        .with_no_client_auth()
                        .with_single_cert(chain, private)
                })
                .map_err(|source| TlsError::Mismatch {
                    cert: self.cert.clone(),
                    key: self.key.clone(),
                    source,
                })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// A listener serving TLS over `inner` with `first`, then with the files again after
    /// every SIGHUP (read by a task that ends with the runtime).
    pub fn listen<L>(self, inner: L, first: Arc<ServerConfig>) -> io::Result<TlsListener<L>> {
        let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let (sender, configs) = watch::channel(first);
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match self.load() {
                    Ok(config) => {
                        tracing::info!("SIGHUP: TLS certificate reloaded");
                        if sender.send(config).is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, "SIGHUP: TLS certificate not reloaded; the previous one stays");
                    }
                }
            }
        });
        Ok(TlsListener { inner, configs })
    }
}

/// A poem listener that serves TLS over another one (TCP).
pub struct TlsListener<L> {
    inner: L,
    configs: watch::Receiver<Arc<ServerConfig>>,
}

impl<L: Listener> Listener for TlsListener<L> {
    type Acceptor = TlsAcceptor<L::Acceptor>;

    async fn into_acceptor(self) -> io::Result<Self::Acceptor> {
        Ok(TlsAcceptor {
            inner: self.inner.into_acceptor().await?,
            configs: self.configs,
        })
    }
}

/// Accepts connections with the configuration in service at that moment.
pub struct TlsAcceptor<A> {
    inner: A,
    configs: watch::Receiver<Arc<ServerConfig>>,
}

impl<A: Acceptor> Acceptor for TlsAcceptor<A> {
    type Io = TlsConnection<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        let (stream, local, remote, _) = self.inner.accept().await?;
        let config = self.configs.borrow().clone();
        let handshake = tokio_rustls::TlsAcceptor::from(config).accept(stream);
        Ok((
            TlsConnection::Handshaking(Box::new(handshake)),
            local,
            remote,
            poem::http::uri::Scheme::HTTPS,
        ))
    }
}

/// A TLS connection whose handshake runs on its first read or write, in the connection's
/// own task: a slow or silent client never holds up `accept`, and the server's deadline for
/// a request's head covers the handshake too.
pub enum TlsConnection<S> {
    Handshaking(Box<tokio_rustls::Accept<S>>),
    Ready(Box<TlsStream<S>>),
    Failed,
}

impl<S: AcceptedOn> AcceptedOn for TlsConnection<S> {
    fn accepted_on(&self) -> Option<std::net::SocketAddr> {
        match self {
            Self::Handshaking(accept) => accept.get_ref()?.accepted_on(),
            Self::Ready(stream) => stream.get_ref().0.accepted_on(),
            Self::Failed => None,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsConnection<S> {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&mut TlsStream<S>>> {
        if let Self::Handshaking(handshake) = self {
            match Pin::new(handshake.as_mut()).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(stream)) => *self = Self::Ready(Box::new(stream)),
                Poll::Ready(Err(error)) => {
                    *self = Self::Failed;
                    return Poll::Ready(Err(error));
                }
            }
        }
        match self {
            Self::Ready(stream) => Poll::Ready(Ok(stream)),
            _ => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the TLS handshake failed",
            ))),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsConnection<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().poll_ready(cx) {
            Poll::Ready(Ok(stream)) => Pin::new(stream).poll_read(cx, buf),
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsConnection<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().poll_ready(cx) {
            Poll::Ready(Ok(stream)) => Pin::new(stream).poll_write(cx, buf),
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().poll_ready(cx) {
            Poll::Ready(Ok(stream)) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Ready(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Ready(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
            // Nothing was said over TLS yet: closing the socket (on drop) is the whole goodbye.
            _ => Poll::Ready(Ok(())),
        }
    }
}
