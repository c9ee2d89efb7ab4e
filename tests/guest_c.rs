//! The C guest: its SDK helper, template and plugin, through `alur step run` and the HTTP API.
//!
//! Needs clang-19 with wasi-libc (`.ci/setup-c`) and `scm-reorder-rule` built by `plugins/build`, whose build
//! also builds the `alur-c` tool into `target/release/` (the scaffolded template uses it through `ALUR_C`).

use alur_tests::examples::{check, root, sample, step_run, step_run_raw};
use alur_tests::server::{Client, Server};
use alur_tests::{alur_bin, plugin_path};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The `alur-c` build tool beside the `alur` binary; `plugins/build` builds it.
fn alur_c() -> PathBuf {
    let bin = alur_bin().with_file_name("alur-c");
    assert!(bin.exists(), "{} is missing: run `plugins/build` (or `cargo build --release -p alur-c`)", bin.display());
    bin
}

/// The "N passed, N failed" closing line of a C test run.
#[track_caller]
fn assert_all_passed(out: &str, at_least: usize) {
    let last = out.lines().last().unwrap_or_default();
    let passed: usize = last.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(last.ends_with(" passed, 0 failed") && passed >= at_least, "{out}");
}

#[test]
fn sdk_and_plugin_unit_tests_pass_natively() {
    assert_all_passed(&check(&mut Command::new(root().join("sdk/c/test.sh"))), 15);
    assert_all_passed(&check(&mut Command::new(root().join("plugins/scm-reorder-rule/test.sh"))), 10);
}

#[test]
fn reorder_rule_runs_in_the_sandbox() {
    let wasm = PathBuf::from(plugin_path("scm-reorder-rule"));

    let (code, out) = step_run(&wasm, &sample("replenishment.input.json"), &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        json!({
            "reorder": true,
            "purchase_orders": [
                {"supplier": "bremsen-gmbh", "total": 111000, "priced": true, "lines": [
                    {"sku": "BRK-PAD-01", "quantity": 60, "unit_cost": 1850, "amount": 111000}]},
                {"supplier": "lubrico", "total": 21250, "priced": true, "lines": [
                    {"sku": "FLT-OIL-22", "quantity": 50, "unit_cost": 425, "amount": 21250}]},
                {"supplier": "clearview", "total": 35970, "priced": false, "lines": [
                    {"sku": "WPR-BLD-55", "quantity": 30, "unit_cost": 1199, "amount": 35970},
                    {"sku": "BLB-H7", "quantity": 40, "unit_cost": null, "amount": null}]}
            ],
            "skipped": [{"sku": "OIL-5W30-5L", "reason": "above-min"},
                        {"sku": "SPK-PLG-4", "reason": "no-supplier", "quantity": 16}],
            "currency": "EUR"
        })
    );

    // The config supplies a supplier for items that name none.
    let (code, out) = step_run(
        &wasm,
        &json!({"items": [{"sku": "SPK-PLG-4", "on_hand": 0, "on_order": 0, "min": 0, "max": 16, "multiple": 4}]}),
        &["default_supplier=sparkco"],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["purchase_orders"][0]["supplier"], "sparkco");

    // Bad input is the plugin's own invalid-input error (exit 2), never a trap.
    for (input, code_name) in [
        (json!({"items": [{"sku": "A", "on_hand": -3, "on_order": 0, "min": 1, "max": 5}]}), "invalid-field"),
        (json!({"items": [{"sku": "A", "on_hand": 1, "on_order": 0, "min": 9, "max": 5}]}), "min-above-max"),
        (json!({"items": [{"on_hand": 1, "on_order": 0, "min": 1, "max": 5}]}), "missing-field"),
        (
            json!({"items": [{"sku": "A", "on_hand": 1, "on_order": 0, "min": 1, "max": 5, "multiple": 0}]}),
            "invalid-field",
        ),
        (json!({"items": "all of them"}), "invalid-field"),
        (
            json!({"items": [{"sku": "A", "on_hand": 0, "on_order": 0, "min": 1, "max": 3, "supplier": "s",
                              "unit_cost": 4_000_000_000_000_000_i64}]}),
            "overflow",
        ),
    ] {
        let (code, err) = step_run(&wasm, &input, &[]);
        assert_eq!(code, 2, "a step-error exits 2: {input} -> {err}");
        assert_eq!((err["kind"].as_str(), err["code"].as_str()), (Some("invalid-input"), Some(code_name)), "{err}");
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()), "{err}");
    }
    let (code, err) =
        step_run(&wasm, &json!({"items": [{"sku": "A", "on_hand": 1, "on_order": 0, "min": 9, "max": 5}]}), &[]);
    assert_eq!((code, err["message"].as_str()), (2, Some("items[0] (A): min 9 is above max 5")));

    // JSON nested past cJSON's limit of 1000 levels is refused as input; 900 levels fit the plugin's stack.
    let deep = |depth: usize| format!("{{\"items\": {}{}}}", "[".repeat(depth), "]".repeat(depth));
    let (code, err) = step_run_raw(&wasm, &deep(5000), &[]);
    assert_eq!((code, err["code"].as_str()), (2, Some("invalid-json")), "{err}");
    let (code, err) = step_run_raw(&wasm, &deep(900), &[]);
    assert_eq!((code, err["message"].as_str()), (2, Some("items[0] must be an object, not an array")), "{err}");
}

