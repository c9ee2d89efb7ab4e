//! The one error shape of the API: `{"error": {"code", "message", "details"}}` with the right status.
//! Internal errors are logged with their cause and answered without it.

use crate::process::executor::ExecutorError;
use crate::sandbox::LoadError;
use crate::store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// Structured details (validation problems...).
    pub details: Option<Value>,
    /// Seconds for a `Retry-After` header (429s).
    pub retry_after: Option<u32>,
}

/// Shorthand for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error without details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), details: None, retry_after: None }
    }
    /// 404 `not-found`: also what another tenant's resource looks like.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", format!("{what} not found"))
    }
    /// 400 `bad-request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }
    /// 500 `internal`: the cause is logged, not returned.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log")
    }
    /// 403 `quota-exceeded` when the tenant already has `count` of `what` and its `quota` allows `limit`.
    pub fn check_count(quota: &str, limit: u32, count: usize, what: &str) -> ApiResult<()> {
        if count < limit as usize {
            return Ok(());
        }
        Err(Self::new(
            StatusCode::FORBIDDEN,
            "quota-exceeded",
            format!("the tenant has {count} {what}, its quota; delete one or ask for more"),
        )
        .with_details(json!({ "quota": quota, "limit": limit })))
    }
    /// Adds details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `not-found`, `invalid-definition`, `quota-exceeded`...
    pub code: String,
    /// For people.
    pub message: String,
    /// Structured details: validation problems with their paths, the quota that was hit...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail { code: self.code.to_string(), message: self.message, details: self.details },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl From<LoadError> for ApiError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::NotAComponent(m) => ApiError::new(StatusCode::BAD_REQUEST, "not-a-component", m),
            LoadError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "invalid-component", m),
            LoadError::Link(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unsupported-import", m),
            LoadError::World(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "world-mismatch", m),
            LoadError::Internal(m) => ApiError::internal(m),
        }
    }
}

impl From<ExecutorError> for ApiError {
    fn from(e: ExecutorError) -> Self {
        match e {
            ExecutorError::ProcessNotFound(_) => ApiError::not_found("process"),
            ExecutorError::InstanceNotFound => ApiError::not_found("instance"),
            ExecutorError::InvalidDefinition(problems) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-definition",
                format!("the definition has {} problem(s)", problems.len()),
            )
            .with_details(json!(problems)),
            ExecutorError::InvalidInput(problems) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-input",
                "the input does not satisfy the process's input schema",
            )
            .with_details(json!(problems)),
            ExecutorError::NotWaiting(signal) => ApiError::new(
                StatusCode::CONFLICT,
                "not-waiting",
                format!("the instance is not waiting for signal `{signal}`"),
            ),
            ExecutorError::Finished(status) => {
                ApiError::new(StatusCode::CONFLICT, "finished", format!("the instance is already {status}"))
            }
            ExecutorError::TooManyOpen { limit } => ApiError {
                retry_after: Some(1),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "quota-exceeded",
                    format!("the tenant has {limit} unfinished instances, its quota; retry when some finish"),
                )
                .with_details(json!({ "quota": "max_open_instances", "limit": limit }))
            },
            ExecutorError::Plugin(e) => e.into(),
            ExecutorError::Secrets(e) => ApiError::internal(e),
            ExecutorError::Store(e) => e.into(),
        }
    }
}
