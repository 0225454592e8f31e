//! HTTPS served directly: rustls with a certificate chain and key from PEM files, HTTP/2 or
//! HTTP/1.1 by ALPN (poem's rustls listener offers both). SIGHUP reads the files again:
//! new connections get the new certificate, open ones carry on; a pair that does not load
//! is logged and the one in service stays.

use std::path::PathBuf;

use futures_util::{Stream, StreamExt};
use poem::listener::{RustlsCertificate, RustlsConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

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
    pub fn load(&self) -> Result<RustlsConfig, TlsError> {
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
        rustls::ServerConfig::builder_with_provider(
            rustls::crypto::ring::default_provider().into(),
        )
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
        Ok(RustlsConfig::new().fallback(RustlsCertificate::new().cert(cert).key(key)))
    }

    /// The configuration in service: `first`, then the files again after every SIGHUP.
    pub fn reloaded_on_hangup(
        self,
        first: RustlsConfig,
    ) -> std::io::Result<impl Stream<Item = RustlsConfig> + Send + 'static> {
        let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let reloads = futures_util::stream::unfold(
            (hangups, self),
            |(mut hangups, files)| async move {
                loop {
                    hangups.recv().await?;
                    match files.load() {
                        Ok(config) => {
                            tracing::info!("SIGHUP: TLS certificate reloaded");
                            return Some((config, (hangups, files)));
                        }
                        Err(error) => {
                            tracing::error!(%error, "SIGHUP: TLS certificate not reloaded; the previous one stays");
                        }
                    }
                }
            },
        );
        Ok(futures_util::stream::once(async { first }).chain(reloads))
    }
}

/// The TCP acceptor under poem's TLS one, holding back the first connection for one turn.
///
/// poem's TLS acceptor waits on its configuration stream and on new connections at once and
/// takes whichever is ready, at random when both are: a client that connects as the server
/// starts (it read the port from the log) could be taken before the first certificate and
/// be reset. Answering "not yet" to the first poll lets the certificate, ready from the
/// start, win that race.
pub struct CertificateFirst<A> {
    inner: A,
    started: bool,
}

/// The listener whose acceptor is [`CertificateFirst`]; wrap it with `.rustls(…)`.
pub struct CertificateFirstListener<L>(pub L);

impl<L: poem::listener::Listener> poem::listener::Listener for CertificateFirstListener<L> {
    type Acceptor = CertificateFirst<L::Acceptor>;

    async fn into_acceptor(self) -> std::io::Result<Self::Acceptor> {
        Ok(CertificateFirst {
            inner: self.0.into_acceptor().await?,
            started: false,
        })
    }
}

impl<A: poem::listener::Acceptor> poem::listener::Acceptor for CertificateFirst<A> {
    type Io = A::Io;

    fn local_addr(&self) -> Vec<poem::web::LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> std::io::Result<(
        Self::Io,
        poem::web::LocalAddr,
        poem::web::RemoteAddr,
        poem::http::uri::Scheme,
    )> {
        if !self.started {
            self.started = true;
            tokio::task::yield_now().await;
        }
        self.inner.accept().await
    }
}
