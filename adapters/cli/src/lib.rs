//! The composition root: reads the configuration, picks the adapters, and runs the commands
//! of the `ai-message` binary.

pub mod application;
mod assistant_config;
mod channel_config;
pub mod config;
pub mod database;
mod errors;
pub mod migrate;
pub mod telemetry;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ai_message_bcrypt::BcryptHasher;
use ai_message_core::ports::Storage;
use ai_message_core::ports::StreamLimits;
use ai_message_core::usecases::Settings;
use ai_message_core::usecases::accounts::Registration;
use ai_message_core::usecases::live::LiveSettings;
use ai_message_core::{Email, PasswordRules, User, Username, ValidationError};
use ai_message_http::connections::{AcceptedOn, ConnectionLimits, GuardedAcceptor};
use ai_message_memory::MemoryStore;
use ai_message_postgres::{PostgresStore, PostgresUrl};
use ai_message_sqlite::{Location, SqliteStore};
use poem::listener::{Acceptor, Listener, TcpListener};

pub use application::{Application, Parts};
pub use errors::{DatabaseError, StartupError, SuperuserError};

use config::{Config, FirstSuperuser, SecretKey};
use database::DatabaseUrl;

/// The SQLite location a `DATABASE_URL` names, if it names one.
fn sqlite_location(url: &DatabaseUrl) -> Option<Location> {
    match url {
        DatabaseUrl::SqliteFile(path) => Some(Location::File(path.clone())),
        DatabaseUrl::SqliteInMemory => Some(Location::Memory),
        _ => None,
    }
}

/// Opens the storage `DATABASE_URL` names, applying pending migrations.
pub async fn open_storage(config: &Config) -> Result<Storage, StartupError> {
    Ok(open_storage_with_probe(config).await?.storage)
}

/// A storage as `serve` opens it.
struct Opened {
    storage: Storage,
    /// How busy its connections are (none for `memory://`).
    probe: Option<telemetry::PoolProbe>,
    /// The SQLite store, whose log is moved into its file at shutdown.
    sqlite: Option<Arc<SqliteStore>>,
}

/// [`open_storage`], with what `serve` needs besides.
async fn open_storage_with_probe(config: &Config) -> Result<Opened, StartupError> {
    let url = &config.database;
    match url {
        DatabaseUrl::Memory => Ok(Opened {
            storage: MemoryStore::storage(),
            probe: None,
            sqlite: None,
        }),
        DatabaseUrl::SqliteInMemory | DatabaseUrl::SqliteFile(_) => {
            let location = sqlite_location(url).expect("an SQLite URL");
            let store = SqliteStore::open(&location).await?;
            let probe = store.clone();
            Ok(Opened {
                storage: store.storage(),
                probe: Some(Arc::new(move || probe.pool_stats())),
                sqlite: Some(store),
            })
        }
        DatabaseUrl::Postgres(raw) => {
            let url = postgres_url(raw)?;
            let store = PostgresStore::open(&url, config.database_pool_size).await?;
            let probe = store.clone();
            Ok(Opened {
                storage: store.storage(),
                probe: Some(Arc::new(move || probe.pool_stats())),
                sqlite: None,
            })
        }
    }
}

fn postgres_url(raw: &str) -> Result<PostgresUrl, StartupError> {
    Ok(PostgresUrl::parse(raw)?)
}

/// The application as the configuration describes it, around one storage.
pub fn application(config: &Config, storage: Storage) -> Result<Application, StartupError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let hasher = BcryptHasher::with_queue(config.bcrypt_cost, cores, config.bcrypt_max_queue)?;
    let app = Application::build(Parts {
        hasher: Arc::new(hasher),
        settings: Settings {
            refresh_token_ttl: config.refresh_token_ttl,
            refresh_reuse_grace: config.refresh_reuse_grace,
            login_limits: config.login_limits,
            live: LiveSettings {
                limits: StreamLimits {
                    max_per_user: config.stream_max_per_user,
                    ..StreamLimits::default()
                },
                ..LiveSettings::default()
            },
            assistant: config.assistant.clone(),
            password_rules: config.password_rules,
            phone_rules: config.phone_rules,
            channels: config.channels.clone(),
            ipv6_limit_prefix: config.ipv6_limit_prefix,
            report_quota: ai_message_core::usecases::reports::reports_per_hour(
                config.reports_per_hour,
            ),
        },
        twilio: config
            .twilio
            .webhook_enabled()
            .then(|| config.twilio.clone()),
        assistant: match &config.assistant_model {
            Some(model) => Some(Arc::new(ai_message_openai::OpenAiAssistant::new(
                model.clone(),
            )?)),
            None => None,
        },
        limits: config.limits,
        signing_key: config.secret_key.as_bytes().to_vec(),
        access_token_ttl: config.access_token_ttl,
        trusted_proxies: config.trusted_proxies.clone(),
        cors: config.cors.clone(),
        ..Parts::around(storage)
    });
    check_channel(config, &app)?;
    Ok(app)
}

