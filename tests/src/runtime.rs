//! An in-process Alur runtime over a data directory: SQLite store, sandbox with its disk cache, executor.

use alur_runtime::process::executor::{Executor, Stores};
use alur_runtime::sandbox::limits::StepLimits;
use alur_runtime::sandbox::{Sandbox, SandboxConfig};
use alur_runtime::store::sqlite::SqliteStore;
use std::path::Path;
use std::sync::Arc;

/// A runtime over one data directory.
pub struct TestRuntime {
    /// The executor.
    pub executor: Executor,
    /// The store, for checks.
    pub store: SqliteStore,
}

impl TestRuntime {
    /// Opens (or creates) the runtime in `dir` and resumes what was unfinished there.
    pub async fn open(dir: &Path) -> TestRuntime {
        let store = SqliteStore::open(&dir.join("alur.db")).await.expect("store opens");
        let config = SandboxConfig { cache_dir: Some(dir.join("cache")), ..SandboxConfig::default() };
        let sandbox = Arc::new(Sandbox::new(config, Arc::new(store.clone())).expect("sandbox"));
        let stores = Stores {
            instances: Arc::new(store.clone()),
            processes: Arc::new(store.clone()),
            plugins: Arc::new(store.clone()),
        };
        let executor = Executor::new(sandbox, stores, StepLimits::default());
        executor.recover().await.expect("recovers");
        TestRuntime { executor, store }
    }
}
