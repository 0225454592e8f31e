//! The configuration table of the API contract, read from the environment. Every problem is
//! one line naming the variable.

use std::net::IpAddr;

use std::time::Duration;

use ai_message_core::PasswordRules;
use ai_message_core::ports::Quota as LoginQuota;
use ai_message_core::usecases::LoginLimits;
use ai_message_http::connection_budget::ConnectionRules;
use ai_message_http::limits::{LimitSettings, Quota};
use ai_message_http::{CorsOrigins, ForwardingHeader, TrustedProxies};
use chrono::TimeDelta;

use crate::database::DatabaseUrl;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}

/// The first superuser to create at start-up.
#[derive(Clone, PartialEq, Eq)]
pub struct FirstSuperuser {
    pub username: String,
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for FirstSuperuser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstSuperuser")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Where the signing key came from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretKey {
    Configured(String),
    /// None was set: a random one for this process only (tokens die with it).
    Ephemeral(String),
}

impl SecretKey {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Configured(key) | Self::Ephemeral(key) => key.as_bytes(),
        }
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Configured(_) => f.write_str("SecretKey::Configured(<redacted>)"),
            Self::Ephemeral(_) => f.write_str("SecretKey::Ephemeral(<redacted>)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub database: DatabaseUrl,
    /// PostgreSQL connections per instance.
    pub database_pool_size: usize,
    pub host: IpAddr,
    pub port: u16,
    pub secret_key: SecretKey,
    pub access_token_ttl: TimeDelta,
    pub refresh_token_ttl: TimeDelta,
    pub refresh_reuse_grace: TimeDelta,
    pub bcrypt_cost: u32,
    pub first_superuser: Option<FirstSuperuser>,
    pub cors: CorsOrigins,
    pub limits: LimitSettings,
    pub login_limits: LoginLimits,
    /// Peers whose `X-Forwarded-For` / `Forwarded` headers name the client.
    pub trusted_proxies: TrustedProxies,
    /// Password hashes allowed to wait for a worker before logins get 503.
    pub bcrypt_max_queue: usize,
    /// A connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Client connections open at once; `None`: derived from the open-file limit.
    pub max_connections: Option<usize>,
    /// From the first byte of a request head to its end.
    pub header_read_timeout: Duration,
    /// A write waiting this long for the client to read closes the connection.
    pub write_timeout: Duration,
    /// IPv6 clients are counted by the abuse limits per this prefix.
    pub ipv6_limit_prefix: u8,
    /// Streams one HTTP/2 connection may have open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub http2_max_concurrent_streams: u32,
    /// Live streams one user may have open on one instance.
    pub stream_max_per_user: usize,
    /// `REPORTS_PER_HOUR`: reports one user may file an hour, by hand or through the
    /// assistant (0: no limit).
    pub reports_per_hour: u32,
    /// Where the assistant's model is; `None`: the assistant answers 503.
    pub assistant_model: Option<ai_message_openai::ModelConfig>,
    pub assistant: ai_message_core::usecases::assistant::AssistantSettings,
    /// `PASSWORD_MIN_LENGTH`: how short a new password may be, in bytes.
    pub password_rules: ai_message_core::PasswordRules,
    /// HTTPS: the certificate chain and key files; `None` serves plain HTTP.
    pub tls: Option<crate::tls::TlsFiles>,
    /// How typed phone numbers are read (`PHONE_DEFAULT_REGION`).
    pub phone_rules: ai_message_core::PhoneRules,
    /// WhatsApp and SMS through Twilio (`TWILIO_*`).
    pub twilio: ai_message_twilio::TwilioSettings,
    pub channels: ai_message_core::usecases::channels::ChannelSettings,
    /// Where Prometheus metrics are served (`METRICS_ADDR`); `None`: not at all.
    pub metrics_address: Option<std::net::SocketAddr>,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite:///./backend.db";

/// HS256 keys shorter than its 256-bit output can be brute-forced from a single token.
pub const MIN_SECRET_KEY_BYTES: usize = 32;

/// Signing keys published in samples and docs (the original ships the first one in its
/// `.env` example), compared ignoring case and surrounding space.
const PUBLISHED_SECRET_KEYS: [&str; 6] = [
    "your-secret-key-change-in-production",
    "your-super-secret-key-change-in-production",
    "change-this-secret-key-in-production",
    "your-secret-key-here-change-in-production",
    "please-change-this-secret-key-in-production",
    "super-secret-key-change-me-in-production",
];

/// Words that mark a key as a sample's placeholder, in a key made of words alone.
const PLACEHOLDER_WORDS: [&str; 8] = [
    "change",
    "your",
    "replace",
    "example",
    "default",
    "sample",
    "insecure",
    "placeholder",
];

/// An HS256 key is attacked offline, from any one token, at billions of guesses a second.
/// zxcvbn estimates how many guesses find a key through its patterns (dictionary words and
/// their repeats, runs such as `0123…` or `abcd…`, keyboard walks, dates); it counts them in
/// a `u64`, so its estimate stops near 1.8·10^19, where a random key of 32 characters or more
/// lands at once. A key must come within a factor of two of that: 10^19 guesses at 10^10 a
/// second take thirty years, while every patterned key tried scored below 10^18.
const MIN_SECRET_KEY_GUESSES_LOG10: f64 = 19.0;

/// zxcvbn's work grows faster than the key's length: the first characters decide (a key
/// whose beginning is that hard to guess is at least as hard as its beginning).
const SECRET_KEY_CHARS_ESTIMATED: usize = 128;

/// Why a key of sufficient length is still no secret: a published sample, one character
/// (or a handful) repeated, a phrase of the samples' kind (`my-default-secret-key-…`), or
/// patterns that make it guessable (`passwordpassword…`, `0123456789…`, `qwertyuiop…`).
pub(crate) fn weak_secret_key(key: &str) -> Option<String> {
    let normalised = key.trim().to_lowercase();
    if PUBLISHED_SECRET_KEYS.contains(&normalised.as_str()) {
        return Some(format!("is a published sample key ('{}')", key.trim()));
    }
    let distinct: std::collections::HashSet<char> = key.chars().collect();
    if distinct.len() < 6 {
        return Some(format!(
            "is made of {} different characters repeated",
            distinct.len()
        ));
    }
    let words_only = normalised
        .chars()
        .all(|c| c.is_ascii_lowercase() || matches!(c, '-' | '_' | ' ' | '.'));
    if words_only {
        let placeholder = normalised
            .split(['-', '_', ' ', '.'])
            .find(|word| PLACEHOLDER_WORDS.contains(word));
        if let Some(word) = placeholder {
            return Some(format!(
                "reads like a sample's placeholder (the word '{word}')"
            ));
        }
    }
    let estimated: String = key.chars().take(SECRET_KEY_CHARS_ESTIMATED).collect();
    let guesses_log10 = zxcvbn::zxcvbn(&estimated, &[]).guesses_log10();
    if guesses_log10 < MIN_SECRET_KEY_GUESSES_LOG10 {
        return Some(format!(
            "could be guessed in about 10^{guesses_log10:.0} tries (words, repeats, runs such \
             as 0123 or abcd, keyboard walks such as qwerty are patterns that crackers try \
             first)"
        ));
    }
    None
}

/// An IP address, or a name (`localhost`) resolved to one, IPv4 first.
fn host_address(raw: &str) -> Option<IpAddr> {
    if let Ok(address) = raw.parse() {
        return Some(address);
    }
    use std::net::ToSocketAddrs;
    let resolved: Vec<IpAddr> = (raw, 0).to_socket_addrs().ok()?.map(|a| a.ip()).collect();
    resolved
        .iter()
        .find(|ip| ip.is_ipv4())
        .or(resolved.first())
        .copied()
}

/// `*`, or comma-separated origins as browsers send them: `scheme://host[:port]`, no path.
fn check_origins(value: &str) -> Result<(), String> {
    for origin in value.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if origin == "*" {
            continue;
        }
        let parsed: Option<poem::http::Uri> = origin.parse().ok();
        let is_origin = parsed.is_some_and(|uri| {
            matches!(uri.scheme_str(), Some("http" | "https"))
                && uri.host().is_some_and(|host| !host.is_empty())
                && uri.path_and_query().is_none_or(|pq| pq.as_str() == "/")
                && !origin.ends_with('/')
        });
        if !is_origin {
            return Err(format!(
                "'{origin}' is not an origin such as https://app.example.org (scheme, host and \
                 port only), nor *"
            ));
        }
    }
    Ok(())
}