#[test]
fn issue_mode_numbers_the_order_and_records_it() {
    let wasm = PathBuf::from(plugin_path("scm-reorder-rule"));
    let po = json!({"supplier": "lubrico", "lines": [{"sku": "FLT-OIL-22", "quantity": 50}], "total": 21250});
    let (code, out) = step_run(&wasm, &json!({"purchase_order": po, "index": 1}), &["mode=issue", "po_prefix=REQ-"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["status"], "issued");
    assert_eq!(out["total"], 21250);
    let number = out["po_number"].as_str().expect("a PO number");
    assert!(number.starts_with("REQ-") && number.ends_with("-2"), "{number}");

    let (code, err) = step_run(&wasm, &json!({"purchase_order": {"supplier": "x"}, "index": 0}), &["mode=issue"]);
    assert_eq!((code, err["code"].as_str()), (2, Some("missing-field")), "{err}");
    let (code, err) = step_run(&wasm, &json!({"items": []}), &["mode=guess"]);
    assert_eq!((code, err["kind"].as_str(), err["code"].as_str()), (2, Some("internal"), Some("invalid-config")));
}

/// `alur plugin new <name> --lang c` into `parent`; the new plugin's directory.
fn scaffold(parent: &Path, name: &str) -> std::path::PathBuf {
    let out = Command::new(alur_bin())
        .args(["plugin", "new", name, "--lang", "c", "--dir"])
        .arg(parent)
        .output()
        .expect("alur plugin new runs");
    assert!(out.status.success(), "alur plugin new failed: {}", String::from_utf8_lossy(&out.stderr));
    parent.join(name)
}

#[test]
fn the_template_scaffolds_tests_builds_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = scaffold(dir.path(), "price-order");
    for file in
        ["step.c", "test_step.c", "build.sh", "test.sh", "alur_step.h", "vendor/cjson/cJSON.c", "wit/alur-step.wit"]
    {
        assert!(plugin.join(file).is_file(), "the scaffold has {file}");
    }
    assert!(!plugin.join("SDK_FILES").exists());
    let step = std::fs::read_to_string(plugin.join("step.c")).unwrap();
    assert!(step.contains(" * price-order: ") && !step.contains("{{"), "{step}");

    assert_all_passed(&check(&mut Command::new(plugin.join("test.sh"))), 5);
    // OUT_DIR unset: the scaffold writes <name>.wasm into its own folder.
    check(Command::new(plugin.join("build.sh")).env_remove("OUT_DIR").env("ALUR_C", alur_c()));
    let wasm = plugin.join("price-order.wasm");
    assert!(wasm.is_file(), "build.sh wrote {}", wasm.display());

    let order = json!({"order": {"id": "SO-9", "lines": [{"sku": "A", "quantity": 3, "unit_price": 1250}]}});
    let (code, out) = step_run(&wasm, &order, &["max_total=10000"]);
    assert_eq!((code, out), (0, json!({"order_id": "SO-9", "total": 3750, "lines": 1, "orders_priced": 1})));
    let (code, err) = step_run(&wasm, &order, &["max_total=1000"]);
    assert_eq!((code, err["kind"].as_str(), err["code"].as_str()), (2, Some("business"), Some("over-limit")), "{err}");
}

