//! The child process of the crash test: opens a data directory, resumes what is unfinished, makes sure the
//! `tally` plugin and the `crash` process exist, starts `count` instances (idempotently, so a restart never
//! starts a second copy), and exits 0 once every instance has finished. The test kills it with SIGKILL at
//! random moments and starts it again on the same directory.

use alur_runtime::process::executor::StartRequest;
use alur_runtime::store::{InstanceFilter, InstanceStatus, InstanceStore, ProcessStore};
use alur_tests::runtime::TestRuntime;
use std::time::Duration;

const PROCESS: &str = r#"
name: crash
steps:
  - id: one
    plugin: tally
    config: { mode: tally, work-ms: "30" }
  - id: two
    plugin: tally
    config: { mode: tally, work-ms: "30" }
  - id: nap
    sleep: { for: 150ms }
  - id: three
    plugin: tally
    config: { mode: tally, work-ms: "30" }
output: '{one: .steps.one.count, two: .steps.two.count, three: .steps.three.count}'
"#;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: crash_worker <data-dir> <count>"));
    let count: usize = args.next().and_then(|c| c.parse().ok()).expect("usage: crash_worker <data-dir> <count>");
    let rt = TestRuntime::open(&dir).await;
    let tenant = "crash-tenant";
    rt.executor
        .put_plugin(tenant, "tally", alur_tests::component_bytes(alur_tests::HOSTILE))
        .await
        .expect("plugin uploads");
    if rt.store.process_version(tenant, "crash", None).await.expect("store").is_none() {
        let doc = alur_runtime::process::definition::yaml_to_json(PROCESS).expect("yaml");
        rt.executor.deploy(tenant, doc).await.expect("deploys");
    }
    for i in 0..count {
        rt.executor
            .start(StartRequest {
                tenant: tenant.into(),
                process: "crash".into(),
                version: None,
                input: serde_json::json!({ "n": i }),
                idempotency_key: Some(format!("crash-{i}")),
            })
            .await
            .expect("starts");
    }
    loop {
        let filter = InstanceFilter { status: Some(InstanceStatus::Running), limit: 1, ..Default::default() };
        let running = rt.store.list_instances(tenant, &filter).await.expect("lists");
        if running.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
