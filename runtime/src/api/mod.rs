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
pub mod plugins;
pub mod processes;
pub mod tenants;

use crate::process::executor::Executor;
use crate::store::{InstanceStore, PluginStore, ProcessStore, TenantStore};
use axum::Router;
use axum::extract::DefaultBodyLimit;
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
}

/// The whole API.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(tenants::router())
        .merge(processes::router())
        .merge(instances::router())
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
