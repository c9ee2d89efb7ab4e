//! `alur serve`: opens the data directory (SQLite journal, compiled-component cache, admin key), resumes
//! unfinished instances, and serves the API until shutdown.
//!
//! # Shutdown
//! On the shutdown signal the listener stops accepting and open requests drain (axum graceful shutdown);
//! then step attempts still running get up to [`ServeConfig::drain`] to finish and journal their results.
//! Whatever is still running after that is left: its `StepStarted` is journaled, so it runs again as a new
//! attempt when the runtime next starts.

use crate::api::{self, AppState};
use crate::demo::DemoConfig;
use crate::process::executor::{Executor, Stores};
use crate::sandbox::limits::StepLimits;
use crate::sandbox::{Sandbox, SandboxConfig, SandboxError, engine};
use crate::secrets::Secrets;
use crate::store::sqlite::SqliteStore;
use anyhow::Context as _;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many of the pinned components a start loads ahead of the first requests.
const WARM_UP_COMPONENTS: usize = 256;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The data directory.
    pub data: PathBuf,
    /// The admin key; when `None`, the one stored in the data directory (generated at first start).
    pub admin_key: Option<String>,
    /// How long running steps may take to finish after shutdown begins.
    pub drain: Duration,
    /// Load the demo tenant with the example plugins and processes.
    pub demo: Option<DemoConfig>,
    /// Where compiled components are kept (default `<data>/compiled`); several nodes or runs may share one, as
    /// entries are keyed by content and engine and written atomically.
    pub compiled_cache: Option<PathBuf>,
    /// How many cores guest code may use at once; `None`: all but one.
    pub guest_cores: Option<usize>,
}

/// Runs the server on `listener` until `shutdown` resolves.
pub async fn run(
    config: ServeConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data).with_context(|| format!("cannot create {}", config.data.display()))?;
    let admin_key = match config.admin_key {
        Some(k) if !k.is_empty() => k,
        _ => stored_admin_key(&config.data)?,
    };
    let cache_dir = config.compiled_cache.clone().unwrap_or_else(|| config.data.join("compiled"));
    let mut sandbox_config = SandboxConfig { cache_dir: Some(cache_dir), ..SandboxConfig::default() };
    if let Some(cores) = config.guest_cores {
        sandbox_config.guest_cores = cores;
    }
    // The engine (its pool guards every stack and slot: milliseconds of system calls) is built on another
    // thread while the store opens, as both stand between a restart and its first answer.
    let pool = sandbox_config.pool.clone();
    let engine = tokio::task::spawn_blocking(move || engine::build_engine(&pool));
    let store = SqliteStore::open(&config.data.join("alur.db")).await.context("opening the store")?;
    let engine = engine.await.context("building the engine")?.map_err(SandboxError::from)?;
    let sandbox = Arc::new(Sandbox::with_engine(engine, sandbox_config, Arc::new(store.clone()))?);
    let shared = Arc::new(store);
    let stores = Stores { instances: shared.clone(), processes: shared.clone(), plugins: shared.clone() };
    let executor = Executor::new(sandbox, stores, StepLimits::default());
    let secrets = Secrets::open(shared.clone(), &config.data)?;
    executor.set_secrets(secrets.clone());
    let resumed = executor.recover().await?;
    let state = AppState {
        executor: executor.clone(),
        tenants: shared.clone(),
        plugins: shared.clone(),
        processes: shared.clone(),
        instances: shared,
        admin_key_hash: Sha256::digest(admin_key.as_bytes()).to_vec().into(),
        quotas: Default::default(),
        keys: Default::default(),
        secrets: Some(secrets),
    };
    if let Some(demo) = &config.demo {
        let loaded = crate::demo::load(&state, &config.data, demo).await.context("loading the demo")?;
        let base = format!("http://{}", listener.local_addr()?);
        print!("{}", crate::demo::banner(&loaded, &base, &demo.processes));
    }
    // What the first requests will run, loaded while the first of them arrive (one load per component however
    // many ask for it at once).
    let warming = executor.clone();
    tokio::spawn(async move {
        match warming.warm_up(WARM_UP_COMPONENTS).await {
            Ok(n) => tracing::debug!(components = n, "compiled components preloaded"),
            Err(e) => tracing::warn!(error = %e, "could not preload compiled components"),
        }
    });
    tracing::info!(address = %listener.local_addr()?, resumed, "alur is serving");
    // Printed once requests are answered (after recovery and the demo), so scripts and tests can wait for it.
    println!("alur listening on http://{}", listener.local_addr()?);
    api::serve(listener, state, shutdown).await?;
    let deadline = Instant::now() + config.drain;
    while executor.steps_in_flight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!(left_running = executor.steps_in_flight(), "alur stopped");
    Ok(())
}

/// The admin key kept in the data directory, created (and printed once) at first start.
fn stored_admin_key(data: &std::path::Path) -> anyhow::Result<String> {
    let path = data.join("admin.key");
    if let Ok(key) = std::fs::read_to_string(&path) {
        return Ok(key.trim().to_string());
    }
    let key = crate::api::auth::new_key().map_err(|e| anyhow::anyhow!(e.message))?;
    std::fs::write(&path, &key).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    println!("generated the admin key (stored in {}): {key}", path.display());
    Ok(key)
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
