//! `postgresql://` URLs, TLS as `sslmode` asks for it, and the pool.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Hook, HookError, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::guard;

/// How long to wait for a connection before answering 503.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A pooled connection unused this long is pinged before it serves a request: a network
/// path that lost its state is found here rather than by a request.
pub(crate) const IDLE_CHECK_AFTER: Duration = Duration::from_secs(5);
pub(crate) const IDLE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    InvalidUrl(String),
    #[error("cannot connect to PostgreSQL at {address}: {detail}")]
    Unreachable { address: String, detail: String },
    #[error("cannot migrate the PostgreSQL database: {0}")]
    Migrate(String),
    #[error("TLS: {0}")]
    Tls(String),
}

/// How to secure the connection (libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `disable`: never TLS.
    Plain,
    /// `allow`, and the default for a server on this machine (a loopback address or
    /// `localhost`): plain first, TLS only if the server refuses a plain connection. TLS on
    /// loopback protects nothing a local administrator could not read anyway, and it cost
    /// ~50 µs of CPU on each side per request.
    PlainFirst,
    /// `prefer`, and the default for any other server: TLS if the server offers it, and then
    /// unverified.
    TlsFirst,
    /// `require`: encrypted, the certificate not checked (libpq's meaning).
    Encrypted,
    /// `verify-ca` and `verify-full`: encrypted, the certificate chain and host name checked.
    Verified,
}

/// A parsed `postgresql://` URL and what it asks for.
#[derive(Clone)]
pub struct PostgresUrl {
    config: tokio_postgres::Config,
    security: Security,
    root_cert: Option<String>,
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresUrl")
            .field("address", &self.address())
            .field("security", &self.security)
            .finish()
    }
}

