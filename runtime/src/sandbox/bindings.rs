//! Host bindings of the `alur:step` world, generated from `sdk/wit`, the only copy of the contract.

mod generated {
    wasmtime::component::bindgen!({
        path: "../sdk/wit",
        world: "alur:step/step",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

pub use generated::alur::step::host::{Host, Level, add_to_linker};
pub use generated::alur::step::types::{Context, ErrorKind, StepError};
pub use generated::{Step, StepPre};
