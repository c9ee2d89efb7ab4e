//! `alur step run` and `alur step inspect` as a plugin author uses them: the real binary, real components.

use alur_tests::{BAD_IMPORT, CRM_LEAD_SCORE, HOSTILE, alur_bin};
use serde_json::Value;
use std::process::{Command, Output};

fn alur(args: &[&str]) -> Output {
    Command::new(alur_bin()).args(args).env("ALUR_LOG", "error").output().expect("alur runs")
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn run_prints_the_output_and_exits_zero() {
    let out = alur(&["step", "run", HOSTILE, "--input", r#"{"x": [1, 2]}"#, "--config", "mode=echo"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout_json(&out), serde_json::json!({"x": [1, 2]}));
}

#[test]
fn run_reads_input_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lead.json");
    std::fs::write(&file, r#"{"lead": {"email": "bob@gmail.com", "source": "web"}}"#).unwrap();
    let out = alur(&["step", "run", CRM_LEAD_SCORE, "--input", &format!("@{}", file.display())]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v = stdout_json(&out);
    assert!(v["score"].is_u64() && v["reasons"].is_array(), "{v}");
}

#[test]
fn a_step_error_exits_two_with_its_kind_and_code() {
    let out = alur(&["step", "run", HOSTILE, "--input", "{}", "--config", "mode=fail", "--config", "kind=business"]);
    assert_eq!(out.status.code(), Some(2));
    let v = stdout_json(&out);
    assert_eq!(v["kind"], "business");
    assert_eq!(v["code"], "told-to-fail");
    assert!(v["message"].is_string());
}

#[test]
fn host_faults_exit_three_with_their_kind() {
    let cases: &[(&[&str], &str)] = &[
        (&["--config", "mode=loop", "--fuel", "1000000"], "out-of-fuel"),
        (&["--config", "mode=loop", "--fuel", "100000000000000", "--timeout", "300ms"], "timeout"),
        (&["--config", "mode=memory", "--memory", "8MiB"], "memory-limit"),
        (&["--config", "mode=trap"], "trap"),
        (&["--config", "mode=not-json"], "invalid-output"),
    ];
    for (extra, kind) in cases {
        let mut args = vec!["step", "run", HOSTILE, "--input", "{}"];
        args.extend_from_slice(extra);
        let out = alur(&args);
        assert_eq!(out.status.code(), Some(3), "{kind}: {}", String::from_utf8_lossy(&out.stdout));
        assert_eq!(stdout_json(&out)["kind"], *kind);
    }
    let out = alur(&["step", "run", BAD_IMPORT, "--input", "{}"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stdout_json(&out)["kind"], "link-error");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let out = alur(&["step", "run", HOSTILE, "--input", "{not json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));
    let out = alur(&["step", "run", "/no/such.wasm", "--input", "{}"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn inspect_tells_whether_a_component_fits_the_world() {
    let good = alur(&["step", "inspect", CRM_LEAD_SCORE]);
    let text = String::from_utf8_lossy(&good.stdout);
    assert_eq!(good.status.code(), Some(0), "{text}");
    assert!(text.contains("alur:step/host@0.1.0"), "{text}");
    assert!(text.contains("run: func(ctx: record"), "{text}");
    assert!(text.contains("world: yes"), "{text}");

    let bad = alur(&["step", "inspect", BAD_IMPORT]);
    let text = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text.contains("acme:vault/secrets"), "{text}");
    assert!(text.contains("world: no"), "{text}");
}

/// `--allow-http` grants an origin as a definition's `http.allow` does; without it the same request is refused.
#[test]
fn run_grants_outbound_http_only_to_allowed_origins() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let carrier = axum::Router::new().route(
        "/v1/tracking/{number}",
        axum::routing::get(|| async { axum::Json(serde_json::json!({"status": "delivered", "events": []})) }),
    );
    runtime.spawn(async move { axum::serve(listener, carrier).await });

    let plugin = alur_tests::plugin_path("scm-carrier-track");
    let base_url = format!("base_url={origin}");
    let run = |extra: &[&str]| {
        let mut args = vec!["step", "run", &plugin, "--input", r#"{"tracking_number": "1Z999"}"#];
        args.extend(["--config", &base_url, "--config", "api_key=k-123"]);
        args.extend(extra);
        alur(&args)
    };
    let refused = run(&[]);
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
    assert_eq!(stdout_json(&refused)["code"], "host-not-allowed");
    let allowed = run(&["--allow-http", &origin]);
    assert_eq!(allowed.status.code(), Some(0), "{}", String::from_utf8_lossy(&allowed.stderr));
    assert_eq!(stdout_json(&allowed)["delivered"], true);
}