/// The webhook's paths must not hide a route of the API; what the operator opened without
/// a signature check is said at start.
fn check_channel(config: &Config, app: &Application) -> Result<(), StartupError> {
    let twilio = &config.twilio;
    if !twilio.webhook_enabled() {
        return Ok(());
    }
    let document: serde_json::Value =
        serde_json::from_str(&app.openapi_document()).unwrap_or_default();
    for path in twilio.webhook_paths() {
        let taken = ["/docs", "/redoc", "/openapi.json"].contains(&path.as_str())
            || document["paths"].get(&path).is_some();
        if taken {
            return Err(config::ConfigError::new(
                "TWILIO_WEBHOOK_PATH",
                format!("'{path}' is a route of the API; choose another path"),
            )
            .into());
        }
    }
    if twilio.allow_unsigned {
        tracing::warn!(
            "TWILIO_ALLOW_UNSIGNED=true: webhook requests without a signature are taken, so \
             anyone who can reach {paths:?} can write as any registered phone number",
            paths = twilio.webhook_paths()
        );
    }
    tracing::info!(paths = ?twilio.webhook_paths(), "WhatsApp and SMS webhook on");
    Ok(())
}

/// The OpenAPI document, as the server serves it at `/openapi.json`.
pub fn openapi_document() -> String {
    Application::build(Parts::around(MemoryStore::storage())).openapi_document()
}

fn superuser_registration(
    username: &str,
    email: &str,
    password: &str,
    rules: &PasswordRules,
) -> Result<Registration, ValidationError> {
    Ok(Registration {
        username: Username::parse(username)?,
        email: Email::parse(email)?,
        password: rules.parse("password", password)?,
        full_name: None,
        phone_number: None,
    })
}

async fn ensure_first_superuser(
    app: &Application,
    first: &FirstSuperuser,
) -> Result<(), StartupError> {
    let rules = &app.services().password_rules;
    let registration =
        superuser_registration(&first.username, &first.email, &first.password, rules)
            .map_err(|e| StartupError::FirstSuperuser(e.into()))?;
    match app.services().admin.ensure_superuser(registration).await {
        Ok(Some(user)) => {
            tracing::info!(user_id = user.id.get(), username = %user.username, "created the first superuser");
            Ok(())
        }
        Ok(None) => {
            tracing::info!(username = %first.username, "first superuser exists already");
            Ok(())
        }
        Err(error) => Err(StartupError::FirstSuperuser(error.into())),
    }
}

/// `ai-message create-superuser`: creates a superuser in the configured storage.
pub async fn create_superuser(
    config: &Config,
    username: &str,
    email: &str,
    password: &str,
) -> Result<User, StartupError> {
    let registration = superuser_registration(username, email, password, &config.password_rules)
        .map_err(|e| StartupError::CreateSuperuser(e.into()))?;
    let storage = open_storage(config).await?;
    application(config, storage)?
        .services()
        .admin
        .create_superuser(registration)
        .await
        .map_err(|error| StartupError::CreateSuperuser(error.into()))
}

/// Raises the soft limit on open files to the hard limit (systemd's soft default of 1024 runs
/// out under load long before memory does); returns the limit now in force.
fn raise_open_file_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// Descriptors kept for everything but client connections: database files and pools,
/// logs, the listener.
const RESERVED_DESCRIPTORS: u64 = 128;

