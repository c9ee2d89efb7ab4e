//! The CRM/SCM process library (`examples/processes/`), every process through the HTTP API with its sample inputs.

/// `lead-intake` and `case-escalation` with the Rust plugins `crm-lead-score`, `crm-assign-owner`,
/// `crm-create-task` and `crm-case-sla` (built into `target/plugins/` by `plugins/build`).
mod crm {
    use alur_tests::examples::{example, replaced, sample};
    use alur_tests::plugin_path;
    use alur_tests::server::{Client, Server};
    use reqwest::StatusCode;
    use serde_json::{Value, json};
    use std::time::{Duration, Instant};

    /// A server with one tenant, the plugins pushed and one process deployed.
    struct Tenant {
        // Declared before the data directory, so the server stops before its directory is removed.
        _server: Server,
        _dir: tempfile::TempDir,
        c: Client,
        key: String,
        process: String,
    }

    impl Tenant {
        async fn new(plugins: &[&str], process: &str, yaml: &str) -> Tenant {
            let dir = tempfile::tempdir().unwrap();
            let server = Server::start(dir.path());
            let c = Client::new(&server);
            let key = c.tenant("crm").await;
            for plugin in plugins {
                c.push_plugin(&key, plugin, &plugin_path(plugin)).await;
            }
            c.deploy_yaml(&key, process, yaml).await;
            Tenant { _server: server, _dir: dir, c, key, process: process.to_string() }
        }

        /// Starts an instance, waiting up to `wait` for it to finish.
        async fn start(&self, input: &Value, wait: &str) -> (StatusCode, Value) {
            let path = format!("/v1/processes/{}/instances?wait={wait}", self.process);
            self.c.json("POST", &path, &self.key, json!({ "input": input })).await
        }

