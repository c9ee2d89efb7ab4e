//! Processes: definitions, their validation, expressions, and the executor that runs instances.
//!
//! # Layout
//! - [`definition`]: the YAML/JSON document format and its validation into a [`model::Process`].
//! - [`model`]: the compiled form the executor runs.
//! - [`expr`]: jq expressions (the `jaq` crates).
//! - [`event`]: the journal's events.
//! - [`machine`]: the state machine of one instance: events in, actions out, no I/O.
//! - [`executor`]: the driver: runs the machine's actions (steps, timers, signals, sub-processes) and recovers.

pub mod definition;
pub mod event;
pub mod executor;
pub mod expr;
pub mod machine;
pub mod model;
