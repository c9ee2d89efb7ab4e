//! Instances of the caller's tenant: status, history, listing, signals, cancel.

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult};
use crate::store::{InstanceFilter, InstanceRecord, InstanceStatus};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

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

/// The JSON of an instance.
pub fn instance_json(r: &InstanceRecord) -> Value {
    let mut v = json!({
        "id": r.id,
        "process": r.process,
        "version": r.version,
        "status": r.status,
        "input": r.input,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    });
    if let Some(o) = &r.output {
        v["output"] = o.clone();
    }
    if let Some(e) = &r.error {
        v["error"] = e.clone();
    }
    if r.status == InstanceStatus::Running {
        v["current_steps"] = r.activity.get("steps").cloned().unwrap_or(json!([]));
        v["waiting_for"] = r.activity.get("waiting_for").cloned().unwrap_or(json!([]));
    }
    if let Some(p) = &r.parent {
        v["parent"] = json!(p.split('#').next());
    }
    v
}

async fn one(
    TenantAuth(tenant): TenantAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = state.instances.instance(&tenant.id, &id).await?.ok_or_else(|| ApiError::not_found("instance"))?;
    Ok(Json(instance_json(&r)))
}

async fn history(
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
struct ListQuery {
    process: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn list(
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
    Ok(Json(json!({ "instances": page.iter().map(instance_json).collect::<Vec<_>>(), "next_cursor": next })))
}

async fn signal(
    TenantAuth(tenant): TenantAuth,
    State(state): State<AppState>,
    Path((id, signal)): Path<(String, String)>,
    super::body::ApiJson(payload): super::body::ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    state.executor.signal(&tenant.id, &id, &signal, payload).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id, "signal": signal, "delivered": true }))))
}

async fn cancel(
    TenantAuth(tenant): TenantAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.executor.cancel(&tenant.id, &id, "cancelled through the API").await?;
    let r = state.instances.instance(&tenant.id, &id).await?.ok_or_else(|| ApiError::not_found("instance"))?;
    Ok(Json(instance_json(&r)))
}
