//! # scm-carrier-track: ask a carrier's tracking API where a shipment is
//!
//! The step calls `GET {base_url}/v1/tracking/{tracking_number}` with `Authorization: Bearer {api_key}` over
//! `wasi:http/outgoing-handler`, reads the carrier's answer and says whether the shipment was delivered and
//! whether it is late against the date promised to the customer.
//!
//! The runtime only lets the request out when the step's `http.allow` list in the process definition names the
//! carrier's origin (`scheme://host[:port]`); the API key comes from a tenant secret by reference, so it is in
//! neither the definition nor the journal:
//!
//! ```yaml
//! - id: poll
//!   plugin: scm-carrier-track
//!   input: '{tracking_number: .input.tracking_number, promised_by: .input.promised_by}'
//!   config: { base_url: "https://api.carrier.example" }
//!   secrets: { api_key: carrier-api-key }
//!   http: { allow: ["https://api.carrier.example"] }
//!   retry: { max-attempts: 4, backoff: exponential, initial: 2s, max: 30s }
//! ```
//!
//! ## Input
//!
//! `{"tracking_number": "1Z999AA10123456784", "promised_by": "2025-03-14T18:00:00Z"}`. Spaces inside the
//! tracking number are dropped (people copy them from labels); what is left must be 1 to 64 letters, digits,
//! `-` or `_`, so that it is one path segment. `promised_by` (RFC 3339) is optional; without it only an
//! `exception` makes the shipment delayed. Other fields (`carrier`, `order_id`, ...) are ignored.
//!
//! ## Config
//!
//! | key                  | default    | meaning                                                                  |
//! |----------------------|------------|--------------------------------------------------------------------------|
//! | `base_url`           | (required) | `http(s)://host[:port][/prefix]` of the carrier's API                    |
//! | `api_key`            | (required) | the bearer token; set it with `secrets: { api_key: <secret name> }`, never inline |
//! | `request_timeout_ms` | 4000       | connect, first-byte and between-bytes timeout of the request; keep it under the step's `timeout` so that a slow carrier is a `transient` error, which the retry policy retries, rather than a host `timeout` fault |
//!
//! ## The carrier's answer
//!
//! `{"status": "in_transit" | "out_for_delivery" | "delivered" | "exception", "eta": RFC 3339 or null,
//!   "events": [{"at": RFC 3339, "location": "...", "description": "..."}]}`; unknown fields are ignored.
//!
//! ## Output
//!
//! ```json
//! {"tracking_number": "1Z999AA10123456784", "status": "in_transit", "delivered": false,
//!  "eta": "2025-03-15T12:00:00Z", "delayed": true,
//!  "last_event": {"at": "2025-03-12T08:10:00Z", "location": "Leipzig hub", "description": "Departed facility"}}
//! ```
//!
//! `delivered` is `status == "delivered"`. `delayed` is true when the status is `exception`, or when the ETA is
//! later than `promised_by` (compared as instants, whatever their offsets). `last_event` is the event with the
//! latest `at` (on a tie, the later one in the list), or `null` when there is none.
//!
//! ## Errors
//!
//! | when                                              | kind            | code                      |
//! |---------------------------------------------------|-----------------|---------------------------|
//! | no, blank or malformed `tracking_number`          | `invalid-input` | `missing-tracking-number`, `invalid-tracking-number` |
//! | `promised_by` is not RFC 3339                     | `invalid-input` | `invalid-timestamp`       |
//! | the carrier answers 404                           | `business`      | `unknown-tracking-number` |
//! | the carrier answers 401 or 403 (wrong or revoked key) | `internal`  | `carrier-auth`            |
//! | 429, 5xx, connection refused/reset, DNS, timeouts | `transient`     | `carrier-unavailable`     |
//! | the runtime refused the host (not in `http.allow`) | `internal`     | `host-not-allowed` (the message names the origin) |
//! | another status, a redirect, a body that is not the documented JSON | `internal` | `carrier-bad-response` |
//! | `base_url` or `api_key` missing or malformed      | `internal`      | `invalid-config`          |
//!
//! The API key never appears in an output, an error or a log line of this step.
//!
//! ## Design
//!
//! The HTTP exchange sits behind the [`Transport`] trait: on wasm it is [`wasi_http::WasiHttp`]; in native unit
//! tests a fake, so that the request building and every decision above are tested without a network.

use alur_sdk::{Context, Step, StepError, config, log};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[cfg(target_arch = "wasm32")]
pub mod wasi_http;

