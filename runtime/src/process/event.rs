//! The journal: every state change of an instance, as it is stored.
//!
//! Two sorts of events. *Inputs* carry something the state machine could not compute itself (a step's
//! output, a signal's payload, that a timer fired) and are replayed on restart to rebuild the state.
//! *Records* are decisions the machine derived (a switch took a branch, the instance completed); they are
//! journaled so the history is complete, and replaying them changes nothing because replaying the inputs
//! derives them again.

use crate::store::Millis;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Token ids: one token per thread of control (the root, a parallel branch, a for-each iteration).
pub type TokenId = u32;

/// A failure as journaled and reported: `{kind, code, message}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// A step-error kind or a host fault kind, or `wait-timeout`, `cancelled`, `invalid-input`, ...
    pub kind: String,
    /// Machine-readable code.
    pub code: String,
    /// For people.
    pub message: String,
}

impl ErrorInfo {
    /// Builds one.
    pub fn new(kind: &str, code: &str, message: impl Into<String>) -> Self {
        ErrorInfo { kind: kind.into(), code: code.into(), message: message.into() }
    }
}

/// A journal event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event {
    // ---- inputs ----
    /// The instance was started.
    Started {
        /// Its input.
        input: Value,
    },
    /// An attempt of a plugin step began (journaled before the step runs, so a crash makes the rerun a new
    /// attempt).
    StepStarted {
        /// The token.
        token: TokenId,
        /// The step id.
        step: String,
        /// The attempt, from 1.
        attempt: u32,
    },
    /// A plugin step attempt succeeded.
    StepCompleted {
        /// The token.
        token: TokenId,
        /// The step id.
        step: String,
        /// The attempt.
        attempt: u32,
        /// Its output.
        output: Value,
        /// Wall time in ms.
        duration_ms: u64,
        /// Fuel burned.
        fuel: u64,
    },
    /// A plugin step attempt failed.
    StepFailed {
        /// The token.
        token: TokenId,
        /// The step id.
        step: String,
        /// The attempt.
        attempt: u32,
        /// What failed.
        error: ErrorInfo,
        /// Wall time in ms.
        duration_ms: u64,
        /// Fuel burned.
        fuel: u64,
        /// When the retry is due, if the policy retries (decided with jitter before journaling).
        retry_at: Option<Millis>,
    },
    /// A timer of a token fired.
    TimerFired {
        /// The token.
        token: TokenId,
        /// The timer's id (stale timers are ignored).
        timer: u32,
    },
    /// A signal was delivered.
    SignalReceived {
        /// Signal name.
        name: String,
        /// Its payload.
        payload: Value,
    },
    /// A sub-process was started for a `call` step.
    ChildStarted {
        /// The token.
        token: TokenId,
        /// The step id.
        step: String,
        /// The child instance id.
        child: String,
    },
    /// A sub-process finished.
    ChildFinished {
        /// The token.
        token: TokenId,
        /// The child instance id.
        child: String,
        /// Its output, or its error.
        output: Option<Value>,
        /// Its error.
        error: Option<ErrorInfo>,
    },
    /// Cancellation was requested.
    CancelRequested {
        /// Why.
        reason: String,
    },

    // ---- records ----
    /// A non-plugin step finished inside the machine (switch, set, parallel join, for-each, wait, sleep).
    StepPassed {
        /// The step id.
        step: String,
        /// Its output.
        output: Value,
    },
    /// A failure was routed by `on-error` to another step.
    ErrorRouted {
        /// The failed step.
        step: String,
        /// The target.
        to: String,
    },
    /// The instance failed and compensation began.
    CompensationStarted {
        /// The steps to undo, in the order they will run.
        undo: Vec<String>,
    },
    /// The instance completed.
    Completed {
        /// Its output.
        output: Value,
    },
    /// The instance failed.
    Failed {
        /// Why.
        error: ErrorInfo,
    },
    /// The instance was cancelled.
    Cancelled,
}

impl Event {
    /// Whether this is a record (derived, replay ignores it).
    pub fn is_record(&self) -> bool {
        matches!(
            self,
            Event::StepPassed { .. }
                | Event::ErrorRouted { .. }
                | Event::CompensationStarted { .. }
                | Event::Completed { .. }
                | Event::Failed { .. }
                | Event::Cancelled
        )
    }
}
