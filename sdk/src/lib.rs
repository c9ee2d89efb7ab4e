//! # alur-sdk: write Alur step plugins in Rust
//!
//! A step plugin is a WebAssembly component that implements the `alur:step` world (`sdk/wit/alur-step.wit`):
//! one `run` export that takes a JSON input and returns a JSON output or a [`StepError`]. This crate hides the
//! JSON and the bindings: implement [`Step`] over serde types and call [`export_step!`] once.
//!
//! ```
//! use alur_sdk::{Context, Step, StepError};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Order { total: f64 }
//!
//! #[derive(Serialize)]
//! struct Verdict { approved: bool }
//!
//! struct CreditCheck;
//!
//! impl Step for CreditCheck {
//!     type Input = Order;
//!     type Output = Verdict;
//!
//!     fn run(_ctx: &Context, order: Order) -> Result<Verdict, StepError> {
//!         let limit: f64 = alur_sdk::config::parse("limit")?.unwrap_or(10_000.0);
//!         if order.total < 0.0 {
//!             return Err(StepError::invalid_input("negative-total", "an order total cannot be negative"));
//!         }
//!         Ok(Verdict { approved: order.total <= limit })
//!     }
//! }
//!
//! alur_sdk::export_step!(CreditCheck);
//! # fn main() {
//! #     let ctx = alur_sdk::Context::for_test("credit-check");
//! #     assert!(CreditCheck::run(&ctx, Order { total: 5.0 }).unwrap().approved);
//! # }
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` (crate type `cdylib`) and run it locally with
//! `alur step run target/wasm32-wasip2/release/<name>.wasm --input '{...}'`.
//!
//! Off wasm (in `cargo test` on the host), the host API is served by an in-process fake that
//! [`testing`] lets a test fill and inspect, so plugin logic is unit-tested like any Rust code.
//!
//! # Layout
//! - [`Step`], [`Context`], [`StepError`], [`ErrorKind`], [`export_step!`]: the contract.
//! - [`log`], [`config`], [`kv`]: the host API (logging, the step's config, state scoped to tenant + plugin).
//! - [`records`]: typed CRM and SCM records shared by plugins.
//! - [`testing`]: the host-side fake (not on wasm).
#![deny(missing_docs)]

mod context;
mod error;
mod host;
pub mod records;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use context::Context;
pub use error::{ErrorKind, StepError};
pub use host::{config, kv, log};

/// The generated `alur:step` bindings. Plugins use [`export_step!`] instead of these.
#[doc(hidden)]
#[allow(clippy::too_many_arguments, reason = "generated ABI glue flattens the context record")]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "alur:step/step",
        pub_export_macro: true,
        export_macro_name: "__export_step_world",
        default_bindings_module: "alur_sdk::bindings",
    });
}

/// One step of a business process.
///
/// `Input` is deserialized from the step's JSON input; an input that does not fit becomes a
/// [`ErrorKind::InvalidInput`] error without calling [`Step::run`]. `Output` is serialized as the step's result.
pub trait Step {
    /// The step's input, decoded from JSON.
    type Input: serde::de::DeserializeOwned;
    /// The step's output, encoded as JSON.
    type Output: serde::Serialize;

    /// Runs the step once. Called for every attempt; `ctx.attempt` tells which one.
    fn run(ctx: &Context, input: Self::Input) -> Result<Self::Output, StepError>;
}

/// Exports a [`Step`] implementation as the component's `run` function.
///
/// Use it once per plugin crate, at the top level:
/// `alur_sdk::export_step!(MyStep);`
#[macro_export]
macro_rules! export_step {
    ($step:ty) => {
        const _: () = {
            struct __AlurStepExport;

            impl $crate::bindings::Guest for __AlurStepExport {
                fn run(
                    ctx: $crate::bindings::alur::step::types::Context,
                    input: ::std::string::String,
                ) -> ::std::result::Result<::std::string::String, $crate::bindings::alur::step::types::StepError>
                {
                    $crate::__private::dispatch::<$step>(ctx, input)
                }
            }

    $crate::bindings::__export_step_world!(__AlurStepExport with_types_in $crate::bindings);
        };
    };
}

#[doc(hidden)]
pub mod __private {
    use crate::bindings::alur::step::types as wit;
    use crate::{Context, ErrorKind, Step, StepError};

    /// Decodes the input, runs the step and encodes its result: the glue behind [`crate::export_step!`].
    pub fn dispatch<S: Step>(ctx: wit::Context, input: String) -> Result<String, wit::StepError> {
        let ctx = Context::from(ctx);
        run_json::<S>(&ctx, &input).map_err(Into::into)
    }

    /// The JSON side of a step call, kept free of bindings so that it is testable off wasm.
    pub fn run_json<S: Step>(ctx: &Context, input: &str) -> Result<String, StepError> {
        let input: S::Input = serde_json::from_str(input).map_err(|e| {
            StepError::new(ErrorKind::InvalidInput, "invalid-input", format!("the step input does not fit: {e}"))
        })?;
        let output = S::run(ctx, input)?;
        serde_json::to_string(&output).map_err(|e| {
            StepError::new(ErrorKind::Internal, "output-encoding", format!("the step output cannot be encoded: {e}"))
        })
    }
}

/// The README's plugin example, compiled as a doctest so that it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