/// Starts an instance of `replenishment` and polls it until it is no longer running.
async fn replenish(c: &Client, key: &str, input: Value) -> Value {
    let (status, mut got) =
        c.json("POST", "/v1/processes/replenishment/instances?wait=10s", key, json!({"input": input})).await;
    assert!(status == StatusCode::OK || status == StatusCode::ACCEPTED, "{status} {got}");
    let id = got["id"].as_str().expect("instance id").to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got["status"] == "running" {
        assert!(Instant::now() < deadline, "instance {id} did not finish: {got}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        got = c.get(&format!("/v1/instances/{id}"), key).await.1;
    }
    got
}

#[tokio::test(flavor = "multi_thread")]
async fn replenishment_process_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let c = Client::new(&server);
    let key = c.tenant("acme").await;
    c.push_plugin(&key, "scm-reorder-rule", &plugin_path("scm-reorder-rule")).await;
    let yaml = std::fs::read_to_string(root().join("examples/processes/replenishment.yaml")).unwrap();
    c.deploy_yaml(&key, "replenishment", &yaml).await;

    let done = replenish(&c, &key, sample("replenishment.input.json")).await;
    assert_eq!(done["status"], "completed", "{done}");
    let id = done["id"].as_str().unwrap();
    // PO-<the instance id's last 12 characters>-<position>: one number per order, stable across retries.
    let tail = id.replace('-', "")[20..].to_uppercase();
    let out = &done["output"];
    assert_eq!(
        *out,
        json!({
            "reorder": true,
            "purchase_orders": [
                {"po_number": format!("PO-{tail}-1"), "status": "issued", "supplier": "bremsen-gmbh",
                 "total": 111000, "priced": true,
                 "lines": [{"sku": "BRK-PAD-01", "quantity": 60, "unit_cost": 1850, "amount": 111000}]},
                {"po_number": format!("PO-{tail}-2"), "status": "issued", "supplier": "lubrico",
                 "total": 21250, "priced": true,
                 "lines": [{"sku": "FLT-OIL-22", "quantity": 50, "unit_cost": 425, "amount": 21250}]},
                {"po_number": format!("PO-{tail}-3"), "status": "issued", "supplier": "clearview",
                 "total": 35970, "priced": false,
                 "lines": [{"sku": "WPR-BLD-55", "quantity": 30, "unit_cost": 1199, "amount": 35970},
                           {"sku": "BLB-H7", "quantity": 40, "unit_cost": null, "amount": null}]}
            ],
            "skipped": [{"sku": "OIL-5W30-5L", "reason": "above-min"},
                        {"sku": "SPK-PLG-4", "reason": "no-supplier", "quantity": 16}],
            "total": 111000 + 21250 + 35970,
            "currency": "EUR"
        })
    );
    // One rule step, then one issue step per purchase order, each done at its first attempt.
    let (status, history) = c.get(&format!("/v1/instances/{id}/history"), &key).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let completed: Vec<&Value> =
        history["events"].as_array().unwrap().iter().filter(|e| e["type"] == "step-completed").collect();
    let steps: Vec<&str> = completed.iter().filter_map(|e| e["step"].as_str()).collect();
    assert_eq!(steps.iter().filter(|s| s.contains("rule")).count(), 1, "{history}");
    assert_eq!(steps.iter().filter(|s| s.contains("issue_po")).count(), 3, "{history}");
    assert!(completed.iter().all(|e| e["attempt"] == 1 && e["fuel"].as_u64().unwrap() > 0), "{history}");

    let stocked = replenish(&c, &key, sample("replenishment.stocked.input.json")).await;
    assert_eq!(stocked["status"], "completed", "{stocked}");
    assert_eq!(
        stocked["output"],
        json!({
            "reorder": false,
            "purchase_orders": [],
            "skipped": [{"sku": "BRK-PAD-01", "reason": "above-min"},
                        {"sku": "OIL-5W30-5L", "reason": "above-min"},
                        {"sku": "FLT-OIL-22", "reason": "above-min"}],
            "total": 0,
            "currency": "EUR"
        })
    );

    // Bad stock data fails the instance with the plugin's own error.
    let bad =
        replenish(&c, &key, json!({"items": [{"sku": "A", "on_hand": 1, "on_order": 0, "min": 9, "max": 5}]})).await;
    assert_eq!(bad["status"], "failed", "{bad}");
    assert!(bad["error"].to_string().contains("min-above-max"), "{bad}");

    server.stop();
}
