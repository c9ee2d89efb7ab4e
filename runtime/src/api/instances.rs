//! Instances of the caller's tenant: status, history, listing, signals, cancel.

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use crate::store::{InstanceFilter, InstanceRecord, InstanceStatus};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;
use utoipa::ToSchema;

/// Longest `wait` a request may ask for.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/instances", get(list))
        .route("/v1/instances/{id}", get(one))
        .route("/v1/instances/{id}/history", get(history))
        .route("/v1/instances/{id}/signals/{signal}", post(signal))
        .route("/v1/instances/{id}/cancel", post(cancel))
}

/// Parses `?wait=5s` (at most a minute).
pub fn parse_wait(text: &str) -> ApiResult<Duration> {
    let d = humantime::parse_duration(text)
        .map_err(|e| ApiError::bad_request(format!("wait=`{text}` is not a duration such as 5s: {e}")))?;
    Ok(d.min(MAX_WAIT))
}

/// An instance as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceView {
    /// Instance id (a UUIDv7).
    pub id: String,
    /// Process name.
    pub process: String,
    /// The process version it runs (pinned at start).
    pub version: u32,
    /// `running`, `completed`, `failed` or `cancelled`.
    pub status: &'static str,
    /// The start input.
    #[schema(value_type = Object)]
    pub input: Value,
    /// The output, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    /// `{kind, code, message, step}`, once failed or cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Milliseconds since the Unix epoch.
    pub updated_at: i64,
    /// While running: the steps running now.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub current_steps: Option<Value>,
    /// While running: the signals and timers it waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub waiting_for: Option<Value>,
    /// The parent instance, for a sub-process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

impl From<&InstanceRecord> for InstanceView {
    fn from(r: &InstanceRecord) -> Self {
        let running = r.status == InstanceStatus::Running;
        let activity = |key: &str| running.then(|| r.activity.get(key).cloned().unwrap_or(json!([])));
        InstanceView {
            id: r.id.clone(),
            process: r.process.clone(),
            version: r.version,
            status: r.status.as_str(),
            input: r.input.clone(),
            output: r.output.clone(),
            error: r.error.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            current_steps: activity("steps"),
            waiting_for: activity("waiting_for"),
            parent: r.parent.as_deref().and_then(|p| p.split('#').next()).map(str::to_string),
        }
    }
}

/// An instance: status, input, output or error, process and version, timestamps, current steps, waits.
#[utoipa::path(get, path = "/v1/instances/{id}", tag = "instances",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "The instance", body = InstanceView),
        (status = 404, description = "No such instance for this tenant", body = ErrorBody)))]
pub(super) async fn one(
    TenantAuth(tenant): TenantAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<InstanceView>> {
    let r = state.instances.instance(&tenant.id, &id).await?.ok_or_else(|| ApiError::not_found("instance"))?;
    Ok(Json(InstanceView::from(&r)))
}

/// The journal of an instance: every event with its sequence number and time (step starts and completions
/// with attempt, duration, fuel used, error; signals, timers, compensation).
#[utoipa::path(get, path = "/v1/instances/{id}/history", tag = "instances",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "`{id, events: [{seq, at, type, ...}]}`"),
        (status = 404, description = "No such instance for this tenant", body = ErrorBody)))]
pub(super) async fn history(
    TenantAuth(tenant): TenantAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.instances.instance(&tenant.id, &id).await?.ok_or_else(|| ApiError::not_found("instance"))?;
    let events: Vec<Value> = state
        .instances
        .journal(&id)
        .await?
        .into_iter()
        .map(|e| {
            let mut v = json!({ "seq": e.seq, "at": e.at });
            if let (Some(map), Value::Object(event)) = (v.as_object_mut(), e.event) {
                map.extend(event);
            }
            v
        })
        .collect();
    Ok(Json(json!({ "id": id, "events": events })))
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    process: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// Instances of the tenant, newest first, filtered and paged.
#[utoipa::path(get, path = "/v1/instances", tag = "instances",
    params(("process" = Option<String>, Query, description = "Only this process"),
        ("status" = Option<String>, Query, description = "running, completed, failed or cancelled"),
        ("limit" = Option<u32>, Query, description = "Page size, 1-500 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, description = "`{instances: [...], next_cursor}`"),
        (status = 400, description = "Unknown status", body = ErrorBody)))]
pub(super) async fn list(
    TenantAuth(tenant): TenantAuth,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let status = match q.status.as_deref() {
        None => None,
        Some("running") => Some(InstanceStatus::Running),
        Some("completed") => Some(InstanceStatus::Completed),
        Some("failed") => Some(InstanceStatus::Failed),
        Some("cancelled") => Some(InstanceStatus::Cancelled),
        Some(other) => return Err(ApiError::bad_request(format!("unknown status `{other}`"))),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let filter = InstanceFilter { process: q.process, status, limit, before: q.cursor };
    let page = state.instances.list_instances(&tenant.id, &filter).await?;
    let next = (page.len() == limit as usize).then(|| page.last().map(|r| r.id.clone())).flatten();
    Ok(Json(json!({ "instances": page.iter().map(InstanceView::from).collect::<Vec<_>>(), "next_cursor": next })))
}

/// Delivers a signal (with its JSON payload) to an instance waiting for it.
#[utoipa::path(post, path = "/v1/instances/{id}/signals/{signal}", tag = "instances",
    params(("id" = String, Path, description = "Instance id"), ("signal" = String, Path, description = "Signal name")),
    request_body(content = Object, description = "The payload; the waiting step's output"),
    responses((status = 202, description = "Delivered and journaled"),
        (status = 404, description = "No such instance for this tenant", body = ErrorBody),
        (status = 409, description = "Not waiting for this signal, or finished", body = ErrorBody)))]
pub(super) async fn signal(
    TenantAuth(tenant): TenantAuth,
    State(state): State<AppState>,
    Path((id, signal)): Path<(String, String)>,
    super::body::ApiJson(payload): super::body::ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    state.executor.signal(&tenant.id, &id, &signal, payload).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id, "signal": signal, "delivered": true }))))
}

/// Cancels a running instance (its compensations run first).
#[utoipa::path(post, path = "/v1/instances/{id}/cancel", tag = "instances",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "The instance after cancelling", body = InstanceView),
        (status = 404, description = "No such instance for this tenant", body = ErrorBody),
        (status = 409, description = "Already finished", body = ErrorBody)))]
pub(super) async fn cancel(
    TenantAuth(tenant): TenantAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<InstanceView>> {
    state.executor.cancel(&tenant.id, &id, "cancelled through the API").await?;
    let r = state.instances.instance(&tenant.id, &id).await?.ok_or_else(|| ApiError::not_found("instance"))?;
    Ok(Json(InstanceView::from(&r)))
}
