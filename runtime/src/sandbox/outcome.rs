//! What one step attempt ended with. A plugin's own error and a fault the host detected are different things
//! and are never confused: the first is the plugin's decision, the second is the sandbox stopping it.

use super::kv::{KvLease, KvWrites};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The kind of a plugin's own error, as in the `alur:step` contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepErrorKind {
    /// The input does not fit.
    InvalidInput,
    /// A business rule said no.
    Business,
    /// A passing failure, worth retrying.
    Transient,
    /// A bug in the step.
    Internal,
}

/// A failure the host detected; the plugin did not choose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// The guest trapped: `unreachable`, a stack overflow, an out-of-bounds access, a panic.
    Trap,
    /// The fuel budget ran out.
    OutOfFuel,
    /// A memory growth past the memory cap was refused.
    MemoryLimit,
    /// The wall-clock deadline passed.
    Timeout,
    /// The output is not JSON, or is over the output size cap.
    InvalidOutput,
    /// The component imports something the host does not provide, or does not export `run` as the
    /// `alur:step` world says.
    LinkError,
}

impl FaultKind {
    /// The kebab-case name used in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            FaultKind::Trap => "trap",
            FaultKind::OutOfFuel => "out-of-fuel",
            FaultKind::MemoryLimit => "memory-limit",
            FaultKind::Timeout => "timeout",
            FaultKind::InvalidOutput => "invalid-output",
            FaultKind::LinkError => "link-error",
        }
    }
}

impl StepErrorKind {
    /// The kebab-case name used in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            StepErrorKind::InvalidInput => "invalid-input",
            StepErrorKind::Business => "business",
            StepErrorKind::Transient => "transient",
            StepErrorKind::Internal => "internal",
        }
    }
}

/// Why an attempt did not produce an output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum StepFailure {
    /// The plugin returned a `step-error`.
    Step {
        /// Its kind.
        kind: StepErrorKind,
        /// Its machine-readable code.
        code: String,
        /// Its message.
        message: String,
    },
    /// The host stopped or rejected the attempt.
    Fault {
        /// What was detected.
        kind: FaultKind,
        /// What happened, for people.
        message: String,
    },
}

impl StepFailure {
    /// The failure with secret values removed from its message and code.
    pub fn redacted(self, redactor: &super::redact::Redactor) -> Self {
        match self {
            StepFailure::Step { kind, code, message } => StepFailure::Step {
                kind,
                code: redactor.apply(&code).into_owned(),
                message: redactor.apply(&message).into_owned(),
            },
            StepFailure::Fault { kind, message } => {
                StepFailure::Fault { kind, message: redactor.apply(&message).into_owned() }
            }
        }
    }

    /// A host-detected fault.
    pub fn fault(kind: FaultKind, message: impl Into<String>) -> Self {
        StepFailure::Fault { kind, message: message.into() }
    }

    /// The kind name: a step-error kind or a fault kind.
    pub fn kind_str(&self) -> &'static str {
        match self {
            StepFailure::Step { kind, .. } => kind.as_str(),
            StepFailure::Fault { kind, .. } => kind.as_str(),
        }
    }

    /// The code: the plugin's own code, or the fault kind's name.
    pub fn code(&self) -> &str {
        match self {
            StepFailure::Step { code, .. } => code,
            StepFailure::Fault { kind, .. } => kind.as_str(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            StepFailure::Step { message, .. } | StepFailure::Fault { message, .. } => message,
        }
    }

    /// The `{"kind", "code", "message"}` object that the CLI prints and the API returns.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "kind": self.kind_str(), "code": self.code(), "message": self.message() })
    }

    /// Whether a retry policy may retry it: transient errors and host faults, but not link errors (a
    /// component that did not link never will).
    pub fn is_retryable(&self) -> bool {
        match self {
            StepFailure::Step { kind, .. } => *kind == StepErrorKind::Transient,
            StepFailure::Fault { kind, .. } => *kind != FaultKind::LinkError,
        }
    }
}

impl fmt::Display for StepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.kind_str(), self.code(), self.message())
    }
}

/// The full account of one attempt.
#[derive(Debug)]
pub struct StepOutcome {
    /// The output JSON text (validated), or why there is none.
    pub result: Result<String, StepFailure>,
    /// The attempt's kv writes; empty unless it succeeded, as a failed attempt must leave no state.
    pub kv_writes: KvWrites,
    /// The lease on the kv scope, when the attempt used kv and succeeded: hold it until `kv_writes` are committed.
    pub kv_lease: Option<KvLease>,
    /// Fuel burned.
    pub fuel_used: u64,
    /// Wall time from instantiation to result.
    pub duration: Duration,
}
