//! End to end through the real `alur serve` (a child process on a loopback port, fresh data directory),
//! driven only over HTTP.

use alur_tests::server::{ADMIN, Client, Server, expect_error};
use alur_tests::{CRM_LEAD_SCORE, HOSTILE, component_bytes};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

async fn onboard(c: &Client, key: &str) {
    for (name, path) in [("crm-lead-score", CRM_LEAD_SCORE), ("hostile", HOSTILE)] {
        let (status, body) =
            c.send("PUT", &format!("/v1/plugins/{name}"), key, Some(("application/wasm", component_bytes(path)))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["version"], 1);
    }
    let (status, body) = c
        .send(
            "PUT",
            "/v1/processes/lead-intake",
            key,
            Some(("application/yaml", alur_tests::LEAD_INTAKE.as_bytes().to_vec())),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

fn hot_lead() -> Value {
    json!({"lead": {"email": "ana@acme.io", "company": "Acme", "employees": 1200, "country": "US", "source": "referral", "demo_requested": true}})
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tenant_journey_error_classes_and_isolation() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let c = Client::new(&server);
    assert_eq!(c.get("/healthz", "").await.0, StatusCode::OK);

    let acme = c.tenant("acme").await;
    let globex = c.tenant("globex").await;
    onboard(&c, &acme).await;

    // The same bytes again: the existing version, 200.
    let (status, body) =
        c.send("PUT", "/v1/plugins/hostile", &acme, Some(("application/wasm", component_bytes(HOSTILE)))).await;
    assert_eq!((status, body["version"].clone()), (StatusCode::OK, json!(1)));

    // Start and wait: a hot lead completes.
    let (status, done) =
        c.json("POST", "/v1/processes/lead-intake/instances?wait=10s", &acme, json!({"input": hot_lead()})).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"]["grade"], "hot");
    assert_eq!(done["output"]["owner"], "ana");

    // A cold lead waits; a signal finishes it.
    let cold = json!({"input": {"lead": {"email": "bob@gmail.com", "source": "web"}}});
    let (status, waiting) = c.json("POST", "/v1/processes/lead-intake/instances?wait=1s", &acme, cold).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{waiting}");
    let id = waiting["id"].as_str().unwrap().to_string();
    assert_eq!(waiting["waiting_for"], json!(["lead-updated"]));
    expect_error(
        &c.json("POST", &format!("/v1/instances/{id}/signals/other"), &acme, json!({})).await,
        StatusCode::CONFLICT,
        "not-waiting",
    );
    let (status, _) = c
        .json("POST", &format!("/v1/instances/{id}/signals/lead-updated"), &acme, json!({"note": "called back"}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mut finished = Value::Null;
    for _ in 0..100 {
        let (_, got) = c.get(&format!("/v1/instances/{id}"), &acme).await;
        if got["status"] == "completed" {
            finished = got;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(finished["output"]["update"], json!({"note": "called back"}), "{finished}");
    let (status, history) = c.get(&format!("/v1/instances/{id}/history"), &acme).await;
    assert_eq!(status, StatusCode::OK);
    let types: Vec<&str> = history["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"started"));
    assert!(types.contains(&"signal-received") && types.last() == Some(&"completed"), "{types:?}");
    let completed = history["events"].as_array().unwrap().iter().find(|e| e["type"] == "step-completed").unwrap();
    assert!(completed["fuel"].as_u64().unwrap() > 0 && completed["attempt"] == 1, "{completed}");

    // Idempotency.
    let start = |key: &'static str| {
        let c = &c;
        let acme = acme.clone();
        async move {
            let resp = c
                .http
                .post(format!("{}/v1/processes/lead-intake/instances", c.base))
                .bearer_auth(&acme)
                .header("Idempotency-Key", key)
                .json(&json!({"input": hot_lead()}))
                .send()
                .await
                .unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        }
    };
    let (s1, first) = start("order-1").await;
    let (s2, second) = start("order-1").await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(first["id"], second["id"]);

    // Listing.
    let (_, page) = c.get("/v1/instances?process=lead-intake&status=completed&limit=2", &acme).await;
    assert_eq!(page["instances"].as_array().unwrap().len(), 2);
    assert!(page["next_cursor"].is_string());

    // Tenant isolation: another tenant sees nothing of acme's, not even names.
    for path in [
        format!("/v1/instances/{id}"),
        format!("/v1/instances/{id}/history"),
        "/v1/plugins/hostile".into(),
        "/v1/processes/lead-intake".into(),
        "/v1/processes/lead-intake/versions/1".into(),
    ] {
        expect_error(&c.get(&path, &globex).await, StatusCode::NOT_FOUND, "not-found");
    }
    expect_error(
        &c.json("POST", &format!("/v1/instances/{id}/cancel"), &globex, json!({})).await,
        StatusCode::NOT_FOUND,
        "not-found",
    );
    expect_error(
        &c.json("POST", "/v1/processes/lead-intake/instances", &globex, json!({"input": {}})).await,
        StatusCode::NOT_FOUND,
        "not-found",
    );
    assert_eq!(c.get("/v1/plugins", &globex).await.1["plugins"], json!([]));
    assert_eq!(c.get("/v1/instances", &globex).await.1["instances"], json!([]));
    // Nor can it deploy a process that uses acme's plugin.
    let (status, problems) = c
        .send(
            "PUT",
            "/v1/processes/lead-intake",
            &globex,
            Some(("application/yaml", alur_tests::LEAD_INTAKE.as_bytes().to_vec())),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problems}");

    // Error classes.
    expect_error(&c.get("/v1/plugins", "wrong-key").await, StatusCode::UNAUTHORIZED, "unauthorized");
    expect_error(&c.get("/v1/plugins", "").await, StatusCode::UNAUTHORIZED, "unauthorized");
    expect_error(&c.json("POST", "/v1/tenants", &acme, json!({"name": "x"})).await, StatusCode::FORBIDDEN, "forbidden");
    expect_error(
        &c.json("POST", "/v1/tenants", ADMIN, json!({"name": "acme"})).await,
        StatusCode::CONFLICT,
        "name-taken",
    );
    expect_error(
        &c.json("POST", "/v1/tenants", ADMIN, json!({"name": "n", "extra": 1})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-body",
    );
    expect_error(
        &c.send("POST", "/v1/tenants", ADMIN, Some(("application/json", b"{nope".to_vec()))).await,
        StatusCode::BAD_REQUEST,
        "malformed-json",
    );
    expect_error(
        &c.send("PUT", "/v1/plugins/junk", &acme, Some(("application/wasm", b"not wasm".to_vec()))).await,
        StatusCode::BAD_REQUEST,
        "not-a-component",
    );
    expect_error(
        &c.send("PUT", "/v1/plugins/evil", &acme, Some(("application/wasm", component_bytes(alur_tests::BAD_IMPORT))))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unsupported-import",
    );
    let bad =
        "name: broken\nsteps:\n  - id: a\n    plugin: nope\n    input: '.x +'\n  - id: a\n    sleep: { for: soon }\n";
    let got = c.send("PUT", "/v1/processes/broken", &acme, Some(("application/yaml", bad.as_bytes().to_vec()))).await;
    expect_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid-definition");
    assert!(got.1["error"]["details"].as_array().unwrap().len() >= 3, "every problem at once: {}", got.1);
    assert!(
        got.1["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["path"].as_str().unwrap().starts_with("/steps/"))
    );
    expect_error(
        &c.get("/v1/instances/00000000-0000-0000-0000-000000000000", &acme).await,
        StatusCode::NOT_FOUND,
        "not-found",
    );
    expect_error(
        &c.json("POST", &format!("/v1/instances/{id}/signals/lead-updated"), &acme, json!({})).await,
        StatusCode::CONFLICT,
        "finished",
    );
    // A plugin in use by a deployed process cannot be deleted.
    expect_error(&c.send("DELETE", "/v1/plugins/hostile", &acme, None).await, StatusCode::CONFLICT, "in-use");
    server.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn waiting_instances_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let c = Client::new(&server);
    let key = c.tenant("acme").await;
    onboard(&c, &key).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let cold = json!({"input": {"lead": {"email": format!("lead{i}@gmail.com")}}});
        let (status, got) = c.json("POST", "/v1/processes/lead-intake/instances?wait=2s", &key, cold).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{got}");
        ids.push(got["id"].as_str().unwrap().to_string());
    }
    server.stop();

    let server = Server::start(dir.path());
    let c = Client::new(&server);
    for id in &ids {
        let (_, got) = c.get(&format!("/v1/instances/{id}"), &key).await;
        assert_eq!(got["status"], "running");
        let (status, _) =
            c.json("POST", &format!("/v1/instances/{id}/signals/lead-updated"), &key, json!({"ok": true})).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    for id in &ids {
        let mut status = Value::Null;
        for _ in 0..100 {
            status = c.get(&format!("/v1/instances/{id}"), &key).await.1["status"].clone();
            if status == "completed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(status, "completed", "instance {id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn quotas_are_enforced_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let c = Client::new(&server);
    let acme = c.tenant("acme").await;
    let globex = c.tenant("globex").await;
    let (_, tenants) = c.get("/v1/tenants", ADMIN).await;
    let acme_id = tenants["tenants"].as_array().unwrap().iter().find(|t| t["name"] == "acme").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Overrides are validated and laid over the defaults.
    expect_error(
        &c.json("PUT", &format!("/v1/tenants/{acme_id}/quota"), ADMIN, json!({"max_plugin": 1})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-quota",
    );
    let hostile_size = component_bytes(HOSTILE).len() as u64;
    let overrides = json!({
        "max_plugins": 1, "max_processes": 1, "max_open_instances": 2,
        "max_plugin_bytes": hostile_size, "max_step_timeout_ms": 2000
    });
    let (status, got) = c.json("PUT", &format!("/v1/tenants/{acme_id}/quota"), ADMIN, overrides.clone()).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["overrides"], overrides);
    assert_eq!(got["quota"]["max_plugins"], 1);
    assert_eq!(got["quota"]["max_step_fuel"], 10_000_000_000u64, "defaults stay where not overridden");
    assert_eq!(c.get(&format!("/v1/tenants/{acme_id}/quota"), ADMIN).await.1, got);

    // Plugin size and count.
    // Refused on size before anything looks at the bytes.
    let too_big = vec![0u8; hostile_size as usize + 1];
    let got = c.send("PUT", "/v1/plugins/score", &acme, Some(("application/wasm", too_big))).await;
    expect_error(&got, StatusCode::PAYLOAD_TOO_LARGE, "plugin-too-large");
    c.push_plugin(&acme, "hostile", HOSTILE).await;
    let over = c.send("PUT", "/v1/plugins/noop", &acme, Some(("application/wasm", component_bytes(HOSTILE)))).await;
    expect_error(&over, StatusCode::FORBIDDEN, "quota-exceeded");
    assert_eq!(over.1["error"]["details"]["quota"], "max_plugins");
    // A new version of an existing plugin is not a new plugin.
    assert_eq!(c.push_plugin(&acme, "hostile", HOSTILE).await["version"], 1);

    // Per-step ceilings at deploy: an explicit timeout over it, and a step left at the 5s default.
    let greedy =
        "name: greedy\nsteps:\n  - id: a\n    plugin: hostile\n    timeout: 10s\n  - id: b\n    plugin: hostile\n";
    let got = c.send("PUT", "/v1/processes/greedy", &acme, Some(("application/yaml", greedy.into()))).await;
    expect_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid-definition");
    let paths: Vec<&str> =
        got.1["error"]["details"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/steps/0/timeout", "/steps/1/timeout"], "{}", got.1);

    let waits = "name: waits\nsteps:\n  - id: a\n    plugin: hostile\n    config: { mode: echo }\n    timeout: 1s\n  - id: w\n    wait: { signal: go }\n";
    c.deploy_yaml(&acme, "waits", waits).await;
    let over = c
        .send("PUT", "/v1/processes/other", &acme, Some(("application/yaml", waits.replace("waits", "other").into())))
        .await;
    expect_error(&over, StatusCode::FORBIDDEN, "quota-exceeded");

    // Open instances: two wait for a signal; the third start is refused with 429 and Retry-After.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, got) = c.json("POST", "/v1/processes/waits/instances", &acme, json!({"input": {}})).await;
        assert_eq!(status, StatusCode::CREATED, "{got}");
        ids.push(got["id"].as_str().unwrap().to_string());
    }
    let resp = c
        .http
        .post(format!("{}/v1/processes/waits/instances", c.base))
        .bearer_auth(&acme)
        .json(&json!({"input": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "quota-exceeded");
    // Another tenant is not held back by acme's quota.
    c.push_plugin(&globex, "hostile", HOSTILE).await;
    c.deploy_yaml(&globex, "waits", waits).await;
    for _ in 0..3 {
        let (status, got) = c.json("POST", "/v1/processes/waits/instances", &globex, json!({"input": {}})).await;
        assert_eq!(status, StatusCode::CREATED, "{got}");
    }
    // When one finishes, acme may start again.
    let (status, got) = c.json("POST", &format!("/v1/instances/{}/signals/go", ids[0]), &acme, json!({})).await;
    assert!(status.is_success(), "{got}");
    let (status, got) = c.get(&format!("/v1/instances/{}", ids[0]), &acme).await;
    assert_eq!((status, got["status"].as_str()), (StatusCode::OK, Some("completed")), "{got}");
    let (status, got) = c.json("POST", "/v1/processes/waits/instances", &acme, json!({"input": {}})).await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    server.stop();
}

/// `alur serve --demo` loads every example process with its plugins, prints a key that works, and a restart
/// changes nothing (same key, same versions).
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_tenant_has_the_example_library() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let (processes, plugins) = (root.join("examples/processes"), root.join("target/plugins"));
    let args = ["--demo", "--demo-processes", processes.to_str().unwrap(), "--demo-plugins", plugins.to_str().unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let examples: Vec<String> = std::fs::read_dir(&processes)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str().and_then(|n| n.strip_suffix(".yaml")).map(str::to_string))
        .collect();
    assert!(examples.len() >= 8, "{examples:?}");

    let server = Server::start_with(dir.path(), &args, &[]);
    let c = Client::new(&server);
    let key = std::fs::read_to_string(dir.path().join("demo.key")).unwrap();
    let (status, got) = c.get("/v1/processes", &key).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    let mut names: Vec<&str> =
        got["processes"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    names.sort();
    let mut expected: Vec<&str> = examples.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(names, expected, "every example is deployed: {got}");
    let sample: Value =
        serde_json::from_str(&std::fs::read_to_string(processes.join("lead-intake.input.json")).unwrap()).unwrap();
    let (status, got) =
        c.json("POST", "/v1/processes/lead-intake/instances?wait=10s", &key, json!({"input": sample})).await;
    assert_eq!((status, got["status"].as_str()), (StatusCode::OK, Some("completed")), "{got}");
    assert_eq!(got["output"]["grade"], "hot", "{got}");
    server.stop();

    let server = Server::start_with(dir.path(), &args, &[]);
    let c = Client::new(&server);
    assert_eq!(std::fs::read_to_string(dir.path().join("demo.key")).unwrap(), key, "the key survives a restart");
    let (_, got) = c.get("/v1/processes", &key).await;
    assert!(got["processes"].as_array().unwrap().iter().all(|p| p["latest_version"] == 1), "nothing redeployed: {got}");
    let (_, got) = c.get("/v1/plugins/crm-lead-score", &key).await;
    assert_eq!(got["versions"].as_array().unwrap().len(), 1, "nothing uploaded again: {got}");
    server.stop();
}

/// Secrets are write-only, per tenant, and a definition naming one that is not set is refused at deploy.
#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_write_only_and_checked_at_deploy() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let c = Client::new(&server);
    let acme = c.tenant("acme").await;
    let globex = c.tenant("globex").await;
    c.push_plugin(&acme, "hostile", HOSTILE).await;
    let uses = "name: uses\nsteps:\n  - id: a\n    plugin: hostile\n    config: { mode: echo }\n    secrets: { token: crm-token }\n    http: { allow: [\"https://crm.example.com\"] }\n";
    let got = c.send("PUT", "/v1/processes/uses", &acme, Some(("application/yaml", uses.into()))).await;
    expect_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid-definition");
    assert_eq!(got.1["error"]["details"][0]["path"], "/steps/0/secrets/token", "{}", got.1);

    let (status, got) = c.json("PUT", "/v1/secrets/crm-token", &acme, json!({"value": "tok-123456789"})).await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    let (status, _) = c.json("PUT", "/v1/secrets/crm-token", &acme, json!({"value": "tok-987654321"})).await;
    assert_eq!(status, StatusCode::OK, "replaced");
    expect_error(
        &c.json("PUT", "/v1/secrets/bad", &acme, json!({"value": "x", "extra": 1})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-body",
    );
    let (_, list) = c.get("/v1/secrets", &acme).await;
    assert_eq!(list["secrets"][0]["name"], "crm-token");
    assert!(!list.to_string().contains("tok-"), "no value is ever listed: {list}");
    assert_eq!(c.get("/v1/secrets", &globex).await.1["secrets"], json!([]), "per tenant");
    expect_error(&c.send("DELETE", "/v1/secrets/crm-token", &globex, None).await, StatusCode::NOT_FOUND, "not-found");

    c.deploy_yaml(&acme, "uses", uses).await;
    let (status, got) =
        c.json("POST", "/v1/processes/uses/instances?wait=10s", &acme, json!({"input": {"a": 1}})).await;
    assert_eq!((status, got["status"].as_str()), (StatusCode::OK, Some("completed")), "{got}");
    for file in ["alur.db", "alur.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        assert!(!bytes.windows(13).any(|w| w == b"tok-987654321"), "sealed at rest in {file}");
    }
    assert_eq!(c.send("DELETE", "/v1/secrets/crm-token", &acme, None).await.0, StatusCode::NO_CONTENT);
    server.stop();
}
