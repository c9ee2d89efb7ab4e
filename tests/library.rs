//! The CRM/SCM process library (`examples/processes/`), every process through the HTTP API with its sample inputs.

/// `lead-intake` and `case-escalation` with the Rust plugins `crm-lead-score`, `crm-assign-owner`,
/// `crm-create-task` and `crm-case-sla` (built into `target/plugins/` by `plugins/build`).
mod crm {
    use alur_tests::plugin_path;
    use alur_tests::server::{Client, Server};
    use reqwest::StatusCode;
    use serde_json::{Value, json};
    use std::time::{Duration, Instant};

    /// A file of `examples/processes/`.
    fn example(file: &str) -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
        let path = root.join("examples/processes").join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    fn sample(file: &str) -> Value {
        serde_json::from_str(&example(file)).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"))
    }

    /// `text` with `from` replaced by `to`, which must be there: a test must not silently keep a 30-day timer.
    fn replaced(text: &str, from: &str, to: &str) -> String {
        assert!(text.contains(from), "`{from}` is not in the definition any more");
        text.replace(from, to)
    }

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
