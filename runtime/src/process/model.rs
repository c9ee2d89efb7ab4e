//! The validated, compiled form of a process definition: what the executor runs.
//!
//! The document format (YAML or JSON) is parsed and checked by [`super::definition`], which produces a
//! [`Process`] or every problem at once. Steps live in one table indexed by [`StepIdx`]; each *sequence* (the
//! root list of steps, a `parallel` branch, a `for-each` body) is an ordered list of indices. Control flow
//! never leaves a sequence: `next`, `switch` targets, `on-error` routes and `wait` timeout branches name steps
//! of the same sequence, and reaching the end of a sequence ends its token (the instance, the branch, the
//! iteration).

use super::expr::Expr;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Index of a step in [`Process::steps`].
pub type StepIdx = usize;
/// Index of a sequence in [`Process::sequences`].
pub type SeqIdx = usize;

/// A compiled process definition.
#[derive(Debug, Clone)]
pub struct Process {
    /// The process name.
    pub name: String,
    /// JSON Schema the instance input must satisfy, if any.
    pub input_schema: Option<serde_json::Value>,
    /// The instance output expression over `{input, steps, vars}`; the last root step's output by default.
    pub output: Option<Expr>,
    /// Every step of every sequence.
    pub steps: Vec<Step>,
    /// Ordered step lists; `sequences[ROOT]` is the top-level list.
    pub sequences: Vec<Vec<StepIdx>>,
    /// Step id to index.
    pub by_id: HashMap<String, StepIdx>,
}

/// The top-level sequence.
pub const ROOT: SeqIdx = 0;

impl Process {
    /// The first step of a sequence (validation guarantees sequences are not empty).
    pub fn first(&self, seq: SeqIdx) -> Option<StepIdx> {
        self.sequences.get(seq).and_then(|s| s.first().copied())
    }

