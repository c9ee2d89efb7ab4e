//! Three-step process throughput and latency, in process (no HTTP), durable on SQLite versus in memory, at
//! 1, 16 and 256 concurrent instances, in one run. Each instance runs three `noop` steps; a client task
//! starts one and waits for its completion, then starts the next.
//!
//! `cargo bench --bench process_throughput` (add `-- --quick` for a smoke run).

use alur_runtime::process::definition::yaml_to_json;
use alur_runtime::process::executor::{Executor, StartRequest, Stores};
use alur_runtime::sandbox::kv::KvStore;
use alur_runtime::sandbox::limits::StepLimits;
use alur_runtime::sandbox::{Sandbox, SandboxConfig};
use alur_runtime::store::memory::MemoryStore;
use alur_runtime::store::sqlite::SqliteStore;
use alur_runtime::store::{InstanceStatus, InstanceStore, PluginStore, ProcessStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const PROCESS: &str = r#"
name: three-steps
steps:
  - id: score
    plugin: noop
  - id: assign
    plugin: noop
  - id: notify
    plugin: noop
"#;

async fn executor<S>(store: Arc<S>, dir: &std::path::Path) -> Executor
where
    S: InstanceStore + ProcessStore + PluginStore + KvStore + 'static,
{
    let config = SandboxConfig { cache_dir: Some(dir.join("cache")), ..SandboxConfig::default() };
    let sandbox = Arc::new(Sandbox::new(config, store.clone()).expect("sandbox"));
    let stores = Stores { instances: store.clone(), processes: store.clone(), plugins: store };
    let exec = Executor::new(sandbox, stores, StepLimits::default());
    let wasm = std::fs::read(alur_tests::NOOP).expect("noop component");
    exec.put_plugin("bench", "noop", wasm).await.expect("plugin");
    exec.deploy("bench", yaml_to_json(PROCESS).expect("yaml")).await.expect("deploys");
    exec
}

struct Row {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

async fn measure(exec: &Executor, concurrency: usize, total: usize) -> Row {
    let remaining = Arc::new(AtomicUsize::new(total));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (exec, remaining) = (exec.clone(), remaining.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while remaining.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                    let t = Instant::now();
                    let req = StartRequest {
                        tenant: "bench".into(),
                        process: "three-steps".into(),
                        version: None,
                        input: serde_json::json!({"lead": {"email": "a@b.c"}}),
                        idempotency_key: None,
                    };
                    let id = exec.start(req).await.expect("starts").id;
                    let done = exec.wait("bench", &id, Duration::from_secs(60)).await.expect("waits");
                    assert_eq!(done.status, InstanceStatus::Completed);
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    let elapsed = started.elapsed();
    all.sort();
    Row { per_sec: total as f64 / elapsed.as_secs_f64(), p50: all[all.len() / 2], p99: all[all.len() * 99 / 100] }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (total, rounds) = if quick { (200, 1) } else { (3000, 3) };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = SqliteStore::open(&dir.path().join("alur.db")).await.expect("sqlite");
        let durable = executor(Arc::new(sqlite), dir.path()).await;
        let memory = executor(Arc::new(MemoryStore::new()), dir.path()).await;
        println!("three-step process, in process, {total} instances per point, {rounds} round(s); median of rounds");
        println!("{:<8} {:>5} {:>12} {:>10} {:>10}", "store", "conc", "inst/s", "p50", "p99");
        for concurrency in [1usize, 16, 256] {
            let mut results = Vec::new();
            for (name, exec) in [("sqlite", &durable), ("memory", &memory)] {
                let mut rows = Vec::new();
                for _ in 0..rounds {
                    rows.push(measure(exec, concurrency, total.max(concurrency)).await);
                }
                rows.sort_by(|a, b| a.per_sec.total_cmp(&b.per_sec));
                let mid = &rows[rows.len() / 2];
                println!(
                    "{name:<8} {concurrency:>5} {:>12.0} {:>8.2}ms {:>8.2}ms",
                    mid.per_sec,
                    mid.p50.as_secs_f64() * 1e3,
                    mid.p99.as_secs_f64() * 1e3
                );
                results.push(mid.per_sec);
            }
            println!("         durable/in-memory throughput at {concurrency}: {:.2}", results[0] / results[1]);
        }
    });
}
