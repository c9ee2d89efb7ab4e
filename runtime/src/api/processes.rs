//! Process definitions of the caller's tenant: deploy (YAML or JSON), list, read versions; and starting
//! instances of them.

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult};
use super::instances::{instance_json, parse_wait};
use crate::process::definition::yaml_to_json;
use crate::process::executor::StartRequest;
use crate::store::InstanceStatus;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/processes", get(list))
        .route("/v1/processes/{name}", get(one).put(deploy))
        .route("/v1/processes/{name}/versions/{version}", get(version))
        .route("/v1/processes/{name}/instances", post(start))
}

async fn deploy(
    TenantAuth(tenant): TenantAuth,
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("the definition is not UTF-8 text"))?;
    let document: Value = if content_type.starts_with("application/json") {
        serde_json::from_str(text)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed-json", format!("not valid JSON: {e}")))?
    } else if content_type.contains("yaml") {
        yaml_to_json(text).map_err(|p| {
            ApiError::new(StatusCode::BAD_REQUEST, "malformed-yaml", "not valid YAML").with_details(json!(p))
        })?
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the definition as application/yaml or application/json",
        ));
    };
    if document.get("name").and_then(Value::as_str) != Some(name.as_str()) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "name-mismatch",
            format!("the definition's `name` must be `{name}`, as in the path"),
        ));
    }
    let quota = state.quota(&tenant.id).await?;
    if state.processes.process_versions(&tenant.id, &name).await?.is_empty() {
        let count = state.processes.list_processes(&tenant.id).await?.len() as u64;
        if count >= u64::from(quota.max_processes) {
            return Err(ApiError::quota_exceeded(
                "max_processes",
                quota.max_processes.into(),
                format!("the tenant has {count} processes, its quota"),
            ));
        }
    }
    let deployed = state.executor.deploy_within(&tenant.id, document, &quota).await?;
    Ok((StatusCode::CREATED, Json(json!({ "name": deployed.name, "version": deployed.version }))))
}

async fn list(TenantAuth(tenant): TenantAuth, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let processes: Vec<Value> = state
        .processes
        .list_processes(&tenant.id)
        .await?
        .into_iter()
        .map(|p| json!({ "name": p.name, "latest_version": p.version, "created_at": p.created_at }))
        .collect();
    Ok(Json(json!({ "processes": processes })))
}

async fn one(
    TenantAuth(tenant): TenantAuth,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let latest = state
        .processes
        .process_version(&tenant.id, &name, None)
        .await?
        .ok_or_else(|| ApiError::not_found("process"))?;
    let versions = state.processes.process_versions(&tenant.id, &name).await?;
    Ok(Json(json!({ "name": name, "versions": versions, "latest": latest })))
}

async fn version(
    TenantAuth(tenant): TenantAuth,
    State(state): State<AppState>,
    Path((name, version)): Path<(String, u32)>,
) -> ApiResult<Json<Value>> {
    let v = state
        .processes
        .process_version(&tenant.id, &name, Some(version))
        .await?
        .ok_or_else(|| ApiError::not_found("process version"))?;
    Ok(Json(json!(v)))
}

#[derive(Deserialize)]
struct StartQuery {
    version: Option<u32>,
    wait: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    #[serde(default)]
    input: Value,
}

async fn start(
    TenantAuth(tenant): TenantAuth,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<StartQuery>,
    headers: HeaderMap,
    super::body::ApiJson(body): super::body::ApiJson<StartBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let wait = query.wait.as_deref().map(parse_wait).transpose()?;
    let idempotency_key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 256)
                .ok_or_else(|| ApiError::bad_request("Idempotency-Key must be 1-256 visible characters"))?
                .to_string(),
        ),
        None => None,
    };
    let req = StartRequest {
        tenant: tenant.id.clone(),
        process: name,
        version: query.version,
        input: body.input,
        idempotency_key,
    };
    let max_open = usize::try_from(state.quota(&tenant.id).await?.max_open_instances).unwrap_or(usize::MAX);
    // In a task of its own: a client that hangs up must not cancel a start half-way through.
    let executor = state.executor.clone();
    let started =
        tokio::spawn(async move { executor.start_within(req, max_open).await }).await.map_err(ApiError::internal)??;
    let Some(wait) = wait else {
        let record =
            state.instances.instance(&tenant.id, &started.id).await?.ok_or_else(|| ApiError::not_found("instance"))?;
        let status = if started.created { StatusCode::CREATED } else { StatusCode::OK };
        return Ok((status, Json(instance_json(&record))));
    };
    let record = state.executor.wait(&tenant.id, &started.id, wait).await?;
    let status = if record.status == InstanceStatus::Running { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok((status, Json(instance_json(&record))))
}
