//! `GET /healthz` (the process is up) and `GET /readyz` (the store answers).

use super::AppState;
use super::error::ApiResult;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()), responses((status = 200, description = "`{status: ok}`")))]
pub(super) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The store answers; also how many instances are live in memory.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = 200, description = "`{status: ready, live_instances}`"), (status = 500, description = "The store fails", body = super::error::ErrorBody)))]
pub(super) async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    state.tenants.list_tenants().await?;
    Ok(Json(json!({ "status": "ready", "live_instances": state.executor.live_count() })))
}
