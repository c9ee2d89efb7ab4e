//! The process definition document (YAML or JSON) and its validation into a [`Process`].
//!
//! The document is read into a [`serde_json::Value`] and walked by hand rather than deserialized into structs,
//! so that every problem can be reported at once, each with a JSON-pointer path into the document
//! (`/steps/2/retry/initial`), instead of stopping at serde's first error. A definition is accepted whole or
//! not at all: the [`Process`] is only built when no problem was found.
//!
//! ```yaml
//! name: lead-intake                       # [a-z0-9][a-z0-9-]*, at most 64
//! description: Scores and routes leads    # optional
//! input-schema: {type: object}            # optional JSON Schema
//! output: '{owner: .steps.assign.owner}'  # optional jq
//! steps:
//!   - id: score
//!     plugin: crm-lead-score
//!     input: '{lead: .input.lead}'
//!   - id: route
//!     switch:
//!       - {when: '.steps.score.score >= 70', then: assign}
//!       - {default: nurture}
//!   - {id: assign, plugin: crm-assign, next: end}
//!   - {id: nurture, wait: {signal: lead-updated, timeout: 30d}, next: score}
//! ```
//!
//! Validation happens in three passes: the walk (shapes, types, expressions, ids), target resolution (every
//! target must name a step of the same sequence), and graph checks per sequence (unreachable steps, loops that
//! never pause). The graph checks of a sequence are skipped when its flow could not be read completely (a step
//! without a kind, an unknown target, ...), because they would only echo the earlier problem.

use super::expr::Expr;
use super::model::{
    Backoff, ErrorRoute, Next, PluginCall, Process, ROOT, RetryPolicy, SeqIdx, SleepSpec, Step, StepIdx, StepKind,
};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// A problem found in a definition, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// JSON-pointer-like path to the offending value (`/steps/2/retry/initial`); empty for the whole document.
    pub path: String,
    /// What is wrong, for people.
    pub message: String,
}

impl Problem {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem { path: path.into(), message: message.into() }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() { write!(f, "{}", self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// Parses and validates a YAML definition (JSON is YAML too).
pub fn parse_yaml(text: &str) -> Result<Process, Vec<Problem>> {
    match serde_yaml::from_str::<Value>(text) {
        Ok(doc) => compile(doc),
        Err(e) => Err(vec![Problem::new("", format!("not valid YAML: {e}"))]),
    }
}

/// The JSON form of a YAML (or JSON) document, which is what gets validated and stored.
pub fn yaml_to_json(text: &str) -> Result<Value, Vec<Problem>> {
    serde_yaml::from_str::<Value>(text).map_err(|e| vec![Problem::new("", format!("not valid YAML: {e}"))])
}

/// Parses and validates a JSON definition.
pub fn parse_json(text: &str) -> Result<Process, Vec<Problem>> {
    match serde_json::from_str::<Value>(text) {
        Ok(doc) => compile(doc),
        Err(e) => Err(vec![Problem::new("", format!("not valid JSON: {e}"))]),
    }
}

/// Validates a definition document and compiles it into a [`Process`], or returns every problem found.
pub fn compile(doc: Value) -> Result<Process, Vec<Problem>> {
    let mut checker = Checker::default();
    let header = checker.document(&doc);
    checker.resolve();
    checker.check_graphs();
    if !checker.problems.is_empty() {
        return Err(checker.problems);
    }
    match header {
        Some(header) => checker.build(header),
        None => Err(vec![Problem::new("", "internal error: the definition was rejected without a problem")]),
    }
}

/// The keys that say what a step does; a step has exactly one.
const KIND_KEYS: &[&str] = &["plugin", "switch", "parallel", "for-each", "wait", "sleep", "call", "set", "fail"];
/// Keys every step may have.
const COMMON_KEYS: &[&str] = &["id", "next", "undo"];
/// Keys only a plugin step may have.
const PLUGIN_KEYS: &[&str] = &["input", "config", "retry", "timeout", "fuel", "memory", "on-error", "http", "secrets"];
/// Failure kinds an `on-error` route can match (the classes the sandbox reports).
const ERROR_KINDS: &[&str] = &[
    "invalid-input",
    "business",
    "transient",
    "internal",
    "trap",
    "out-of-fuel",
    "memory-limit",
    "timeout",
    "invalid-output",
    "link-error",
];
/// The `next` value that ends the sequence; no step may take it as an id.
const END: &str = "end";
const MAX_NAME_LEN: usize = 64;

/// The top-level fields other than the steps.
struct Header {
    name: String,
    input_schema: Option<Value>,
    output: Option<Expr>,
}

/// A step name used as a target, with where it was written.
#[derive(Debug, Clone)]
struct Target {
    name: String,
    path: String,
}

enum NextSpec {
    End,
    Step(Target),
}

/// A step kind as read from the document. Targets are still names: they are resolved once every id is known.
enum Kind {
    Plugin(Box<RawPlugin>),
    Switch { cases: Vec<(Expr, String)>, default: String },
    Parallel(Vec<(String, SeqIdx)>),
    ForEach { items: Expr, concurrency: u32, body: SeqIdx },
    Wait { signal: String, timeout: Option<Duration>, on_timeout: Option<String> },
    Sleep(SleepSpec),
    Call { process: String, input: Option<Expr> },
    Set(Vec<(String, Expr)>),
    Fail { code: String, message: String },
}

struct RawPlugin {
    plugin: String,
    input: Option<Expr>,
    config: BTreeMap<String, String>,
    retry: RetryPolicy,
    timeout: Option<Duration>,
    fuel: Option<u64>,
    memory: Option<usize>,
    on_error: Vec<(Option<String>, Option<String>, String)>,
    http: Vec<crate::sandbox::http::HttpOrigin>,
    secrets: BTreeMap<String, String>,
}

/// A step as read, before its targets are resolved.
struct RawStep {
    path: String,
    seq: SeqIdx,
    id: Option<String>,
    /// The kind key, when the step has exactly one.
    kind_key: Option<&'static str>,
    /// The kind, when it is valid in every detail.
    kind: Option<Kind>,
    next: Option<NextSpec>,
    undo: Option<Target>,
    /// Flow targets other than `next` (switch cases, `on-error`, `on-timeout`).
    targets: Vec<Target>,
    /// Whether every edge leaving the step could be read; graph checks need all of them.
    flow_known: bool,
}

impl RawStep {
    /// Whether the token goes on to the following step when no `next` is given: a `fail` ends the instance
    /// and a `switch` always continues at one of its cases.
    fn falls_through(&self) -> bool {
        !matches!(self.kind_key, Some("fail" | "switch"))
    }

    /// Whether the step pauses durably, which is what makes a loop through it acceptable.
    fn pauses(&self) -> bool {
        matches!(self.kind_key, Some("wait" | "sleep"))
    }
}

#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
    steps: Vec<RawStep>,
    sequences: Vec<Vec<StepIdx>>,
    by_id: HashMap<String, StepIdx>,
    /// Set while walking a step when one of its edges could not be read.
    flow_broken: bool,
    /// Resolved edges of every step, filled by [`Checker::resolve`].
    edges: Vec<Vec<StepIdx>>,
    /// Sequences with an unresolved target: their graph is incomplete.
    incomplete: HashSet<SeqIdx>,
    /// Steps named as some step's `undo`.
    undo_targets: HashSet<StepIdx>,
}

/// Appends an object key to a path, escaped as in JSON pointers.
fn key_path(path: &str, key: &str) -> String {
    format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"))
}

fn index_path(path: &str, index: usize) -> String {
    format!("{path}/{index}")
}

fn is_process_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_NAME_LEN
        && chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_step_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Variable names are plain identifiers so that `.vars.<name>` works in jq without quoting.
fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// How a JSON value's type reads in a message ("a list", "a mapping").
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn quoted_list(items: &[&str]) -> String {
    items.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
}

impl Checker {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    /// Reports every key of `obj` not in `allowed`.
    fn known_keys(&mut self, obj: &Map<String, Value>, path: &str, allowed: &[&str]) {
        for key in obj.keys() {
            if !allowed.contains(&key.as_str()) {
                self.problem(key_path(path, key), format!("unknown key `{key}` (expected {})", quoted_list(allowed)));
            }
        }
    }

    fn required<'v>(&mut self, obj: &'v Map<String, Value>, key: &str, path: &str) -> Option<&'v Value> {
        let value = obj.get(key);
        if value.is_none() {
            self.problem(key_path(path, key), format!("`{key}` is required"));
        }
        value
    }

    fn object<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Map<String, Value>> {
        let obj = v.as_object();
        if obj.is_none() {
            self.problem(path, format!("expected a mapping, found {}", type_name(v)));
        }
        obj
    }

