//! The JavaScript guest: its SDK helper, template and plugin, through `alur step run` and the HTTP API.
//!
//! Needs Node 20+ with componentize-js installed by `.ci/setup-js`, and `crm-quote-policy` built by
//! `plugins/build`. A JS component embeds SpiderMonkey (~12 MB) and every `alur step run` compiles it from scratch
//! (it has no compiled cache), 15-40 s on the shared 2-core machines, so the tests run as few of them as they can;
//! the server compiles the plugin once, at upload.

use alur_tests::examples::{check, root, sample, step_run};
use alur_tests::server::{Client, Server};
use alur_tests::{alur_bin, plugin_path};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn sdk_and_plugin_unit_tests_pass() {
    check(Command::new("node").arg("--test").current_dir(root().join("sdk/js")));
    let out = check(&mut Command::new(root().join("plugins/crm-quote-policy/test.sh")));
    assert!(out.contains("# fail 0"), "{out}");
}

#[test]
fn quote_policy_runs_in_the_sandbox() {
    let wasm = PathBuf::from(plugin_path("crm-quote-policy"));

    // The sample quote with the manager's approval in: 26.92% off needs the director next.
    let mut input = sample("quote-approval.input.json");
    input["approvals"] = json!([{"level": 1, "approver": "ana@acme.io", "decision": "approved"}]);
    let (code, out) = step_run(&wasm, &input, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out["totals"],
        json!({"list": "32100.00", "net": "23460.00", "discount": "8640.00", "quote_discount": "2040.00",
               "discount_pct": 26.92, "list_minor": 3210000, "net_minor": 2346000, "discount_minor": 864000})
    );
    let roles: Vec<&str> =
        out["needed_levels"].as_array().unwrap().iter().map(|l| l["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["manager", "director"]);
    assert_eq!((out["decision"].as_str(), out["next_level"].as_u64()), (Some("pending"), Some(2)), "{out}");
    assert_eq!(out["next_role"], "director");

    // Malformed input: the plugin's own invalid-input error, exit 2, never a trap.
    let (code, err) = step_run(&wasm, &json!({"quote": {"id": "Q-1", "currency": "EUR", "lines": []}}), &[]);
    assert_eq!(code, 2, "{err}");
    assert_eq!((err["kind"].as_str(), err["code"].as_str()), (Some("invalid-input"), Some("no-lines")), "{err}");

    // Over the configured maximum: a business error a process routes.
    let (code, err) = step_run(&wasm, &sample("quote-approval.vp.input.json"), &["max_discount=40"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!((err["kind"].as_str(), err["code"].as_str()), (Some("business"), Some("discount-over-limit")));
    assert!(err["message"].as_str().unwrap().contains("42.95% is above the 40.00%"), "{err}");
}

/// Scaffolds the JS template as a plugin author does, with `alur plugin new <name> --lang js`, into
/// `parent`; the plugin's folder.
fn scaffold(parent: &Path, name: &str) -> PathBuf {
    check(Command::new(alur_bin()).args(["plugin", "new", name, "--lang", "js", "--dir"]).arg(parent));
    parent.join(name)
}

#[test]
fn the_template_scaffolds_tests_builds_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = scaffold(dir.path(), "contact-normalize");
    for file in ["app.js", "app.test.js", "build.sh", "test.sh", "package.json", "package-lock.json", "alur-step.js"] {
        assert!(plugin.join(file).is_file(), "the scaffold has {file}");
    }
    assert!(plugin.join("alur-entry.js").is_file() && plugin.join("wit/alur-step.wit").is_file());
    assert!(!plugin.join("SDK_FILES").exists());
    let app = std::fs::read_to_string(plugin.join("app.js")).unwrap();
    assert!(app.starts_with("// contact-normalize: ") && !app.contains("{{"), "{app}");

    let tests = check(&mut Command::new(plugin.join("test.sh")));
    assert!(tests.contains("# fail 0"), "{tests}");
    // The scaffold's own build: `npm ci` from its lock file (served from the npm cache that .ci/setup-js filled,
    // the registry otherwise), then componentize-js; OUT_DIR unset, so <name>.wasm lands in its folder.
    check(
        Command::new(plugin.join("build.sh"))
            .env_remove("OUT_DIR")
            .env_remove("COMPONENTIZE_JS")
            .env("npm_config_prefer_offline", "true"),
    );
    let wasm = plugin.join("contact-normalize.wasm");
    assert!(wasm.is_file(), "build.sh wrote {}", wasm.display());

    let (code, out) = step_run(&wasm, &json!({"contact": {"email": " Ana@ACME.io ", "name": "Ana   Lima"}}), &[]);
    assert_eq!(
        (code, out),
        (
            0,
            json!({"contact": {"email": "ana@acme.io", "name": "Ana Lima"}, "domain": "acme.io", "seen_from_domain": 1})
        )
    );
}

/// Polls an instance until `done` says so (or it finished), for at most 30 s.
async fn poll(c: &Client, key: &str, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, got) = c.get(&format!("/v1/instances/{id}"), key).await;
        if done(&got) || got["status"] != "running" {
            return got;
        }
        assert!(Instant::now() < deadline, "instance {id}: still not {what}: {got}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn waiting(got: &Value) -> bool {
    got["waiting_for"] == json!(["quote-decision"])
}

/// Sends a `quote-decision` signal once the instance waits for one (it may be between a reminder and the next
/// wait when the signal is first tried).
async fn decide(c: &Client, key: &str, id: &str, payload: Value) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        poll(c, key, id, "waiting for a decision", waiting).await;
        let (status, body) =
            c.json("POST", &format!("/v1/instances/{id}/signals/quote-decision"), key, payload.clone()).await;
        if status == StatusCode::ACCEPTED {
            return;
        }
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(Instant::now() < deadline, "instance {id} never took the decision {payload}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts an instance and waits up to `wait` (such as "20s") for it to finish.
async fn start(c: &Client, key: &str, process: &str, wait: &str, input: Value) -> Value {
    let (status, got) =
        c.json("POST", &format!("/v1/processes/{process}/instances?wait={wait}"), key, json!({"input": input})).await;
    assert!(status == StatusCode::OK || status == StatusCode::ACCEPTED, "{status} {got}");
    got
}

async fn step_ids(c: &Client, key: &str, id: &str, event: &str) -> Vec<String> {
    let (_, history) = c.get(&format!("/v1/instances/{id}/history"), key).await;
    history["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == event)
        .map(|e| e["step"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn quote_approval_process_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let c = Client::new(&server);
    let key = c.tenant("acme").await;
    let compile = Instant::now();
    c.upload_new_plugin(&key, "crm-quote-policy", &plugin_path("crm-quote-policy"), Duration::from_secs(300)).await;
    eprintln!("crm-quote-policy uploaded and compiled in {:?}", compile.elapsed());

    // The shipped definition, with its 48 h reminder timer cut to 2 s so that a reminder happens during the
    // test, and enough reminders allowed that the quote cannot expire while the test signals.
    let yaml = std::fs::read_to_string(root().join("examples/processes/quote-approval.yaml")).unwrap();
    assert!(yaml.contains("timeout: 48h") && yaml.contains("max_reminders: \"3\""));
    let fast = yaml.replace("timeout: 48h", "timeout: 2s").replace("max_reminders: \"3\"", "max_reminders: \"100\"");
    c.deploy_yaml(&key, "quote-approval", &fast).await;
    // A copy that gives up after one reminder, for the expiry path.
    let expiring = yaml
        .replace("name: quote-approval", "name: quote-expiry")
        .replace("timeout: 48h", "timeout: 1s")
        .replace("max_reminders: \"3\"", "max_reminders: \"1\"");
    c.deploy_yaml(&key, "quote-expiry", &expiring).await;

    // Within policy: approved at once, no one asked.
    let auto = start(&c, &key, "quote-approval", "20s", sample("quote-approval.auto.input.json")).await;
    assert_eq!(auto["status"], "completed", "{auto}");
    let out = &auto["output"];
    assert_eq!((out["decision"].as_str(), out["reason"].as_str()), (Some("approved"), Some("within-policy")), "{out}");
    assert_eq!(out["quote_id"], "Q-2026-0143");
    assert_eq!((out["totals"]["net"].as_str(), out["totals"]["discount_pct"].as_f64()), (Some("1439.00"), Some(3.36)));
    assert_eq!(out["needed_levels"], json!([]));

    // Over the limit: rejected outright, through the definition's on-error route.
    let over = start(&c, &key, "quote-approval", "20s", sample("quote-approval.over-limit.input.json")).await;
    assert_eq!(over["status"], "completed", "{over}");
    let out = &over["output"];
    assert_eq!((out["decision"].as_str(), out["reason"].as_str()), (Some("rejected"), Some("discount-over-limit")));
    assert!(out["detail"].as_str().unwrap().contains("65.33%"), "{out}");

    // Two levels: a reminder after the (shortened) 48 h, a malformed decision dropped, then the manager and the
    // director approve.
    let two = start(&c, &key, "quote-approval", "0s", sample("quote-approval.input.json")).await;
    let id = two["id"].as_str().unwrap().to_string();
    assert_eq!(two["status"], "running", "{two}");
    let reminded = Instant::now() + Duration::from_secs(30);
    while !step_ids(&c, &key, &id, "step-completed").await.contains(&"remind".to_string()) {
        assert!(Instant::now() < reminded, "no reminder within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    decide(&c, &key, &id, json!({"level": 7, "approver": "mallory", "decision": "approved"})).await;
    decide(&c, &key, &id, json!({"level": 1, "approver": "ana@acme.io", "decision": "approved"})).await;
    decide(&c, &key, &id, json!({"level": 2, "approver": "bo@acme.io", "decision": "approved"})).await;
    let done = poll(&c, &key, &id, "finished", |_| false).await;
    assert_eq!(done["status"], "completed", "{done}");
    let out = &done["output"];
    assert_eq!((out["decision"].as_str(), out["reason"].as_str()), (Some("approved"), Some("all-levels-approved")));
    assert_eq!(out["quote_id"], "Q-2026-0142");
    assert_eq!(out["totals"]["net"], "23460.00");
    assert_eq!(
        out["approvals"],
        json!([{"level": 1, "approver": "ana@acme.io", "decision": "approved"},
               {"level": 2, "approver": "bo@acme.io", "decision": "approved"}]),
        "the malformed decision was dropped: {out}"
    );
    assert!(out["reminders"].as_u64().unwrap() >= 1, "{out}");
    let routed = step_ids(&c, &key, &id, "error-routed").await;
    assert!(routed.contains(&"evaluate".to_string()), "the bad decision was routed: {routed:?}");

    // Rejected by the first approver.
    let rej = start(&c, &key, "quote-approval", "0s", sample("quote-approval.vp.input.json")).await;
    let id = rej["id"].as_str().unwrap().to_string();
    decide(&c, &key, &id, json!({"level": 1, "approver": "ana@acme.io", "decision": "rejected"})).await;
    let done = poll(&c, &key, &id, "finished", |_| false).await;
    assert_eq!(done["status"], "completed", "{done}");
    let out = &done["output"];
    assert_eq!((out["decision"].as_str(), out["reason"].as_str()), (Some("rejected"), Some("rejected-by-approver")));
    assert_eq!(out["rejected_by"], json!({"level": 1, "approver": "ana@acme.io"}));
    assert_eq!(out["needed_levels"].as_array().unwrap().len(), 3, "{out}");

    // Nobody answers: one reminder, then the quote expires.
    let quiet = start(&c, &key, "quote-expiry", "0s", sample("quote-approval.input.json")).await;
    let id = quiet["id"].as_str().unwrap().to_string();
    let done = poll(&c, &key, &id, "expired", |_| false).await;
    assert_eq!(done["status"], "completed", "{done}");
    let out = &done["output"];
    assert_eq!((out["decision"].as_str(), out["reason"].as_str()), (Some("rejected"), Some("approval-expired")));
    assert_eq!(out["reminders"], 1, "{out}");
    assert!(out["detail"].as_str().unwrap().contains("no decision from the manager after 1 reminder"), "{out}");

    server.stop();
}
