//! # Alur runtime
//!
//! Runs business processes whose steps are tenant-supplied WebAssembly components.
//!
//! # Layout
//! - [`sandbox`]: the wasmtime engine, the compiled-component cache, per-step limits and the host imports a
//!   step sees (log, config, kv). Everything a guest can touch goes through here.
//! - [`process`]: process definitions, validation, jq expressions and the executor.
//! - [`digest`]: content digests that name plugin versions and cache entries.
//! - [`store`]: durable state (SQLite embedded, in-memory for tests): plugins, processes, instances, journals, kv.
//! - [`quota`]: per-tenant quotas (sizes, counts, open instances, per-step ceilings).
//! - [`secrets`]: tenants' secrets, sealed at rest, handed only to the steps that name them.
//! - [`api`]: the HTTP API (axum): tenants, plugins, processes, instances.
//! - [`server`]: `alur serve`: data directory, admin key, recovery, the API, graceful shutdown.
//! - [`demo`]: `alur serve --demo`, the example tenant.
//! - [`cli`]: the `alur` command line (the binary in `main.rs` only parses and dispatches).

pub mod api;
pub mod cli;
pub mod demo;
pub mod digest;
pub mod process;
pub mod quota;
pub mod sandbox;
pub mod secrets;
pub mod server;
pub mod store;