        /// Starts an instance that must complete within 20 s; its output.
        async fn run(&self, input: &Value) -> Value {
            let (status, body) = self.start(input, "20s").await;
            assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("completed")), "{body}");
            body["output"].clone()
        }

        async fn instance(&self, id: &str) -> Value {
            let (status, body) = self.c.get(&format!("/v1/instances/{id}"), &self.key).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }

        /// Polls the instance until `done` holds for it (at most 30 s).
        async fn until(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let got = self.instance(id).await;
                if done(&got) {
                    return got;
                }
                assert!(Instant::now() < deadline, "instance {id} never got {what}: {got}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }

        async fn finished(&self, id: &str) -> Value {
            self.until(id, "finished", |i| i["status"] != "running").await
        }

        async fn history(&self, id: &str) -> Vec<Value> {
            let (status, body) = self.c.get(&format!("/v1/instances/{id}/history"), &self.key).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["events"].as_array().expect("events").clone()
        }

        /// Sends a signal, again while the instance is between two waits (409 `not-waiting`).
        async fn signal(&self, id: &str, signal: &str, payload: Value) {
            let path = format!("/v1/instances/{id}/signals/{signal}");
            for _ in 0..100 {
                let (status, body) = self.c.json("POST", &path, &self.key, payload.clone()).await;
                match status {
                    StatusCode::ACCEPTED => return,
                    StatusCode::CONFLICT if body["error"]["code"] == "not-waiting" => {
                        tokio::time::sleep(Duration::from_millis(20)).await
                    }
                    _ => panic!("signal {signal} to {id}: {status} {body}"),
                }
            }
            panic!("instance {id} never waited for {signal}");
        }
    }

    /// The outputs of a step's completed attempts, in order.
    fn outputs<'a>(events: &'a [Value], step: &str) -> Vec<&'a Value> {
        events.iter().filter(|e| e["type"] == "step-completed" && e["step"] == step).map(|e| &e["output"]).collect()
    }

    /// How often a non-plugin step was passed.
    fn passes(events: &[Value], step: &str) -> usize {
        events.iter().filter(|e| e["type"] == "step-passed" && e["step"] == step).count()
    }

    fn id_of(body: &Value) -> String {
        body["id"].as_str().expect("instance id").to_string()
    }

    const LEAD_PLUGINS: &[&str] = &["crm-lead-score", "crm-assign-owner", "crm-create-task"];
    const CASE_PLUGINS: &[&str] = &["crm-case-sla", "crm-assign-owner", "crm-create-task"];

    fn hot_lead(id: &str, country: &str) -> Value {
        let mut input = sample("lead-intake.input.json");
        input["lead"]["id"] = json!(id);
        input["lead"]["country"] = json!(country);
        input
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn crm_lead_intake_assigns_hot_leads_round_robin_with_a_follow_up_task() {
        let t = Tenant::new(LEAD_PLUGINS, "lead-intake", &example("lead-intake.yaml")).await;

        let out = t.run(&sample("lead-intake.input.json")).await;
        assert_eq!(out["grade"], "hot", "{out}");
        assert!(out["score"].as_u64().unwrap() >= 70, "{out}");
        assert_eq!(out["owner"], "ana", "{out}");
        let task = &out["task"];
        assert_eq!(task["id"], "T-000001", "{out}");
        assert_eq!(task["owner_id"], "ana");
        assert_eq!(task["subject"], format!("Call Ana at Acme Corp (score {})", out["score"]));
        assert_eq!(task["related_to"], "L-1001");
        assert_eq!((&task["status"], &task["priority"]), (&json!("not_started"), &json!("high")));
        // Due one business day after it was created: a later date than the creation's (ISO dates sort as text).
        let (created, due) = (task["created_at"].as_str().unwrap(), task["due_date"].as_str().unwrap());
        assert!(due.len() == 10 && due > &created[..10], "created {created}, due {due}");

        // Round-robin: the next hot leads go to the next owners, each with the next task number; a German lead
        // goes to the DE territory's owners.
        let second = t.run(&hot_lead("L-1003", "US")).await;
        assert_eq!((&second["owner"], &second["task"]["id"]), (&json!("ben"), &json!("T-000002")), "{second}");
        let german = t.run(&hot_lead("L-1004", "DE")).await;
        assert_eq!(german["owner"], "dieter", "{german}");
        let third = t.run(&hot_lead("L-1005", "US")).await;
        assert_eq!(third["owner"], "chen", "{third}");

        // The first instance's journal: score, assign and task ran once each, nothing was compensated.
        let (_, list) = t.c.get("/v1/instances?process=lead-intake&status=completed&limit=10", &t.key).await;
        let first = list["instances"].as_array().unwrap().iter().find(|i| i["input"]["lead"]["id"] == "L-1001");
        let events = t.history(&id_of(first.expect("the first instance is listed"))).await;
        for step in ["score", "assign", "task"] {
            assert_eq!(outputs(&events, step).len(), 1, "{step}: {events:#?}");
        }
        assert_eq!(outputs(&events, "assign")[0], &json!({"owner": "ana", "strategy": "round-robin", "load": 1}));
        assert!(!events.iter().any(|e| e["type"] == "compensation-started"), "{events:#?}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn crm_lead_intake_nurtures_a_cold_lead_until_an_update_makes_it_hot() {
        let t = Tenant::new(LEAD_PLUGINS, "lead-intake", &example("lead-intake.yaml")).await;
        let (status, body) = t.start(&sample("lead-intake.cold.input.json"), "2s").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["waiting_for"], json!(["lead-updated"]), "{body}");
        let id = id_of(&body);

        t.signal(&id, "lead-updated", sample("lead-intake.cold.lead-updated.json")).await;
        let done = t.finished(&id).await;
        assert_eq!(done["status"], "completed", "{done}");
        let out = &done["output"];
        assert_eq!((&out["grade"], &out["owner"]), (&json!("hot"), &json!("ana")), "{out}");
        assert_eq!(out["task"]["subject"], format!("Call Bob at Smith Consulting (score {})", out["score"]));
        assert_eq!(out["task"]["related_to"], "L-1002");

        // Scored twice: cold from the first lead, hot from the one the signal carried.
        let events = t.history(&id).await;
        let grades: Vec<&Value> = outputs(&events, "score").iter().map(|o| &o["grade"]).collect();
        assert_eq!(grades, [&json!("cold"), &json!("hot")], "{events:#?}");
        assert!(events.iter().any(|e| e["type"] == "signal-received" && e["name"] == "lead-updated"));
        assert_eq!((passes(&events, "updated"), passes(&events, "nurture-timeout")), (1, 0));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn crm_lead_intake_rescores_after_each_nurture_timeout_then_gives_up() {
        // The nurture wait is 30 days in the shipped definition; 200 ms here, so that three rounds run in a second.
        let yaml = replaced(&example("lead-intake.yaml"), "timeout: 30d", "timeout: 200ms");
        let t = Tenant::new(LEAD_PLUGINS, "lead-intake", &yaml).await;
        let (status, body) = t.start(&sample("lead-intake.cold.input.json"), "20s").await;
        assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("completed")), "{body}");
        let out = body["output"].as_object().expect("an output object");
        assert_eq!(out.keys().collect::<Vec<_>>(), ["grade", "score"], "no owner, no task: {body}");
        assert_eq!(out["grade"], "cold", "{body}");

        let events = t.history(&id_of(&body)).await;
        assert_eq!(outputs(&events, "score").len(), 4, "the first score and one per round: {events:#?}");
        assert_eq!((passes(&events, "nurture-timeout"), passes(&events, "give-up")), (3, 1));
        assert!(outputs(&events, "assign").is_empty());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn crm_lead_intake_releases_the_assignment_when_the_task_fails() {
        let t = Tenant::new(LEAD_PLUGINS, "lead-intake", &example("lead-intake.yaml")).await;
        // The task subject needs the company: without it, creating the task fails after the owner was assigned.
        let mut input = sample("lead-intake.input.json");
        input["lead"].as_object_mut().unwrap().remove("company");
        let (status, body) = t.start(&input, "20s").await;
        assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("failed")), "{body}");
        assert_eq!(body["error"]["code"], "missing-field", "{body}");

        let events = t.history(&id_of(&body)).await;
        let failed = events.iter().find(|e| e["type"] == "step-failed").expect("the task step failed");
        assert_eq!((&failed["step"], &failed["error"]["kind"]), (&json!("task"), &json!("invalid-input")));
        let compensation = events.iter().find(|e| e["type"] == "compensation-started").expect("compensation ran");
        assert_eq!(compensation["undo"], json!(["unassign"]));
        assert_eq!(outputs(&events, "assign"), [&json!({"owner": "ana", "strategy": "round-robin", "load": 1})]);
        assert_eq!(outputs(&events, "unassign"), [&json!({"owner": "ana", "strategy": "release", "load": 0})]);
        let order: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
        let at = |t: &str| order.iter().position(|x| *x == t).unwrap();
        assert!(at("step-failed") < at("compensation-started") && order.last() == Some(&"failed"), "{order:?}");

        // The release stuck: going round the team again, ana has one open lead, not two.
        let leads = [
            t.run(&hot_lead("L-2", "US")).await,
            t.run(&hot_lead("L-3", "US")).await,
            t.run(&hot_lead("L-4", "US")).await,
        ];
        let owners: Vec<&Value> = leads.iter().map(|o| &o["owner"]).collect();
        assert_eq!(owners, [&json!("ben"), &json!("chen"), &json!("ana")]);
        let (_, list) = t.c.get("/v1/instances?process=lead-intake&status=completed&limit=10", &t.key).await;
        let last = list["instances"].as_array().unwrap().iter().find(|i| i["input"]["lead"]["id"] == "L-4").unwrap();
        let events = t.history(&id_of(last)).await;
        assert_eq!(outputs(&events, "assign")[0]["load"], 1, "{events:#?}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn crm_case_escalation_resolved_in_time_is_not_escalated() {
        // The shipped definition checks the SLA every 15 minutes; every 300 ms here, so that the test sees the
        // in-time checks loop back to the wait.
        let yaml = replaced(&example("case-escalation.yaml"), "timeout: 15m", "timeout: 300ms");
        let t = Tenant::new(CASE_PLUGINS, "case-escalation", &yaml).await;
        // The sample case has no `opened_at`: it was opened now, and its P1 premium SLA is two business hours away.
        let (status, body) = t.start(&sample("case-escalation.input.json"), "1s").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let id = id_of(&body);
        // Least-loaded: a second open case goes to the next owner.
        let mut other = sample("case-escalation.input.json");
        other["case"]["id"] = json!("C-2002");
        let (_, second) = t.start(&other, "1s").await;
        let second_id = id_of(&second);

        let deadline = Instant::now() + Duration::from_secs(30);
        let checks = loop {
            let events = t.history(&id).await;
            let checks: Vec<Value> = outputs(&events, "check").into_iter().cloned().collect();
            if checks.len() >= 2 {
                break checks;
            }
            assert!(Instant::now() < deadline, "the SLA was never checked: {events:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        for check in &checks {
            assert_eq!(
                (&check["breached"], &check["escalation"]["breached"]),
                (&json!(false), &json!(false)),
                "{check}"
            );
            assert_eq!((&check["business_hours"], &check["escalation"]["level"]), (&json!(2.0), &json!(1)), "{check}");
        }

        t.signal(&id, "case-resolved", json!({"resolution": "rolled back the EU payment config"})).await;
        let done = t.finished(&id).await;
        assert_eq!(done["status"], "completed", "{done}");
        let out = &done["output"];
        assert_eq!(
            (&out["case_id"], &out["resolved"], &out["escalations"]),
            (&json!("C-2001"), &json!(true), &json!(0))
        );
        assert_eq!(out["owner"], "dana", "{out}");
        assert_eq!(out["deadline"], checks[0]["deadline"], "{out}");
        let events = t.history(&id).await;
        assert!(outputs(&events, "escalate").is_empty(), "{events:#?}");
        assert_eq!(outputs(&events, "release"), [&json!({"owner": "dana", "strategy": "release", "load": 0})]);

        // The second case went to eli while dana had one open. With dana's case resolved, the next two go to fay
        // (round-robin among the owners with none) and to dana, who has one open case, not two.
        assert_eq!(t.instance(&second_id).await["status"], "running");
        let assignment = async |case: &str| {
            let (_, body) = t.start(&json!({"case": {"id": case, "priority": "P4"}}), "1s").await;
            outputs(&t.history(&id_of(&body)).await, "assign").first().map(|o| (*o).clone())
        };
        let eli = outputs(&t.history(&second_id).await, "assign").first().map(|o| (*o).clone());
        assert_eq!(eli, Some(json!({"owner": "eli", "strategy": "least-loaded", "load": 1})));
        assert_eq!(assignment("C-2003").await, Some(json!({"owner": "fay", "strategy": "least-loaded", "load": 1})));
        assert_eq!(assignment("C-2004").await, Some(json!({"owner": "dana", "strategy": "least-loaded", "load": 1})));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn crm_case_escalation_escalates_twice_then_stops() {
        // The SLA check runs every 15 minutes in the shipped definition; every 300 ms here.
        let yaml = replaced(&example("case-escalation.yaml"), "timeout: 15m", "timeout: 300ms");
        let t = Tenant::new(CASE_PLUGINS, "case-escalation", &yaml).await;
        // Opened in November 2024: both escalations are long due, so each check escalates.
        let (status, done) = t.start(&sample("case-escalation.overdue.input.json"), "20s").await;
        assert_eq!((status, &done["status"]), (StatusCode::OK, &json!("completed")), "{done}");
        let id = id_of(&done);
        let out = &done["output"];
        assert_eq!(
            (&out["case_id"], &out["resolved"], &out["escalations"]),
            (&json!("C-1999"), &json!(false), &json!(2))
        );
        assert_eq!(out["owner"], "dana", "{out}");
        // P3 is 24 business hours: three 8-hour days from Monday 2024-11-04 14:00.
        assert_eq!(out["deadline"], "2024-11-07T14:00:00Z", "{out}");

        let events = t.history(&id).await;
        let checks = outputs(&events, "check");
        assert_eq!(checks.len(), 2, "{events:#?}");
        assert_eq!((&checks[0]["escalation"]["number"], &checks[1]["escalation"]["number"]), (&json!(0), &json!(1)));
        assert!(checks.iter().all(|c| c["breached"] == true && c["escalation"]["breached"] == true), "{checks:#?}");
        let tasks = outputs(&events, "escalate");
        assert_eq!(tasks.len(), 2, "{events:#?}");
        for (task, (level, owner)) in tasks.iter().zip([(1, "team-lead"), (2, "support-manager")]) {
            assert_eq!(task["id"], format!("ESC-00000{level}"), "{task}");
            assert_eq!(
                (&task["owner_id"], &task["related_to"], &task["priority"]),
                (&json!(owner), &json!("C-1999"), &json!("urgent"))
            );
            let subject = task["subject"].as_str().unwrap();
            let expected =
                format!("Escalation level {level}: case C-1999 (P3) is past its SLA deadline 2024-11-07T14:00:00Z");
            assert_eq!(subject, expected);
        }
        assert_eq!(passes(&events, "give-up"), 1);
        assert!(outputs(&events, "release").is_empty(), "an unresolved case keeps its owner");
        // Finished: no more signals.
        let (status, _) =
            t.c.json("POST", &format!("/v1/instances/{id}/signals/case-resolved"), &t.key, json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT);
    }
}

/// `order-fulfilment`, `order-to-cash` and `procure-to-pay` with the Rust plugins `scm-inventory-check`,
/// `scm-credit-check`, `scm-stock-ledger`, `scm-shipment-plan`, `scm-invoice` and `scm-three-way-match` (built
/// into `target/plugins/` by `plugins/build`). Every scenario that depends on stock gets a tenant of its own,
/// because the ledger is the plugin's kv state, scoped to the tenant.
mod scm {
    use alur_tests::examples::{example, replaced, sample};
    use alur_tests::plugin_path;
    use alur_tests::server::{Client, Server};
    use reqwest::StatusCode;
    use serde_json::{Value, json};
    use std::time::{Duration, Instant};

    const PLUGINS: &[&str] = &[
        "scm-inventory-check",
        "scm-credit-check",
        "scm-stock-ledger",
        "scm-shipment-plan",
        "scm-invoice",
        "scm-three-way-match",
    ];

    /// A test-only process that reads the stock ledger (same tenant, same plugin, so the same kv state).
    const STOCK_LEVELS: &str = r#"
name: stock-levels
steps:
  - id: levels
    plugin: scm-stock-ledger
    input: '{skus: .input.skus}'
    config: { mode: levels }
output: '.steps.levels.levels | map({key: .sku, value: {on_hand, reserved}}) | from_entries'
"#;

    /// One `alur serve` for a test.
    struct Scm {
        // Declared before the data directory, so the server stops before its directory is removed.
        _server: Server,
        _dir: tempfile::TempDir,
        c: Client,
        tenants: u32,
    }

    /// A tenant with every SCM plugin pushed and the SCM processes deployed.
    struct Tenant<'s> {
        c: &'s Client,
        key: String,
    }

    impl Scm {
        fn new() -> Scm {
            let dir = tempfile::tempdir().unwrap();
            let server = Server::start(dir.path());
            let c = Client::new(&server);
            Scm { _server: server, _dir: dir, c, tenants: 0 }
        }

        /// A fresh tenant (an empty stock ledger) with the processes deployed; `yaml` overrides a definition.
        async fn tenant(&mut self, overrides: &[(&str, String)]) -> Tenant<'_> {
            self.tenants += 1;
            let key = self.c.tenant(&format!("scm-{}", self.tenants)).await;
            for plugin in PLUGINS {
                self.c.push_plugin(&key, plugin, &plugin_path(plugin)).await;
            }
            // order-fulfilment first: order-to-cash calls it.
            for process in ["order-fulfilment", "order-to-cash", "procure-to-pay"] {
                let yaml = overrides
                    .iter()
                    .find(|(name, _)| *name == process)
                    .map_or_else(|| example(&format!("{process}.yaml")), |(_, yaml)| yaml.clone());
                self.c.deploy_yaml(&key, process, &yaml).await;
            }
            self.c.deploy_yaml(&key, "stock-levels", STOCK_LEVELS).await;
            Tenant { c: &self.c, key }
        }
    }

    impl Tenant<'_> {
        /// Starts an instance and waits up to `wait` for it; the instance as the API shows it.
        async fn start(&self, process: &str, input: Value, wait: &str) -> Value {
            let path = format!("/v1/processes/{process}/instances?wait={wait}");
            let (status, body) = self.c.json("POST", &path, &self.key, json!({"input": input})).await;
            assert!(status == StatusCode::OK || status == StatusCode::ACCEPTED, "{status} {body}");
            body
        }

        /// Runs an instance to its end.
        async fn run(&self, process: &str, input: Value) -> Value {
            let started = self.start(process, input, "20s").await;
            self.finished(started["id"].as_str().expect("instance id")).await
        }

        /// Waits until the instance is no longer running.
        async fn finished(&self, id: &str) -> Value {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let (status, got) = self.c.get(&format!("/v1/instances/{id}"), &self.key).await;
                assert_eq!(status, StatusCode::OK, "{got}");
                if got["status"] != "running" {
                    return got;
                }
                assert!(Instant::now() < deadline, "instance {id} still running: {got}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }

        /// Waits until the instance waits for `signal`.
        async fn waiting_for(&self, id: &str, signal: &str) {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let (_, got) = self.c.get(&format!("/v1/instances/{id}"), &self.key).await;
                if got["waiting_for"].as_array().is_some_and(|w| w.iter().any(|s| s == signal)) {
                    return;
                }
                assert!(
                    got["status"] == "running" && Instant::now() < deadline,
                    "{id} does not wait for {signal}: {got}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }

        async fn signal(&self, id: &str, signal: &str, payload: Value) {
            let path = format!("/v1/instances/{id}/signals/{signal}");
            let (status, body) = self.c.json("POST", &path, &self.key, payload).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        }

        async fn history(&self, id: &str) -> Vec<Value> {
            let (status, body) = self.c.get(&format!("/v1/instances/{id}/history"), &self.key).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["events"].as_array().expect("events").clone()
        }

        /// `{sku: {on_hand, reserved}}` from the ledger.
        async fn levels(&self, skus: &[&str]) -> Value {
            let done = self.run("stock-levels", json!({"skus": skus})).await;
            assert_eq!(done["status"], "completed", "{done}");
            done["output"].clone()
        }
    }

    /// The outputs of a step's completions, in order.
    fn outputs(events: &[Value], step: &str) -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["type"] == "step-completed" && e["step"] == step)
            .map(|e| e["output"].clone())
            .collect()
    }

    fn types(events: &[Value]) -> Vec<String> {
        events.iter().map(|e| e["type"].as_str().unwrap_or("?").to_string()).collect()
    }

    /// `[(sku, quantity)]` of a list of order lines.
    fn quantities(lines: &Value) -> Vec<(String, i64)> {
        lines
            .as_array()
            .unwrap_or_else(|| panic!("not a list: {lines}"))
            .iter()
            .map(|l| (l["sku"].as_str().unwrap().to_string(), l["quantity"].as_i64().unwrap()))
            .collect()
    }

    fn pairs(items: &[(&str, i64)]) -> Vec<(String, i64)> {
        items.iter().map(|(s, n)| (s.to_string(), *n)).collect()
    }

    /// Twenty orders for one unit each race for ten units: the ledger's read-modify-write steps must not
    /// overwrite each other (the runtime serializes attempts that use the same plugin's kv state).
    #[tokio::test(flavor = "multi_thread")]
    async fn scm_concurrent_reservations_never_oversell() {
        const RACE: &str = r#"
name: reserve-only
steps:
  - id: reserve
    plugin: scm-stock-ledger
    input: '{order: .input.order}'
    config: { mode: reserve, stock: '{"GAD-9": 10}' }
output: '.steps.reserve.fulfilment'
"#;
        let mut scm = Scm::new();
        let t = scm.tenant(&[]).await;
        t.c.deploy_yaml(&t.key, "reserve-only", RACE).await;
        let starts = (0..20).map(|i| {
            let order = json!({"order": {"id": format!("SO-R{i}"), "lines": [{"sku": "GAD-9", "quantity": 1}]}});
            t.run("reserve-only", order)
        });
        let done = futures_join_all(starts).await;
        let complete = done.iter().filter(|d| d["output"] == "complete").count();
        let backorder = done.iter().filter(|d| d["output"] == "backorder").count();
        assert_eq!((complete, backorder), (10, 10), "{done:?}");
        assert_eq!(t.levels(&["GAD-9"]).await["GAD-9"]["reserved"], 10);
    }

    /// Runs futures concurrently on this task (no extra dependency for one test).
    async fn futures_join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
        let mut futures: Vec<_> = futures.map(Box::pin).collect();
        let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
                if out.is_none() {
                    match f.as_mut().poll(cx) {
                        std::task::Poll::Ready(v) => *out = Some(v),
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
        })
        .await;
        outputs.into_iter().map(|o| o.expect("every future finished")).collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn scm_order_fulfilment_complete_split_held_and_backorder() {
        let mut scm = Scm::new();

        // Complete: 4 widgets and a gadget from 10 and 4 in stock, one 3.35 kg parcel to Berlin.
        let t = scm.tenant(&[]).await;
        let done = t.run("order-fulfilment", sample("order-fulfilment.input.json")).await;
        assert_eq!(done["status"], "completed", "{done}");
        let out = &done["output"];
        assert_eq!((&out["decision"], &out["availability"]), (&json!("complete"), &json!("complete")), "{out}");
        assert_eq!(out["shipments"].as_array().unwrap().len(), 1, "{out}");
        let parcel = &out["shipments"][0];
        assert_eq!(
            (&parcel["id"], &parcel["carrier"], &parcel["service"], &parcel["weight_grams"], &parcel["warehouse"]),
            (&json!("SO-1001-S1"), &json!("DHL"), &json!("paket"), &json!(3350), &json!("BER-1"))
        );
        assert_eq!(quantities(&parcel["lines"]), pairs(&[("WID-1", 4), ("GAD-2", 1)]));
        assert_eq!(out["backorder_lines"], json!([]));
        assert_eq!(
            t.levels(&["WID-1", "GAD-2"]).await,
            json!({"WID-1": {"on_hand": 10, "reserved": 4}, "GAD-2": {"on_hand": 4, "reserved": 1}})
        );
        // The same order again: the reservation is keyed by order id, so nothing is reserved twice.
        let again = t.run("order-fulfilment", sample("order-fulfilment.input.json")).await;
        assert_eq!(
            (&again["output"]["decision"], &again["output"]["reservation"]["replayed"]),
            (&json!("complete"), &json!(true))
        );
        assert_eq!(t.levels(&["WID-1"]).await["WID-1"]["reserved"], 4);

        // Split: 4 of 6 gadgets ship to Vienna now; 2 gadgets and all 20 bolts (none in stock) are backordered.
        let t = scm.tenant(&[]).await;
        let done = t.run("order-fulfilment", sample("order-fulfilment.split.input.json")).await;
        let out = &done["output"];
        assert_eq!(out["decision"], "split", "{done}");
        assert_eq!(quantities(&out["shipments"][0]["lines"]), pairs(&[("GAD-2", 4)]));
        assert_eq!(
            (&out["shipments"][0]["service"], &out["shipments"][0]["weight_grams"]),
            (&json!("paket"), &json!(4950))
        );
        assert_eq!(quantities(&out["backorder_lines"]), pairs(&[("GAD-2", 2), ("BOLT-3", 20)]));
        assert_eq!((&out["shipped_units"], &out["backordered_units"]), (&json!(4), &json!(22)));

        // The same split for a customer who takes only complete deliveries: held, nothing ships, and the 4
        // gadgets stay reserved for the order until the rest arrives.
        let t = scm.tenant(&[]).await;
        let done = t.run("order-fulfilment", sample("order-fulfilment.ship-complete.input.json")).await;
        let out = &done["output"];
        assert_eq!(
            (&out["decision"], &out["reason"]),
            (&json!("backorder"), &json!("ship-complete-required")),
            "{done}"
        );
        assert_eq!(out["reservation"]["fulfilment"], "split");
        assert_eq!(out["shipments"], json!([]));
        assert_eq!(quantities(&out["backorder_lines"]), pairs(&[("GAD-2", 6)]));
        let events = t.history(done["id"].as_str().unwrap()).await;
        assert!(events.iter().any(|e| e["type"] == "step-passed" && e["output"]["branch"] == "hold"), "{events:#?}");
        assert_eq!(t.levels(&["GAD-2"]).await["GAD-2"]["reserved"], 4);

        // Backorder: no bolts at all; nothing reserved, nothing ships, no address needed for a carrier.
        let t = scm.tenant(&[]).await;
        let done = t.run("order-fulfilment", sample("order-fulfilment.backorder.input.json")).await;
        let out = &done["output"];
        assert_eq!((&out["decision"], &out["availability"]), (&json!("backorder"), &json!("backorder")), "{done}");
        assert_eq!((&out["shipments"], &out["backordered_units"]), (&json!([]), &json!(100)));
        assert_eq!(t.levels(&["BOLT-3"]).await, json!({"BOLT-3": {"on_hand": 0, "reserved": 0}}));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn scm_order_to_cash_complete_split_and_backorder() {
        let mut scm = Scm::new();
        let t = scm.tenant(&[]).await;

        // Complete: credit passes, everything ships, the invoice has German VAT and 30 days.
        let done = t.run("order-to-cash", sample("order-to-cash.input.json")).await;
        assert_eq!(done["status"], "completed", "{done}");
        let out = &done["output"];
        assert_eq!((&out["status"], &out["decision"]), (&json!("invoiced"), &json!("complete")), "{out}");
        // 4 × 19.99 + 49.00 = 128.96; 19 % of it is 24.5024 → 24.50.
        assert_eq!(
            out["invoice"],
            json!({
                "invoice_number": "INV-2025-000001", "order_id": "SO-2001", "customer_id": "ACC-1",
                "invoice_date": "2025-03-31", "due_date": "2025-04-30", "payment_terms_days": 30,
                "currency": "EUR", "country": "DE", "tax_rate": "19",
                "lines": [
                    {"line_id": "1", "sku": "WID-1", "description": "Widget", "quantity": 4, "unit_price": 1999, "net": 7996},
                    {"line_id": "2", "sku": "GAD-2", "description": "Gadget", "quantity": 1, "unit_price": 4900, "net": 4900}
                ],
                "net_total": 12896, "tax": 2450, "total": 15346, "shipment_ids": ["SO-2001-S1"]
            })
        );
        assert_eq!(out["credit"], json!({"exposure": 132896, "headroom": 367104}));
        // The fulfilment ran as a sub-process of its own.
        let id = done["id"].as_str().unwrap();
        let events = t.history(id).await;
        let child = events.iter().find(|e| e["type"] == "child-started").expect("a sub-process");
        let (_, sub) = t.c.get(&format!("/v1/instances/{}", child["child"].as_str().unwrap()), &t.key).await;
        assert_eq!(
            (&sub["process"], &sub["status"], &sub["parent"]),
            (&json!("order-fulfilment"), &json!("completed"), &json!(id))
        );

        // Split to Austria: the widgets ship and are invoiced at 20 % with the order's net-14 terms; the bolts
        // are backordered and not invoiced.
        let done = t.run("order-to-cash", sample("order-to-cash.split.input.json")).await;
        let out = &done["output"];
        assert_eq!((&out["status"], &out["decision"]), (&json!("invoiced"), &json!("split")), "{done}");
        assert_eq!(quantities(&out["backorder_lines"]), pairs(&[("BOLT-3", 20)]));
        let invoice = &out["invoice"];
        assert_eq!(quantities(&invoice["lines"]), pairs(&[("WID-1", 2)]));
        assert_eq!(
            (
                &invoice["invoice_number"],
                &invoice["net_total"],
                &invoice["tax"],
                &invoice["total"],
                &invoice["due_date"]
            ),
            (&json!("INV-2025-000002"), &json!(3998), &json!(800), &json!(4798), &json!("2025-04-14"))
        );

        // Backorder: nothing ships, so nothing is invoiced and no invoice number is used up.
        let done = t.run("order-to-cash", sample("order-to-cash.backorder.input.json")).await;
        let out = &done["output"];
        assert_eq!(
            (&out["status"], &out["decision"], &out["invoice"]),
            (&json!("backordered"), &json!("backorder"), &Value::Null),
            "{done}"
        );
        let events = t.history(done["id"].as_str().unwrap()).await;
        assert!(outputs(&events, "invoice").is_empty(), "{events:#?}");
        let next = t.run("order-to-cash", sample("order-to-cash.input.json")).await;
        assert_eq!(next["output"]["invoice"]["invoice_number"], "INV-2025-000003", "{next}");

        // Reserved so far: 4 + 2 widgets and 1 gadget (the repeated SO-2001 reserved nothing again).
        assert_eq!(
            t.levels(&["WID-1", "GAD-2"]).await,
            json!({"WID-1": {"on_hand": 10, "reserved": 6}, "GAD-2": {"on_hand": 4, "reserved": 1}})
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn scm_order_to_cash_credit_refused() {
        let mut scm = Scm::new();
        let t = scm.tenant(&[]).await;

        // Over the limit: 950.00 open + 79.96 > 1000.00.
        let done = t.run("order-to-cash", sample("order-to-cash.credit-refused.input.json")).await;
        assert_eq!(done["status"], "completed", "{done}");
        let out = &done["output"];
        assert_eq!(
            (&out["status"], &out["order_id"], &out["reason"]),
            (&json!("credit-refused"), &json!("SO-2004"), &json!("credit-limit-exceeded"))
        );
        assert!(out["message"].as_str().unwrap().contains("exceeds the limit of 100000 by 2996"), "{out}");
        let events = t.history(done["id"].as_str().unwrap()).await;
        assert!(events.iter().any(|e| e["type"] == "error-routed" && e["to"] == "refused"), "{events:#?}");
        assert!(
            !types(&events).contains(&"child-started".to_string()),
            "a refused order reserves nothing: {events:#?}"
        );

        // On hold, and unknown: refused the same way.
        for (account, reason) in [("ACC-3", "credit-hold"), ("ACC-404", "unknown-customer")] {
            let mut input = sample("order-to-cash.credit-refused.input.json");
            input["order"]["account_id"] = json!(account);
            let done = t.run("order-to-cash", input).await;
            assert_eq!(
                (&done["output"]["status"], &done["output"]["reason"]),
                (&json!("credit-refused"), &json!(reason)),
                "{done}"
            );
        }
        assert_eq!(t.levels(&["WID-1"]).await["WID-1"]["reserved"], 0);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn scm_order_to_cash_failure_after_reservation_releases_the_stock() {
        let mut scm = Scm::new();
        let t = scm.tenant(&[]).await;

        // All 10 widgets for Switzerland: reserved and planned, then the invoice finds no Swiss tax rate.
        let failed = t.run("order-to-cash", sample("order-to-cash.no-tax-rate.input.json")).await;
        assert_eq!(failed["status"], "failed", "{failed}");
        assert_eq!(
            (&failed["error"]["kind"], &failed["error"]["code"]),
            (&json!("business"), &json!("unknown-tax-country"))
        );

        let events = t.history(failed["id"].as_str().unwrap()).await;
        let finished = events.iter().find(|e| e["type"] == "child-finished").expect("the fulfilment finished");
        assert_eq!(finished["output"]["reservation"]["reserved_units"], 10, "{finished}");
        assert_eq!(finished["output"]["shipments"][0]["carrier"], "UPS", "{finished}");
        let kinds = types(&events);
        let at = |t: &str| kinds.iter().position(|k| k == t).unwrap_or_else(|| panic!("no {t} in {kinds:?}"));
        assert!(
            at("step-failed") < at("compensation-started") && at("compensation-started") < at("failed"),
            "{kinds:?}"
        );
        let compensation = events.iter().find(|e| e["type"] == "compensation-started").unwrap();
        assert_eq!(compensation["undo"], json!(["release"]));
        assert_eq!(
            outputs(&events, "release"),
            vec![
                json!({"mode": "release", "order_id": "SO-2005", "released": true, "lines": [{"sku": "WID-1", "quantity": 10}]})
            ]
        );
        assert_eq!(t.levels(&["WID-1"]).await, json!({"WID-1": {"on_hand": 10, "reserved": 0}}));

        // A later order for all 10 widgets gets them: without the release it would be a backorder.
        let mut later = sample("order-to-cash.input.json");
        later["order"]["id"] = json!("SO-2006");
        later["order"]["lines"] = json!([{"line_id": "1", "sku": "WID-1", "quantity": 10, "unit_price": {"amount": 19.99, "currency": "EUR"}}]);
        let done = t.run("order-to-cash", later).await;
        assert_eq!(
            (&done["output"]["status"], &done["output"]["decision"]),
            (&json!("invoiced"), &json!("complete")),
            "{done}"
        );
        assert_eq!(quantities(&done["output"]["shipments"][0]["lines"]), pairs(&[("WID-1", 10)]));
        // The failed instance drew no invoice number: the sequence only advances when a step completes.
        assert_eq!(done["output"]["invoice"]["invoice_number"], "INV-2025-000001");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn scm_procure_to_pay_matched_approved_and_rejected() {
        let mut scm = Scm::new();
        let t = scm.tenant(&[]).await;

        // Matched within tolerance (21.10 against 21.00 is within 1 %; 5.00 over in total is allowed): paid.
        let done = t.run("procure-to-pay", sample("procure-to-pay.input.json")).await;
        assert_eq!(done["status"], "completed", "{done}");
        let out = &done["output"];
        assert_eq!(
            (&out["status"], &out["reason"], &out["approved_by"], &out["matched"], &out["variance"], &out["payable"]),
            (
                &json!("approved-for-payment"),
                &json!("matched"),
                &json!("auto-match"),
                &json!(true),
                &json!(500),
                &json!(275500)
            )
        );
        assert_eq!(
            out["lines"].as_array().unwrap().iter().map(|l| l["status"].clone()).collect::<Vec<_>>(),
            [json!("matched"), json!("matched")]
        );

        // Mismatch: 20 widgets billed that did not arrive, and gadgets 6.7 % above the PO price. A reviewer
        // approves; a malformed decision before that is dropped and the instance keeps waiting.
        let waiting = t.start("procure-to-pay", sample("procure-to-pay.mismatch.input.json"), "2s").await;
        let id = waiting["id"].as_str().unwrap().to_string();
        t.waiting_for(&id, "match-decision").await;
        t.signal(&id, "match-decision", json!({"approve": "yes", "approver": "someone"})).await;
        t.waiting_for(&id, "match-decision").await;
        t.signal(&id, "match-decision", sample("procure-to-pay.approve.match-decision.json")).await;
        let done = t.finished(&id).await;
        let out = &done["output"];
        assert_eq!(
            (&out["status"], &out["reason"], &out["approved_by"], &out["matched"], &out["variance"], &out["payable"]),
            (
                &json!("approved-for-payment"),
                &json!("approved-by-reviewer"),
                &json!("ap.clerk@acme.io"),
                &json!(false),
                &json!(24000),
                &json!(282000)
            ),
            "{done}"
        );
        let statuses: Vec<(Value, Value)> =
            out["lines"].as_array().unwrap().iter().map(|l| (l["sku"].clone(), l["status"].clone())).collect();
        assert_eq!(statuses, [(json!("WID-1"), json!("qty-mismatch")), (json!("GAD-2"), json!("price-mismatch"))]);
        assert_eq!(out["reasons"].as_array().unwrap().len(), 3, "{out}");
        let events = t.history(&id).await;
        assert_eq!(events.iter().filter(|e| e["type"] == "signal-received").count(), 2);

        // The same mismatch rejected.
        let waiting = t.start("procure-to-pay", sample("procure-to-pay.mismatch.input.json"), "2s").await;
        let id = waiting["id"].as_str().unwrap().to_string();
        t.waiting_for(&id, "match-decision").await;
        t.signal(&id, "match-decision", sample("procure-to-pay.reject.match-decision.json")).await;
        let done = t.finished(&id).await;
        let out = &done["output"];
        assert_eq!(
            (&out["status"], &out["reason"], &out["rejected_by"], &out["bill_id"]),
            (&json!("rejected"), &json!("rejected-by-reviewer"), &json!("ap.clerk@acme.io"), &json!("BILL-9002")),
            "{done}"
        );

        // A bill from another supplier is rejected without review.
        let mut wrong = sample("procure-to-pay.input.json");
        wrong["bill"]["supplier_id"] = json!("SUP-9");
        let done = t.run("procure-to-pay", wrong).await;
        assert_eq!(
            (&done["output"]["status"], &done["output"]["reason"]),
            (&json!("rejected"), &json!("supplier-mismatch")),
            "{done}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn scm_procure_to_pay_without_a_decision_is_rejected() {
        let mut scm = Scm::new();
        // The shipped definition gives reviewers 72 hours; this copy gives them one second, so the timeout
        // branch runs within the test. Nothing else differs.
        let yaml = replaced(&example("procure-to-pay.yaml"), "timeout: 72h", "timeout: 1s");
        let t = scm.tenant(&[("procure-to-pay", yaml)]).await;
        let waiting = t.start("procure-to-pay", sample("procure-to-pay.mismatch.input.json"), "100ms").await;
        let done = t.finished(waiting["id"].as_str().unwrap()).await;
        let out = &done["output"];
        assert_eq!(
            (&done["status"], &out["status"], &out["reason"]),
            (&json!("completed"), &json!("rejected"), &json!("no-decision")),
            "{done}"
        );
        assert_eq!(out["matched"], false);
    }
}

/// `shipment-tracking` with the Rust plugins `scm-carrier-track` and `crm-create-task` (built into
/// `target/plugins/` by `plugins/build`), against a stand-in carrier API that the test serves on loopback: it
/// checks the bearer token and answers from a script per tracking number. `alur serve` runs with its stdout and
/// stderr captured, so the tests can look for the API key there as well as in the API's answers.
mod tracking {
    use alur_tests::examples::{example, replaced};
    use alur_tests::plugin_path;
    use alur_tests::server::{ADMIN, Client};
    use axum::Router;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode as HttpStatus};
    use axum::routing::get;
    use reqwest::StatusCode;
    use serde_json::{Value, json};
    use std::collections::{HashMap, VecDeque};
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex};

    /// The carrier's API key, stored as the tenant's secret `carrier-api-key`.
    const SECRET: &str = "trk-live-5f2c9e8a71d04b3c";

    /// The shipped definition pointed at `carrier`, polling every 100 ms and retrying after 20 ms.
    fn definition(carrier: &str) -> String {
        let yaml = replaced(&example("shipment-tracking.yaml"), "https://api.carrier.example", carrier);
        let yaml = replaced(&yaml, "sleep: { for: 1h }", "sleep: { for: 100ms }");
        replaced(&yaml, "initial: 2s", "initial: 20ms")
    }

    /// The sample shipment with another tracking number.
    fn shipment(number: &str) -> Value {
        let mut input: Value = serde_json::from_str(&example("shipment-tracking.input.json")).expect("JSON sample");
        input["tracking_number"] = json!(number);
        input
    }

    /// An HTTP status and a JSON body.
    type Answer = (u16, Value);

    #[derive(Default)]
    struct Script {
        /// The answers for each tracking number, in order; the last one repeats.
        answers: HashMap<String, VecDeque<Answer>>,
        /// Every request: the tracking number and the `Authorization` header.
        requests: Vec<(String, String)>,
    }

    /// The stand-in carrier API.
    struct Carrier {
        /// `http://127.0.0.1:PORT`.
        base: String,
        script: Arc<Mutex<Script>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Carrier {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn answer(
        State(script): State<Arc<Mutex<Script>>>,
        Path(number): Path<String>,
        headers: HeaderMap,
    ) -> (HttpStatus, axum::Json<Value>) {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let mut script = script.lock().unwrap();
        script.requests.push((number.clone(), auth.clone()));
        let (status, body) = if auth != format!("Bearer {SECRET}") {
            (401, json!({"error": "invalid API key"}))
        } else {
            match script.answers.get_mut(&number) {
                None => (404, json!({"error": "no such shipment"})),
                Some(queue) if queue.len() > 1 => queue.pop_front().expect("non-empty"),
                Some(queue) => queue[0].clone(),
            }
        };
        (HttpStatus::from_u16(status).expect("a status"), axum::Json(body))
    }

    impl Carrier {
        async fn start(answers: Vec<(&str, Vec<Answer>)>) -> Carrier {
            let script = Script {
                answers: answers.into_iter().map(|(n, a)| (n.to_string(), a.into())).collect(),
                requests: Vec::new(),
            };
            let script = Arc::new(Mutex::new(script));
            let app = Router::new().route("/v1/tracking/{number}", get(answer)).with_state(script.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
            let base = format!("http://{}", listener.local_addr().unwrap());
            let task = tokio::spawn(async move {
                axum::serve(listener, app).await.expect("the carrier serves");
            });
            Carrier { base, script, task }
        }

        /// The `Authorization` headers of the requests for `number`.
        fn requests(&self, number: &str) -> Vec<String> {
            let script = self.script.lock().unwrap();
            script.requests.iter().filter(|(n, _)| n == number).map(|(_, auth)| auth.clone()).collect()
        }

        fn total_requests(&self) -> usize {
            self.script.lock().unwrap().requests.len()
        }
    }

    fn in_transit(eta: &str) -> Answer {
        (
            200,
            json!({"status": "in_transit", "eta": eta,
                   "events": [{"at": "2025-03-11T17:00:00Z", "location": "Hamburg", "description": "Picked up"}]}),
        )
    }

    fn exception() -> Answer {
        (
            200,
            json!({"status": "exception", "eta": null, "events": [
                {"at": "2025-03-11T17:00:00Z", "location": "Hamburg", "description": "Picked up"},
                {"at": "2025-03-13T10:00:00Z", "location": "Dresden", "description": "Address not found"}]}),
        )
    }

    fn delivered() -> Answer {
        (
            200,
            json!({"status": "delivered", "eta": "2025-03-13T12:00:00Z", "events": [
                {"at": "2025-03-13T11:42:00Z", "location": "Berlin", "description": "Delivered"}]}),
        )
    }

    /// `alur serve` with its output captured, one tenant with the secret set, the plugins pushed and the
    /// process deployed.
    struct Alur {
        child: Child,
        output: Arc<Mutex<Vec<u8>>>,
        c: Client,
        key: String,
        _dir: tempfile::TempDir,
    }

    impl Drop for Alur {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Appends everything `from` says to `to`, until it closes.
    fn capture(mut from: impl Read + Send + 'static, to: Arc<Mutex<Vec<u8>>>) {
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = from.read(&mut buf) {
                to.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
    }

    impl Alur {
        async fn start(yaml: &str) -> Alur {
            let dir = tempfile::tempdir().unwrap();
            let mut child = Command::new(alur_tests::alur_bin())
                .args(["serve", "--listen", "127.0.0.1:0", "--data"])
                .arg(dir.path())
                .env("ALUR_ADMIN_KEY", ADMIN)
                // Verbose, so that the key would show if any log line of the runtime or the guest carried it.
                .env("ALUR_LOG", "info,alur=debug")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("alur serve starts");
            let output = Arc::new(Mutex::new(Vec::new()));
            capture(child.stderr.take().expect("stderr"), output.clone());
            let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
            let mut line = String::new();
            let mut base = None;
            while stdout.read_line(&mut line).expect("alur serve's stdout") > 0 {
                output.lock().unwrap().extend_from_slice(line.as_bytes());
                if let Some(addr) = line.trim().strip_prefix("alur listening on ") {
                    base = Some(addr.to_string());
                    break;
                }
                line.clear();
            }
            let base = base.expect("alur serve printed its listening line");
            capture(stdout, output.clone());

            let c = Client { http: reqwest::Client::new(), base };
            let key = c.tenant("logistics").await;
            let (status, body) = c.json("PUT", "/v1/secrets/carrier-api-key", &key, json!({"value": SECRET})).await;
            assert!(status.is_success(), "storing the secret: {status} {body}");
            for plugin in ["scm-carrier-track", "crm-create-task"] {
                c.push_plugin(&key, plugin, &plugin_path(plugin)).await;
            }
            c.deploy_yaml(&key, "shipment-tracking", yaml).await;
            Alur { child, output, c, key, _dir: dir }
        }

        /// Starts an instance for `number` and waits for it to finish (at most 30 s).
        async fn track(&self, number: &str) -> Value {
            let path = "/v1/processes/shipment-tracking/instances?wait=30s";
            let (status, body) = self.c.json("POST", path, &self.key, json!({ "input": shipment(number) })).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_ne!(body["status"], "running", "{body}");
            body
        }

        async fn get(&self, path: &str) -> Value {
            let (status, body) = self.c.get(path, &self.key).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            body
        }

        async fn history(&self, done: &Value) -> Vec<Value> {
            let body = self.get(&format!("/v1/instances/{}/history", done["id"].as_str().expect("id"))).await;
            body["events"].as_array().expect("events").clone()
        }

        /// Asserts that the key is in nothing the runtime has shown about this instance, nor in its own output.
        async fn assert_secret_kept(&self, done: &Value) {
            let id = done["id"].as_str().expect("id");
            for path in [
                format!("/v1/instances/{id}"),
                format!("/v1/instances/{id}/history"),
                "/v1/instances?process=shipment-tracking&limit=50".to_string(),
                "/v1/secrets".to_string(),
                "/v1/processes/shipment-tracking".to_string(),
            ] {
                let body = self.get(&path).await.to_string();
                assert!(!body.contains(SECRET), "the key is in GET {path}: {body}");
            }
            let output = String::from_utf8_lossy(&self.output.lock().unwrap()).to_string();
            assert!(!output.contains(SECRET), "the key is in alur serve's output:\n{output}");
        }
    }

    fn outputs<'a>(events: &'a [Value], step: &str) -> Vec<&'a Value> {
        events.iter().filter(|e| e["type"] == "step-completed" && e["step"] == step).map(|e| &e["output"]).collect()
    }

    fn failures<'a>(events: &'a [Value], step: &str) -> Vec<&'a Value> {
        events.iter().filter(|e| e["type"] == "step-failed" && e["step"] == step).map(|e| &e["error"]).collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn tracking_delivered_and_delayed_with_one_case_and_a_retried_500() {
        let carrier = Carrier::start(vec![
            ("1ZONTIME", vec![delivered()]),
            // Promised by 2025-03-14T18:00Z: on time, a server error, an exception, late, then delivered.
            (
                "1ZLATE",
                vec![
                    in_transit("2025-03-14T12:00:00Z"),
                    (500, json!({"error": "upstream timeout"})),
                    exception(),
                    in_transit("2025-03-16T12:00:00Z"),
                    delivered(),
                ],
            ),
        ])
        .await;
        let alur = Alur::start(&definition(&carrier.base)).await;

        let done = alur.track("1ZONTIME").await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(
            done["output"],
            json!({"tracking_number": "1ZONTIME", "status": "delivered", "carrier_status": "delivered", "polls": 1}),
            "no case for a shipment on time"
        );
        assert_eq!(carrier.requests("1ZONTIME"), [format!("Bearer {SECRET}")], "the secret reached the carrier");

        let done = alur.track("1ZLATE").await;
        assert_eq!(done["status"], "completed", "{done}");
        let out = &done["output"];
        assert_eq!(
            (&out["status"], &out["carrier_status"], &out["polls"]),
            (&json!("delivered"), &json!("delivered"), &json!(4)),
            "{done}"
        );
        assert_eq!(
            (&out["case"]["id"], &out["case"]["subject"]),
            (&json!("SHP-000001"), &json!("Shipment 1ZLATE delayed"))
        );
        assert_eq!(out["case"]["owner_id"], "logistics");

        let events = alur.history(&done).await;
        let polls: Vec<(&Value, &Value)> =
            outputs(&events, "poll").iter().map(|o| (&o["status"], &o["delayed"])).collect();
        assert_eq!(
            polls,
            [
                (&json!("in_transit"), &json!(false)),
                (&json!("exception"), &json!(true)),
                (&json!("in_transit"), &json!(true)),
                (&json!("delivered"), &json!(false))
            ],
            "{events:#?}"
        );
        // The 500 failed one attempt, which the retry policy ran again: the next answer was the exception.
        let failed = failures(&events, "poll");
        assert_eq!(failed.len(), 1, "{events:#?}");
        assert_eq!((&failed[0]["kind"], &failed[0]["code"]), (&json!("transient"), &json!("carrier-unavailable")));
        assert!(failed[0]["message"].as_str().unwrap().contains("500"), "{}", failed[0]);
        // Delayed twice, one case: opened at the exception, not again when the ETA was late.
        let tasks = outputs(&events, "escalate");
        assert_eq!(tasks.len(), 1, "{events:#?}");
        let description = tasks[0]["description"].as_str().unwrap();
        assert!(description.contains("status exception") && description.contains("Address not found"), "{description}");
        assert_eq!(tasks[0]["related_to"], "SO-2001");
        assert_eq!(carrier.requests("1ZLATE").len(), 5, "four polls and one retry");
        assert!(carrier.requests("1ZLATE").iter().all(|auth| *auth == format!("Bearer {SECRET}")));
        alur.assert_secret_kept(&done).await;
        let (_, names) = alur.c.get("/v1/secrets", &alur.key).await;
        assert!(names.to_string().contains("carrier-api-key"), "the secret is listed by name: {names}");
        // The capture works and is verbose enough to show the step's own log line.
        let output = String::from_utf8_lossy(&alur.output.lock().unwrap()).to_string();
        assert!(output.contains("1ZLATE at http://127.0.0.1"), "{output}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn tracking_with_a_wrong_secret_fails_with_carrier_auth() {
        let carrier = Carrier::start(vec![("1ZAUTH", vec![delivered()])]).await;
        let alur = Alur::start(&definition(&carrier.base)).await;
        let wrong = "trk-live-0000000000000000";
        let (status, body) =
            alur.c.json("PUT", "/v1/secrets/carrier-api-key", &alur.key, json!({"value": wrong})).await;
        assert!(status.is_success(), "{status} {body}");

        let done = alur.track("1ZAUTH").await;
        assert_eq!(done["status"], "failed", "{done}");
        assert_eq!((&done["error"]["kind"], &done["error"]["code"]), (&json!("internal"), &json!("carrier-auth")));
        // A configuration problem: not retried, so the carrier was asked once.
        assert_eq!(carrier.requests("1ZAUTH"), [format!("Bearer {wrong}")]);
        let events = alur.history(&done).await;
        assert!(outputs(&events, "poll").is_empty(), "{events:#?}");
        let history = serde_json::to_string(&events).unwrap();
        assert!(!history.contains(wrong), "the wrong key is a secret too: {history}");
        alur.assert_secret_kept(&done).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn tracking_a_carrier_outside_the_allow_list_is_refused() {
        let carrier = Carrier::start(vec![("1ZDENIED", vec![delivered()])]).await;
        // Same host, another port: the allow list matches scheme, host and port exactly.
        let yaml = replaced(
            &example("shipment-tracking.yaml"),
            r#"allow: ["https://api.carrier.example"]"#,
            r#"allow: ["http://127.0.0.1:9"]"#,
        );
        let yaml = replaced(&yaml, "https://api.carrier.example", &carrier.base);
        let alur = Alur::start(&yaml).await;

        let done = alur.track("1ZDENIED").await;
        assert_eq!(done["status"], "failed", "{done}");
        assert_eq!((&done["error"]["kind"], &done["error"]["code"]), (&json!("internal"), &json!("host-not-allowed")));
        let message = done["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("\"{}\"", carrier.base)), "names the origin to allow: {message}");
        assert_eq!(carrier.total_requests(), 0, "nothing left the sandbox");
        alur.assert_secret_kept(&done).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn tracking_an_unknown_number_fails_and_a_stuck_or_unreachable_shipment_is_given_up() {
        let carrier = Carrier::start(vec![
            ("1ZSTUCK", vec![in_transit("2025-03-14T12:00:00Z")]),
            ("1ZDOWN", vec![(503, json!({"error": "maintenance"}))]),
        ])
        .await;
        let yaml = replaced(&definition(&carrier.base), ".vars.polls >= 72", ".vars.polls >= 3");
        let alur = Alur::start(&yaml).await;

        let done = alur.track("1ZNOPE").await;
        assert_eq!(done["status"], "failed", "{done}");
        assert_eq!(done["error"]["code"], "unknown-tracking-number", "{done}");
        let events = alur.history(&done).await;
        assert!(events.iter().any(|e| e["type"] == "error-routed" && e["to"] == "unknown"), "{events:#?}");
        assert_eq!(carrier.requests("1ZNOPE").len(), 1, "a 404 is not retried");

        let done = alur.track("1ZSTUCK").await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(
            done["output"],
            json!({"tracking_number": "1ZSTUCK", "status": "gave-up", "carrier_status": "in_transit", "polls": 3})
        );
        assert_eq!(carrier.requests("1ZSTUCK").len(), 3);

        // The carrier is down for good: each poll is tried four times, then the instance sleeps to the next
        // poll instead of failing, and gives up after the third.
        let done = alur.track("1ZDOWN").await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(
            done["output"],
            json!({"tracking_number": "1ZDOWN", "status": "gave-up", "carrier_status": null, "polls": 3})
        );
        let events = alur.history(&done).await;
        assert_eq!(failures(&events, "poll").len(), 12, "{events:#?}");
        assert_eq!(events.iter().filter(|e| e["type"] == "error-routed" && e["to"] == "count").count(), 3);
        assert_eq!(carrier.requests("1ZDOWN").len(), 12);
        alur.assert_secret_kept(&done).await;
    }
}
