//! The Python guest: its SDK helper, template and plugin, through `alur step run` and the HTTP API.
//!
//! Needs `python3` and componentize-py (`.ci/setup-python`) and the plugin built by `plugins/build`. Every
//! `alur step run` compiles the ~19 MB component from scratch (it has no compiled cache), 15-30 s on the
//! 2-core machines, so each test runs as few of them as it can.

use alur_tests::examples::{check, root, sample, step_run};
use alur_tests::server::{Client, Server};
use alur_tests::{CRM_LEAD_SCORE, alur_bin, plugin_path};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

#[test]
fn sdk_and_plugin_unit_tests_pass() {
    check(Command::new("python3").args(["-m", "unittest", "discover", "-s", "sdk/python"]).current_dir(root()));
    check(&mut Command::new(root().join("plugins/crm-contact-dedupe/test.sh")));
}

#[test]
fn contact_dedupe_runs_in_the_sandbox() {
    let wasm = PathBuf::from(plugin_path("crm-contact-dedupe"));

    let (code, out) = step_run(&wasm, &sample("contact-dedupe.input.json"), &["default_country_code=1"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["action"], "create");
    assert_eq!(out["contact_id"], "c-000001");
    assert_eq!(out["reasons"], json!(["no-match"]));
    let contact = &out["contact"];
    assert_eq!(contact["email"], "jose.garcia@acme-robotics.com");
    assert_eq!(contact["phone"], "+14155550134");
    assert_eq!((contact["first_name"].as_str(), contact["last_name"].as_str()), (Some("José"), Some("García")));

    let (code, err) = step_run(&wasm, &json!({"contact": {"first_name": "Ana", "company": "Acme"}}), &[]);
    assert_eq!(code, 2, "a step-error exits 2: {err}");
    assert_eq!(err["kind"], "invalid-input");
    assert_eq!(err["code"], "missing-email-and-phone");
    assert!(err["message"].as_str().is_some_and(|m| m.contains("email or a phone")), "{err}");
}

/// Scaffolds the Python template as a plugin author does, with `alur plugin new <name> --lang python`, into
/// `parent`; the plugin's folder.
fn scaffold(parent: &Path, name: &str) -> PathBuf {
    check(Command::new(alur_bin()).args(["plugin", "new", name, "--lang", "python", "--dir"]).arg(parent));
    parent.join(name)
}

#[test]
fn the_template_scaffolds_tests_builds_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = scaffold(dir.path(), "greet-visitor");
    for file in ["app.py", "test_app.py", "build.sh", "test.sh", "alur_step.py", "wit/alur-step.wit"] {
        assert!(plugin.join(file).is_file(), "the scaffold has {file}");
    }
    assert!(!plugin.join("SDK_FILES").exists());
    let app = std::fs::read_to_string(plugin.join("app.py")).unwrap();
    assert!(app.starts_with("\"\"\"greet-visitor: ") && !app.contains("{{"), "{app}");

    check(Command::new(plugin.join("test.sh")).env_remove("PYTHONPATH"));
    // OUT_DIR unset: the scaffold writes <name>.wasm into its own folder.
    check(Command::new(plugin.join("build.sh")).env_remove("OUT_DIR"));
    let wasm = plugin.join("greet-visitor.wasm");
    assert!(wasm.is_file(), "build.sh wrote {}", wasm.display());

    let (code, out) = step_run(&wasm, &json!({"name": "  Ana "}), &["salutation=Hej"]);
    assert_eq!((code, out), (0, json!({"greeting": "Hej, Ana!", "count": 1})));
}

/// Starts an instance of contact-dedupe and waits for it to finish.
async fn dedupe(c: &Client, key: &str, input: Value) -> Value {
    let (status, mut got) =
        c.json("POST", "/v1/processes/contact-dedupe/instances?wait=30s", key, json!({"input": input})).await;
    assert!(status == StatusCode::OK || status == StatusCode::ACCEPTED, "{status} {got}");
    let id = got["id"].as_str().expect("instance id").to_string();
    for _ in 0..600 {
        if got["status"] != "running" {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        got = c.get(&format!("/v1/instances/{id}"), key).await.1;
    }
    panic!("instance {id} did not finish: {got}");
}

#[tokio::test(flavor = "multi_thread")]
async fn contact_dedupe_process_merges_across_instances() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let c = Client::new(&server);
    let key = c.tenant("acme").await;
    c.upload_new_plugin(&key, "crm-contact-dedupe", &plugin_path("crm-contact-dedupe"), Duration::from_secs(300)).await;
    c.upload_new_plugin(&key, "crm-lead-score", CRM_LEAD_SCORE, Duration::from_secs(300)).await;
    let yaml = std::fs::read_to_string(root().join("examples/processes/contact-dedupe.yaml")).unwrap();
    c.deploy_yaml(&key, "contact-dedupe", &yaml).await;

    // A new contact with an email: created, then scored as a lead.
    let first = dedupe(&c, &key, sample("contact-dedupe.input.json")).await;
    assert_eq!(first["status"], "completed", "{first}");
    let out = &first["output"];
    assert_eq!((out["action"].as_str(), out["contact_id"].as_str()), (Some("create"), Some("c-000001")), "{out}");
    assert_eq!(out["note"], "created c-000001");
    assert!(out["lead_grade"].is_string() && out["lead_score"].is_u64(), "{out}");
    assert_eq!(out["contact"]["phone"], "+14155550134");

    // The same person written differently, in a later instance: the first one's kv writes were committed, so
    // it merges by name at the same company, and the lead is not scored again.
    let second = dedupe(&c, &key, sample("contact-dedupe.merge.input.json")).await;
    assert_eq!(second["status"], "completed", "{second}");
    let out = &second["output"];
    assert_eq!((out["action"].as_str(), out["contact_id"].as_str()), (Some("merge"), Some("c-000001")), "{out}");
    assert_eq!(out["match_score"], 1.0);
    assert_eq!(out["reasons"], json!(["name-similarity 1.000", "same-company"]));
    assert_eq!(out["changes"], json!(["emails"]));
    assert_eq!(out["contact"]["emails"], json!(["jose.garcia@acme-robotics.com", "jgarcia@acme-robotics.com"]));
    assert_eq!(out["contact"]["merge_count"], 1);
    assert_eq!(out["note"], "merged into c-000001 (name-similarity 1.000, same-company)");
    assert_eq!(out["lead_grade"], Value::Null);

    // Its new address now matches exactly.
    let third = dedupe(&c, &key, json!({"contact": {"email": "JGarcia@Acme-Robotics.com"}})).await;
    assert_eq!(third["output"]["reasons"], json!(["email-match"]), "{third}");
    assert_eq!(third["output"]["contact"]["merge_count"], 2);

    // A phone-only contact is created without a lead score; ids go on from the kv counter.
    let phone_only = dedupe(&c, &key, json!({"contact": {"first_name": "Mei", "phone": "+44 20 7946 0958"}})).await;
    let out = &phone_only["output"];
    assert_eq!((out["action"].as_str(), out["note"].as_str()), (Some("create"), Some("created c-000002")), "{out}");
    assert_eq!(out["lead_score"], Value::Null);

    // Bad input fails the instance with the plugin's own error.
    let bad = dedupe(&c, &key, json!({"contact": {"first_name": "Nobody"}})).await;
    assert_eq!(bad["status"], "failed", "{bad}");
    assert!(bad["error"].to_string().contains("missing-email-and-phone"), "{bad}");

    server.stop();
}