    fn string(&mut self, v: &Value, path: &str) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            other => {
                self.problem(path, format!("expected a string, found {}", type_name(other)));
                None
            }
        }
    }

    fn non_empty_string(&mut self, v: &Value, path: &str) -> Option<String> {
        let s = self.string(v, path)?;
        if s.trim().is_empty() {
            self.problem(path, "must not be empty");
            return None;
        }
        Some(s)
    }

    fn expr(&mut self, v: &Value, path: &str) -> Option<Expr> {
        let source = self.string(v, path)?;
        match Expr::compile(&source) {
            Ok(expr) => Some(expr),
            Err(e) => {
                self.problem(path, format!("invalid jq expression: {e}"));
                None
            }
        }
    }

    fn duration(&mut self, v: &Value, path: &str) -> Option<Duration> {
        let Value::String(text) = v else {
            self.problem(path, format!("expected a duration such as \"5s\" or \"200ms\", found {}", type_name(v)));
            return None;
        };
        match humantime::parse_duration(text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.problem(
                    path,
                    format!("invalid duration {text:?} ({e}); expected e.g. \"200ms\", \"5s\", \"48h\""),
                );
                None
            }
        }
    }

    fn positive_duration(&mut self, v: &Value, path: &str) -> Option<Duration> {
        let d = self.duration(v, path)?;
        if d.is_zero() {
            self.problem(path, "must be longer than zero");
            return None;
        }
        Some(d)
    }

    /// A memory size: text such as "64MiB", or a number of bytes.
    fn size(&mut self, v: &Value, path: &str) -> Option<usize> {
        let bytes = match v {
            Value::String(text) => match text.trim().parse::<bytesize::ByteSize>() {
                Ok(size) => size.as_u64(),
                Err(e) => {
                    self.problem(path, format!("invalid size {text:?} ({e}); expected e.g. \"64MiB\""));
                    return None;
                }
            },
            Value::Number(n) if let Some(bytes) = n.as_u64() => bytes,
            other => {
                self.problem(path, format!("expected a size such as \"64MiB\", found {}", type_name(other)));
                return None;
            }
        };
        match usize::try_from(bytes) {
            Ok(0) => {
                self.problem(path, "must be larger than zero");
                None
            }
            Ok(bytes) => Some(bytes),
            Err(_) => {
                self.problem(path, "is too large for this machine");
                None
            }
        }
    }

    fn uint(&mut self, v: &Value, path: &str, min: u64, max: u64) -> Option<u64> {
        match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.problem(path, format!("expected a whole number from {min} to {max}, found {v}"));
                None
            }
        }
    }

    /// Reads a step name used as a target and records it for resolution.
    fn target(&mut self, v: &Value, path: &str, targets: &mut Vec<Target>) -> Option<String> {
        let Some(name) = self.string(v, path) else {
            self.flow_broken = true;
            return None;
        };
        targets.push(Target { name: name.clone(), path: path.to_string() });
        Some(name)
    }

    fn document(&mut self, doc: &Value) -> Option<Header> {
        let Some(root) = doc.as_object() else {
            self.problem("", format!("a definition must be a mapping, found {}", type_name(doc)));
            return None;
        };
        self.known_keys(root, "", &["name", "description", "input-schema", "output", "steps"]);
        let name = self.required(root, "name", "").and_then(|v| self.string(v, "/name"));
        if let Some(name) = &name
            && !is_process_name(name)
        {
            self.problem(
                "/name",
                format!(
                    "invalid name {name:?}: lowercase letters, digits and '-', starting with a letter or digit, \
                     at most {MAX_NAME_LEN} characters"
                ),
            );
        }
        if let Some(description) = root.get("description") {
            self.string(description, "/description");
        }
        let input_schema = root.get("input-schema").and_then(|schema| self.input_schema(schema));
        let output = root.get("output").and_then(|v| self.expr(v, "/output"));
        match self.required(root, "steps", "") {
            Some(steps) => {
                self.sequence(steps, "/steps");
            }
            // Keeps `sequences[ROOT]` the root even when it is missing.
            None => self.sequences.push(Vec::new()),
        }
        Some(Header { name: name?, input_schema, output })
    }

    fn input_schema(&mut self, schema: &Value) -> Option<Value> {
        const PATH: &str = "/input-schema";
        if !schema.is_object() {
            self.problem(PATH, format!("a JSON Schema must be a mapping, found {}", type_name(schema)));
            return None;
        }
        // Only built-in and in-document references resolve (the crate's network and file retrieval are not
        // compiled in), so deploying a definition never reaches outside.
        match jsonschema::validator_for(schema) {
            Ok(_) => Some(schema.clone()),
            Err(e) => {
                let at = e.instance_path().as_str();
                let at = if at.is_empty() { String::new() } else { format!(" (at {at})") };
                self.problem(PATH, format!("invalid JSON Schema{at}: {e}"));
                None
            }
        }
    }

    /// Walks a list of steps into a new sequence.
    fn sequence(&mut self, v: &Value, path: &str) -> SeqIdx {
        let seq = self.sequences.len();
        self.sequences.push(Vec::new());
        match v {
            Value::Array(items) if items.is_empty() => self.problem(path, "needs at least one step"),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let idx = self.step(item, index_path(path, i), seq);
                    if let Some(steps) = self.sequences.get_mut(seq) {
                        steps.push(idx);
                    }
                }
            }
            other => self.problem(path, format!("expected a list of steps, found {}", type_name(other))),
        }
        seq
    }

    fn step(&mut self, v: &Value, path: String, seq: SeqIdx) -> StepIdx {
        let idx = self.steps.len();
        self.steps.push(RawStep {
            path: path.clone(),
            seq,
            id: None,
            kind_key: None,
            kind: None,
            next: None,
            undo: None,
            targets: Vec::new(),
            flow_known: false,
        });
        // A nested sequence walks its own steps in the middle of this one.
        let outer_broken = std::mem::replace(&mut self.flow_broken, false);

        let Some(obj) = v.as_object() else {
            self.problem(&path, format!("a step must be a mapping, found {}", type_name(v)));
            self.flow_broken = outer_broken;
            return idx;
        };

        let id = self.step_id(obj, &path, idx);
        let kinds: Vec<&'static str> = KIND_KEYS.iter().copied().filter(|k| obj.contains_key(*k)).collect();
        match kinds.as_slice() {
            [] => {
                self.problem(&path, format!("a step needs one kind key: one of {}", quoted_list(KIND_KEYS)));
                self.flow_broken = true;
            }
            [_] => {}
            several => {
                self.problem(&path, format!("a step has exactly one kind, found {}", quoted_list(several)));
                self.flow_broken = true;
            }
        }
        let is_plugin = kinds.contains(&"plugin");
        for key in obj.keys() {
            let key = key.as_str();
            if COMMON_KEYS.contains(&key) || KIND_KEYS.contains(&key) {
                continue;
            }
            if PLUGIN_KEYS.contains(&key) {
                if !is_plugin {
                    self.problem(key_path(&path, key), format!("`{key}` is only allowed on plugin steps"));
                }
            } else {
                self.problem(key_path(&path, key), format!("unknown key `{key}`"));
            }
        }

        let mut targets = Vec::new();
        let next = obj.get("next").and_then(|v| {
            let at = key_path(&path, "next");
            match v {
                Value::String(s) if s == END => Some(NextSpec::End),
                v => {
                    let mut next_target = Vec::new();
                    let name = self.target(v, &at, &mut next_target)?;
                    Some(NextSpec::Step(Target { name, path: at }))
                }
            }
        });
        if obj.contains_key("next")
            && let [kind @ ("switch" | "fail")] = kinds.as_slice()
        {
            let why = if *kind == "fail" { "a fail step ends the instance" } else { "a switch continues at its cases" };
            self.problem(key_path(&path, "next"), format!("`next` has no effect here: {why}"));
        }
        let undo = obj.get("undo").and_then(|v| {
            let at = key_path(&path, "undo");
            self.string(v, &at).map(|name| Target { name, path: at })
        });

        let mut kind = None;
        for key in &kinds {
            let parsed = self.kind(key, obj, &path, &mut targets);
            if kinds.len() == 1 {
                kind = parsed;
            }
        }

        let flow_known = !self.flow_broken;
        self.flow_broken = outer_broken;
        if let Some(step) = self.steps.get_mut(idx) {
            step.id = id;
            step.kind_key = if let [key] = kinds.as_slice() { Some(*key) } else { None };
            step.kind = kind;
            step.next = next;
            step.undo = undo;
            step.targets = targets;
            step.flow_known = flow_known;
        }
        idx
    }

    fn step_id(&mut self, obj: &Map<String, Value>, path: &str, idx: StepIdx) -> Option<String> {
        let at = key_path(path, "id");
        let id = self.required(obj, "id", path).and_then(|v| self.string(v, &at))?;
        if !is_step_id(&id) {
            self.problem(&at, format!("invalid step id {id:?}: letters, digits, '_' and '-' only"));
            return None;
        }
        if id == END {
            self.problem(&at, "`end` is reserved (`next: end` ends the sequence)");
            return None;
        }
        if let Some(&first) = self.by_id.get(&id) {
            let first_path = self.steps.get(first).map(|s| s.path.clone()).unwrap_or_default();
            self.problem(&at, format!("duplicate step id `{id}` (also used at {first_path})"));
            return None;
        }
        self.by_id.insert(id.clone(), idx);
        Some(id)
    }

    /// Walks the value of a kind key; `None` when anything about it is wrong (a problem was reported).
    fn kind(&mut self, key: &str, step: &Map<String, Value>, path: &str, targets: &mut Vec<Target>) -> Option<Kind> {
        let before = self.problems.len();
        let at = key_path(path, key);
        let value = step.get(key)?;
        let kind = match key {
            "plugin" => self.plugin(value, step, path, targets).map(|p| Kind::Plugin(Box::new(p))),
            "switch" => self.switch(value, &at, targets),
            "parallel" => self.parallel(value, &at),
            "for-each" => self.for_each(value, &at),
            "wait" => self.wait(value, &at, targets),
            "sleep" => self.sleep(value, &at),
            "call" => self.call(value, &at),
            "set" => self.set(value, &at),
            "fail" => self.fail(value, &at),
            _ => None,
        };
        // Parts of a kind that were wrong were left out of it; never let such a kind through.
        if self.problems.len() > before { None } else { kind }
    }

    fn plugin(
        &mut self,
        name: &Value,
        step: &Map<String, Value>,
        path: &str,
        targets: &mut Vec<Target>,
    ) -> Option<RawPlugin> {
        let plugin = self.non_empty_string(name, &key_path(path, "plugin"));
        let input = step.get("input").and_then(|v| self.expr(v, &key_path(path, "input")));
        let config = step.get("config").map(|v| self.config(v, &key_path(path, "config"))).unwrap_or_default();
        let retry = step.get("retry").map(|v| self.retry(v, &key_path(path, "retry"))).unwrap_or_default();
        let timeout = step.get("timeout").and_then(|v| self.positive_duration(v, &key_path(path, "timeout")));
        let fuel = step.get("fuel").and_then(|v| self.uint(v, &key_path(path, "fuel"), 1, u64::MAX));
        let memory = step.get("memory").and_then(|v| self.size(v, &key_path(path, "memory")));
        let on_error =
            step.get("on-error").map(|v| self.on_error(v, &key_path(path, "on-error"), targets)).unwrap_or_default();
        let http = step.get("http").map(|v| self.http(v, &key_path(path, "http"))).unwrap_or_default();
        let secrets = step.get("secrets").map(|v| self.secrets(v, &key_path(path, "secrets"))).unwrap_or_default();
        for key in secrets.keys().filter(|k| config.contains_key(*k)) {
            self.problem(
                key_path(&key_path(path, "secrets"), key),
                format!("`{key}` is set in both `config` and `secrets`; a config key comes from one of them"),
            );
        }
        Some(RawPlugin { plugin: plugin?, input, config, retry, timeout, fuel, memory, on_error, http, secrets })
    }

    /// `http: {allow: [origin, ...]}`: where the step may send requests.
    fn http(&mut self, v: &Value, path: &str) -> Vec<crate::sandbox::http::HttpOrigin> {
        let mut origins = Vec::new();
        let Some(obj) = self.object(v, path) else { return origins };
        self.known_keys(obj, path, &["allow"]);
        let allow_path = key_path(path, "allow");
        match obj.get("allow") {
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{allow_path}/{i}");
                    match item.as_str().map(str::parse::<crate::sandbox::http::HttpOrigin>) {
                        Some(Ok(origin)) => origins.push(origin),
                        Some(Err(e)) => self.problem(at, e.to_string()),
                        None => self.problem(at, format!("an origin is a string, found {}", type_name(item))),
                    }
                }
            }
            Some(other) => {
                self.problem(allow_path, format!("`allow` is a list of origins, found {}", type_name(other)))
            }
            None => self.problem(allow_path, "`http` needs `allow`: the origins the step may reach"),
        }
        origins
    }

    /// `secrets: {config-key: secret-name}`.
    fn secrets(&mut self, v: &Value, path: &str) -> BTreeMap<String, String> {
        let mut secrets = BTreeMap::new();
        let Some(obj) = self.object(v, path) else { return secrets };
        for (key, value) in obj {
            match value.as_str() {
                Some(name) if crate::api::plugins::valid_name(name) => {
                    secrets.insert(key.clone(), name.to_string());
                }
                _ => self.problem(key_path(path, key), "a secret reference is the name of one of the tenant's secrets"),
            }
        }
        secrets
    }

    /// Config values reach the plugin as strings; numbers and booleans are written as YAML would show them.
    fn config(&mut self, v: &Value, path: &str) -> BTreeMap<String, String> {
        let mut config = BTreeMap::new();
        let Some(obj) = self.object(v, path) else { return config };
        for (key, value) in obj {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    self.problem(
                        key_path(path, key),
                        format!("config values must be strings, numbers or booleans, found {}", type_name(other)),
                    );
                    continue;
                }
            };
            config.insert(key.clone(), text);
        }
        config
    }

    fn retry(&mut self, v: &Value, path: &str) -> RetryPolicy {
        let mut policy = RetryPolicy::default();
        let Some(obj) = self.object(v, path) else { return policy };
        self.known_keys(obj, path, &["max-attempts", "backoff", "initial", "max", "jitter"]);
        if let Some(n) =
            obj.get("max-attempts").and_then(|v| self.uint(v, &key_path(path, "max-attempts"), 1, u32::MAX.into()))
            && let Ok(n) = u32::try_from(n)
        {
            policy.max_attempts = n;
        }
        if let Some(v) = obj.get("backoff") {
            match v.as_str() {
                Some("fixed") => policy.backoff = Backoff::Fixed,
                Some("exponential") => policy.backoff = Backoff::Exponential,
                _ => self.problem(key_path(path, "backoff"), format!("expected `fixed` or `exponential`, found {v}")),
            }
        }
        if let Some(d) = obj.get("initial").and_then(|v| self.duration(v, &key_path(path, "initial"))) {
            policy.initial = d;
        }
        if let Some(d) = obj.get("max").and_then(|v| self.duration(v, &key_path(path, "max"))) {
            policy.max = d;
        }
        if let Some(v) = obj.get("jitter") {
            match v.as_f64() {
                Some(j) if (0.0..=1.0).contains(&j) => policy.jitter = j,
                _ => self.problem(key_path(path, "jitter"), format!("expected a number from 0 to 1, found {v}")),
            }
        }
        policy
    }

    fn on_error(
        &mut self,
        v: &Value,
        path: &str,
        targets: &mut Vec<Target>,
    ) -> Vec<(Option<String>, Option<String>, String)> {
        let mut routes = Vec::new();
        let Some(items) = v.as_array() else {
            self.problem(path, format!("expected a list of routes, found {}", type_name(v)));
            self.flow_broken = true;
            return routes;
        };
        for (i, item) in items.iter().enumerate() {
            let at = index_path(path, i);
            let Some(obj) = self.object(item, &at) else {
                self.flow_broken = true;
                continue;
            };
            self.known_keys(obj, &at, &["kind", "code", "goto"]);
            let kind = obj.get("kind").and_then(|v| {
                let kind_at = key_path(&at, "kind");
                let kind = self.string(v, &kind_at)?;
                if ERROR_KINDS.contains(&kind.as_str()) {
                    Some(kind)
                } else {
                    self.problem(
                        kind_at,
                        format!("unknown error kind {kind:?} (expected one of {})", quoted_list(ERROR_KINDS)),
                    );
                    None
                }
            });
            let code = obj.get("code").and_then(|v| self.string(v, &key_path(&at, "code")));
            let goto = match self.required(obj, "goto", &at) {
                Some(v) => self.target(v, &key_path(&at, "goto"), targets),
                None => {
                    self.flow_broken = true;
                    None
                }
            };
            if let Some(goto) = goto {
                routes.push((kind, code, goto));
            }
        }
        routes
    }

    fn switch(&mut self, v: &Value, path: &str, targets: &mut Vec<Target>) -> Option<Kind> {
        let Some(entries) = v.as_array() else {
            self.problem(path, format!("expected a list of cases, found {}", type_name(v)));
            self.flow_broken = true;
            return None;
        };
        let mut cases = Vec::new();
        let mut default = None;
        let mut defaults = 0;
        for (i, entry) in entries.iter().enumerate() {
            let at = index_path(path, i);
            let Some(obj) = self.object(entry, &at) else {
                self.flow_broken = true;
                continue;
            };
            if let Some(target) = obj.get("default") {
                self.known_keys(obj, &at, &["default"]);
                defaults += 1;
                if defaults > 1 {
                    self.problem(&at, "a switch has exactly one `default` entry");
                } else if i + 1 != entries.len() {
                    self.problem(&at, "the `default` entry must be the last one");
                }
                default = self.target(target, &key_path(&at, "default"), targets);
                continue;
            }
            self.known_keys(obj, &at, &["when", "then"]);
            let when = self.required(obj, "when", &at).and_then(|v| self.expr(v, &key_path(&at, "when")));
            let then = match self.required(obj, "then", &at) {
                Some(v) => self.target(v, &key_path(&at, "then"), targets),
                None => {
                    self.flow_broken = true;
                    None
                }
            };
            if let (Some(when), Some(then)) = (when, then) {
                cases.push((when, then));
            }
        }
        if defaults == 0 {
            self.problem(path, "a switch needs a `default` entry (the last one), taken when no case matches");
            // The missing default is an edge we cannot know.
            self.flow_broken = true;
        }
        Some(Kind::Switch { cases, default: default? })
    }

    fn parallel(&mut self, v: &Value, path: &str) -> Option<Kind> {
        let obj = self.object(v, path)?;
        if obj.is_empty() {
            self.problem(path, "needs at least one branch");
            return None;
        }
        // In name order: serde_json's map does not keep the document's order, and the branches' outputs are
        // keyed by name anyway.
        let branches = obj.iter().map(|(name, steps)| (name.clone(), self.sequence(steps, &key_path(path, name))));
        Some(Kind::Parallel(branches.collect()))
    }

    fn for_each(&mut self, v: &Value, path: &str) -> Option<Kind> {
        let obj = self.object(v, path)?;
        self.known_keys(obj, path, &["items", "concurrency", "steps"]);
        let items = self.required(obj, "items", path).and_then(|v| self.expr(v, &key_path(path, "items")));
        let concurrency = match obj.get("concurrency") {
            Some(v) => {
                self.uint(v, &key_path(path, "concurrency"), 1, u32::MAX.into()).and_then(|n| u32::try_from(n).ok())
            }
            None => Some(1),
        };
        let body = self.required(obj, "steps", path).map(|steps| self.sequence(steps, &key_path(path, "steps")));
        Some(Kind::ForEach { items: items?, concurrency: concurrency?, body: body? })
    }

    fn wait(&mut self, v: &Value, path: &str, targets: &mut Vec<Target>) -> Option<Kind> {
        let Some(obj) = self.object(v, path) else {
            self.flow_broken = true;
            return None;
        };
        self.known_keys(obj, path, &["signal", "timeout", "on-timeout"]);
        let signal =
            self.required(obj, "signal", path).and_then(|v| self.non_empty_string(v, &key_path(path, "signal")));
        let timeout = obj.get("timeout").and_then(|v| self.positive_duration(v, &key_path(path, "timeout")));
        let on_timeout = obj.get("on-timeout").and_then(|v| self.target(v, &key_path(path, "on-timeout"), targets));
        if obj.contains_key("on-timeout") && !obj.contains_key("timeout") {
            self.problem(key_path(path, "on-timeout"), "`on-timeout` needs a `timeout`");
        }
        Some(Kind::Wait { signal: signal?, timeout, on_timeout })
    }

    fn sleep(&mut self, v: &Value, path: &str) -> Option<Kind> {
        let obj = self.object(v, path)?;
        self.known_keys(obj, path, &["for", "until"]);
        match (obj.get("for"), obj.get("until")) {
            (Some(d), None) => self.duration(d, &key_path(path, "for")).map(|d| Kind::Sleep(SleepSpec::For(d))),
            (None, Some(e)) => self.expr(e, &key_path(path, "until")).map(|e| Kind::Sleep(SleepSpec::Until(e))),
            (Some(_), Some(_)) => {
                self.problem(path, "a sleep has either `for` or `until`, not both");
                None
            }
            (None, None) => {
                self.problem(path, "a sleep needs `for` (a duration) or `until` (a jq timestamp)");
                None
            }
        }
    }

    fn call(&mut self, v: &Value, path: &str) -> Option<Kind> {
        let obj = self.object(v, path)?;
        self.known_keys(obj, path, &["process", "input"]);
        let at = key_path(path, "process");
        let process = self.required(obj, "process", path).and_then(|v| self.string(v, &at));
        if let Some(name) = &process
            && !is_process_name(name)
        {
            self.problem(&at, format!("invalid process name {name:?}"));
        }
        let input = obj.get("input").and_then(|v| self.expr(v, &key_path(path, "input")));
        Some(Kind::Call { process: process?, input })
    }

    fn set(&mut self, v: &Value, path: &str) -> Option<Kind> {
        let obj = self.object(v, path)?;
        if obj.is_empty() {
            self.problem(path, "needs at least one variable");
            return None;
        }
        let mut vars = Vec::new();
        for (name, source) in obj {
            let at = key_path(path, name);
            if !is_var_name(name) {
                self.problem(
                    &at,
                    format!("invalid variable name {name:?}: letters, digits and '_', not starting with a digit"),
                );
            }
            if let Some(expr) = self.expr(source, &at) {
                vars.push((name.clone(), expr));
            }
        }
        Some(Kind::Set(vars))
    }

    fn fail(&mut self, v: &Value, path: &str) -> Option<Kind> {
        let obj = self.object(v, path)?;
        self.known_keys(obj, path, &["code", "message"]);
        let code = self.required(obj, "code", path).and_then(|v| self.non_empty_string(v, &key_path(path, "code")));
        let message = self.required(obj, "message", path).and_then(|v| self.string(v, &key_path(path, "message")));
        Some(Kind::Fail { code: code?, message: message? })
    }

    /// Resolves every target and undo, and computes each step's edges within its sequence.
    fn resolve(&mut self) {
        let mut edges = Vec::with_capacity(self.steps.len());
        for idx in 0..self.steps.len() {
            let mut out = Vec::new();
            let Some(step) = self.steps.get(idx) else {
                edges.push(out);
                continue;
            };
            let seq = step.seq;
            let mut named: Vec<Target> = step.targets.clone();
            if let Some(NextSpec::Step(t)) = &step.next {
                named.push(t.clone());
            }
            let fallthrough = step.next.is_none() && step.falls_through();
            let undo = step.undo.clone();
            if !step.flow_known {
                self.incomplete.insert(seq);
            }

            for target in named {
                match self.by_id.get(&target.name).copied() {
                    None => {
                        self.problem(target.path, format!("unknown step `{}`", target.name));
                        self.incomplete.insert(seq);
                    }
                    Some(to) if self.steps.get(to).map(|s| s.seq) != Some(seq) => {
                        self.problem(
                            target.path,
                            format!(
                                "step `{}` is in another branch: a target must be a step of the same sequence",
                                target.name
                            ),
                        );
                        self.incomplete.insert(seq);
                    }
                    Some(to) => out.push(to),
                }
            }
            if fallthrough && let Some(following) = self.following(idx) {
                out.push(following);
            }
            if let Some(undo) = undo {
                self.resolve_undo(&undo);
            }
            edges.push(out);
        }
        self.edges = edges;
    }

    fn resolve_undo(&mut self, undo: &Target) {
        let Some(&to) = self.by_id.get(&undo.name) else {
            self.problem(&undo.path, format!("unknown step `{}`", undo.name));
            return;
        };
        // Still exempt from the unreachable check, so that one mistake is reported once.
        self.undo_targets.insert(to);
        let Some(target) = self.steps.get(to) else { return };
        if target.seq != ROOT {
            self.problem(&undo.path, format!("undo step `{}` must be in the root sequence", undo.name));
        } else if target.kind_key.is_some_and(|k| k != "plugin") {
            self.problem(&undo.path, format!("undo step `{}` must be a plugin step", undo.name));
        }
    }

    /// The step after `idx` in its sequence, if any.
    fn following(&self, idx: StepIdx) -> Option<StepIdx> {
        let seq = self.sequences.get(self.steps.get(idx)?.seq)?;
        let pos = seq.iter().position(|&s| s == idx)?;
        seq.get(pos + 1).copied()
    }

    fn check_graphs(&mut self) {
        for seq in 0..self.sequences.len() {
            if self.incomplete.contains(&seq) {
                continue;
            }
            let members = self.sequences.get(seq).cloned().unwrap_or_default();
            self.check_reachability(&members);
            self.check_loops(&members);
        }
    }

    fn check_reachability(&mut self, members: &[StepIdx]) {
        let Some(&first) = members.first() else { return };
        let mut reached = HashSet::from([first]);
        let mut queue = vec![first];
        while let Some(idx) = queue.pop() {
            for &to in self.edges.get(idx).into_iter().flatten() {
                if reached.insert(to) {
                    queue.push(to);
                }
            }
        }
        for &idx in members {
            if reached.contains(&idx) || self.undo_targets.contains(&idx) {
                continue;
            }
            let Some(step) = self.steps.get(idx) else { continue };
            let (path, id) = (step.path.clone(), step.id.clone().unwrap_or_default());
            self.problem(
                path,
                format!("unreachable: no path from the first step of its sequence leads to step `{id}`"),
            );
        }
    }

    /// Finds cycles among the steps that do not pause: a loop must go through a `wait` or a `sleep`, or it
    /// would spin without bound on the executor.
    fn check_loops(&mut self, members: &[StepIdx]) {
        let busy: Vec<StepIdx> =
            members.iter().copied().filter(|&i| self.steps.get(i).is_some_and(|s| !s.pauses())).collect();
        let position: HashMap<StepIdx, usize> = busy.iter().enumerate().map(|(pos, &idx)| (idx, pos)).collect();
        let graph: Vec<Vec<usize>> = busy
            .iter()
            .map(|idx| self.edges.get(*idx).into_iter().flatten().filter_map(|to| position.get(to).copied()).collect())
            .collect();
        for component in strongly_connected(&graph) {
            let looping = component.len() > 1
                || component.first().is_some_and(|&n| graph.get(n).is_some_and(|out| out.contains(&n)));
            if !looping {
                continue;
            }
            let steps: Vec<&RawStep> =
                component.iter().filter_map(|&n| busy.get(n)).filter_map(|&i| self.steps.get(i)).collect();
            let Some(first) = steps.first() else { continue };
            let ids =
                steps.iter().map(|s| format!("`{}`", s.id.as_deref().unwrap_or("?"))).collect::<Vec<_>>().join(" -> ");
            let problem = Problem::new(first.path.clone(), format!("loop without a wait or sleep: {ids}"));
            self.problems.push(problem);
        }
    }

    fn build(self, header: Header) -> Result<Process, Vec<Problem>> {
        let by_id = self.by_id;
        let lookup = |name: &str| {
            by_id.get(name).copied().ok_or_else(|| {
                vec![Problem::new("", format!("internal error: step `{name}` was accepted but not resolved"))]
            })
        };
        let mut steps = Vec::with_capacity(self.steps.len());
        for (idx, raw) in self.steps.into_iter().enumerate() {
            let incomplete = || vec![Problem::new(raw.path.clone(), "internal error: step accepted incomplete")];
            let id = raw.id.clone().ok_or_else(incomplete)?;
            let next = match &raw.next {
                Some(NextSpec::Step(t)) => Next::Step(lookup(&t.name)?),
                Some(NextSpec::End) => Next::End,
                None if raw.kind_key == Some("fail") => Next::End,
                None => {
                    let seq = self.sequences.get(raw.seq).ok_or_else(incomplete)?;
                    let pos = seq.iter().position(|&s| s == idx).ok_or_else(incomplete)?;
                    seq.get(pos + 1).map_or(Next::End, |&following| Next::Step(following))
                }
            };
            let undo = raw.undo.as_ref().map(|t| lookup(&t.name)).transpose()?;
            let kind = match raw.kind.ok_or_else(incomplete)? {
                Kind::Plugin(p) => {
                    let p = *p;
                    let mut on_error = Vec::with_capacity(p.on_error.len());
                    for (kind, code, goto) in p.on_error {
                        on_error.push(ErrorRoute { kind, code, goto: lookup(&goto)? });
                    }
                    StepKind::Plugin(PluginCall {
                        plugin: p.plugin,
                        input: p.input,
                        config: p.config.into(),
                        retry: p.retry,
                        timeout: p.timeout,
                        fuel: p.fuel,
                        memory: p.memory,
                        on_error,
                        http: p.http.into(),
                        secrets: p.secrets,
                    })
                }
                Kind::Switch { cases, default } => {
                    let mut resolved = Vec::with_capacity(cases.len());
                    for (when, then) in cases {
                        resolved.push((when, lookup(&then)?));
                    }
                    StepKind::Switch { cases: resolved, default: lookup(&default)? }
                }
                Kind::Parallel(branches) => StepKind::Parallel { branches },
                Kind::ForEach { items, concurrency, body } => StepKind::ForEach { items, concurrency, body },
                Kind::Wait { signal, timeout, on_timeout } => {
                    StepKind::Wait { signal, timeout, on_timeout: on_timeout.as_deref().map(lookup).transpose()? }
                }
                Kind::Sleep(spec) => StepKind::Sleep(spec),
                Kind::Call { process, input } => StepKind::Call { process, input },
                Kind::Set(vars) => StepKind::Set(vars),
                Kind::Fail { code, message } => StepKind::Fail { code, message },
            };
            steps.push(Step { id, seq: raw.seq, kind, next, undo });
        }
        Ok(Process {
            name: header.name,
            input_schema: header.input_schema,
            output: header.output,
            steps,
            sequences: self.sequences,
            by_id,
        })
    }
}

