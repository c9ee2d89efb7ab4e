//! Tenants (admin key): create, list, rotate a key, set quota overrides.

use super::AppState;
use super::auth::{Admin, hash_key, new_key};
use super::body::ApiJson;
use super::error::{ApiError, ApiResult, ErrorBody};
use crate::quota::Quota;
use crate::store::{Tenant, now_millis};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::ToSchema;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/tenants", post(create).get(list))
        .route("/v1/tenants/{id}/keys", post(rotate))
        .route("/v1/tenants/{id}/quota", put(set_quota).get(get_quota))
        .route("/v1/tenants/{id}", get(one))
}

/// A new tenant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateTenant {
    /// 1-64 of a-z, 0-9 and '-'.
    name: String,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
}

/// Creates a tenant (admin key). Its API key is in the answer, and only there: it is stored hashed.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = CreateTenant,
    responses((status = 201, description = "`{id, name, api_key}`"),
        (status = 403, description = "Not the admin key", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "Invalid name", body = ErrorBody)))]
pub(super) async fn create(
    _: Admin,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateTenant>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if !valid_name(&req.name) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-name",
            "a tenant name is 1-64 characters of a-z, 0-9 and '-'",
        ));
    }
    let key = new_key()?;
    let tenant = Tenant { id: uuid::Uuid::now_v7().to_string(), name: req.name, created_at: now_millis() };
    match state.tenants.create_tenant(&tenant, &hash_key(&key)).await? {
        Some(t) => Ok((StatusCode::CREATED, Json(json!({ "id": t.id, "name": t.name, "api_key": key })))),
        None => Err(ApiError::new(StatusCode::CONFLICT, "name-taken", format!("tenant `{}` exists", tenant.name))),
    }
}

/// All tenants (admin key).
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants",
    responses((status = 200, description = "`{tenants: [{id, name, created_at}]}`"),
        (status = 403, description = "Not the admin key", body = ErrorBody)))]
pub(super) async fn list(_: Admin, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let tenants = state.tenants.list_tenants().await?;
    Ok(Json(json!({ "tenants": tenants })))
}

/// One tenant (admin key).
#[utoipa::path(get, path = "/v1/tenants/{id}", tag = "tenants",
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, description = "`{id, name, created_at}`"),
        (status = 404, description = "No such tenant", body = ErrorBody)))]
pub(super) async fn one(_: Admin, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let t = state.tenants.tenant(&id).await?.ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(Json(json!(t)))
}

/// Replaces a tenant's API key (admin key); the old key stops working at once.
#[utoipa::path(post, path = "/v1/tenants/{id}/keys", tag = "tenants",
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, description = "`{id, api_key}`"),
        (status = 404, description = "No such tenant", body = ErrorBody)))]
pub(super) async fn rotate(_: Admin, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let key = new_key()?;
    // Before and after the store: no request may cache the old key once the rotation has begun.
    state.keys.forget_tenant(&id);
    let rotated = state.tenants.rotate_key(&id, &hash_key(&key)).await?;
    state.keys.forget_tenant(&id);
    if !rotated {
        return Err(ApiError::not_found("tenant"));
    }
    Ok(Json(json!({ "id": id, "api_key": key })))
}

/// Sets a tenant's quota overrides (admin key): a JSON object of the `Quota` fields to change; the rest keep
/// their defaults. Replaces earlier overrides.
#[utoipa::path(put, path = "/v1/tenants/{id}/quota", tag = "tenants",
    params(("id" = String, Path, description = "Tenant id")),
    request_body(content = Object, description = "Some fields of `Quota`"),
    responses((status = 200, description = "`{quota: Quota, overrides}`: the effective quota"),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 422, description = "Unknown field or wrong type", body = ErrorBody)))]
pub(super) async fn set_quota(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(overrides): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let quota = Quota::with_overrides(Some(&overrides))
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-quota", e.to_string()))?;
    if !state.tenants.set_quota(&id, &overrides).await? {
        return Err(ApiError::not_found("tenant"));
    }
    let quota = Arc::new(quota);
    state.quotas.put(&id, quota.clone());
    Ok(Json(quota_json(&quota, &overrides)))
}

fn quota_json(quota: &Quota, overrides: &Value) -> Value {
    json!({ "quota": quota, "overrides": overrides })
}

/// A tenant's effective quota and its overrides (admin key).
#[utoipa::path(get, path = "/v1/tenants/{id}/quota", tag = "tenants",
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, description = "`{quota: Quota, overrides}`"),
        (status = 404, description = "No such tenant", body = ErrorBody)))]
pub(super) async fn get_quota(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.tenants.tenant(&id).await?.ok_or_else(|| ApiError::not_found("tenant"))?;
    let overrides = state.tenants.quota(&id).await?.unwrap_or_else(|| json!({}));
    Ok(Json(quota_json(&*state.quota(&id).await?, &overrides)))
}
