//! Secrets of the caller's tenant: set and delete by name, list names. Write-only: no endpoint returns a value;
//! a definition hands one to a step with `secrets: {config-key: secret-name}`.

use super::AppState;
use super::auth::TenantAuth;
use super::body::ApiJson;
use super::error::{ApiError, ApiResult, ErrorBody};
use crate::secrets::MAX_SECRET_BYTES;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/secrets", get(list)).route("/v1/secrets/{name}", put(set).delete(remove))
}

/// A secret's value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SecretValue {
    /// The value (at most 16 KiB of UTF-8).
    value: String,
}

fn secrets_of(state: &AppState) -> ApiResult<&crate::secrets::Secrets> {
    state.secrets.as_ref().ok_or_else(|| ApiError::internal("this runtime was started without a secret store"))
}

/// Sets a secret (write-only: its value is never returned, logged or shown in history).
#[utoipa::path(put, path = "/v1/secrets/{name}", tag = "secrets",
    params(("name" = String, Path, description = "Secret name: 1-64 of letters, digits, '-', '_'")),
    request_body = SecretValue,
    responses((status = 201, description = "`{name}`: created"), (status = 200, description = "`{name}`: replaced"),
        (status = 422, description = "Invalid name or value", body = ErrorBody)))]
pub(super) async fn set(
    TenantAuth(tenant): TenantAuth,
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<SecretValue>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if !super::plugins::valid_name(&name) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-name",
            "a secret name is 1-64 characters of letters, digits, '-' and '_'",
        ));
    }
    if body.value.is_empty() || body.value.len() > MAX_SECRET_BYTES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-value",
            format!("a secret value is 1 to {MAX_SECRET_BYTES} bytes"),
        ));
    }
    let created = secrets_of(&state)?.put(&tenant.id, &name, &body.value).await.map_err(ApiError::internal)?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(json!({ "name": name }))))
}

/// The tenant's secret names (never their values).
#[utoipa::path(get, path = "/v1/secrets", tag = "secrets",
    responses((status = 200, description = "`{secrets: [{name, updated_at}]}`")))]
pub(super) async fn list(TenantAuth(tenant): TenantAuth, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let secrets = secrets_of(&state)?.list(&tenant.id).await.map_err(ApiError::internal)?;
    Ok(Json(json!({ "secrets": secrets })))
}

/// Deletes a secret. Steps naming it fail from then on (deploys naming it are refused).
#[utoipa::path(delete, path = "/v1/secrets/{name}", tag = "secrets",
    params(("name" = String, Path, description = "Secret name")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such secret", body = ErrorBody)))]
pub(super) async fn remove(
    TenantAuth(tenant): TenantAuth,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    if secrets_of(&state)?.delete(&tenant.id, &name).await.map_err(ApiError::internal)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("secret"))
    }
}
