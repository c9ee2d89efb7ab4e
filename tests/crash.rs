//! Kill the runtime with SIGKILL at random moments, restart it on the same data directory, and check that
//! every instance completed exactly once and that no completed step ran twice.

use alur_runtime::process::event::Event;
use alur_runtime::sandbox::kv::{KvScope, KvStore};
use alur_runtime::store::sqlite::SqliteStore;
use alur_runtime::store::{InstanceFilter, InstanceStatus, InstanceStore};
use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const INSTANCES: usize = 150;
const KILLS: usize = 5;

fn spawn(dir: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_crash_worker"))
        .arg(dir)
        .arg(INSTANCES.to_string())
        .env("ALUR_LOG", "error")
        .spawn()
        .expect("worker starts")
}

/// A small deterministic generator; the seed is printed so a failure can be replayed.
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *seed >> 33
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_complete_exactly_once_across_sigkills() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    println!("crash test seed: {seed}");
    for round in 0..KILLS {
        let mut child = spawn(dir.path());
        // Kill somewhere between startup (compiling, recovering) and the middle of the run.
        let delay = 200 + next(&mut seed) % 1000;
        std::thread::sleep(Duration::from_millis(delay));
        match child.try_wait().unwrap() {
            Some(status) => println!("round {round}: worker already finished ({status})"),
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                println!("round {round}: killed after {delay} ms");
            }
        }
    }
    let mut child = spawn(dir.path());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the final run did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "final run failed: {status}");

    let store = SqliteStore::open(&dir.path().join("alur.db")).await.unwrap();
    let filter = InstanceFilter { limit: 1000, ..Default::default() };
    let instances = store.list_instances("crash-tenant", &filter).await.unwrap();
    assert_eq!(instances.len(), INSTANCES, "exactly one instance per idempotency key");
    let mut reruns = 0;
    for inst in &instances {
        assert_eq!(inst.status, InstanceStatus::Completed, "instance {} is {:?}", inst.id, inst.status);
        assert_eq!(inst.output, Some(serde_json::json!({"one": 1, "two": 1, "three": 1})), "instance {}", inst.id);
        let mut completions: BTreeMap<String, u32> = BTreeMap::new();
        let mut starts: BTreeMap<String, u32> = BTreeMap::new();
        let mut timers = 0;
        for entry in store.journal(&inst.id).await.unwrap() {
            match serde_json::from_value::<Event>(entry.event).unwrap() {
                Event::StepCompleted { step, .. } => *completions.entry(step).or_default() += 1,
                Event::StepStarted { step, .. } => *starts.entry(step).or_default() += 1,
                Event::TimerFired { .. } => timers += 1,
                _ => {}
            }
        }
        for step in ["one", "two", "three"] {
            assert_eq!(completions.get(step), Some(&1), "instance {}: step {step} completed once", inst.id);
            let kv = store
                .get(
                    &KvScope { tenant: "crash-tenant".into(), plugin: "tally".into() },
                    &format!("tally/{}/{step}", inst.id),
                )
                .await
                .unwrap();
            assert_eq!(kv, Some(b"1".to_vec()), "instance {}: step {step} counted once in kv", inst.id);
            reruns += starts.get(step).copied().unwrap_or(0) - 1;
        }
        assert_eq!(timers, 1, "instance {}: the sleep fired once", inst.id);
    }
    println!("{INSTANCES} instances completed exactly once; {reruns} step attempts were rerun after kills");
}
