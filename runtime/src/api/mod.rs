//! The HTTP API (axum). One file per resource, each with its `router()`, handlers and request/response types.
//!
//! # Layout
//! - [`error`]: the one error shape; [`auth`]: admin and tenant keys; [`body`]: a JSON extractor that
//!   answers rejections in that shape.
//! - [`tenants`], [`plugins`], [`processes`], [`instances`], [`health`]: the resources.

pub mod auth;
pub mod body;
pub mod error;
pub mod health;
pub mod instances;
pub mod openapi;
pub mod plugins;
pub mod processes;
pub mod secrets;
pub mod tenants;

use crate::process::executor::Executor;
use crate::quota::{Quota, QuotaCache};
use crate::store::{InstanceStore, PluginStore, ProcessStore, TenantStore};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use error::{ApiError, ApiResult};
use std::future::Future;
use std::sync::Arc;

/// Largest JSON body accepted on writes.
pub const MAX_JSON_BODY: usize = 1 << 20;
/// Largest plugin upload (a Python component is ~18 MB).
pub const MAX_PLUGIN_BODY: usize = 64 << 20;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The executor.
    pub executor: Executor,
    /// Tenants and keys.
    pub tenants: Arc<dyn TenantStore>,
    /// Plugin versions.
    pub plugins: Arc<dyn PluginStore>,
    /// Process versions.
    pub processes: Arc<dyn ProcessStore>,
    /// Instances and journals.
    pub instances: Arc<dyn InstanceStore>,
    /// sha256 of the admin key.
    pub admin_key_hash: Arc<[u8]>,
    /// Tenants' effective quotas.
    pub quotas: Arc<QuotaCache>,
    /// Tenants by key hash.
    pub keys: Arc<auth::KeyCache>,
    /// Tenants' secrets (`None`: the secrets endpoints answer 500).
    pub secrets: Option<crate::secrets::Secrets>,
}

impl AppState {
    /// The effective quota of `tenant` (defaults with the admin's overrides).
    pub async fn quota(&self, tenant: &str) -> ApiResult<Arc<Quota>> {
        if let Some(q) = self.quotas.get(tenant) {
            return Ok(q);
        }
        let overrides = self.tenants.quota(tenant).await?;
        // Stored overrides were validated when set; a failure here means the row was edited by hand.
        let quota = Arc::new(Quota::with_overrides(overrides.as_ref()).map_err(ApiError::internal)?);
        self.quotas.put(tenant, quota.clone());
        Ok(quota)
    }
}

/// The whole API.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(openapi::router())
        .merge(tenants::router())
        .merge(processes::router())
        .merge(instances::router())
        .merge(secrets::router())
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .merge(plugins::router().layer(DefaultBodyLimit::max(MAX_PLUGIN_BODY)))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then stops accepting and drains open requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await
}