/// Strongly connected components of a small graph (Kosaraju, iterative so that a long sequence cannot
/// overflow the stack). Components list their nodes in ascending order; components come in discovery order.
fn strongly_connected(graph: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = graph.len();
    let mut order = Vec::with_capacity(n);
    let mut visited = vec![false; n];
    for start in 0..n {
        if visited[start] {
            continue;
        }
        visited[start] = true;
        let mut stack = vec![(start, 0usize)];
        while let Some((node, next_edge)) = stack.pop() {
            match graph[node].get(next_edge) {
                Some(&to) => {
                    stack.push((node, next_edge + 1));
                    if !visited[to] {
                        visited[to] = true;
                        stack.push((to, 0));
                    }
                }
                None => order.push(node),
            }
        }
    }
    let mut reverse = vec![Vec::new(); n];
    for (from, outs) in graph.iter().enumerate() {
        for &to in outs {
            reverse[to].push(from);
        }
    }
    let mut assigned = vec![false; n];
    let mut components = Vec::new();
    for &root in order.iter().rev() {
        if assigned[root] {
            continue;
        }
        assigned[root] = true;
        let mut component = vec![root];
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            for &from in &reverse[node] {
                if !assigned[from] {
                    assigned[from] = true;
                    component.push(from);
                    stack.push(from);
                }
            }
        }
        component.sort_unstable();
        components.push(component);
    }
    components.sort_by_key(|c| c.first().copied());
    components
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LEAD_INTAKE: &str = r#"
name: lead-intake
description: Scores a lead, then assigns it or nurtures it until it is updated.
input-schema:
  type: object
  required: [lead]
  properties:
    lead: {type: object}
