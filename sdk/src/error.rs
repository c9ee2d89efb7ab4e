//! The errors a step returns on purpose, in the four kinds the process engine understands.

use crate::bindings::alur::step::types as wit;
use std::fmt;

/// How the engine treats a [`StepError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input does not fit; retrying will not help.
    InvalidInput,
    /// A business rule said no; the definition's `on-error` may route it.
    Business,
    /// A passing failure; the step's retry policy retries it.
    Transient,
    /// A bug or unexpected state in the step.
    Internal,
}

/// An error returned by a step: a kind, a stable machine-readable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    /// How the engine treats it.
    pub kind: ErrorKind,
    /// A stable code that definitions can route on, such as `credit-limit-exceeded`.
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
}

impl StepError {
    /// An error of any kind.
    pub fn new(kind: ErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        StepError { kind, code: code.into(), message: message.into() }
    }
    /// The input does not fit.
    pub fn invalid_input(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, code, message)
    }
    /// A business rule said no.
    pub fn business(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Business, code, message)
    }
    /// A passing failure worth retrying.
    pub fn transient(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, code, message)
    }
    /// A bug or unexpected state.
    pub fn internal(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, code, message)
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} error {}: {}", self.kind, self.code, self.message)
    }
}

impl std::error::Error for StepError {}

impl From<StepError> for wit::StepError {
    fn from(e: StepError) -> Self {
        let kind = match e.kind {
            ErrorKind::InvalidInput => wit::ErrorKind::InvalidInput,
            ErrorKind::Business => wit::ErrorKind::Business,
            ErrorKind::Transient => wit::ErrorKind::Transient,
            ErrorKind::Internal => wit::ErrorKind::Internal,
        };
        wit::StepError { kind, code: e.code, message: e.message }
    }
}