impl PostgresUrl {
    pub fn parse(url: &str) -> Result<Self, ConnectError> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let mut sslmode = None;
        let mut root_cert = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => sslmode = Some(value.to_string()),
                "sslrootcert" => root_cert = Some(value.to_string()),
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config = tokio_postgres::Config::from_str(&rest)
            .map_err(|e| ConnectError::InvalidUrl(format!("not a PostgreSQL URL: {e}")))?;
        let security = match sslmode.as_deref() {
            None if on_this_machine(&config) => Security::PlainFirst,
            None | Some("prefer") => Security::TlsFirst,
            Some("disable") => Security::Plain,
            Some("allow") => Security::PlainFirst,
            Some("require") => Security::Encrypted,
            Some("verify-ca" | "verify-full") => Security::Verified,
            Some(other) => {
                return Err(ConnectError::InvalidUrl(format!(
                    "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, \
                     verify-full"
                )));
            }
        };
        config.ssl_mode(match security {
            Security::Plain | Security::PlainFirst => SslMode::Disable,
            Security::TlsFirst => SslMode::Prefer,
            Security::Encrypted | Security::Verified => SslMode::Require,
        });
        config.connect_timeout(CONNECT_TIMEOUT);
        if config.get_application_name().is_none() {
            config.application_name("ai-message");
        }
        Ok(Self {
            config,
            security,
            root_cert,
        })
    }

    /// `host:port` for messages (never the password).
    pub fn address(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            #[cfg(unix)]
            Some(Host::Unix(path)) => path.display().to_string(),
            None => "localhost".to_string(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!("{host}:{port}")
    }

    pub fn database_name(&self) -> Option<&str> {
        self.config.get_dbname()
    }

    /// The error with its causes ("error connecting to server: Connection refused …").
    pub(crate) fn unreachable_error(&self, error: &dyn std::error::Error) -> ConnectError {
        let mut detail = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !detail.contains(&text) {
                detail.push_str(": ");
                detail.push_str(&text);
            }
            source = cause.source();
        }
        self.unreachable(detail)
    }

    pub(crate) fn unreachable(&self, detail: String) -> ConnectError {
        ConnectError::Unreachable {
            address: self.address(),
            detail,
        }
    }

    fn tls(&self) -> Result<MakeRustlsConnect, ConnectError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ConnectError::Tls(e.to_string()))?;
        let config = match self.security {
            Security::Verified => {
                let mut roots = rustls::RootCertStore::empty();
                match &self.root_cert {
                    Some(path) => {
                        for cert in CertificateDer::pem_file_iter(path)
                            .map_err(|e| ConnectError::Tls(format!("sslrootcert {path}: {e}")))?
                        {
                            let cert = cert.map_err(|e| {
                                ConnectError::Tls(format!("sslrootcert {path}: {e}"))
                            })?;
                            roots.add(cert).map_err(|e| {
                                ConnectError::Tls(format!("sslrootcert {path}: {e}"))
                            })?;
                        }
                    }
                    None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            Security::Encrypted | Security::Plain | Security::PlainFirst | Security::TlsFirst => {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
                    .with_no_client_auth()
            }
        };
        Ok(MakeRustlsConnect::new(config))
    }

    /// One connection outside the pool (migrations hold an advisory lock on it).
    pub async fn connect_once(&self) -> Result<tokio_postgres::Client, ConnectError> {
        let (client, connection) = self.connect_unpooled(&self.config).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "PostgreSQL connection closed");
            }
        });
        Ok(client)
    }

    /// A connection outside the pool, with `config` and this URL's TLS settings.
    async fn connect_unpooled(
        &self,
        config: &tokio_postgres::Config,
    ) -> Result<(tokio_postgres::Client, UnpooledConnection), ConnectError> {
        let tls = self.tls()?;
        with_tls_fallback(self.security, config, |config| {
            let tls = tls.clone();
            async move { config.connect(tls).await }
        })
        .await
        .map_err(|e| self.unreachable_error(&e))
    }

    /// The `application_name` of every instance's live-events connection.
    pub const LISTENER_NAME: &'static str = "ai-message live events";

    /// A connection outside the pool whose notifications (`LISTEN`) go to `notices`. The
    /// channel closes when the connection does.
    pub(crate) async fn connect_listener(
        &self,
        notices: tokio::sync::mpsc::UnboundedSender<tokio_postgres::Notification>,
    ) -> Result<tokio_postgres::Client, ConnectError> {
        use futures_util::StreamExt as _;
        let mut config = self.config.clone();
        // Named, so that an operator (or a test) can tell it from the pool's connections.
        config.application_name(Self::LISTENER_NAME);
        let (client, mut connection) = self.connect_unpooled(&config).await?;
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(tokio_postgres::AsyncMessage::Notification(notice)) => {
                        if notices.send(notice).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(error = %error, "PostgreSQL listening connection failed");
                        break;
                    }
                }
            }
        });
        Ok(client)
    }

    /// The pool of request connections: every one bounded (see [`crate::guard`]), and one
    /// that sat idle is checked with a round trip before it serves again.
    pub(crate) fn pool(&self, size: usize) -> Result<Pool, ConnectError> {
        let manager = Manager::from_connect(
            guard::bounded_config(&self.config),
            guard::GuardedConnect {
                tls: self.tls()?,
                security: self.security,
            },
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .pre_recycle(Hook::async_fn(|client, metrics| {
                Box::pin(async move {
                    if metrics.last_used() < IDLE_CHECK_AFTER {
                        return Ok(());
                    }
                    match tokio::time::timeout(IDLE_CHECK_TIMEOUT, client.simple_query("")).await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(error)) => Err(HookError::Backend(error)),
                        Err(_) => Err(HookError::message(
                            "an idle PostgreSQL connection did not answer; replaced",
                        )),
                    }
                })
            }))
            .build()
            .map_err(|e| ConnectError::InvalidUrl(e.to_string()))
    }
}