output: '{owner: .steps.assign.owner}'
steps:
  - id: score
    plugin: crm-lead-score
    input: '{lead: .input.lead}'
    config: {model: v2, threshold: 70, strict: true}
    retry: {max-attempts: 3, backoff: fixed, initial: 500ms, max: 5s, jitter: 0.2}
    timeout: 2s
    fuel: 5000000
    memory: 32MiB
    on-error:
      - {kind: invalid-input, goto: reject}
      - {code: quota, goto: reject}
  - id: route
    switch:
      - when: .steps.score.score >= 70
        then: assign
      - default: nurture
  - id: assign
    plugin: crm-assign
    undo: unassign
    next: end
  - id: nurture
    wait: {signal: lead-updated, timeout: 30d, on-timeout: drop}
    next: score
  - id: drop
    set: {dropped: 'true'}
    next: end
  - id: reject
    fail: {code: invalid-lead, message: the lead is incomplete}
  - id: unassign
    plugin: crm-unassign
"#;

    fn accepted(yaml: &str) -> Process {
        match parse_yaml(yaml) {
            Ok(p) => p,
            Err(problems) => panic!("rejected: {problems:#?}"),
        }
    }

    fn rejected(yaml: &str) -> Vec<Problem> {
        match parse_yaml(yaml) {
            Ok(_) => panic!("accepted a definition that should be rejected"),
            Err(problems) => problems,
        }
    }

    /// Asserts that the only problem is at `path` and mentions `fragment`.
    fn only_problem(yaml: &str, path: &str, fragment: &str) {
        let problems = rejected(yaml);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_eq!(problems[0].path, path, "{problems:#?}");
        assert!(problems[0].message.contains(fragment), "{:?} lacks {fragment:?}", problems[0].message);
    }

    fn step<'p>(p: &'p Process, id: &str) -> &'p Step {
        &p.steps[p.by_id[id]]
    }

    fn with_steps(steps: &str) -> String {
        format!("name: t\nsteps:\n{steps}")
    }

    #[test]
    fn lead_intake_is_accepted() {
        let p = accepted(LEAD_INTAKE);
        assert_eq!(p.name, "lead-intake");
        assert_eq!(p.input_schema.as_ref().and_then(|s| s.get("required")), Some(&json!(["lead"])));
        let output = p.output.as_ref().unwrap();
        assert_eq!(output.eval(&json!({"steps": {"assign": {"owner": "ann"}}})).unwrap(), json!({"owner": "ann"}));
        assert_eq!(p.sequences, vec![(0..7).collect::<Vec<_>>()]);
        assert_eq!(p.by_id.len(), 7);
        assert_eq!(p.first(ROOT), Some(p.by_id["score"]));
        assert_eq!(p.plugins(), vec!["crm-assign", "crm-lead-score", "crm-unassign"]);
    }

    #[test]
    fn lead_intake_loop_back_through_the_wait_is_allowed() {
        let p = accepted(LEAD_INTAKE);
        let nurture = step(&p, "nurture");
        assert_eq!(nurture.next, Next::Step(p.by_id["score"]));
        match &nurture.kind {
            StepKind::Wait { signal, timeout, on_timeout } => {
                assert_eq!(signal, "lead-updated");
                assert_eq!(*timeout, Some(Duration::from_secs(30 * 86_400)));
                assert_eq!(*on_timeout, Some(p.by_id["drop"]));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn plugin_step_takes_every_plugin_key() {
        let p = accepted(LEAD_INTAKE);
        let StepKind::Plugin(call) = &step(&p, "score").kind else { panic!("not a plugin step") };
        assert_eq!(call.plugin, "crm-lead-score");
        assert_eq!(call.input.as_ref().map(Expr::source), Some("{lead: .input.lead}"));
        let config: Vec<(&str, &str)> = call.config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(config, vec![("model", "v2"), ("strict", "true"), ("threshold", "70")]);
        assert_eq!(
            call.retry,
            RetryPolicy {
                max_attempts: 3,
                backoff: Backoff::Fixed,
                initial: Duration::from_millis(500),
                max: Duration::from_secs(5),
                jitter: 0.2
            }
        );
        assert_eq!(call.timeout, Some(Duration::from_secs(2)));
        assert_eq!(call.fuel, Some(5_000_000));
        assert_eq!(call.memory, Some(32 << 20));
        assert_eq!(call.on_error.len(), 2);
        assert_eq!(call.on_error[0].kind.as_deref(), Some("invalid-input"));
        assert_eq!(call.on_error[0].code, None);
        assert_eq!(call.on_error[1].code.as_deref(), Some("quota"));
        assert!(call.on_error.iter().all(|r| r.goto == p.by_id["reject"]));
    }

    #[test]
    fn missing_retry_fields_take_the_defaults() {
        let p = accepted(&with_steps("  - {id: a, plugin: x, retry: {max-attempts: 4}}\n"));
        let StepKind::Plugin(call) = &p.steps[0].kind else { panic!("not a plugin step") };
        assert_eq!(call.retry, RetryPolicy { max_attempts: 4, ..RetryPolicy::default() });
        let p = accepted(&with_steps("  - {id: a, plugin: x}\n"));
        let StepKind::Plugin(call) = &p.steps[0].kind else { panic!("not a plugin step") };
        assert_eq!(call.retry, RetryPolicy::default());
        assert!(call.input.is_none() && call.config.is_empty() && call.on_error.is_empty());
        assert_eq!((call.timeout, call.fuel, call.memory), (None, None, None));
    }

    #[test]
    fn switch_cases_and_default_resolve_to_steps() {
        let p = accepted(LEAD_INTAKE);
        let StepKind::Switch { cases, default } = &step(&p, "route").kind else { panic!("not a switch") };
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].1, p.by_id["assign"]);
        assert!(cases[0].0.truthy(&json!({"steps": {"score": {"score": 80}}})).unwrap());
        assert_eq!(*default, p.by_id["nurture"]);
    }

    #[test]
    fn next_is_the_following_step_explicit_next_or_end() {
        let p = accepted(LEAD_INTAKE);
        assert_eq!(step(&p, "score").next, Next::Step(p.by_id["route"]));
        assert_eq!(step(&p, "assign").next, Next::End);
        assert_eq!(step(&p, "drop").next, Next::End);
        // A fail step ends the instance even though a step follows it.
        assert_eq!(step(&p, "reject").next, Next::End);
        // The last step of a sequence ends it.
        assert_eq!(step(&p, "unassign").next, Next::End);
    }

    #[test]
    fn undo_names_a_root_plugin_step_that_may_be_unreachable() {
        let p = accepted(LEAD_INTAKE);
        assert_eq!(step(&p, "assign").undo, Some(p.by_id["unassign"]));
        assert_eq!(step(&p, "score").undo, None);
    }

    #[test]
    fn set_and_fail_steps() {
        let p = accepted(LEAD_INTAKE);
        let StepKind::Set(vars) = &step(&p, "drop").kind else { panic!("not a set") };
        assert_eq!(vars.len(), 1);
        assert_eq!(vars[0].0, "dropped");
        assert_eq!(vars[0].1.eval(&json!(null)).unwrap(), json!(true));
        let StepKind::Fail { code, message } = &step(&p, "reject").kind else { panic!("not a fail") };
        assert_eq!((code.as_str(), message.as_str()), ("invalid-lead", "the lead is incomplete"));
    }

    #[test]
    fn json_documents_are_accepted() {
        let text = r#"{"name": "j", "steps": [{"id": "a", "plugin": "x", "input": ".input"}]}"#;
        let from_json = parse_json(text).unwrap();
        let from_yaml = parse_yaml(text).unwrap();
        assert_eq!(from_json.steps.len(), 1);
        assert_eq!(from_yaml.steps[0].id, "a");
        assert_eq!(
            compile(json!({"name": "j", "steps": [{"id": "a", "fail": {"code": "c", "message": "m"}}]})).unwrap().name,
            "j"
        );
    }

    #[test]
    fn parallel_branches_are_new_sequences() {
        let p = accepted(&with_steps(
            r#"
  - id: both
    parallel:
      stock:
        - {id: check, plugin: scm-inventory-check}
        - {id: reserve, plugin: scm-reserve}
      credit:
        - {id: credit-check, plugin: credit}
  - {id: after, plugin: x}
"#,
        ));
        let StepKind::Parallel { branches } = &step(&p, "both").kind else { panic!("not parallel") };
        let names: Vec<&str> = branches.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), 2);
        for (name, seq) in branches {
            let ids: Vec<&str> = p.sequences[*seq].iter().map(|&i| p.steps[i].id.as_str()).collect();
            let expected = if name == "stock" { vec!["check", "reserve"] } else { vec!["credit-check"] };
            assert_eq!(ids, expected);
            assert!(p.sequences[*seq].iter().all(|&i| p.steps[i].seq == *seq));
        }
        assert_eq!(step(&p, "check").next, Next::Step(p.by_id["reserve"]));
        assert_eq!(step(&p, "reserve").next, Next::End);
        assert_eq!(step(&p, "both").next, Next::Step(p.by_id["after"]));
        assert_eq!(p.sequences[ROOT], vec![p.by_id["both"], p.by_id["after"]]);
        assert_eq!(p.sequences.len(), 3);
    }

    #[test]
    fn for_each_body_is_a_new_sequence() {
        let p = accepted(&with_steps(
            r#"
  - id: each
    for-each:
      items: .input.lines
      concurrency: 4
      steps:
        - {id: price, plugin: pricing, input: .item}
  - id: each-default
    for-each: {items: '.input.lines', steps: [{id: log, plugin: logger}]}
"#,
        ));
        let StepKind::ForEach { items, concurrency, body } = &step(&p, "each").kind else { panic!("not for-each") };
        assert_eq!(items.source(), ".input.lines");
        assert_eq!(*concurrency, 4);
        assert_eq!(p.sequences[*body], vec![p.by_id["price"]]);
        assert_eq!(step(&p, "price").seq, *body);
        let StepKind::ForEach { concurrency, .. } = &step(&p, "each-default").kind else { panic!("not for-each") };
        assert_eq!(*concurrency, 1);
    }

    #[test]
    fn wait_without_timeout() {
        let p = accepted(&with_steps("  - {id: w, wait: {signal: approved}}\n"));
        let StepKind::Wait { signal, timeout, on_timeout } = &p.steps[0].kind else { panic!("not a wait") };
        assert_eq!((signal.as_str(), *timeout, *on_timeout), ("approved", None, None));
    }

    #[test]
    fn sleep_for_a_duration_or_until_a_time() {
        let p = accepted(&with_steps("  - {id: s, sleep: {for: 48h}}\n  - {id: u, sleep: {until: .input.at}}\n"));
        assert!(matches!(&p.steps[0].kind, StepKind::Sleep(SleepSpec::For(d)) if *d == Duration::from_secs(48 * 3600)));
        assert!(matches!(&p.steps[1].kind, StepKind::Sleep(SleepSpec::Until(e)) if e.source() == ".input.at"));
    }

    #[test]
    fn call_step_with_and_without_input() {
        let p = accepted(&with_steps(
            "  - {id: c, call: {process: credit-check, input: '{id: .input.id}'}}\n  - {id: d, call: {process: other}}\n",
        ));
        let StepKind::Call { process, input } = &p.steps[0].kind else { panic!("not a call") };
        assert_eq!((process.as_str(), input.as_ref().map(Expr::source)), ("credit-check", Some("{id: .input.id}")));
        assert!(matches!(&p.steps[1].kind, StepKind::Call { input: None, .. }));
    }

    #[test]
    fn unknown_key_is_named_at_its_path() {
        only_problem("name: t\nnmae: x\nsteps: [{id: a, plugin: x}]\n", "/nmae", "unknown key `nmae`");
        only_problem(&with_steps("  - {id: a, plugin: x, colour: red}\n"), "/steps/0/colour", "unknown key `colour`");
        only_problem(
            &with_steps("  - {id: a, plugin: x, retry: {tries: 3}}\n"),
            "/steps/0/retry/tries",
            "unknown key `tries`",
        );
        only_problem(
            &with_steps("  - {id: a, wait: {signal: s, timout: 5s}}\n"),
            "/steps/0/wait/timout",
            "unknown key `timout`",
        );
    }

    #[test]
    fn plugin_keys_only_on_plugin_steps() {
        only_problem(
            &with_steps("  - {id: a, wait: {signal: s}, retry: {max-attempts: 2}}\n"),
            "/steps/0/retry",
            "only allowed on plugin steps",
        );
    }

    #[test]
    fn two_kind_keys_are_a_problem() {
        only_problem(&with_steps("  - {id: a, plugin: x, wait: {signal: s}}\n"), "/steps/0", "exactly one kind");
    }

    #[test]
    fn no_kind_key_is_a_problem() {
        only_problem(&with_steps("  - {id: a}\n"), "/steps/0", "needs one kind key");
    }

    #[test]
    fn duplicate_id_is_a_problem() {
        only_problem(
            &with_steps("  - {id: a, plugin: x}\n  - {id: a, plugin: y}\n"),
            "/steps/1/id",
            "duplicate step id `a`",
        );
    }

    #[test]
    fn duplicate_id_across_a_parallel_branch_is_a_problem() {
        let yaml = with_steps("  - {id: a, plugin: x}\n  - id: p\n    parallel:\n      left: [{id: a, plugin: y}]\n");
        only_problem(&yaml, "/steps/1/parallel/left/0/id", "duplicate step id `a` (also used at /steps/0)");
    }

    #[test]
    fn missing_id_and_reserved_end() {
        only_problem(&with_steps("  - {plugin: x}\n"), "/steps/0/id", "`id` is required");
        only_problem(&with_steps("  - {id: end, plugin: x}\n"), "/steps/0/id", "reserved");
        only_problem(&with_steps("  - {id: 'a b', plugin: x}\n"), "/steps/0/id", "invalid step id");
    }

    #[test]
    fn unknown_target_is_a_problem() {
        only_problem(&with_steps("  - {id: a, plugin: x, next: nowhere}\n"), "/steps/0/next", "unknown step `nowhere`");
        only_problem(
            &with_steps("  - {id: a, plugin: x, on-error: [{goto: nowhere}]}\n"),
            "/steps/0/on-error/0/goto",
            "unknown step `nowhere`",
        );
        only_problem(
            &with_steps("  - {id: a, switch: [{when: .x, then: b}, {default: nowhere}]}\n  - {id: b, plugin: x}\n"),
            "/steps/0/switch/1/default",
            "unknown step `nowhere`",
        );
        only_problem(
            &with_steps("  - {id: a, wait: {signal: s, timeout: 1h, on-timeout: nowhere}}\n"),
            "/steps/0/wait/on-timeout",
            "unknown step `nowhere`",
        );
    }

    #[test]
    fn target_in_another_sequence_is_a_problem() {
        let yaml = with_steps(
            r#"
  - id: p
    parallel:
      left:
        - {id: l1, plugin: x, next: r1}
      right:
        - {id: r1, plugin: y}
"#,
        );
        only_problem(&yaml, "/steps/0/parallel/left/0/next", "step `r1` is in another branch");
        // Out of a for-each body into the root, too.
        let yaml = with_steps("  - id: e\n    for-each: {items: .x, steps: [{id: b, plugin: x, next: e}]}\n");
        only_problem(&yaml, "/steps/0/for-each/steps/0/next", "step `e` is in another branch");
    }

    #[test]
    fn bad_jq_is_reported_at_its_path() {
        only_problem(&with_steps("  - {id: a, plugin: x, input: '.a +'}\n"), "/steps/0/input", "invalid jq expression");
        only_problem(
            "name: t\noutput: '{a: frob}'\nsteps: [{id: a, plugin: x}]\n",
            "/output",
            "undefined filter `frob/0`",
        );
        only_problem(
            &with_steps("  - {id: a, switch: [{when: '.x ==', then: b}, {default: b}]}\n  - {id: b, plugin: x}\n"),
            "/steps/0/switch/0/when",
            "invalid jq expression",
        );
        only_problem(&with_steps("  - {id: a, set: {v: '(('}}\n"), "/steps/0/set/v", "invalid jq expression");
    }

    #[test]
    fn bad_duration_is_reported_at_its_path() {
        only_problem(
            &with_steps("  - {id: a, plugin: x, retry: {initial: soon}}\n"),
            "/steps/0/retry/initial",
            "invalid duration \"soon\"",
        );
        only_problem(&with_steps("  - {id: a, plugin: x, timeout: 5}\n"), "/steps/0/timeout", "expected a duration");
        only_problem(&with_steps("  - {id: a, sleep: {for: three days}}\n"), "/steps/0/sleep/for", "invalid duration");
    }

    #[test]
    fn bad_plugin_limits_are_reported() {
        only_problem(&with_steps("  - {id: a, plugin: x, memory: lots}\n"), "/steps/0/memory", "invalid size");
        only_problem(&with_steps("  - {id: a, plugin: x, fuel: 0}\n"), "/steps/0/fuel", "whole number");
        only_problem(&with_steps("  - {id: a, plugin: x, fuel: -5}\n"), "/steps/0/fuel", "whole number");
        only_problem(
            &with_steps("  - {id: a, plugin: x, retry: {max-attempts: 0}}\n"),
            "/steps/0/retry/max-attempts",
            "from 1",
        );
        only_problem(
            &with_steps("  - {id: a, plugin: x, retry: {jitter: 1.5}}\n"),
            "/steps/0/retry/jitter",
            "from 0 to 1",
        );
        only_problem(
            &with_steps("  - {id: a, plugin: x, retry: {backoff: linear}}\n"),
            "/steps/0/retry/backoff",
            "`fixed`",
        );
        only_problem(&with_steps("  - {id: a, plugin: x, config: {a: [1]}}\n"), "/steps/0/config/a", "config values");
        only_problem(
            &with_steps("  - {id: a, plugin: x, on-error: [{kind: oops, goto: b}]}\n  - {id: b, plugin: y}\n"),
            "/steps/0/on-error/0/kind",
            "unknown error kind",
        );
    }

    #[test]
    fn numeric_memory_is_bytes() {
        let p = accepted(&with_steps("  - {id: a, plugin: x, memory: 1048576}\n"));
        let StepKind::Plugin(call) = &p.steps[0].kind else { panic!("not a plugin step") };
        assert_eq!(call.memory, Some(1 << 20));
    }

    #[test]
    fn switch_needs_a_default() {
        let yaml = with_steps("  - {id: a, switch: [{when: .x, then: b}]}\n  - {id: b, plugin: x}\n");
        only_problem(&yaml, "/steps/0/switch", "needs a `default`");
    }

    #[test]
    fn switch_default_must_be_last_and_single() {
        let yaml = with_steps("  - {id: a, switch: [{default: b}, {when: .x, then: b}]}\n  - {id: b, plugin: x}\n");
        only_problem(&yaml, "/steps/0/switch/0", "must be the last");
        let yaml = with_steps(
            "  - {id: a, switch: [{when: .x, then: b}, {default: b}, {default: b}]}\n  - {id: b, plugin: x}\n",
        );
        let problems = rejected(&yaml);
        assert!(
            problems.iter().any(|p| p.path == "/steps/0/switch/2" && p.message.contains("exactly one")),
            "{problems:#?}"
        );
    }

    #[test]
    fn next_on_a_switch_or_fail_is_a_problem() {
        let yaml = with_steps("  - {id: a, switch: [{default: b}], next: b}\n  - {id: b, plugin: x}\n");
        only_problem(&yaml, "/steps/0/next", "no effect");
    }

    #[test]
    fn unreachable_step_is_a_problem() {
        let yaml = with_steps("  - {id: a, plugin: x, next: end}\n  - {id: orphan, plugin: y}\n");
        only_problem(&yaml, "/steps/1", "unreachable");
        // After a fail, too: a fail step does not fall through.
        let yaml = with_steps("  - {id: a, fail: {code: c, message: m}}\n  - {id: orphan, plugin: y}\n");
        only_problem(&yaml, "/steps/1", "unreachable");
    }

    #[test]
    fn steps_reached_only_by_error_routes_are_reachable() {
        accepted(&with_steps(
            "  - {id: a, plugin: x, next: end, on-error: [{kind: business, goto: handle}]}\n  - {id: handle, plugin: y}\n",
        ));
    }

    #[test]
    fn loop_without_wait_is_a_problem() {
        let yaml = with_steps("  - {id: a, plugin: x}\n  - {id: b, plugin: y, next: a}\n");
        only_problem(&yaml, "/steps/0", "loop without a wait or sleep");
        let yaml = with_steps("  - {id: a, plugin: x, next: a}\n");
        only_problem(&yaml, "/steps/0", "loop without a wait or sleep");
    }

    #[test]
    fn error_route_back_to_itself_is_a_loop() {
        let yaml = with_steps("  - {id: a, plugin: x, on-error: [{kind: business, goto: a}]}\n");
        only_problem(&yaml, "/steps/0", "loop without a wait or sleep: `a`");
    }

    #[test]
    fn loop_with_a_sleep_is_allowed() {
        accepted(&with_steps(
            "  - {id: poll, plugin: x}\n  - {id: done, switch: [{when: .ok, then: fin}, {default: pause}]}\n  - {id: pause, sleep: {for: 1m}, next: poll}\n  - {id: fin, plugin: y}\n",
        ));
    }

    #[test]
    fn inner_loop_that_skips_the_wait_is_a_problem() {
        // a -> b -> a never pauses, even though b -> w -> a does.
        let yaml = with_steps(
            "  - {id: a, plugin: x}\n  - {id: b, switch: [{when: .x, then: a}, {default: w}]}\n  - {id: w, wait: {signal: s}, next: a}\n",
        );
        only_problem(&yaml, "/steps/0", "loop without a wait or sleep: `a` -> `b`");
    }

    #[test]
    fn invalid_input_schema_is_a_problem() {
        only_problem(
            "name: t\ninput-schema: {type: 12}\nsteps: [{id: a, plugin: x}]\n",
            "/input-schema",
            "invalid JSON Schema",
        );
        only_problem("name: t\ninput-schema: [1]\nsteps: [{id: a, plugin: x}]\n", "/input-schema", "must be a mapping");
    }

    #[test]
    fn undo_must_be_a_root_plugin_step() {
        only_problem(&with_steps("  - {id: a, plugin: x, undo: nope}\n"), "/steps/0/undo", "unknown step `nope`");
        only_problem(
            &with_steps("  - {id: a, plugin: x, undo: f, next: end}\n  - {id: f, fail: {code: c, message: m}}\n"),
            "/steps/0/undo",
            "must be a plugin step",
        );
        let yaml = with_steps("  - id: p\n    parallel:\n      l: [{id: a, plugin: x, undo: u}, {id: u, plugin: y}]\n");
        only_problem(&yaml, "/steps/0/parallel/l/0/undo", "must be in the root sequence");
    }

    #[test]
    fn sleep_needs_exactly_one_of_for_and_until() {
        only_problem(&with_steps("  - {id: s, sleep: {for: 1s, until: .t}}\n"), "/steps/0/sleep", "not both");
        only_problem(&with_steps("  - {id: s, sleep: {}}\n"), "/steps/0/sleep", "needs `for`");
    }

    #[test]
    fn document_level_problems() {
        only_problem("name: Lead_Intake\nsteps: [{id: a, plugin: x}]\n", "/name", "invalid name");
        only_problem("steps: [{id: a, plugin: x}]\n", "/name", "`name` is required");
        only_problem("name: t\n", "/steps", "`steps` is required");
        only_problem("name: t\nsteps: []\n", "/steps", "at least one step");
        only_problem(&format!("name: {}\nsteps: [{{id: a, plugin: x}}]\n", "a".repeat(65)), "/name", "at most 64");
        only_problem("- 1\n", "", "must be a mapping");
        only_problem("name: [unclosed\n", "", "not valid YAML");
        assert_eq!(parse_json("{").unwrap_err()[0].message.split(':').next(), Some("not valid JSON"));
    }

    #[test]
    fn empty_constructs_are_problems() {
        only_problem(&with_steps("  - {id: p, parallel: {}}\n"), "/steps/0/parallel", "at least one branch");
        only_problem(&with_steps("  - {id: p, parallel: {l: []}}\n"), "/steps/0/parallel/l", "at least one step");
        only_problem(
            &with_steps("  - {id: e, for-each: {items: .x, steps: []}}\n"),
            "/steps/0/for-each/steps",
            "at least one step",
        );
        only_problem(
            &with_steps("  - {id: e, for-each: {items: .x, steps: [{id: b, plugin: x}], concurrency: 0}}\n"),
            "/steps/0/for-each/concurrency",
            "from 1",
        );
        only_problem(&with_steps("  - {id: v, set: {}}\n"), "/steps/0/set", "at least one variable");
        only_problem(&with_steps("  - {id: f, fail: {code: c}}\n"), "/steps/0/fail/message", "`message` is required");
        only_problem(
            &with_steps("  - {id: c, call: {process: Bad Name}}\n"),
            "/steps/0/call/process",
            "invalid process name",
        );
        only_problem(
            &with_steps("  - {id: w, wait: {signal: s, on-timeout: w}}\n"),
            "/steps/0/wait/on-timeout",
            "needs a `timeout`",
        );
    }

    #[test]
    fn several_problems_are_reported_at_once() {
        let yaml = r#"
name: Bad Name
steps:
  - id: a
    plugin: x
    timeout: soon
    input: '.a +'
    next: nowhere
  - id: a
    plugin: y
  - id: s
    switch:
      - {when: .x, then: a}
  - id: p
    parallel:
      left:
        - {id: l, plugin: z, bogus: 1}
"#;
        let problems = rejected(yaml);
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "/name",
                "/steps/0/input",
                "/steps/0/timeout",
                "/steps/1/id",
                "/steps/2/switch",
                "/steps/3/parallel/left/0/bogus",
                "/steps/0/next",
            ],
            "{problems:#?}"
        );
        assert_eq!(problems.len(), 7);
    }

    #[test]
    fn graph_problems_join_the_others() {
        let yaml = "name: t\nsteps:\n  - {id: a, plugin: x, timeout: 0s, next: end}\n  - {id: b, plugin: y, next: b}\n";
        let problems = rejected(yaml);
        let paths: Vec<(&str, &str)> =
            problems.iter().map(|p| (p.path.as_str(), p.message.split(':').next().unwrap_or(""))).collect();
        assert_eq!(
            paths,
            vec![
                ("/steps/0/timeout", "must be longer than zero"),
                ("/steps/1", "unreachable"),
                ("/steps/1", "loop without a wait or sleep")
            ]
        );
    }

    #[test]
    fn problems_serialize_as_path_and_message() {
        let problem = Problem::new("/steps/0", "x");
        assert_eq!(serde_json::to_value(&problem).unwrap(), json!({"path": "/steps/0", "message": "x"}));
        assert_eq!(problem.to_string(), "/steps/0: x");
    }

    #[test]
    fn keys_with_slashes_are_escaped_in_paths() {
        only_problem("name: t\na/b~c: 1\nsteps: [{id: a, plugin: x}]\n", "/a~1b~0c", "unknown key");
    }
}
