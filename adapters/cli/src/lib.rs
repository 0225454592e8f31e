//! The composition root: reads the configuration, picks the adapters, and runs the commands
//! of the `ai-message` binary.

pub mod config;
pub mod database;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ai_message_bcrypt::BcryptHasher;
use ai_message_core::ports::Storage;
use ai_message_core::system::{OsSecretSource, SystemClock};
use ai_message_core::usecases::accounts::{RegisterError, Registration};
use ai_message_core::usecases::{Ports, Services, Settings};
use ai_message_core::{Email, Password, User, Username, ValidationError};
use ai_message_http::{AccessTokens, AppState};
use ai_message_memory::MemoryStore;
use chrono::TimeDelta;
use poem::listener::{Acceptor, Listener, TcpListener};

use config::{Config, ConfigError, FirstSuperuser, SecretKey};
use database::DatabaseUrl;

/// Why the program could not do what it was asked; each prints as one line.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("DATABASE_URL: {0}")]
    Storage(String),
    #[error("BCRYPT_COST: {0}")]
    Hasher(#[from] ai_message_bcrypt::ConfigError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("{context}: {detail}")]
    Superuser { context: String, detail: String },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

/// Opens the storage `DATABASE_URL` names.
pub async fn open_storage(url: &DatabaseUrl) -> Result<Storage, StartupError> {
    match url {
        DatabaseUrl::Memory => Ok(MemoryStore::storage()),
        DatabaseUrl::SqliteInMemory | DatabaseUrl::SqliteFile(_) => {
            Err(StartupError::Storage(format!(
                "SQLite storage ({}) is not available in this build yet; use memory://",
                url.describe()
            )))
        }
        DatabaseUrl::Postgres(_) => Err(StartupError::Storage(format!(
            "PostgreSQL storage ({}) is not available in this build yet; use memory://",
            url.describe()
        ))),
    }
}

/// Wires the use cases and the HTTP state to one storage.
pub fn build_state(config: &Config, storage: Storage) -> Result<AppState, StartupError> {
    let hasher = BcryptHasher::with_cost(config.bcrypt_cost)?;
    let ports = Ports::new(
        storage,
        Arc::new(hasher),
        Arc::new(SystemClock),
        Arc::new(OsSecretSource),
    );
    let settings = Settings {
        refresh_token_ttl: config.refresh_token_ttl,
        refresh_reuse_grace: config.refresh_reuse_grace,
    };
    Ok(AppState {
        services: Services::new(ports, settings),
        tokens: AccessTokens::new(config.secret_key.as_bytes(), config.access_token_ttl),
    })
}

/// The OpenAPI document, as the server serves it at `/openapi.json`.
pub fn openapi_document() -> String {
    let ports = Ports::new(
        MemoryStore::storage(),
        Arc::new(BcryptHasher::new(BcryptHasher::MIN_COST, 1).expect("cost 4 is valid")),
        Arc::new(SystemClock),
        Arc::new(OsSecretSource),
    );
    let state = AppState {
        services: Services::new(ports, Settings::default()),
        tokens: AccessTokens::new(b"document-only", TimeDelta::minutes(30)),
    };
    ai_message_http::openapi_document(&state)
}

fn superuser_registration(
    username: &str,
    email: &str,
    password: &str,
) -> Result<Registration, ValidationError> {
    Ok(Registration {
        username: Username::parse(username)?,
        email: Email::parse(email)?,
        password: Password::parse(password)?,
        full_name: None,
    })
}

async fn ensure_first_superuser(
    state: &AppState,
    first: &FirstSuperuser,
) -> Result<(), StartupError> {
    let context = "FIRST_SUPERUSER_*".to_string();
    let registration = superuser_registration(&first.username, &first.email, &first.password)
        .map_err(|e| StartupError::Superuser {
            context: context.clone(),
            detail: e.to_string(),
        })?;
    match state.services.admin.ensure_superuser(registration).await {
        Ok(Some(user)) => {
            tracing::info!(user_id = user.id, username = %user.username, "created the first superuser");
            Ok(())
        }
        Ok(None) => {
            tracing::info!(username = %first.username, "first superuser exists already");
            Ok(())
        }
        Err(error) => Err(StartupError::Superuser {
            context,
            detail: error.to_string(),
        }),
    }
}

/// `ai-message create-superuser`: creates a superuser in the configured storage.
pub async fn create_superuser(
    config: &Config,
    username: &str,
    email: &str,
    password: &str,
) -> Result<User, StartupError> {
    let registration =
        superuser_registration(username, email, password).map_err(|e| StartupError::Superuser {
            context: "create-superuser".into(),
            detail: e.to_string(),
        })?;
    let storage = open_storage(&config.database).await?;
    let state = build_state(config, storage)?;
    state
        .services
        .admin
        .create_superuser(registration)
        .await
        .map_err(|error: RegisterError| StartupError::Superuser {
            context: "create-superuser".into(),
            detail: error.to_string(),
        })
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
    let storage = open_storage(&config.database).await?;
    let state = build_state(&config, storage)?;
    if let Some(first) = &config.first_superuser {
        ensure_first_superuser(&state, first).await?;
    }
    let address = SocketAddr::new(config.host, config.port);
    let acceptor = TcpListener::bind(address)
        .into_acceptor()
        .await
        .map_err(|source| StartupError::Bind { address, source })?;
    let bound = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .unwrap_or(address);
    tracing::info!(
        storage = %config.database.describe(),
        "ai-message listening on http://{bound} (Swagger UI at http://{bound}/docs)"
    );
    let app = ai_message_http::app(state, &config.cors);
    poem::Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app, shutdown_signal(), Some(SHUTDOWN_GRACE))
        .await
        .map_err(StartupError::Serve)?;
    tracing::info!("stopped");
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