/// The most of a carrier's answer the step reads; a tracking answer is a few KiB, so more is not one.
pub const MAX_BODY: usize = 1 << 20;
/// Longest tracking number accepted; real ones are 10 to 40 characters.
const MAX_TRACKING_LEN: usize = 64;

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP (a local carrier sandbox, tests).
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// The scheme as it is written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The carrier's API root, from the `base_url` config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Its scheme.
    pub scheme: Scheme,
    /// `host[:port]`.
    pub authority: String,
    /// A path prefix without a trailing `/` (empty for the root).
    pub prefix: String,
}

impl Endpoint {
    /// Parses `http(s)://host[:port][/prefix]`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Endpoint, String> {
        let text = text.trim();
        let (scheme, rest) = text.split_once("://").ok_or("it has no `http://` or `https://`")?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => return Err(format!("the scheme `{other}` is not http or https")),
        };
        let (authority, prefix) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err("it has no host".into());
        }
        // Credentials in the URL would end up in logs and errors; the key belongs in the `api_key` secret.
        if authority.contains('@') {
            return Err("credentials in the URL are not allowed: put the key in the `api_key` secret".into());
        }
        if authority.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '\\')) {
            return Err("the host has characters a host cannot have".into());
        }
        if let Some((_, port)) = authority.rsplit_once(':')
            && !authority.ends_with(']')
            && port.parse::<u16>().is_err()
        {
            return Err(format!("the port `{port}` is not a number up to 65535"));
        }
        if prefix.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#')) {
            return Err("the path has a query, a fragment or whitespace".into());
        }
        Ok(Endpoint {
            scheme,
            authority: authority.to_ascii_lowercase(),
            prefix: prefix.trim_end_matches('/').to_string(),
        })
    }

    /// `scheme://host[:port]`, the form the step's `http.allow` list uses.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme.as_str(), self.authority)
    }
}

/// An HTTP GET for a [`Transport`] to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Its scheme.
    pub scheme: Scheme,
    /// `host[:port]`.
    pub authority: String,
    /// Path (and query) starting with `/`.
    pub path: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// Connect, first-byte and between-bytes timeout.
    pub timeout: Duration,
}

impl Request {
    /// `scheme://host[:port]`.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme.as_str(), self.authority)
    }

    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The body, at most [`MAX_BODY`] bytes.
    pub body: Vec<u8>,
}

/// Why no response came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The runtime refused the request: its origin is not in the step's `http.allow` list.
    Denied(String),
    /// The carrier could not be reached or did not answer in time; another try may work.
    Unreachable(String),
    /// Anything else: a request the host rejects, a protocol error, an oversized answer.
    Failed(String),
}

/// Sends one request; the seam between the step's logic and the network.
pub trait Transport {
    /// Sends `request` and reads the whole response.
    fn send(&mut self, request: &Request) -> Result<Response, TransportError>;
}

/// The step's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// The carrier's tracking number.
    #[serde(default)]
    pub tracking_number: Option<String>,
    /// When the customer was promised the delivery, RFC 3339.
    #[serde(default)]
    pub promised_by: Option<String>,
    /// The rest of the shipment (`carrier`, `order_id`, ...), unused; flattened so that only a JSON object is an
    /// input (serde would otherwise read `["1Z999"]` as a struct, field by field).
    #[serde(flatten, skip_serializing)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

/// A carrier's shipment status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// On its way.
    InTransit,
    /// On the van for today's delivery.
    OutForDelivery,
    /// Arrived.
    Delivered,
    /// The carrier reports a problem (failed delivery, damage, customs hold).
    Exception,
}

impl Status {
    const ALL: [Status; 4] = [Status::InTransit, Status::OutForDelivery, Status::Delivered, Status::Exception];

    /// The status as the carrier writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InTransit => "in_transit",
            Status::OutForDelivery => "out_for_delivery",
            Status::Delivered => "delivered",
            Status::Exception => "exception",
        }
    }

    fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One scan event in the carrier's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingEvent {
    /// When, RFC 3339.
    pub at: String,
    /// Where.
    #[serde(default)]
    pub location: Option<String>,
    /// What happened.
    #[serde(default)]
    pub description: Option<String>,
}

/// The carrier's answer as it comes over the wire.
#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    eta: Option<String>,
    #[serde(default)]
    events: Vec<TrackingEvent>,
}

/// The step's output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Output {
    /// The tracking number asked for (spaces removed).
    pub tracking_number: String,
    /// The carrier's status.
    pub status: Status,
    /// `status == delivered`.
    pub delivered: bool,
    /// The carrier's estimated delivery, as it gave it.
    pub eta: Option<String>,
    /// An exception, or an ETA after the promised date.
    pub delayed: bool,
    /// The latest event.
    pub last_event: Option<TrackingEvent>,
}