    /// The names of the plugins the process calls (including undo steps), for pinning at deploy.
    pub fn plugins(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .steps
            .iter()
            .filter_map(|s| match &s.kind {
                StepKind::Plugin(p) => Some(p.plugin.as_str()),
                _ => None,
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// One step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its id, unique in the definition.
    pub id: String,
    /// The sequence it belongs to.
    pub seq: SeqIdx,
    /// What it does.
    pub kind: StepKind,
    /// Where its token goes when it completes.
    pub next: Next,
    /// The step that undoes this one when the instance fails later (compensation).
    pub undo: Option<StepIdx>,
}

/// The continuation after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Go to this step (same sequence).
    Step(StepIdx),
    /// End the sequence.
    End,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum StepKind {
    /// Run a plugin.
    Plugin(PluginCall),
    /// Branch on the first matching condition.
    Switch {
        /// Conditions (truthy jq result) and targets, in order.
        cases: Vec<(Expr, StepIdx)>,
        /// Target when none matches.
        default: StepIdx,
    },
    /// Run branches concurrently; the output is an object keyed by branch name.
    Parallel {
        /// Branch name and its sequence.
        branches: Vec<(String, SeqIdx)>,
    },
    /// Run the body once per item with bounded concurrency; the output is the list of body outputs in order.
    ForEach {
        /// The list to iterate over.
        items: Expr,
        /// How many iterations run at once (at least 1).
        concurrency: u32,
        /// The body sequence; `.item` and `.index` are visible in it.
        body: SeqIdx,
    },
    /// Wait for a named signal; the output is the signal's payload.
    Wait {
        /// The signal name.
        signal: String,
        /// Give up after this long.
        timeout: Option<Duration>,
        /// Go here on timeout (output `null`); without it a timeout fails the instance.
        on_timeout: Option<StepIdx>,
    },
    /// A durable timer.
    Sleep(SleepSpec),
    /// Run another process of the same tenant as a sub-process; the output is its output.
    Call {
        /// Process name (its latest version at the time the call starts).
        process: String,
        /// Input of the sub-process; the previous step's output by default.
        input: Option<Expr>,
    },
    /// Compute variables (visible as `.vars.<name>`); the output is the object of the values set.
    Set(Vec<(String, Expr)>),
    /// Fail the instance with a code and message.
    Fail {
        /// Machine-readable code.
        code: String,
        /// Message for people.
        message: String,
    },
}

/// How long a `sleep` step sleeps.
#[derive(Debug, Clone)]
pub enum SleepSpec {
    /// A fixed duration.
    For(Duration),
    /// Until the RFC 3339 timestamp the expression yields.
    Until(Expr),
}

/// A plugin step.
#[derive(Debug, Clone)]
pub struct PluginCall {
    /// The plugin name (pinned to a digest at deploy time).
    pub plugin: String,
    /// The step input expression; the previous step's output by default.
    pub input: Option<Expr>,
    /// The step's config map, passed to the plugin as is (shared by every attempt).
    pub config: std::sync::Arc<BTreeMap<String, String>>,
    /// The retry policy.
    pub retry: RetryPolicy,
    /// Per-attempt wall-time limit (within the tenant's ceiling).
    pub timeout: Option<Duration>,
    /// Per-attempt fuel (within the tenant's ceiling).
    pub fuel: Option<u64>,
    /// Per-attempt memory in bytes (within the tenant's ceiling).
    pub memory: Option<usize>,
    /// Failure routes, tried in order.
    pub on_error: Vec<ErrorRoute>,
    /// Origins the step may send HTTP requests to (`http: {allow: [...]}`); empty: none.
    pub http: std::sync::Arc<[crate::sandbox::http::HttpOrigin]>,
    /// Config keys filled from the tenant's secrets when the step runs: config key → secret name.
    pub secrets: BTreeMap<String, String>,
}

/// Routes a failure to a step instead of failing the instance.
#[derive(Debug, Clone)]
pub struct ErrorRoute {
    /// Matches the failure's kind (`business`, `timeout`, ...); any kind when `None`.
    pub kind: Option<String>,
    /// Matches the failure's code; any code when `None`.
    pub code: Option<String>,
    /// Where to go; the step's output is then `{"error": {kind, code, message}}`.
    pub goto: StepIdx,
}

/// Retries of a failed attempt: only transient errors and host faults other than link errors are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Fixed or exponential.
    pub backoff: Backoff,
    /// Delay before the first retry.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Random spread applied to each delay, from 0 (none) to 1 (up to +-100%).
    pub jitter: f64,
}

/// The shape of retry delays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// Always `initial`.
    Fixed,
    /// `initial * 2^(attempt-1)`, capped at `max`.
    Exponential,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 1,
            backoff: Backoff::Exponential,
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
            jitter: 0.0,
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (from 1), given a random `unit` in [0, 1).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let base = match self.backoff {
            Backoff::Fixed => self.initial,
            Backoff::Exponential => {
                let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
                self.initial.saturating_mul(factor)
            }
        }
        .min(self.max);
        let spread = self.jitter.clamp(0.0, 1.0) * (unit.clamp(0.0, 1.0) * 2.0 - 1.0);
        base.mul_f64((1.0 + spread).max(0.0)).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_backoff_doubles_and_caps() {
        let p = RetryPolicy {
            max_attempts: 5,
            backoff: Backoff::Exponential,
            initial: Duration::from_millis(100),
            max: Duration::from_millis(350),
            jitter: 0.0,
        };
        assert_eq!(p.delay(1, 0.5), Duration::from_millis(100));
        assert_eq!(p.delay(2, 0.5), Duration::from_millis(200));
        assert_eq!(p.delay(3, 0.5), Duration::from_millis(350));
        let fixed = RetryPolicy { backoff: Backoff::Fixed, ..p };
        assert_eq!(fixed.delay(4, 0.5), Duration::from_millis(100));
    }

    #[test]
    fn jitter_spreads_within_bounds() {
        let p = RetryPolicy { jitter: 0.5, initial: Duration::from_millis(100), ..RetryPolicy::default() };
        assert_eq!(p.delay(1, 0.0), Duration::from_millis(50));
        assert_eq!(p.delay(1, 1.0), Duration::from_millis(150));
    }
}
