//! The process executor with real plugins and the SQLite journal, in process (no HTTP).

use alur_runtime::process::definition::yaml_to_json;
use alur_runtime::process::event::Event;
use alur_runtime::process::executor::{ExecutorError, StartRequest};
use alur_runtime::sandbox::kv::{KvScope, KvStore};
use alur_runtime::store::{InstanceRecord, InstanceStatus, InstanceStore};
use alur_tests::runtime::TestRuntime;
use alur_tests::{CRM_LEAD_SCORE, HOSTILE, SCM_INVENTORY_CHECK, component_bytes};
use serde_json::{Value, json};
use std::time::Duration;

const T: &str = "acme";

async fn setup(dir: &std::path::Path, processes: &[&str]) -> TestRuntime {
    let rt = TestRuntime::open(dir).await;
    for (name, path) in
        [("crm-lead-score", CRM_LEAD_SCORE), ("scm-inventory-check", SCM_INVENTORY_CHECK), ("hostile", HOSTILE)]
    {
        rt.executor.put_plugin(T, name, component_bytes(path)).await.expect("plugin uploads");
    }
    for yaml in processes {
        rt.executor.deploy(T, yaml_to_json(yaml).expect("yaml")).await.expect("deploys");
    }
    rt
}

async fn run(rt: &TestRuntime, process: &str, input: Value) -> InstanceRecord {
    let started = rt
        .executor
        .start(StartRequest { tenant: T.into(), process: process.into(), version: None, input, idempotency_key: None })
        .await
        .expect("starts");
    rt.executor.wait(T, &started.id, Duration::from_secs(20)).await.expect("found")
}

async fn events(rt: &TestRuntime, id: &str) -> Vec<Event> {
    rt.store.journal(id).await.unwrap().into_iter().map(|e| serde_json::from_value(e.event).unwrap()).collect()
}

const LEAD_INTAKE: &str = r#"
name: lead-intake
input-schema:
  type: object
  required: [lead]
  properties:
    lead: { type: object, required: [email] }
steps:
  - id: score
    plugin: crm-lead-score
    input: '{lead: .input.lead}'
    config: { target_countries: "US,DE" }
  - id: route
    switch:
      - when: '.steps.score.grade == "hot"'
        then: assign
      - default: nurture
  - id: assign
    plugin: hostile
    config: { mode: echo }
    input: '{owner: "ana", score: .steps.score.score}'
    next: end
  - id: nurture
    wait: { signal: lead-updated, timeout: 30d }
  - id: rescore
    plugin: crm-lead-score
    input: '{lead: .steps.nurture.lead}'
output: '{grade: (.steps.rescore.grade // .steps.score.grade), owner: .steps.assign.owner}'
"#;

