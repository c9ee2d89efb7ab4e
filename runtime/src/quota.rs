//! Per-tenant quotas: what one tenant may store and run, so that no tenant can exhaust the node for the others.
//!
//! A tenant's quota is the defaults below with the admin's overrides (`PUT /v1/tenants/{id}/quota`, stored as a
//! JSON object of the fields to change) laid over them. Counts and sizes are checked by the API when something is
//! created; the per-step ceilings are checked at deploy, against what each plugin step would get when it runs
//! (its own `fuel`/`memory`/`timeout`, or the runtime's defaults); open instances are counted by the executor.

use crate::process::definition::Problem;
use crate::process::model::{Process, StepKind};
use crate::sandbox::limits::StepLimits;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The limits of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Quota {
    /// Largest plugin component, in bytes.
    pub max_plugin_bytes: u64,
    /// Distinct plugin names.
    pub max_plugins: u32,
    /// Distinct process names.
    pub max_processes: u32,
    /// Instances started and not finished (running, waiting for a signal, sleeping) at one time; starting one
    /// more is answered 429 with `Retry-After`.
    pub max_open_instances: u32,
    /// Fuel ceiling of one step attempt.
    pub max_step_fuel: u64,
    /// Memory ceiling of one step attempt, in bytes.
    pub max_step_memory_bytes: u64,
    /// Wall-time ceiling of one step attempt, in milliseconds.
    pub max_step_timeout_ms: u64,
}

impl Default for Quota {
    /// Room for a department's worth of processes, and steps up to ten times the runtime's default limits; a
    /// Python component is ~18 MB, so plugins may be 64 MiB.
    fn default() -> Self {
        Quota {
            max_plugin_bytes: 64 << 20,
            max_plugins: 200,
            max_processes: 200,
            max_open_instances: 10_000,
            max_step_fuel: 10_000_000_000,
            max_step_memory_bytes: 256 << 20,
            max_step_timeout_ms: 60_000,
        }
    }
}

/// Overrides that are not a valid quota.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidQuota(String);

impl Quota {
    /// The defaults with `overrides` (a JSON object of some of the fields) laid over them.
    pub fn with_overrides(overrides: Option<&Value>) -> Result<Quota, InvalidQuota> {
        let Some(overrides) = overrides else { return Ok(Quota::default()) };
        let Value::Object(fields) = overrides else {
            return Err(InvalidQuota("a quota is a JSON object of the fields to change".into()));
        };
        let mut merged = serde_json::to_value(Quota::default()).map_err(|e| InvalidQuota(e.to_string()))?;
        if let Value::Object(base) = &mut merged {
            base.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        serde_json::from_value(merged).map_err(|e| InvalidQuota(format!("invalid quota: {e}")))
    }

    /// The ceilings as step limits (the output cap is not a tenant's to change).
    pub fn step_ceiling(&self) -> StepLimits {
        StepLimits {
            fuel: self.max_step_fuel,
            memory_bytes: usize::try_from(self.max_step_memory_bytes).unwrap_or(usize::MAX),
            timeout: Duration::from_millis(self.max_step_timeout_ms),
            max_output_bytes: usize::MAX,
        }
    }

    /// Every plugin step of `process` whose effective limits (its own, else `defaults`) exceed the ceilings, as
    /// problems at the step's path in `document`.
    pub fn check_steps(&self, process: &Process, document: &Value, defaults: &StepLimits) -> Vec<Problem> {
        let ceiling = self.step_ceiling();
        let mut problems = Vec::new();
        for step in &process.steps {
            let StepKind::Plugin(call) = &step.kind else { continue };
            let path = step_path(document, &step.id);
            let mut over = |field: &str, asked: String, limit: String, own: bool| {
                let whose = if own { "asks for" } else { "gets the runtime's default" };
                problems.push(Problem {
                    path: format!("{path}/{field}"),
                    message: format!(
                        "step `{}` {whose} {field} {asked}, over the tenant's ceiling of {limit}{}",
                        step.id,
                        if own { "" } else { "; set a lower value on the step" }
                    ),
                });
            };
            let fuel = call.fuel.unwrap_or(defaults.fuel);
            if fuel > ceiling.fuel {
                over("fuel", fuel.to_string(), ceiling.fuel.to_string(), call.fuel.is_some());
            }
            let memory = call.memory.unwrap_or(defaults.memory_bytes);
            if memory > ceiling.memory_bytes {
                over("memory", bytes(memory), bytes(ceiling.memory_bytes), call.memory.is_some());
            }
            let timeout = call.timeout.unwrap_or(defaults.timeout);
            if timeout > ceiling.timeout {
                over(
                    "timeout",
                    humantime::format_duration(timeout).to_string(),
                    humantime::format_duration(ceiling.timeout).to_string(),
                    call.timeout.is_some(),
                );
            }
        }
        problems
    }
}

fn bytes(n: usize) -> String {
    bytesize::ByteSize::b(n as u64).display().iec().to_string()
}

/// The JSON pointer of the step with `id` in a definition document (`/steps` when it cannot be found).
pub(crate) fn step_path(doc: &Value, id: &str) -> String {
    fn walk(v: &Value, path: &str, id: &str) -> Option<String> {
        match v {
            Value::Object(map) => {
                if map.get("id").and_then(Value::as_str) == Some(id) {
                    return Some(path.to_string());
                }
                map.iter().find_map(|(k, child)| walk(child, &format!("{path}/{k}"), id))
            }
            Value::Array(items) => {
                items.iter().enumerate().find_map(|(i, child)| walk(child, &format!("{path}/{i}"), id))
            }
            _ => None,
        }
    }
    walk(doc, "", id).unwrap_or_else(|| "/steps".into())
}

/// Tenants' effective quotas, read from the store once and kept until an admin changes them.
#[derive(Debug, Default)]
pub struct QuotaCache {
    by_tenant: Mutex<HashMap<String, Arc<Quota>>>,
}

impl QuotaCache {
    /// The cached quota of `tenant`, if any.
    pub fn get(&self, tenant: &str) -> Option<Arc<Quota>> {
        self.by_tenant.lock().unwrap_or_else(|p| p.into_inner()).get(tenant).cloned()
    }