/// Whether the URL names a server on this machine: a loopback address, `localhost`, or a
/// Unix socket directory.
fn on_this_machine(config: &tokio_postgres::Config) -> bool {
    let hosts = config.get_hosts();
    !hosts.is_empty()
        && hosts.iter().all(|host| match host {
            Host::Tcp(name) => {
                name.eq_ignore_ascii_case("localhost")
                    || name
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            #[cfg(unix)]
            Host::Unix(_) => true,
        })
}

/// The task side of a connection made outside the pool.
type UnpooledConnection = tokio_postgres::Connection<
    tokio_postgres::Socket,
    <MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>>::Stream,
>;

/// Whether a server refused a connection for being unencrypted: `pg_hba.conf` has no line
/// for it (only `hostssl` ones), which PostgreSQL reports as an invalid authorization
/// specification before any password is asked.
fn refused_without_tls(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&tokio_postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
}

/// Connects as `security` asks: for [`Security::PlainFirst`], a refused plain connection is
/// tried again with TLS (libpq's `allow`).
pub(crate) async fn with_tls_fallback<T, F, Fut>(
    security: Security,
    config: &tokio_postgres::Config,
    connect: F,
) -> Result<T, tokio_postgres::Error>
where
    F: Fn(tokio_postgres::Config) -> Fut,
    Fut: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
{
    match connect(config.clone()).await {
        Err(error) if security == Security::PlainFirst && refused_without_tls(&error) => {
            tracing::debug!(%error, "PostgreSQL refused a plain connection; trying TLS");
            let mut encrypted = config.clone();
            encrypted.ssl_mode(SslMode::Require);
            connect(encrypted).await
        }
        other => other,
    }
}

/// `sslmode=require`: encrypt, but accept any certificate (libpq's documented meaning).
/// Handshake signatures are still checked.
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_read_and_removed_from_the_url() {
        let url =
            PostgresUrl::parse("postgresql://app:pw@db.example:6543/prod?sslmode=verify-full")
                .unwrap();
        assert_eq!(url.security, Security::Verified);
        assert_eq!(url.address(), "db.example:6543");
        assert_eq!(url.database_name(), Some("prod"));
        let url = PostgresUrl::parse("postgresql://app@db/prod?sslmode=require&connect_timeout=3")
            .unwrap();
        assert_eq!(url.security, Security::Encrypted);
        let url = PostgresUrl::parse("postgresql://app@db/prod").unwrap();
        assert_eq!(url.security, Security::TlsFirst);
        assert_eq!(url.address(), "db:5432");
        assert!(PostgresUrl::parse("postgresql://db/prod?sslmode=sometimes").is_err());
    }

    #[test]
    fn a_server_on_this_machine_is_tried_without_tls_first_unless_the_url_says_otherwise() {
        for local in [
            "postgresql://app@127.0.0.1/prod",
            "postgresql://app@127.0.0.2:5433/prod",
            "postgresql://app@localhost/prod",
            "postgresql://app@LOCALHOST/prod",
            "postgresql://app@[::1]:5432/prod",
            "postgresql://app@%2Fvar%2Frun%2Fpostgresql/prod",
            "postgresql://app@127.0.0.1/prod?sslmode=allow",
            "postgresql://app@db.example/prod?sslmode=allow",
        ] {
            let url = PostgresUrl::parse(local).unwrap();
            assert_eq!(url.security, Security::PlainFirst, "{local}");
            assert_eq!(url.config.get_ssl_mode(), SslMode::Disable, "{local}");
        }
        for remote in [
            "postgresql://app@db.example/prod",
            "postgresql://app@10.0.0.5/prod",
            "postgresql://app@localhost.example.org/prod",
            "postgresql://app@127.0.0.1.example.org/prod",
            "postgresql://app@127.0.0.1/prod?sslmode=prefer",
            "postgresql://app@127.0.0.1,db.example/prod",
        ] {
            let url = PostgresUrl::parse(remote).unwrap();
            assert_eq!(url.security, Security::TlsFirst, "{remote}");
            assert_eq!(url.config.get_ssl_mode(), SslMode::Prefer, "{remote}");
        }
        let url = PostgresUrl::parse("postgresql://app@127.0.0.1/prod?sslmode=require").unwrap();
        assert_eq!(url.security, Security::Encrypted);
        let url = PostgresUrl::parse("postgresql://app@localhost/prod?sslmode=disable").unwrap();
        assert_eq!(url.security, Security::Plain);
    }

    #[test]
    fn debug_output_hides_the_password() {
        let url = PostgresUrl::parse("postgresql://app:s3cret@db/prod").unwrap();
        assert!(!format!("{url:?}").contains("s3cret"));
    }
}
