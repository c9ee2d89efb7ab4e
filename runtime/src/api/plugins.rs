//! Plugins of the caller's tenant: upload versions (the component bytes), list, inspect, delete.

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/plugins", get(list)).route("/v1/plugins/{name}", get(one).put(upload).delete(remove))
}

/// Plugin names: what a definition's `plugin:` may name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Uploads a plugin version: the component's bytes. New content is a new version; the same bytes again return
/// the existing version (200). Checked before it is stored: a component, of the `step` world, importing only what
/// the host provides, within the tenant's size limit; compiled once, on a blocking thread.
#[utoipa::path(put, path = "/v1/plugins/{name}", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name: 1-64 of letters, digits, '-', '_'")),
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "The component"),
    responses((status = 201, description = "`{name, version, digest, size}`: a new version"),
        (status = 200, description = "The same bytes as an existing version"),
        (status = 400, description = "Not a component, or an invalid one", body = ErrorBody),
        (status = 403, description = "Over the tenant's plugin count", body = ErrorBody),
        (status = 413, description = "Over the tenant's plugin size", body = ErrorBody),
        (status = 415, description = "Not application/wasm", body = ErrorBody),
        (status = 422, description = "Does not fit the step world, or imports what the host does not provide", body = ErrorBody)))]
pub(super) async fn upload(
    TenantAuth(tenant): TenantAuth,
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if !valid_name(&name) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-name",
            "a plugin name is 1-64 characters of letters, digits, '-' and '_'",
        ));
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !matches!(content_type, "application/wasm" | "application/octet-stream") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "upload the component with Content-Type: application/wasm",
        ));
    }
    if body.is_empty() {
        return Err(ApiError::bad_request("the body is empty: send the component's bytes"));
    }
    let quota = state.quota(&tenant.id).await?;
    if body.len() as u64 > quota.max_plugin_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "plugin-too-large",
            format!("the component is {} bytes, over the tenant's limit of {}", body.len(), quota.max_plugin_bytes),
        )
        .with_details(json!({ "quota": "max_plugin_bytes", "limit": quota.max_plugin_bytes })));
    }
    if state.plugins.plugin_versions(&tenant.id, &name).await?.is_empty() {
        let count = state.plugins.list_plugins(&tenant.id).await?.len();
        ApiError::check_count("max_plugins", quota.max_plugins, count, "plugins")?;
    }
    let (version, created) = state.executor.put_plugin(&tenant.id, &name, body.to_vec()).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((
        status,
        Json(
            json!({ "name": version.name, "version": version.version, "digest": version.digest, "size": version.size }),
        ),
    ))
}

/// The tenant's plugins.
#[utoipa::path(get, path = "/v1/plugins", tag = "plugins",
    responses((status = 200, description = "`{plugins: [...]}`")))]
pub(super) async fn list(TenantAuth(tenant): TenantAuth, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let plugins = state.plugins.list_plugins(&tenant.id).await?;
    Ok(Json(json!({ "plugins": plugins })))
}

/// A plugin's versions with their digests and sizes.
#[utoipa::path(get, path = "/v1/plugins/{name}", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name")),
    responses((status = 200, description = "`{name, versions: [{version, digest, size, created_at}]}`"),
        (status = 404, description = "No such plugin for this tenant", body = ErrorBody)))]
pub(super) async fn one(
    TenantAuth(tenant): TenantAuth,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let versions = state.plugins.plugin_versions(&tenant.id, &name).await?;
    if versions.is_empty() {
        return Err(ApiError::not_found("plugin"));
    }
    Ok(Json(json!({ "name": name, "versions": versions })))
}

/// Deletes a plugin and its versions; refused while a deployed process version uses it.
#[utoipa::path(delete, path = "/v1/plugins/{name}", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such plugin for this tenant", body = ErrorBody),
        (status = 409, description = "Used by a deployed process version", body = ErrorBody)))]
pub(super) async fn remove(
    TenantAuth(tenant): TenantAuth,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    if state.plugins.plugin_versions(&tenant.id, &name).await?.is_empty() {
        return Err(ApiError::not_found("plugin"));
    }
    if state.processes.plugin_in_use(&tenant.id, &name).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "in-use",
            format!("plugin `{name}` is used by a deployed process version"),
        ));
    }
    state.plugins.delete_plugin(&tenant.id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