/// What the step reads from its config.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// The carrier's API root.
    pub endpoint: Endpoint,
    /// The bearer token.
    pub api_key: String,
    /// The request's timeouts.
    pub timeout: Duration,
}

// By hand, so that the key never reaches a log line or a test failure message through `{:?}`.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("endpoint", &self.endpoint)
            .field("api_key", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn invalid_config(message: impl Into<String>) -> StepError {
    StepError::internal("invalid-config", message)
}

impl Settings {
    /// Reads the settings from the step's config.
    pub fn from_config() -> Result<Settings, StepError> {
        let base_url = config::get("base_url")
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| invalid_config("config key `base_url` (the carrier's API root) is required"))?;
        let endpoint = Endpoint::parse(&base_url)
            .map_err(|why| invalid_config(format!("config key `base_url` = `{base_url}`: {why}")))?;
        let api_key = config::get("api_key").map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).ok_or_else(|| {
            invalid_config(
                "config key `api_key` is missing: give the step `secrets: { api_key: <secret name> }` and store the \
                 carrier's key with PUT /v1/secrets/<secret name>",
            )
        })?;
        // Never echo the value: it is a secret, and the runtime's redaction is a second line, not the first.
        if api_key.chars().any(|c| c.is_control() || c == ' ') {
            return Err(invalid_config("config key `api_key` has spaces or control characters: not a bearer token"));
        }
        let timeout_ms = config::parse::<u64>("request_timeout_ms")?.unwrap_or(4000);
        if timeout_ms == 0 {
            return Err(invalid_config("config key `request_timeout_ms` must be positive"));
        }
        Ok(Settings { endpoint, api_key, timeout: Duration::from_millis(timeout_ms) })
    }
}

/// The tracking number without spaces, checked to be one safe path segment.
pub fn normalize_tracking_number(raw: Option<&str>) -> Result<String, StepError> {
    let number: String = raw.unwrap_or_default().chars().filter(|c| *c != ' ').collect();
    if number.is_empty() {
        return Err(StepError::invalid_input("missing-tracking-number", "the input needs a `tracking_number`"));
    }
    if number.len() > MAX_TRACKING_LEN || !number.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(StepError::invalid_input(
            "invalid-tracking-number",
            format!(
                "tracking number `{}` is not 1 to {MAX_TRACKING_LEN} letters, digits, `-` or `_`",
                number.chars().take(80).collect::<String>()
            ),
        ));
    }
    Ok(number)
}

fn timestamp(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text.trim()).ok()
}

/// The request for `tracking_number`.
pub fn request(settings: &Settings, tracking_number: &str) -> Request {
    Request {
        scheme: settings.endpoint.scheme,
        authority: settings.endpoint.authority.clone(),
        path: format!("{}/v1/tracking/{tracking_number}", settings.endpoint.prefix),
        headers: vec![
            ("authorization".into(), format!("Bearer {}", settings.api_key)),
            ("accept".into(), "application/json".into()),
            ("user-agent".into(), concat!("alur-scm-carrier-track/", env!("CARGO_PKG_VERSION")).into()),
        ],
        timeout: settings.timeout,
    }
}

/// A transport failure as a step error.
pub fn transport_error(error: TransportError, origin: &str) -> StepError {
    match error {
        TransportError::Denied(why) => StepError::internal(
            "host-not-allowed",
            format!(
                "the runtime refused the request to {origin} ({why}): add \"{origin}\" to the step's `http.allow` list"
            ),
        ),
        TransportError::Unreachable(why) => {
            StepError::transient("carrier-unavailable", format!("the carrier at {origin} could not be reached: {why}"))
        }
        TransportError::Failed(why) => {
            StepError::internal("carrier-bad-response", format!("the request to {origin} failed: {why}"))
        }
    }
}

/// A short, printable piece of a body for an error message.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text: String = text.chars().take(200).map(|c| if c.is_control() { ' ' } else { c }).collect();
    text.trim().to_string()
}

