//! End to end through the real `alur serve` (a child process on a loopback port, fresh data directory),
//! driven only over HTTP.

use alur_tests::server::{ADMIN, Client, Server, expect_error};
use alur_tests::{CRM_LEAD_SCORE, HOSTILE, component_bytes};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const LEAD_INTAKE: &str = r#"
name: lead-intake
steps:
  - id: score
    plugin: crm-lead-score
    input: '{lead: .input.lead}'
    config: { target_countries: "US" }
  - id: route
    switch:
      - when: '.steps.score.grade == "hot"'
        then: assign
      - default: nurture
  - id: assign
    plugin: hostile
    config: { mode: echo }
    input: '{owner: "ana"}'
    next: end
  - id: nurture
    wait: { signal: lead-updated, timeout: 30d }
output: '{grade: .steps.score.grade, owner: .steps.assign.owner, update: .steps.nurture}'
"#;

async fn onboard(c: &Client, key: &str) {
    for (name, path) in [("crm-lead-score", CRM_LEAD_SCORE), ("hostile", HOSTILE)] {
        let (status, body) =
            c.send("PUT", &format!("/v1/plugins/{name}"), key, Some(("application/wasm", component_bytes(path)))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["version"], 1);
    }
    let (status, body) = c
        .send("PUT", "/v1/processes/lead-intake", key, Some(("application/yaml", LEAD_INTAKE.as_bytes().to_vec())))
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
        .send("PUT", "/v1/processes/lead-intake", &globex, Some(("application/yaml", LEAD_INTAKE.as_bytes().to_vec())))
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