fn hot_lead() -> Value {
    json!({"lead": {"email": "ana@acme.io", "company": "Acme", "employees": 1200, "country": "US",
        "source": "referral", "demo_requested": true, "page_views": 14, "email_opens": 6}})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hot_lead_is_scored_routed_and_assigned() {
    let dir = tempfile::tempdir().unwrap();
    let rt = setup(dir.path(), &[LEAD_INTAKE]).await;
    let done = run(&rt, "lead-intake", hot_lead()).await;
    assert_eq!(done.status, InstanceStatus::Completed, "{:?}", done.error);
    assert_eq!(done.output, Some(json!({"grade": "hot", "owner": "ana"})));
    let history = events(&rt, &done.id).await;
    assert!(
        history.iter().any(
            |e| matches!(e, Event::StepPassed { step, output } if step == "route" && output["branch"] == "assign")
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cold_lead_waits_for_a_signal_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let rt = setup(dir.path(), &[LEAD_INTAKE]).await;
        let cold = json!({"lead": {"email": "bob@gmail.com", "source": "web"}});
        let started = rt
            .executor
            .start(StartRequest {
                tenant: T.into(),
                process: "lead-intake".into(),
                version: None,
                input: cold,
                idempotency_key: None,
            })
            .await
            .unwrap();
        let waiting = rt.executor.wait(T, &started.id, Duration::from_millis(1500)).await.unwrap();
        assert_eq!(waiting.status, InstanceStatus::Running);
        assert_eq!(waiting.activity["waiting_for"], json!(["lead-updated"]));
        let err = rt.executor.signal(T, &started.id, "nope", json!({})).await.unwrap_err();
        assert!(matches!(err, ExecutorError::NotWaiting(_)));
        started.id
    };
    // A new runtime on the same data directory: the instance is resumed, still waiting.
    let rt = TestRuntime::open(dir.path()).await;
    assert_eq!(rt.executor.live_count(), 1);
    rt.executor.signal(T, &id, "lead-updated", hot_lead()).await.expect("signal delivered");
    let done = rt.executor.wait(T, &id, Duration::from_secs(20)).await.unwrap();
    assert_eq!(done.status, InstanceStatus::Completed, "{:?}", done.error);
    assert_eq!(done.output.unwrap()["grade"], "hot");
    let err = rt.executor.signal(T, &id, "lead-updated", json!({})).await.unwrap_err();
    assert!(matches!(err, ExecutorError::Finished("completed")));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_input_schema_is_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let rt = setup(dir.path(), &[LEAD_INTAKE]).await;
    let err = rt
        .executor
        .start(StartRequest {
            tenant: T.into(),
            process: "lead-intake".into(),
            version: None,
            input: json!({"lead": {}}),
            idempotency_key: None,
        })
        .await
        .unwrap_err();
    match err {
        ExecutorError::InvalidInput(problems) => assert!(problems[0].contains("email"), "{problems:?}"),
        other => panic!("expected invalid input, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_returns_the_same_instance() {
    let dir = tempfile::tempdir().unwrap();
    let rt = setup(dir.path(), &[LEAD_INTAKE]).await;
    let req = StartRequest {
        tenant: T.into(),
        process: "lead-intake".into(),
        version: None,
        input: hot_lead(),
        idempotency_key: Some("order-42".into()),
    };
    let first = rt.executor.start(req.clone()).await.unwrap();
    let second = rt.executor.start(req).await.unwrap();
    assert!(first.created && !second.created);
    assert_eq!(first.id, second.id);
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_failures_are_retried_then_fail_the_instance() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
name: flaky
steps:
  - id: call
    plugin: hostile
    config: { mode: count-then-fail }
    retry: { max-attempts: 3, backoff: exponential, initial: 10ms, max: 50ms }
"#;
    let rt = setup(dir.path(), &[yaml]).await;
    let done = run(&rt, "flaky", json!({})).await;
    assert_eq!(done.status, InstanceStatus::Failed);
    assert_eq!(done.error.as_ref().unwrap()["code"], "after-write");
    let attempts: Vec<u32> = events(&rt, &done.id)
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::StepFailed { attempt, .. } => Some(attempt),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    // Every attempt wrote kv and then failed: none of the writes was committed.
    let scope = KvScope { tenant: T.into(), plugin: "hostile".into() };
    assert_eq!(rt.store.get(&scope, "count").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn business_errors_are_routed_and_faults_are_not_retried_blindly() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
name: routed
steps:
  - id: charge
    plugin: hostile
    config: { mode: fail, kind: business }
    on-error:
      - { kind: business, code: told-to-fail, goto: apologise }
  - id: ship
    plugin: hostile
    next: end
  - id: apologise
    plugin: hostile
    config: { mode: echo }
output: '.steps.apologise.error.code'
"#;
    let rt = setup(dir.path(), &[yaml]).await;
    let done = run(&rt, "routed", json!({})).await;
    assert_eq!(done.status, InstanceStatus::Completed, "{:?}", done.error);
    assert_eq!(done.output, Some(json!("told-to-fail")));
}

#[tokio::test(flavor = "multi_thread")]
async fn kv_writes_of_completed_steps_are_committed() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "name: counter\nsteps:\n  - id: c\n    plugin: hostile\n    config: { mode: count }\n";
    let rt = setup(dir.path(), &[yaml]).await;
    assert_eq!(run(&rt, "counter", json!({})).await.output, Some(json!({"count": 1})));
    assert_eq!(run(&rt, "counter", json!({})).await.output, Some(json!({"count": 2})));
    let scope = KvScope { tenant: T.into(), plugin: "hostile".into() };
    assert_eq!(rt.store.get(&scope, "count").await.unwrap(), Some(b"2".to_vec()));
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_and_for_each_run_real_steps() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
name: fulfil
steps:
  - id: checks
    parallel:
      stock:
        - id: inventory
          plugin: scm-inventory-check
          input: '{order: .input.order}'
          config: { stock: '{"A": 10, "B": 0}' }
      lines:
        - id: each
          for-each:
            items: '.input.order.lines'
            concurrency: 2
            steps:
              - id: line
                plugin: hostile
                config: { mode: echo }
                input: '{sku: .item.sku, position: .index}'
output: '{fulfilment: .steps.checks.stock.fulfilment, lines: .steps.checks.lines}'
"#;
    let rt = setup(dir.path(), &[yaml]).await;
    let order = json!({"order": {"id": "SO-1", "lines": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}, {"sku": "A", "quantity": 2}]}});
    let done = run(&rt, "fulfil", order).await;
    assert_eq!(done.status, InstanceStatus::Completed, "{:?}", done.error);
    assert_eq!(
        done.output,
        Some(json!({"fulfilment": "split", "lines": [
            {"sku": "A", "position": 0}, {"sku": "B", "position": 1}, {"sku": "A", "position": 2}]}))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_after_reservation_runs_the_compensation() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
name: saga
steps:
  - id: reserve
    plugin: hostile
    config: { mode: tally }
    undo: release
  - id: invoice
    plugin: hostile
    config: { mode: fail, kind: business }
    next: end
  - id: release
    plugin: hostile
    config: { mode: tally }
"#;
    let rt = setup(dir.path(), &[yaml]).await;
    let done = run(&rt, "saga", json!({"order": 7})).await;
    assert_eq!(done.status, InstanceStatus::Failed);
    assert_eq!(done.error.as_ref().unwrap()["code"], "told-to-fail");
    let history = events(&rt, &done.id).await;
    assert!(history.contains(&Event::CompensationStarted { undo: vec!["release".into()] }));
    let released = history.iter().find_map(|e| match e {
        Event::StepCompleted { step, output, .. } if step == "release" => Some(output.clone()),
        _ => None,
    });
    assert_eq!(released.expect("release ran")["input"]["step"], "reserve", "the undo gets the reservation");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_runs_a_sub_process_and_a_timer_survives() {
    let dir = tempfile::tempdir().unwrap();
    let child = "name: child\nsteps:\n  - id: nap\n    sleep: { for: 100ms }\n  - id: echo\n    plugin: hostile\n    input: '{got: .input.n}'\n";
    let parent = "name: parent\nsteps:\n  - id: sub\n    call: { process: child, input: '{n: .input.n}' }\n";
    let rt = setup(dir.path(), &[child, parent]).await;
    let done = run(&rt, "parent", json!({"n": 5})).await;
    assert_eq!(done.status, InstanceStatus::Completed, "{:?}", done.error);
    assert_eq!(done.output, Some(json!({"got": 5})));
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_names_unknown_plugins_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let rt = setup(dir.path(), &[]).await;
    let doc = yaml_to_json("name: x\nsteps:\n  - id: a\n    plugin: nope\n").unwrap();
    match rt.executor.deploy(T, doc).await {
        Err(ExecutorError::InvalidDefinition(problems)) => {
            assert_eq!(problems.len(), 1);
            assert_eq!(problems[0].path, "/steps/0/plugin");
            assert!(problems[0].message.contains("unknown plugin `nope`"));
        }
        other => panic!("expected a definition problem, got {other:?}"),
    }
    // Another tenant's plugins are not usable.
    let doc = yaml_to_json("name: x\nsteps:\n  - id: a\n    plugin: hostile\n").unwrap();
    assert!(rt.executor.deploy("globex", doc).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_runtime_preloads_the_components_its_processes_pin() {
    let dir = tempfile::tempdir().unwrap();
    let one_step = "name: score-only\nsteps:\n  - id: score\n    plugin: crm-lead-score\n";
    drop(setup(dir.path(), &[one_step]).await);
    let rt = TestRuntime::open(dir.path()).await;
    // Three plugins are uploaded, one is pinned by a deployed process.
    assert_eq!(rt.executor.warm_up(10).await.unwrap(), 1);
    let done = run(&rt, "score-only", hot_lead()).await;
    assert_eq!(done.status, InstanceStatus::Completed);
}
