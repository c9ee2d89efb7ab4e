//! Tenants (admin key): create, list, rotate a key, set quota overrides.

use super::AppState;
use super::auth::{Admin, hash_key, new_key};
use super::body::ApiJson;
use super::error::{ApiError, ApiResult};
use crate::quota::Quota;
use crate::store::{Tenant, now_millis};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/tenants", post(create).get(list))
        .route("/v1/tenants/{id}/keys", post(rotate))
        .route("/v1/tenants/{id}/quota", put(set_quota).get(get_quota))
        .route("/v1/tenants/{id}", get(one))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTenant {
    name: String,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
}

async fn create(
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

async fn list(_: Admin, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let tenants = state.tenants.list_tenants().await?;
    Ok(Json(json!({ "tenants": tenants })))
}

async fn one(_: Admin, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let t = state.tenants.tenant(&id).await?.ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(Json(json!(t)))
}

async fn rotate(_: Admin, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let key = new_key()?;
    if !state.tenants.rotate_key(&id, &hash_key(&key)).await? {
        return Err(ApiError::not_found("tenant"));
    }
    Ok(Json(json!({ "id": id, "api_key": key })))
}

async fn set_quota(
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

async fn get_quota(_: Admin, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    state.tenants.tenant(&id).await?.ok_or_else(|| ApiError::not_found("tenant"))?;
    let overrides = state.tenants.quota(&id).await?.unwrap_or_else(|| json!({}));
    Ok(Json(quota_json(&*state.quota(&id).await?, &overrides)))
}