/// Reads a variable, then its `AI_MESSAGE_` twin; empty counts as unset.
pub(crate) fn read(
    lookup: &dyn Fn(&str) -> Option<String>,
    names: &[&'static str],
) -> Option<(&'static str, String)> {
    names::note(names, None, None);
    names.iter().find_map(|name| {
        lookup(name)
            .filter(|value| !value.trim().is_empty())
            .map(|value| (*name, value))
    })
}

pub(crate) fn number<T>(
    lookup: &dyn Fn(&str) -> Option<String>,
    names: &[&'static str],
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    names::note(
        names,
        Some(default.to_string()),
        Some(format!("{} to {}", range.start(), range.end())),
    );
    let Some((name, raw)) = read(lookup, names) else {
        return Ok(default);
    };
    let value: T = raw
        .trim()
        .parse()
        .map_err(|_| ConfigError::new(name, format!("'{raw}' is not a whole number")))?;
    if !range.contains(&value) {
        return Err(ConfigError::new(
            name,
            format!(
                "{value} is out of range ({} to {})",
                range.start(),
                range.end()
            ),
        ));
    }
    Ok(value)
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        names::note_default(
            &["DATABASE_URL", "AI_MESSAGE_DATABASE_URL"],
            DEFAULT_DATABASE_URL,
        );
        let database = match read(lookup, &["DATABASE_URL", "AI_MESSAGE_DATABASE_URL"]) {
            Some((name, url)) => {
                DatabaseUrl::parse(&url).map_err(|problem| ConfigError::new(name, problem))?
            }
            None => DatabaseUrl::parse(DEFAULT_DATABASE_URL)
                .map_err(|problem| ConfigError::new("DATABASE_URL", problem))?,
        };
        let database_pool_size = number(
            lookup,
            &["DATABASE_POOL_SIZE"],
            ai_message_postgres::DEFAULT_POOL_SIZE,
            1..=1000,
        )?;
        names::note_default(&["HOST", "AI_MESSAGE_HOST"], "127.0.0.1");
        let host = match read(lookup, &["HOST", "AI_MESSAGE_HOST"]) {
            Some((name, raw)) => host_address(raw.trim()).ok_or_else(|| {
                ConfigError::new(
                    name,
                    format!("'{raw}' is neither an IP address nor a name of this machine"),
                )
            })?,
            None => IpAddr::from([127, 0, 0, 1]),
        };
        let port = number(lookup, &["PORT", "AI_MESSAGE_PORT"], 8000u16, 0..=u16::MAX)?;
        names::note_default(&["SECRET_KEY"], "random per start (at least 32 bytes)");
        let secret_key = match read(lookup, &["SECRET_KEY"]) {
            Some((name, key)) if key.len() < MIN_SECRET_KEY_BYTES => {
                return Err(ConfigError::new(
                    name,
                    format!(
                        "must be at least {MIN_SECRET_KEY_BYTES} bytes ({} given): a short \
                         HS256 key is cracked offline from one token; generate one with \
                         `openssl rand -base64 48`",
                        key.len()
                    ),
                ));
            }
            Some((name, key)) => {
                if let Some(why) = weak_secret_key(&key) {
                    return Err(ConfigError::new(
                        name,
                        format!(
                            "{why}: anyone who knows or guesses it can sign tokens; generate one with \
                             `openssl rand -base64 48`"
                        ),
                    ));
                }
                SecretKey::Configured(key)
            }
            None => SecretKey::Ephemeral(random_key()?),
        };
        let access_minutes = number(lookup, &["ACCESS_TOKEN_EXPIRE_MINUTES"], 30i64, 1..=525_600)?;
        let refresh_days = number(lookup, &["REFRESH_TOKEN_EXPIRE_DAYS"], 7i64, 1..=3650)?;
        let grace_seconds = number(lookup, &["REFRESH_REUSE_GRACE_SECONDS"], 10i64, 0..=3600)?;
        let bcrypt_cost = number(lookup, &["BCRYPT_COST"], 12u32, 4..=31)?;
        let first_superuser = first_superuser(lookup)?;
        names::note_default(&["CORS_ALLOW_ORIGINS"], "*");
        let cors = match read(lookup, &["CORS_ALLOW_ORIGINS"]) {
            Some((name, value)) => {
                check_origins(&value).map_err(|problem| ConfigError::new(name, problem))?;
                CorsOrigins::parse(&value)
            }
            None => CorsOrigins::Any,
        };
        let login_defaults = LoginLimits::default();
        let login_window = TimeDelta::seconds(number(
            lookup,
            &["LOGIN_FAILURE_WINDOW_SECONDS"],
            login_defaults.per_account.window.num_seconds(),
            1..=86_400,
        )?);
        let login_quota = |names: &[&'static str], default: u32| {
            number(lookup, names, default, 0..=1_000_000)
                .map(|max| LoginQuota::new(max, login_window))
        };
        let login_limits = LoginLimits {
            per_account_and_address: login_quota(
                &[
                    "LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS",
                    "LOGIN_MAX_FAILURES_PER_USERNAME",
                ],
                login_defaults.per_account_and_address.max,
            )?,
            per_account: login_quota(
                &["LOGIN_MAX_FAILURES_PER_ACCOUNT"],
                login_defaults.per_account.max,
            )?,
            per_address: login_quota(
                &["LOGIN_MAX_FAILURES_PER_ADDRESS"],
                login_defaults.per_address.max,
            )?,
        };
        let defaults = LimitSettings::default();
        let ipv6_limit_prefix = number(lookup, &["IPV6_LIMIT_PREFIX"], 64u8, 32..=128)?;
        let write_timeout =
            Duration::from_secs(number(lookup, &["WRITE_TIMEOUT_SECONDS"], 30u64, 1..=3600)?);
        let limits = LimitSettings {
            ipv6_limit_prefix,
            connection: ConnectionRules {
                active_requests: number(
                    lookup,
                    &["CONNECTION_MAX_ACTIVE_REQUESTS"],
                    defaults.connection.active_requests,
                    1..=10_000,
                )?,
                held_bytes: number(
                    lookup,
                    &["CONNECTION_MAX_HELD_BYTES"],
                    defaults.connection.held_bytes,
                    // At least the default: the largest response (a page of messages, up to
                    // 8 MiB) must fit, or it could never be sent.
                    defaults.connection.held_bytes..=1024 * 1024 * 1024,
                )?,
                address_held_bytes: number(
                    lookup,
                    &["ADDRESS_MAX_HELD_BYTES"],
                    defaults.connection.address_held_bytes,
                    // At least one connection's default, for the same reason.
                    defaults.connection.held_bytes..=64 * 1024 * 1024 * 1024,
                )?,
                address_connections: number(
                    lookup,
                    &["ADDRESS_MAX_CONNECTIONS"],
                    defaults.connection.address_connections,
                    1..=1_000_000,
                )?,
                process_held_bytes: number(
                    lookup,
                    &["MAX_HELD_BYTES"],
                    defaults.connection.process_held_bytes,
                    defaults.connection.held_bytes..=64 * 1024 * 1024 * 1024,
                )?,
                stall_timeout: write_timeout,
            },
            refresh_per_address: Quota::new(
                number(
                    lookup,
                    &["REFRESH_MAX_PER_MINUTE"],
                    defaults.refresh_per_address.max,
                    0..=1_000_000,
                )?,
                Duration::from_secs(60),
            ),
            register_per_address: Quota::new(
                number(
                    lookup,
                    &["REGISTER_MAX_PER_HOUR"],
                    defaults.register_per_address.max,
                    0..=1_000_000,
                )?,
                Duration::from_secs(3600),
            ),
            max_body_bytes: number(
                lookup,
                &["MAX_BODY_BYTES"],
                defaults.max_body_bytes,
                1024..=64 * 1024 * 1024,
            )?,
            body_read_timeout: Duration::from_secs(number(
                lookup,
                &["BODY_READ_TIMEOUT_SECONDS"],
                defaults.body_read_timeout.as_secs(),
                1..=3600,
            )?),
            stream_heartbeat: Duration::from_secs(number(
                lookup,
                &["STREAM_HEARTBEAT_SECONDS"],
                defaults.stream_heartbeat.as_secs(),
                1..=3600,
            )?),
        };
        let stream_max_per_user = number(lookup, &["STREAM_MAX_PER_USER"], 10usize, 1..=10_000)?;
        let reports_per_hour = number(
            lookup,
            &["REPORTS_PER_HOUR"],
            ai_message_core::usecases::reports::DEFAULT_REPORTS_PER_HOUR,
            0..=100_000,
        )?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let bcrypt_max_queue = number(lookup, &["BCRYPT_MAX_QUEUE"], cores * 32, 0..=1_000_000)?;
        let idle_timeout =
            Duration::from_secs(number(lookup, &["IDLE_TIMEOUT_SECONDS"], 60u64, 1..=3600)?);
        let trusted_proxies = match read(lookup, &["FORWARDED_ALLOW_IPS"]) {
            Some((name, value)) => {
                TrustedProxies::parse(&value).map_err(|problem| ConfigError::new(name, problem))?
            }
            None => TrustedProxies::none(),
        };
        names::note_default(&["FORWARDED_HEADER"], "x-forwarded-for");
        let trusted_proxies = match read(lookup, &["FORWARDED_HEADER"]) {
            Some((name, value)) => trusted_proxies.reading(
                ForwardingHeader::parse(&value)
                    .map_err(|problem| ConfigError::new(name, problem))?,
            ),
            None => trusted_proxies,
        };
        names::note_default(
            &["MAX_CONNECTIONS"],
            "the open-file limit less 128, at most 10000",
        );
        let max_connections = match read(lookup, &["MAX_CONNECTIONS"]) {
            Some(_) => Some(number(lookup, &["MAX_CONNECTIONS"], 0usize, 1..=1_000_000)?),
            None => None,
        };
        let header_read_timeout = Duration::from_secs(number(
            lookup,
            &["HEADER_READ_TIMEOUT_SECONDS"],
            10u64,
            1..=3600,
        )?);
        let http2_max_concurrent_streams = number(
            lookup,
            &["HTTP2_MAX_CONCURRENT_STREAMS"],
            100u32,
            1..=10_000,
        )?;
        let (assistant_model, assistant) = crate::assistant_config::assistant_config(lookup)?;
        let password_min: usize = number(
            lookup,
            &["PASSWORD_MIN_LENGTH"],
            PasswordRules::DEFAULT_MIN_BYTES,
            PasswordRules::LOWEST_MIN_BYTES..=ai_message_core::Password::MAX_BYTES,
        )?;
        let password_rules = PasswordRules::with_min_bytes(password_min)
            .ok_or_else(|| ConfigError::new("PASSWORD_MIN_LENGTH", "must be 6 to 72"))?;
        let phone_rules = crate::channel_config::phone_rules(lookup)?;
        let (twilio, channels) = crate::channel_config::channel_config(lookup)?;
        let tls = tls_files(lookup)?;
        let metrics_address = match read(lookup, &["METRICS_ADDR"]) {
            Some((name, raw)) => Some(raw.trim().parse().map_err(|_| {
                ConfigError::new(
                    name,
                    format!("'{raw}' is not an address such as 127.0.0.1:9100"),
                )
            })?),
            None => None,
        };
        Ok(Self {
            metrics_address,
            phone_rules,
            twilio,
            channels,
            tls,
            password_rules,
            assistant_model,
            assistant,
            stream_max_per_user,
            reports_per_hour,
            max_connections,
            header_read_timeout,
            write_timeout,
            ipv6_limit_prefix,
            http2_max_concurrent_streams,
            limits,
            login_limits,
            trusted_proxies,
            bcrypt_max_queue,
            idle_timeout,
            database,
            database_pool_size,
            host,
            port,
            secret_key,
            access_token_ttl: TimeDelta::minutes(access_minutes),
            refresh_token_ttl: TimeDelta::days(refresh_days),
            refresh_reuse_grace: TimeDelta::seconds(grace_seconds),
            bcrypt_cost,
            first_superuser,
            cors,
        })
    }
}

/// `TLS_CERT_FILE` and `TLS_KEY_FILE` (the original's `AI_MESSAGE_SSL_CERT` and
/// `AI_MESSAGE_SSL_KEY`): both or neither.
fn tls_files(
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<crate::tls::TlsFiles>, ConfigError> {
    let cert = read(lookup, &["TLS_CERT_FILE", "AI_MESSAGE_SSL_CERT"]);
    let key = read(lookup, &["TLS_KEY_FILE", "AI_MESSAGE_SSL_KEY"]);
    match (cert, key) {
        (Some((_, cert)), Some((_, key))) => Ok(Some(crate::tls::TlsFiles {
            cert: cert.into(),
            key: key.into(),
        })),
        (None, None) => Ok(None),
        (Some((name, _)), None) => Err(ConfigError::new(
            name,
            "set with TLS_KEY_FILE (or AI_MESSAGE_SSL_KEY), or not at all",
        )),
        (None, Some((name, _))) => Err(ConfigError::new(
            name,
            "set with TLS_CERT_FILE (or AI_MESSAGE_SSL_CERT), or not at all",
        )),
    }
}

fn first_superuser(
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<FirstSuperuser>, ConfigError> {
    let username = read(lookup, &["FIRST_SUPERUSER_USERNAME"]).map(|(_, v)| v);
    let email = read(lookup, &["FIRST_SUPERUSER_EMAIL"]).map(|(_, v)| v);
    let password = read(lookup, &["FIRST_SUPERUSER_PASSWORD"]).map(|(_, v)| v);
    match (username, email, password) {
        (Some(username), Some(email), Some(password)) => Ok(Some(FirstSuperuser {
            username,
            email,
            password,
        })),
        (None, None, None) => Ok(None),
        (username, email, _) => {
            let missing = if username.is_none() {
                "FIRST_SUPERUSER_USERNAME"
            } else if email.is_none() {
                "FIRST_SUPERUSER_EMAIL"
            } else {
                "FIRST_SUPERUSER_PASSWORD"
            };
            Err(ConfigError::new(
                missing,
                "must be set together with the other FIRST_SUPERUSER_* variables",
            ))
        }
    }
}

fn random_key() -> Result<String, ConfigError> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ConfigError::new("SECRET_KEY", format!("cannot generate one: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

pub mod names;

#[cfg(test)]
mod tests;
