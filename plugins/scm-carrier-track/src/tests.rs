use super::*;
use alur_sdk::ErrorKind;
use alur_sdk::testing::{reset, set_config, snapshot};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

const KEY: &str = "sk_live_9f8e7d6c5b4a";

/// Answers with scripted results in order and keeps every request it was given.
#[derive(Clone, Default)]
struct Fake {
    answers: Rc<RefCell<VecDeque<Result<Response, TransportError>>>>,
    sent: Rc<RefCell<Vec<Request>>>,
}

impl Fake {
    fn answering(answers: Vec<Result<Response, TransportError>>) -> Fake {
        Fake { answers: Rc::new(RefCell::new(answers.into())), ..Fake::default() }
    }

    fn sent(&self) -> Vec<Request> {
        self.sent.borrow().clone()
    }
}

impl Transport for Fake {
    fn send(&mut self, request: &Request) -> Result<Response, TransportError> {
        self.sent.borrow_mut().push(request.clone());
        self.answers.borrow_mut().pop_front().expect("the test scripted an answer for every request")
    }
}

fn ok(status: u16, body: Value) -> Result<Response, TransportError> {
    Ok(Response { status, body: body.to_string().into_bytes() })
}

fn raw(status: u16, body: &str) -> Result<Response, TransportError> {
    Ok(Response { status, body: body.as_bytes().to_vec() })
}

fn configure() {
    reset();
    set_config("base_url", "https://api.carrier.example");
    set_config("api_key", KEY);
}

/// Runs the step as the runtime would (JSON in, JSON out) with `fake` as the network.
fn run(input: Value, fake: &Fake) -> Result<Value, StepError> {
    native::install(Box::new(fake.clone()));
    let ctx = Context::for_test("poll");
    let out = alur_sdk::__private::run_json::<CarrierTrack>(&ctx, &input.to_string())?;
    Ok(serde_json::from_str(&out).unwrap())
}

fn shipment() -> Value {
    json!({"tracking_number": "1Z999AA10123456784", "promised_by": "2025-03-14T18:00:00Z", "carrier": "UPS"})
}

fn in_transit(eta: &str) -> Value {
    json!({
        "status": "in_transit", "eta": eta,
        "events": [
            {"at": "2025-03-11T17:00:00Z", "location": "Hamburg", "description": "Picked up"},
            {"at": "2025-03-12T08:10:00Z", "location": "Leipzig hub", "description": "Departed facility"}
        ]
    })
}

#[track_caller]
fn assert_error(result: Result<Value, StepError>, kind: ErrorKind, code: &str) -> StepError {
    let err = result.expect_err("the step should fail");
    assert_eq!((err.kind, err.code.as_str()), (kind, code), "{err}");
    assert!(!err.message.is_empty());
    assert!(!err.message.contains(KEY), "the key leaked into an error: {err}");
    err
}

