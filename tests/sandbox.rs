//! The sandbox with real compiled components: every outcome a step can have, isolation, and the cache.

use alur_runtime::sandbox::cache::Origin;
use alur_runtime::sandbox::kv::{KvScope, KvStore, MemoryKv};
use alur_runtime::sandbox::limits::StepLimits;
use alur_runtime::sandbox::outcome::{FaultKind, StepErrorKind, StepFailure, StepOutcome};
use alur_runtime::sandbox::{LoadError, PreparedComponent, Sandbox, SandboxConfig, StepContext, StepRequest};
use alur_tests::{BAD_IMPORT, CRM_LEAD_SCORE, HOSTILE, NOOP, SCM_INVENTORY_CHECK, component_bytes};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

macro_rules! assert_test_exists {
    ($name:ident) => {
        #[expect(unused_imports, reason = "only checks that a test of this name exists")]
        use self::$name as _;
    };
}
alur_tests::foreach_test_component!(assert_test_exists);

struct Harness {
    sandbox: Sandbox,
    kv: Arc<MemoryKv>,
}

impl Harness {
    fn new() -> Self {
        let kv = Arc::new(MemoryKv::default());
        let sandbox = Sandbox::new(SandboxConfig::default(), kv.clone()).expect("sandbox");
        Harness { sandbox, kv }
    }

    async fn load(&self, path: &str) -> Arc<PreparedComponent> {
        self.sandbox.load(component_bytes(path)).await.expect("component loads")
    }

    async fn run(
        &self,
        c: &PreparedComponent,
        tenant: &str,
        input: &str,
        config: &[(&str, &str)],
        limits: StepLimits,
    ) -> StepOutcome {
        let config: BTreeMap<String, String> = config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let context = StepContext { tenant: tenant.into(), step_id: "s".into(), attempt: 1, ..Default::default() };
        self.sandbox
            .run(StepRequest { component: c, plugin: "p", context, input, config: Arc::new(config), limits })
            .await
    }

