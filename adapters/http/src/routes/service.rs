//! `/`, `/health` and `/db-test`.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::ApiTags;
use crate::AppState;
use crate::dto::{Health, Status, Welcome};
use crate::errors::ErrorBody;

pub struct ServiceApi {
    state: AppState,
}

impl ServiceApi {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[derive(ApiResponse)]
enum DbTestResponse {
    /// The database answered (and, for readiness, its schema is current).
    #[oai(status = 200)]
    Ok(Json<Status>),
    /// The database did not answer; `detail` says so.
    #[oai(status = 503)]
    Unavailable(
        Json<ErrorBody>,
        /// Seconds to wait before retrying.
        #[oai(header = "Retry-After")]
        String,
    ),
}

#[OpenApi(tag = "ApiTags::Service")]
impl ServiceApi {
    /// Welcome
    ///
    /// Says hello and points to the interactive documentation.
    #[oai(path = "/", method = "get", operation_id = "root")]
    async fn root(&self) -> Json<Welcome> {
        Json(Welcome {
            message: "Hello World".into(),
            docs: "/docs".into(),
        })
    }

    /// Liveness
    ///
    /// Answers without touching the database: the process is up and serving.
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> Json<Health> {
        Json(Health {
            status: "healthy".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        })
    }

    /// Readiness
    ///
    /// 200 when the database answers and every migration this server carries is applied;
    /// 503 otherwise, with a `detail` saying which. For load balancers and orchestrators
    /// (`/health` is the liveness probe).
    #[oai(path = "/health/ready", method = "get", operation_id = "health_ready")]
    async fn ready(&self) -> DbTestResponse {
        let health = &self.state.services.health;
        let checked = tokio::time::timeout(READINESS_TIMEOUT, async {
            health.ping().await?;
            health.pending_migrations().await
        })
        .await;
        let detail = match checked {
            Ok(Ok(pending)) if pending.is_empty() => {
                return DbTestResponse::Ok(Json(Status {
                    status: "ready".into(),
                }));
            }
            Ok(Ok(pending)) => {
                tracing::warn!(?pending, "not ready: migrations not applied");
                "Database migrations pending"
            }
            Ok(Err(error)) => {
                tracing::warn!(error = %error, "not ready: the database did not answer");
                "Database connection failed"
            }
            Err(_) => {
                tracing::warn!("not ready: the database did not answer in time");
                "Database connection failed"
            }
        };
        unavailable(detail)
    }

    /// Database round trip
    ///
    /// Makes one round trip to the database; 503 when it does not answer.
    #[oai(path = "/db-test", method = "get", operation_id = "db_test")]
    async fn db_test(&self) -> DbTestResponse {
        match self.state.services.health.ping().await {
            Ok(()) => DbTestResponse::Ok(Json(Status {
                status: "database connection working".into(),
            })),
            Err(error) => {
                tracing::warn!(error = %error, "database check failed");
                unavailable("Database connection failed")
            }
        }
    }
}

/// A readiness probe is answered within this, whatever storage does.
const READINESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

fn unavailable(detail: &str) -> DbTestResponse {
    DbTestResponse::Unavailable(
        Json(ErrorBody {
            detail: detail.into(),
        }),
        "1".into(),
    )
}