#[test]
fn in_transit_on_time_sends_one_authenticated_get() {
    configure();
    let fake = Fake::answering(vec![ok(200, in_transit("2025-03-14T12:00:00Z"))]);
    let out = run(shipment(), &fake).unwrap();
    assert_eq!(
        out,
        json!({
            "tracking_number": "1Z999AA10123456784", "status": "in_transit", "delivered": false,
            "eta": "2025-03-14T12:00:00Z", "delayed": false,
            "last_event": {"at": "2025-03-12T08:10:00Z", "location": "Leipzig hub", "description": "Departed facility"}
        })
    );
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    let req = &sent[0];
    assert_eq!((req.scheme, req.authority.as_str()), (Scheme::Https, "api.carrier.example"));
    assert_eq!(req.path, "/v1/tracking/1Z999AA10123456784");
    assert_eq!(req.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(req.header("accept"), Some("application/json"));
    assert_eq!(req.timeout, Duration::from_millis(4000));
    let logs = snapshot().logs;
    assert!(logs.iter().any(|(_, line)| line.contains("1Z999AA10123456784")), "{logs:?}");
    assert!(logs.iter().all(|(_, line)| !line.contains(KEY)), "the key leaked into the log: {logs:?}");
}

#[test]
fn an_eta_after_the_promise_is_delayed_compared_as_instants() {
    configure();
    for (eta, delayed) in [
        ("2025-03-14T18:00:01Z", true),
        ("2025-03-14T18:00:00Z", false),
        // 18:30 UTC: later than 18:00 UTC although its clock reads 19:30.
        ("2025-03-14T19:30:00+01:00", true),
        // 17:30 UTC: earlier, although its clock reads 18:30.
        ("2025-03-14T18:30:00+01:00", false),
        ("2025-03-15T09:00:00.250Z", true),
    ] {
        let fake = Fake::answering(vec![ok(200, in_transit(eta))]);
        let out = run(shipment(), &fake).unwrap();
        assert_eq!((&out["delayed"], &out["eta"]), (&json!(delayed), &json!(eta)), "eta {eta}");
    }
    // The promise may carry an offset too.
    let mut input = shipment();
    input["promised_by"] = json!("2025-03-14T20:00:00+02:00");
    let fake = Fake::answering(vec![ok(200, in_transit("2025-03-14T18:30:00Z"))]);
    assert_eq!(run(input, &fake).unwrap()["delayed"], true);
}

#[test]
fn an_exception_is_delayed_even_without_a_promise_or_an_eta() {
    configure();
    let answer = json!({"status": "exception", "eta": null,
        "events": [{"at": "2025-03-13T10:00:00Z", "location": "Dresden", "description": "Address not found"}]});
    let fake = Fake::answering(vec![ok(200, answer.clone()), ok(200, json!({"status": "in_transit"}))]);
    let out = run(json!({"tracking_number": "JD0146000087"}), &fake).unwrap();
    assert_eq!((&out["status"], &out["delayed"], &out["eta"]), (&json!("exception"), &json!(true), &Value::Null));
    assert_eq!(out["last_event"]["description"], "Address not found");
    // No promise, no ETA, no events: in transit is not delayed, and there is no last event.
    let out = run(json!({"tracking_number": "JD0146000087"}), &fake).unwrap();
    assert_eq!((&out["delayed"], &out["last_event"]), (&json!(false), &Value::Null));
}

#[test]
fn delivered_takes_the_latest_event_whatever_the_list_order() {
    configure();
    let answer = json!({
        "status": "delivered", "eta": "2025-03-13T11:00:00Z", "carrier_ref": "ignored",
        "events": [
            {"at": "2025-03-13T11:42:00+01:00", "location": "Berlin", "description": "Delivered, signed by A. Silva"},
            {"at": "2025-03-13T10:30:00Z", "location": "Berlin", "description": "Out for delivery"},
            {"at": "2025-03-11T17:00:00Z", "location": "Hamburg"}
        ]
    });
    let fake = Fake::answering(vec![ok(200, answer)]);
    let out = run(shipment(), &fake).unwrap();
    assert_eq!(
        (&out["status"], &out["delivered"], &out["delayed"]),
        (&json!("delivered"), &json!(true), &json!(false))
    );
    // 11:42+01:00 is 10:42 UTC, the latest of the three though it is listed first.
    assert_eq!(out["last_event"]["description"], "Delivered, signed by A. Silva");

    // Same instant twice: the one listed later wins; a missing location or description is null.
    let tie = json!({"status": "out_for_delivery", "events": [
        {"at": "2025-03-13T08:00:00Z", "description": "Loaded"},
        {"at": "2025-03-13T09:00:00+01:00", "description": "On the van"}]});
    let fake = Fake::answering(vec![ok(200, tie)]);
    let out = run(shipment(), &fake).unwrap();
    assert_eq!(out["status"], "out_for_delivery");
    assert_eq!(
        out["last_event"],
        json!({"at": "2025-03-13T09:00:00+01:00", "location": null, "description": "On the van"})
    );
}

#[test]
fn http_statuses_map_to_error_kinds() {
    configure();
    let cases: Vec<(u16, ErrorKind, &str)> = vec![
        (404, ErrorKind::Business, "unknown-tracking-number"),
        (401, ErrorKind::Internal, "carrier-auth"),
        (403, ErrorKind::Internal, "carrier-auth"),
        (429, ErrorKind::Transient, "carrier-unavailable"),
        (500, ErrorKind::Transient, "carrier-unavailable"),
        (502, ErrorKind::Transient, "carrier-unavailable"),
        (503, ErrorKind::Transient, "carrier-unavailable"),
        (301, ErrorKind::Internal, "carrier-bad-response"),
        (400, ErrorKind::Internal, "carrier-bad-response"),
        (410, ErrorKind::Internal, "carrier-bad-response"),
    ];
    for (status, kind, code) in cases {
        let fake = Fake::answering(vec![raw(status, r#"{"error": "nope"}"#)]);
        let err = assert_error(run(shipment(), &fake), kind, code);
        assert!(err.message.contains("https://api.carrier.example"), "the carrier is named: {err}");
        if status == 404 {
            assert!(err.message.contains("1Z999AA10123456784"), "{err}");
        } else {
            assert!(err.message.contains(&status.to_string()), "{err}");
        }
    }
}

#[test]
fn transport_failures_are_transient_or_name_the_refused_host() {
    configure();
    set_config("base_url", "http://127.0.0.1:8089/carrier/");
    let fake = Fake::answering(vec![
        Err(TransportError::Unreachable("ConnectionRefused".into())),
        Err(TransportError::Denied("HttpRequestDenied".into())),
        Err(TransportError::Failed("HttpProtocolError".into())),
    ]);
    let err = assert_error(run(shipment(), &fake), ErrorKind::Transient, "carrier-unavailable");
    assert!(err.message.contains("ConnectionRefused"), "{err}");
    let err = assert_error(run(shipment(), &fake), ErrorKind::Internal, "host-not-allowed");
    assert!(err.message.contains("\"http://127.0.0.1:8089\""), "the message names the origin to allow: {err}");
    assert!(err.message.contains("http.allow"), "{err}");
    assert_error(run(shipment(), &fake), ErrorKind::Internal, "carrier-bad-response");
    // The prefix of the base URL is kept in the path.
    assert!(fake.sent().iter().all(|r| r.path == "/carrier/v1/tracking/1Z999AA10123456784"));
}

#[test]
fn answers_that_are_not_the_documented_json_are_internal_errors() {
    configure();
    for (body, needle) in [
        ("<html>gateway</html>", "<html>gateway</html>"),
        (r#"{"eta": null}"#, "missing field `status`"),
        (r#"{"status": "teleported"}"#, "teleported"),
        (r#"{"status": "in_transit", "eta": "Friday"}"#, "Friday"),
        (r#"{"status": "in_transit", "events": [{"at": "yesterday"}]}"#, "yesterday"),
        (r#"{"status": "in_transit", "events": {"at": "2025-03-13T08:00:00Z"}}"#, "not the tracking JSON"),
    ] {
        let fake = Fake::answering(vec![raw(200, body)]);
        let err = assert_error(run(shipment(), &fake), ErrorKind::Internal, "carrier-bad-response");
        assert!(err.message.contains(needle), "{body}: {err}");
    }
}

#[test]
fn bad_input_is_invalid_input_and_sends_nothing() {
    configure();
    let fake = Fake::default();
    for (input, code) in [
        (json!({}), "missing-tracking-number"),
        (json!({"tracking_number": "   "}), "missing-tracking-number"),
        (json!({"tracking_number": "../../admin"}), "invalid-tracking-number"),
        (json!({"tracking_number": "1Z/999"}), "invalid-tracking-number"),
        (json!({"tracking_number": "1Z999?x=1"}), "invalid-tracking-number"),
        (json!({"tracking_number": "X".repeat(65)}), "invalid-tracking-number"),
        (json!({"tracking_number": "1Z999", "promised_by": "next week"}), "invalid-timestamp"),
        (json!({"tracking_number": 42}), "invalid-input"),
        (json!(["1Z999"]), "invalid-input"),
    ] {
        assert_error(run(input.clone(), &fake), ErrorKind::InvalidInput, code);
    }
    assert!(fake.sent().is_empty(), "no request for bad input");
    // Spaces from a label are dropped; 64 characters are fine.
    let fake =
        Fake::answering(vec![ok(200, in_transit("2025-03-14T12:00:00Z")), ok(200, in_transit("2025-03-14T12:00:00Z"))]);
    let out = run(json!({"tracking_number": " 1Z 999 AA1 0123 4567 84 "}), &fake).unwrap();
    assert_eq!(out["tracking_number"], "1Z999AA10123456784");
    run(json!({"tracking_number": "A".repeat(64), "promised_by": ""}), &fake).unwrap();
    assert_eq!(fake.sent()[1].path, format!("/v1/tracking/{}", "A".repeat(64)));
}

#[test]
fn bad_config_is_an_invalid_config_error_that_never_echoes_the_key() {
    for (key, value, needle) in [
        ("base_url", "", "`base_url`"),
        ("base_url", "api.carrier.example", "http://"),
        ("base_url", "ftp://api.carrier.example", "ftp"),
        ("base_url", "https://", "no host"),
        ("base_url", "https://user:pw@api.carrier.example", "credentials"),
        ("base_url", "https://api.carrier.example:99999", "99999"),
        ("base_url", "https://api.carrier.example/v2?x=1", "query"),
        ("api_key", "", "secrets:"),
        ("api_key", "two words", "`api_key`"),
        ("request_timeout_ms", "0", "positive"),
        ("request_timeout_ms", "soon", "soon"),
    ] {
        configure();
        set_config(key, value);
        let fake = Fake::default();
        let err = assert_error(run(shipment(), &fake), ErrorKind::Internal, "invalid-config");
        assert!(err.message.contains(needle), "{key} = {value}: {err}");
        assert!(fake.sent().is_empty());
    }
    reset();
    set_config("base_url", "https://api.carrier.example");
    let err = assert_error(run(shipment(), &Fake::default()), ErrorKind::Internal, "invalid-config");
    assert!(err.message.contains("PUT /v1/secrets/"), "says how to provide the key: {err}");
    // Debug output of the settings hides the key too.
    configure();
    let settings = Settings::from_config().unwrap();
    assert!(!format!("{settings:?}").contains(KEY));
}

#[test]
fn base_urls_keep_port_and_prefix() {
    let e = Endpoint::parse(" HTTPS://API.Carrier.example:8443/track/v2/ ").unwrap();
    assert_eq!(
        e,
        Endpoint { scheme: Scheme::Https, authority: "api.carrier.example:8443".into(), prefix: "/track/v2".into() }
    );
    assert_eq!(e.origin(), "https://api.carrier.example:8443");
    let e = Endpoint::parse("http://127.0.0.1:8089").unwrap();
    assert_eq!((e.origin(), e.prefix.as_str()), ("http://127.0.0.1:8089".to_string(), ""));
    let e = Endpoint::parse("http://[::1]:8089/").unwrap();
    assert_eq!((e.authority.as_str(), e.prefix.as_str()), ("[::1]:8089", ""));
    configure();
    set_config("request_timeout_ms", "2500");
    let s = Settings::from_config().unwrap();
    let req = request(&s, "ABC");
    assert_eq!((req.timeout, req.origin()), (Duration::from_millis(2500), "https://api.carrier.example".to_string()));
}

#[test]
fn off_wasm_without_a_fake_there_is_no_network() {
    configure();
    let ctx = Context::for_test("poll");
    let err = alur_sdk::__private::run_json::<CarrierTrack>(&ctx, &shipment().to_string()).unwrap_err();
    assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Internal, "carrier-bad-response"));
}