    /// Remembers `quota` for `tenant`.
    pub fn put(&self, tenant: &str, quota: Arc<Quota>) {
        self.by_tenant.lock().unwrap_or_else(|p| p.into_inner()).insert(tenant.to_string(), quota);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::definition::compile;
    use serde_json::json;

    #[test]
    fn overrides_replace_only_the_fields_they_name() {
        let q = Quota::with_overrides(Some(&json!({"max_plugins": 3}))).unwrap();
        assert_eq!(q.max_plugins, 3);
        assert_eq!(q.max_processes, Quota::default().max_processes);
        assert_eq!(Quota::with_overrides(None).unwrap(), Quota::default());
        assert_eq!(Quota::with_overrides(Some(&json!({}))).unwrap(), Quota::default());
    }

    #[test]
    fn unknown_or_mistyped_fields_are_refused() {
        let err = Quota::with_overrides(Some(&json!({"max_plugin": 3}))).unwrap_err();
        assert!(err.to_string().contains("max_plugin"), "{err}");
        assert!(Quota::with_overrides(Some(&json!({"max_plugins": -1}))).is_err());
        assert!(Quota::with_overrides(Some(&json!({"max_plugins": "many"}))).is_err());
        assert!(Quota::with_overrides(Some(&json!([1]))).is_err());
    }

    fn process(doc: &Value) -> Process {
        compile(doc.clone()).unwrap()
    }

    #[test]
    fn steps_over_the_ceilings_are_problems_at_their_paths() {
        let doc = json!({"name": "p", "steps": [
            {"id": "a", "plugin": "x", "fuel": 5_000, "timeout": "2s"},
            {"id": "b", "plugin": "x", "memory": "512MiB"},
        ]});
        let quota = Quota { max_step_fuel: 1_000, max_step_timeout_ms: 1_000, ..Quota::default() };
        let problems = quota.check_steps(&process(&doc), &doc, &StepLimits::default());
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        // b also inherits the default fuel (1e9) and timeout (5s), over the ceilings.
        assert_eq!(
            paths,
            ["/steps/0/fuel", "/steps/0/timeout", "/steps/1/fuel", "/steps/1/memory", "/steps/1/timeout"]
        );
        assert!(problems[4].message.contains("default"), "{}", problems[4].message);
        assert!(!problems[0].message.contains("default"), "{}", problems[0].message);
        assert!(problems[3].message.contains("512.0 MiB"), "{}", problems[3].message);
    }

    #[test]
    fn steps_within_the_ceilings_pass() {
        let doc = json!({"name": "p", "steps": [{"id": "a", "plugin": "x", "fuel": 10, "timeout": "1s"}]});
        assert!(Quota::default().check_steps(&process(&doc), &doc, &StepLimits::default()).is_empty());
    }
}
