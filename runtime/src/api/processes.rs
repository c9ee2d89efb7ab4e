//! Process definitions of the caller's tenant: deploy (YAML or JSON), list, read versions; and starting
//! instances of them.

use super::AppState;
use super::auth::TenantAuth;
use super::error::ErrorBody;
use super::error::{ApiError, ApiResult};
use super::instances::{InstanceView, parse_wait};
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
use utoipa::ToSchema;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/processes", get(list))
        .route("/v1/processes/{name}", get(one).put(deploy))
        .route("/v1/processes/{name}/versions/{version}", get(version))
        .route("/v1/processes/{name}/instances", post(start))
}

/// Deploys a definition (YAML or JSON) as the process's next version; instances already running stay on theirs.
#[utoipa::path(put, path = "/v1/processes/{name}", tag = "processes",
    params(("name" = String, Path, description = "Process name; must equal the definition's `name`")),
    request_body(content = String, content_type = "application/yaml", description = "The definition (also application/json)"),
    responses((status = 201, description = "`{name, version}`"),
        (status = 400, description = "Malformed YAML or JSON", body = ErrorBody),
        (status = 403, description = "Over the tenant's process count", body = ErrorBody),
        (status = 415, description = "Neither YAML nor JSON", body = ErrorBody),
        (status = 422, description = "Invalid definition: `details` lists every problem with its path", body = ErrorBody)))]
pub(super) async fn deploy(
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
        let count = state.processes.list_processes(&tenant.id).await?.len();
        ApiError::check_count("max_processes", quota.max_processes, count, "processes")?;
    }
    let deployed = state.executor.deploy_within(&tenant.id, document, &quota).await?;
    Ok((StatusCode::CREATED, Json(json!({ "name": deployed.name, "version": deployed.version }))))
}

/// The tenant's processes with their latest versions.
#[utoipa::path(get, path = "/v1/processes", tag = "processes",
    responses((status = 200, description = "`{processes: [{name, latest_version, created_at}]}`")))]
pub(super) async fn list(TenantAuth(tenant): TenantAuth, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let processes: Vec<Value> = state
        .processes
        .list_processes(&tenant.id)
        .await?
        .into_iter()
        .map(|p| json!({ "name": p.name, "latest_version": p.version, "created_at": p.created_at }))
        .collect();
    Ok(Json(json!({ "processes": processes })))
}

/// A process: its versions and the latest definition.
#[utoipa::path(get, path = "/v1/processes/{name}", tag = "processes",
    params(("name" = String, Path, description = "Process name")),
    responses((status = 200, description = "`{name, versions, latest}`"),
        (status = 404, description = "No such process for this tenant", body = ErrorBody)))]
pub(super) async fn one(
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

/// One version of a process: its definition and pinned plugin digests.
#[utoipa::path(get, path = "/v1/processes/{name}/versions/{version}", tag = "processes",
    params(("name" = String, Path, description = "Process name"), ("version" = u32, Path, description = "Version")),
    responses((status = 200, description = "The version"),
        (status = 404, description = "No such version for this tenant", body = ErrorBody)))]
pub(super) async fn version(
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
pub(super) struct StartQuery {
    version: Option<u32>,
    wait: Option<String>,
}

/// How to start an instance.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct StartBody {
    /// The process input (checked against its `input-schema`).
    #[serde(default)]
    #[schema(value_type = Object)]
    input: Value,
}

/// Starts an instance of the latest (or a given) version. With `wait`, answers with the final state if the
/// instance ends in time (200), else 202 with its id; without, 201 at once.
#[utoipa::path(post, path = "/v1/processes/{name}/instances", tag = "processes",
    params(("name" = String, Path, description = "Process name"),
        ("version" = Option<u32>, Query, description = "A version (default: the latest)"),
        ("wait" = Option<String>, Query, description = "Wait up to this long for the end, such as 5s (at most 60s)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Starting again with the same key returns the first instance (200)")),
    request_body(content = StartBody, content_type = "application/json"),
    responses((status = 201, description = "Started", body = InstanceView),
        (status = 200, description = "Finished within `wait` (completed with `output`, or failed with `error`), or the instance an Idempotency-Key matched", body = InstanceView),
        (status = 202, description = "Still running when `wait` ran out", body = InstanceView),
        (status = 404, description = "No such process for this tenant", body = ErrorBody),
        (status = 422, description = "The input does not fit the input schema", body = ErrorBody),
        (status = 429, description = "The tenant has as many open instances as its quota allows; see Retry-After", body = ErrorBody)))]
pub(super) async fn start(
    TenantAuth(tenant): TenantAuth,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<StartQuery>,
    headers: HeaderMap,
    super::body::ApiJson(body): super::body::ApiJson<StartBody>,
) -> ApiResult<(StatusCode, Json<InstanceView>)> {
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
        return Ok((status, Json(InstanceView::from(&record))));
    };
    let record = state.executor.wait(&tenant.id, &started.id, wait).await?;
    let status = if record.status == InstanceStatus::Running { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok((status, Json(InstanceView::from(&record))))
}