/// The step's decision on one response.
pub fn interpret(
    response: &Response,
    tracking_number: &str,
    promised_by: Option<DateTime<FixedOffset>>,
    origin: &str,
) -> Result<Output, StepError> {
    let status = response.status;
    match status {
        200..=299 => {}
        404 => {
            return Err(StepError::business(
                "unknown-tracking-number",
                format!("the carrier at {origin} does not know tracking number {tracking_number}"),
            ));
        }
        401 | 403 => {
            return Err(StepError::internal(
                "carrier-auth",
                format!(
                    "the carrier at {origin} refused the API key (HTTP {status}): check the secret behind the \
                     step's `api_key`"
                ),
            ));
        }
        429 | 500..=599 => {
            return Err(StepError::transient(
                "carrier-unavailable",
                format!("the carrier at {origin} answered HTTP {status}: {}", snippet(&response.body)),
            ));
        }
        _ => {
            return Err(StepError::internal(
                "carrier-bad-response",
                format!("the carrier at {origin} answered HTTP {status}: {}", snippet(&response.body)),
            ));
        }
    }
    let bad = |why: String| StepError::internal("carrier-bad-response", format!("the carrier at {origin}: {why}"));
    let answer: Answer = serde_json::from_slice(&response.body)
        .map_err(|e| bad(format!("the answer is not the tracking JSON ({e}): {}", snippet(&response.body))))?;
    let status = Status::parse(answer.status.trim())
        .ok_or_else(|| bad(format!("unknown shipment status `{}`", answer.status)))?;
    let eta = match answer.eta.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        None => None,
        Some(text) => {
            Some((text.to_string(), timestamp(text).ok_or_else(|| bad(format!("the eta `{text}` is not RFC 3339")))?))
        }
    };
    let mut last: Option<(DateTime<FixedOffset>, &TrackingEvent)> = None;
    for event in &answer.events {
        let at = timestamp(&event.at).ok_or_else(|| bad(format!("the event time `{}` is not RFC 3339", event.at)))?;
        if last.is_none_or(|(latest, _)| at >= latest) {
            last = Some((at, event));
        }
    }
    let late = matches!((&eta, promised_by), (Some((_, eta)), Some(promised)) if *eta > promised);
    Ok(Output {
        tracking_number: tracking_number.to_string(),
        status,
        delivered: status == Status::Delivered,
        eta: eta.map(|(text, _)| text),
        delayed: status == Status::Exception || late,
        last_event: last.map(|(_, e)| e.clone()),
    })
}

/// Asks the carrier about `input`'s shipment through `transport`.
pub fn track(input: Input, settings: &Settings, transport: &mut dyn Transport) -> Result<Output, StepError> {
    let tracking_number = normalize_tracking_number(input.tracking_number.as_deref())?;
    let promised_by = match input.promised_by.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        None => None,
        Some(text) => Some(timestamp(text).ok_or_else(|| {
            StepError::invalid_input(
                "invalid-timestamp",
                format!("`promised_by` = `{text}` is not an RFC 3339 timestamp"),
            )
        })?),
    };
    let origin = settings.endpoint.origin();
    let response = transport.send(&request(settings, &tracking_number)).map_err(|e| transport_error(e, &origin))?;
    interpret(&response, &tracking_number, promised_by, &origin)
}

/// The transport `run` uses: wasi-http on wasm.
#[cfg(target_arch = "wasm32")]
fn transport() -> Box<dyn Transport> {
    Box::new(wasi_http::WasiHttp)
}

/// Off wasm there is no host to send through, except the fake a unit test installs.
#[cfg(not(target_arch = "wasm32"))]
fn transport() -> Box<dyn Transport> {
    native::take()
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::{Request, Response, Transport, TransportError};
    use std::cell::RefCell;

    thread_local! {
        static NEXT: RefCell<Option<Box<dyn Transport>>> = RefCell::new(None);
    }

    /// Makes the next `run` on this thread send through `transport`.
    #[cfg_attr(not(test), expect(dead_code, reason = "only the unit tests install a transport"))]
    pub fn install(transport: Box<dyn Transport>) {
        NEXT.with(|n| *n.borrow_mut() = Some(transport));
    }

    struct NoNetwork;

    impl Transport for NoNetwork {
        fn send(&mut self, _: &Request) -> Result<Response, TransportError> {
            Err(TransportError::Failed("no outbound HTTP outside the wasm sandbox".into()))
        }
    }

    pub fn take() -> Box<dyn Transport> {
        NEXT.with(|n| n.borrow_mut().take()).unwrap_or_else(|| Box::new(NoNetwork))
    }
}

/// The tracking step.
pub struct CarrierTrack;

impl Step for CarrierTrack {
    type Input = Input;
    type Output = Output;

    fn run(_ctx: &Context, input: Input) -> Result<Output, StepError> {
        let settings = Settings::from_config()?;
        let out = track(input, &settings, transport().as_mut())?;
        log::info(&format!(
            "{} at {}: {}{}",
            out.tracking_number,
            settings.endpoint.origin(),
            out.status.as_str(),
            if out.delayed { ", delayed" } else { "" }
        ));
        Ok(out)
    }
}

alur_sdk::export_step!(CarrierTrack);

#[cfg(test)]
mod tests;