    async fn hostile(&self, mode: &str, limits: StepLimits) -> StepOutcome {
        let c = self.load(HOSTILE).await;
        self.run(&c, "t", r#"{"a":1}"#, &[("mode", mode)], limits).await
    }
}

fn fault_of(outcome: &StepOutcome) -> FaultKind {
    match &outcome.result {
        Err(StepFailure::Fault { kind, .. }) => *kind,
        other => panic!("expected a host fault, got {other:?}"),
    }
}

fn fast() -> StepLimits {
    StepLimits { timeout: Duration::from_millis(400), ..StepLimits::default() }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile() {
    let h = Harness::new();
    let ok = h.hostile("echo", fast()).await;
    assert_eq!(ok.result.as_deref(), Ok(r#"{"a":1}"#));
    assert!(ok.fuel_used > 0);

    // Plenty of fuel: the deadline stops the loop.
    let spin = h.hostile("loop", StepLimits { fuel: u64::MAX / 2, ..fast() }).await;
    assert_eq!(fault_of(&spin), FaultKind::Timeout);
    assert!(spin.duration < Duration::from_secs(3), "timeout took {:?}", spin.duration);

    let burn = h.hostile("loop", StepLimits { fuel: 5_000_000, ..fast() }).await;
    assert_eq!(fault_of(&burn), FaultKind::OutOfFuel);
    assert!(burn.fuel_used >= 5_000_000);

    let hog = h.hostile("memory", StepLimits { memory_bytes: 16 << 20, ..fast() }).await;
    assert_eq!(fault_of(&hog), FaultKind::MemoryLimit);
    assert!(hog.result.unwrap_err().message().contains("16.0 MiB"));

    let deep = h.hostile("recursion", fast()).await;
    assert_eq!(fault_of(&deep), FaultKind::Trap);

    let trap = h.hostile("trap", fast()).await;
    assert_eq!(fault_of(&trap), FaultKind::Trap);
    assert!(trap.result.unwrap_err().message().contains("gave up on purpose"), "the panic message reaches the error");

    let huge = h.hostile("huge-output", fast()).await;
    assert_eq!(fault_of(&huge), FaultKind::InvalidOutput);
    assert!(huge.result.unwrap_err().message().contains("over the 1048576-byte limit"));

    let garbage = h.hostile("not-json", fast()).await;
    assert_eq!(fault_of(&garbage), FaultKind::InvalidOutput);
    assert!(garbage.result.unwrap_err().message().contains("not JSON"));

    // A blocking host call (a WASI sleep) is cut by the same deadline.
    let sleepy = h.hostile("sleep", fast()).await;
    assert_eq!(fault_of(&sleepy), FaultKind::Timeout);

    // After all that, the same component still behaves: nothing leaks between stores.
    assert_eq!(h.hostile("echo", fast()).await.result.as_deref(), Ok(r#"{"a":1}"#));
}

#[tokio::test(flavor = "multi_thread")]
async fn chatty_plugins_are_not_failed_for_their_output() {
    let h = Harness::new();
    let chatty = h.hostile("chatty", fast()).await;
    assert_eq!(chatty.result.as_deref(), Ok(r#"{"said":"a lot"}"#));
}

#[tokio::test(flavor = "multi_thread")]
async fn step_errors_keep_their_kind_and_are_not_faults() {
    let h = Harness::new();
    let c = h.load(HOSTILE).await;
    for (name, kind) in [
        ("invalid-input", StepErrorKind::InvalidInput),
        ("business", StepErrorKind::Business),
        ("transient", StepErrorKind::Transient),
        ("internal", StepErrorKind::Internal),
    ] {
        let out = h.run(&c, "t", "{}", &[("mode", "fail"), ("kind", name)], fast()).await;
        match out.result {
            Err(StepFailure::Step { kind: k, code, .. }) => {
                assert_eq!(k, kind);
                assert_eq!(code, "told-to-fail");
            }
            other => panic!("expected a step error, got {other:?}"),
        }
    }
    // Bad input is caught by the SDK before the step runs, as invalid-input.
    let out = h.run(&c, "t", "{}", &[("mode", "no-such-mode")], fast()).await;
    assert!(matches!(out.result, Err(StepFailure::Step { kind: StepErrorKind::InvalidInput, .. })));
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_ambient_is_reachable() {
    let h = Harness::new();
    let out = h.hostile("ambient", fast()).await;
    let seen: Value = serde_json::from_str(out.result.as_deref().expect("runs")).unwrap();
    assert_eq!(
        seen,
        json!({"env": 0, "args": 0, "read_root": false, "read_file": false, "write_file": false, "tcp": false})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_import() {
    let h = Harness::new();
    match h.sandbox.load(component_bytes(BAD_IMPORT)).await {
        Err(LoadError::Link(msg)) => assert!(msg.contains("acme:vault/secrets"), "{msg}"),
        Err(other) => panic!("expected a link error, got {other}"),
        Ok(_) => panic!("a component importing acme:vault/secrets must not load"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn what_is_not_a_component_is_refused_clearly() {
    let h = Harness::new();
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    assert!(
        matches!(h.sandbox.load(core_module).await, Err(LoadError::NotAComponent(m)) if m.contains("core WebAssembly module"))
    );
    assert!(matches!(h.sandbox.load(b"hello".to_vec()).await, Err(LoadError::NotAComponent(_))));
    let mut truncated = component_bytes(NOOP);
    truncated.truncate(truncated.len() / 2);
    assert!(matches!(h.sandbox.load(truncated).await, Err(LoadError::Invalid(_))));
}

#[tokio::test(flavor = "multi_thread")]
async fn kv_writes_are_returned_not_committed_and_scoped_by_tenant() {
    let h = Harness::new();
    let c = h.load(HOSTILE).await;
    let mut first = h.run(&c, "acme", "{}", &[("mode", "count")], fast()).await;
    assert_eq!(first.result.as_deref(), Ok(r#"{"count":1}"#));
    assert_eq!(first.kv_writes.get("count"), Some(&Some(b"1".to_vec())));
    let lease = first.kv_lease.take().expect("an attempt that used kv holds its scope until the commit");

    // While the first attempt's writes are uncommitted, another attempt of the scope waits (here into its
    // timeout) rather than read the state the first is about to replace; another tenant does not wait.
    let waiting = h.run(&c, "acme", "{}", &[("mode", "count")], fast()).await;
    assert!(matches!(&waiting.result, Err(f) if f.to_string().contains("timeout")), "{:?}", waiting.result);
    let other = h.run(&c, "globex", "{}", &[("mode", "count")], fast()).await;
    assert_eq!(other.result.as_deref(), Ok(r#"{"count":1}"#));
    drop(other);

    // Released without a commit: a second run still starts from nothing.
    drop(lease);
    let again = h.run(&c, "acme", "{}", &[("mode", "count")], fast()).await;
    assert_eq!(again.result.as_deref(), Ok(r#"{"count":1}"#));
    drop(again);

    let scope = KvScope { tenant: "acme".into(), plugin: "p".into() };
    h.kv.commit(&scope, &first.kv_writes).await.unwrap();
    let after = h.run(&c, "acme", "{}", &[("mode", "count")], fast()).await;
    assert_eq!(after.result.as_deref(), Ok(r#"{"count":2}"#));

    // Another tenant's state is not visible.
    let other = h.run(&c, "globex", "{}", &[("mode", "count")], fast()).await;
    assert_eq!(other.result.as_deref(), Ok(r#"{"count":1}"#));

    // A failed attempt leaves no writes to commit.
    let failed = h.run(&c, "acme", "{}", &[("mode", "count-then-fail")], fast()).await;
    assert!(failed.result.is_err());
    assert!(failed.kv_writes.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn noop() {
    let h = Harness::new();
    let c = h.load(NOOP).await;
    let input = json!({"payload": "x".repeat(1000)}).to_string();
    assert_eq!(h.run(&c, "t", &input, &[], fast()).await.result.as_deref(), Ok(r#"{"ok":true}"#));
}

#[tokio::test(flavor = "multi_thread")]
async fn example_plugins_run_in_the_sandbox() {
    let h = Harness::new();
    let score = h.load(CRM_LEAD_SCORE).await;
    let lead = json!({"lead": {"email": "ana@acme.io", "company": "Acme", "employees": 1200, "country": "US",
        "source": "referral", "demo_requested": true, "page_views": 14, "email_opens": 6}});
    let out = h.run(&score, "t", &lead.to_string(), &[("target_countries", "US")], StepLimits::default()).await;
    let out: Value = serde_json::from_str(out.result.as_deref().expect("scores")).unwrap();
    assert_eq!(out["grade"], "hot");
    assert!(out["score"].as_u64().unwrap() >= 70);

    let check = h.load(SCM_INVENTORY_CHECK).await;
    let order = json!({"order": {"id": "SO-1", "lines": [{"sku": "A", "quantity": 4}, {"sku": "B", "quantity": 2}]}});
    let out = h.run(&check, "t", &order.to_string(), &[("stock", r#"{"A": 10, "B": 1}"#)], StepLimits::default()).await;
    let out: Value = serde_json::from_str(out.result.as_deref().expect("checks")).unwrap();
    assert_eq!(out["fulfilment"], "split");
    assert_eq!(out["can_ship_complete"], false);
}

/// Eight steps spinning until their deadline must not hold up well-behaved steps running beside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_step_does_not_stall_others() {
    let h = Arc::new(Harness::new());
    let hostile = h.load(HOSTILE).await;
    let good = h.load(NOOP).await;
    let spin_limits = StepLimits { fuel: u64::MAX / 2, timeout: Duration::from_secs(3), ..StepLimits::default() };
    let spinners: Vec<_> = (0..8)
        .map(|_| {
            let (h, c) = (h.clone(), hostile.clone());
            tokio::spawn(async move { h.run(&c, "noisy", "{}", &[("mode", "loop")], spin_limits).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    for _ in 0..50 {
        let out = h.run(&good, "quiet", "{}", &[], fast()).await;
        assert_eq!(out.result.as_deref(), Ok(r#"{"ok":true}"#));
    }
    let quiet = started.elapsed();
    // Alone these take well under 50 ms; the generous bound is far below the spinners' 3 s.
    assert!(quiet < Duration::from_millis(1500), "50 good steps took {quiet:?} beside 8 spinners");
    for s in spinners {
        assert_eq!(fault_of(&s.await.unwrap()), FaultKind::Timeout);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn compiled_components_survive_a_restart_in_the_disk_cache() {
    let dir = tempfile::tempdir().unwrap();
    let config = SandboxConfig { cache_dir: Some(dir.path().to_path_buf()), ..SandboxConfig::default() };
    let bytes = component_bytes(NOOP);
    let digest = {
        let first = Sandbox::new(config.clone(), Arc::new(MemoryKv::default())).unwrap();
        let (c, origin) = first.load_traced(bytes.clone()).await.unwrap();
        assert_eq!(origin, Origin::Compiled);
        let (_, origin) = first.load_traced(bytes.clone()).await.unwrap();
        assert_eq!(origin, Origin::Memory);
        c.digest
    };
    let second = Sandbox::new(config, Arc::new(MemoryKv::default())).unwrap();
    let c = second.cached(digest).await.expect("found on disk without the bytes");
    let out = second
        .run(StepRequest {
            component: &c,
            plugin: "noop",
            context: StepContext::default(),
            input: "{}",
            config: Default::default(),
            limits: StepLimits::default(),
        })
        .await;
    assert_eq!(out.result.as_deref(), Ok(r#"{"ok":true}"#));
    let (_, origin) = second.load_traced(bytes).await.unwrap();
    assert_eq!(origin, Origin::Memory);
}