/// Without `MAX_CONNECTIONS`: what the descriptor limit allows, at most 10,000.
fn default_max_connections(descriptors: u64) -> usize {
    let usable = descriptors
        .saturating_sub(RESERVED_DESCRIPTORS)
        .clamp(16, 10_000);
    usize::try_from(usable).unwrap_or(10_000)
}

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// `ai-message serve`: listens until SIGTERM or Ctrl-C, then lets in-flight requests finish.
pub async fn serve(config: Config) -> Result<(), StartupError> {
    if let SecretKey::Ephemeral(_) = config.secret_key {
        tracing::warn!(
            "SECRET_KEY is not set: using a random key for this process only; tokens will not \
             survive a restart or work on other instances"
        );
    }
    let descriptors = raise_open_file_limit();
    let address = SocketAddr::new(config.host, config.port);
    // A port in use is said before migrations change anything.
    std::net::TcpListener::bind(address)
        .map_err(|source| StartupError::Bind { address, source })?;
    sweep_backup_leftovers();
    let Opened {
        storage,
        probe,
        sqlite,
    } = open_storage_with_probe(&config).await?;
    if let Some(address) = config.metrics_address {
        let bound = telemetry::start(address, probe)
            .await
            .map_err(StartupError::Metrics)?;
        tracing::info!("metrics on http://{bound}/metrics");
    }
    let app = application(&config, storage)?;
    if let Some(first) = &config.first_superuser {
        ensure_first_superuser(&app, first).await?;
    }
    tokio::spawn(answer_forgotten_questions(app.services().assistant.clone()));
    let listener = TcpListener::bind(address);
    match &config.tls {
        None => {
            let acceptor = listener
                .into_acceptor()
                .await
                .map_err(|source| StartupError::Bind { address, source })?;
            run_server(&config, &app, acceptor, "http", descriptors).await?;
        }
        Some(files) => {
            let first = files.load().map_err(StartupError::Tls)?;
            // One crypto provider for the process: the one the rest of it uses.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let acceptor = files
                .clone()
                .listen(listener, first)
                .map_err(|e| StartupError::Tls(tls::TlsError::Hangup(e)))?
                .into_acceptor()
                .await
                .map_err(|source| StartupError::Bind { address, source })?;
            run_server(&config, &app, acceptor, "https", descriptors).await?;
        }
    }
    if let Some(sqlite) = sqlite {
        // Last: the main file alone then holds every write, for a copy taken after the stop.
        match sqlite.checkpoint().await {
            Ok(()) => tracing::info!("the database file holds every write (log checkpointed)"),
            Err(error) => tracing::warn!(error = %error, "could not checkpoint the database log"),
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// A server killed while it took a backup left the copy (password hashes included) in the
/// temporary directory: remove it before serving.
fn sweep_backup_leftovers() {
    let parent = std::env::temp_dir();
    match ai_message_http::backup_files::sweep_leftovers(&parent) {
        Ok(0) => {}
        Ok(removed) => tracing::info!(
            removed,
            "removed backups that a stopped server left in {}",
            parent.display()
        ),
        Err(error) => tracing::warn!(
            %error,
            "could not look for backups left in {}",
            parent.display()
        ),
    }
}

/// Answers questions to the assistant that a process died before answering: at start-up
/// and then regularly (a question counts as forgotten only once no instance can still be
/// answering it: its claim expired, or nobody claimed it in an answer's time), until
/// shutdown.
async fn answer_forgotten_questions(chat: ai_message_core::usecases::assistant::AssistantChat) {
    let every = (chat.forgotten_after() / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        match chat.answer_forgotten().await {
            Ok(0) => {}
            Ok(answered) => tracing::info!(answered, "answered forgotten questions"),
            Err(error) => tracing::warn!(%error, "could not look for forgotten questions"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = chat.closed() => return,
        }
    }
}

/// Serves the application on `acceptor` (plain TCP or TLS) until a shutdown signal.
async fn run_server<A: Acceptor<Io: AcceptedOn> + 'static>(
    config: &Config,
    app: &Application,
    acceptor: A,
    scheme: &str,
    descriptors: u64,
) -> Result<(), StartupError> {
    let address = SocketAddr::new(config.host, config.port);
    let bound = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .unwrap_or(address);
    tracing::info!(
        storage = %config.database.describe(),
        "ai-message listening on {scheme}://{bound} (Swagger UI at {scheme}://{bound}/docs)"
    );
    let limits = ConnectionLimits {
        max_connections: config
            .max_connections
            .unwrap_or_else(|| default_max_connections(descriptors)),
        header_read_timeout: config.header_read_timeout,
        write_timeout: config.write_timeout,
    };
    tracing::info!(
        open_files = descriptors,
        max_connections = limits.max_connections,
        "connection limits"
    );
    let acceptor = GuardedAcceptor::new(acceptor, limits, app.connection_budgets());
    let live = app.services().live.clone();
    let assistant = app.services().assistant.clone();
    let shutdown = async move {
        shutdown_signal().await;
        // Streams never finish by themselves: end them, so in-flight requests can. Model
        // calls end with the fallback reply, so a question in flight gets its answer.
        live.close_all();
        assistant.close();
    };
    poem::Server::new_with_acceptor(acceptor)
        .idle_timeout(config.idle_timeout)
        // One HTTP/2 connection opening thousands of streams pinned gigabytes.
        .http2_max_concurrent_streams(config.http2_max_concurrent_streams)
        .http2_max_header_list_size(ai_message_http::connections::MAX_HEAD_BYTES as u32)
        .run_with_graceful_shutdown(app.endpoint(), shutdown, Some(SHUTDOWN_GRACE))
        .await
        .map_err(StartupError::Serve)?;
    // Replies to questions sent to the assistant are stored before the process ends.
    app.finish_background(SHUTDOWN_GRACE).await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
