//! `/`, `/health` and `/db-test`.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::ApiTags;
use crate::AppState;
use crate::dto::{Status, Welcome};
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
    /// The database answered.
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
    async fn health(&self) -> Json<Status> {
        Json(Status {
            status: "healthy".into(),
        })
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
                DbTestResponse::Unavailable(
                    Json(ErrorBody {
                        detail: "Database connection failed".into(),
                    }),
                    "1".into(),
                )
            }
        }
    }
}
