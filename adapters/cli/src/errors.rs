//! What start-up can fail with, each naming the setting to look at.

use std::net::SocketAddr;

use ai_message_core::ValidationError;
use ai_message_core::usecases::accounts::RegisterError;

use crate::config::ConfigError;
use crate::{telemetry, tls};

/// Why the program could not do what it was asked. Each prints as one line that starts with
/// the setting (or command) to look at, and keeps its cause as its `source`.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("DATABASE_URL: {0}")]
    Database(#[source] DatabaseError),
    #[error("BCRYPT_COST: {0}")]
    HasherCost(#[source] ai_message_bcrypt::ConfigError),
    #[error("cannot set up the password hasher: {0}")]
    Hasher(#[source] ai_message_bcrypt::ConfigError),
    #[error("AI_API_BASE: {0}")]
    AssistantBase(#[source] ai_message_openai::SetupError),
    #[error("cannot set up the assistant: {0}")]
    Assistant(#[source] ai_message_openai::SetupError),
    #[error("HOST / PORT: cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("FIRST_SUPERUSER_{setting}: {0}", setting = superuser_setting(.0))]
    FirstSuperuser(#[source] SuperuserError),
    #[error("create-superuser: {0}")]
    CreateSuperuser(#[source] SuperuserError),
    #[error("server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("{setting}: {0}", setting = .0.setting())]
    Tls(#[source] tls::TlsError),
    #[error("METRICS_ADDR: {0}")]
    Metrics(#[source] telemetry::MetricsError),
}

/// Why the database `DATABASE_URL` names could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error(transparent)]
    Sqlite(#[from] ai_message_sqlite::OpenError),
    #[error(transparent)]
    Postgres(#[from] ai_message_postgres::ConnectError),
    #[error("memory:// keeps no schema to migrate")]
    NoSchema,
}

impl From<ai_message_sqlite::OpenError> for StartupError {
    fn from(error: ai_message_sqlite::OpenError) -> Self {
        Self::Database(error.into())
    }
}

impl From<ai_message_postgres::ConnectError> for StartupError {
    fn from(error: ai_message_postgres::ConnectError) -> Self {
        Self::Database(error.into())
    }
}

impl From<ai_message_bcrypt::ConfigError> for StartupError {
    fn from(error: ai_message_bcrypt::ConfigError) -> Self {
        match error {
            ai_message_bcrypt::ConfigError::CostOutOfRange(_) => Self::HasherCost(error),
            _ => Self::Hasher(error),
        }
    }
}

impl From<ai_message_openai::SetupError> for StartupError {
    fn from(error: ai_message_openai::SetupError) -> Self {
        match error {
            ai_message_openai::SetupError::NotHttp(_) => Self::AssistantBase(error),
            _ => Self::Assistant(error),
        }
    }
}

/// Why a superuser could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SuperuserError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Refused(#[from] RegisterError),
}

/// The `FIRST_SUPERUSER_*` variable a failure is about.
fn superuser_setting(error: &SuperuserError) -> &'static str {
    match error {
        SuperuserError::Invalid(invalid) => match invalid.field {
            "username" => "USERNAME",
            "email" => "EMAIL",
            _ => "PASSWORD",
        },
        SuperuserError::Refused(RegisterError::EmailTaken) => "EMAIL",
        SuperuserError::Refused(RegisterError::PhoneTaken | RegisterError::Port(_)) => "*",
        SuperuserError::Refused(_) => "USERNAME",
    }
}
