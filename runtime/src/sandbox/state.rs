//! The data of one step's [`wasmtime::Store`]: everything the guest can reach, built fresh per attempt.

use super::host::HostView;
use super::limits::StepLimiter;
use super::stdio::CapturedOutput;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Per-attempt store data.
pub struct StepState {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) host: HostView,
    pub(super) limiter: StepLimiter,
    pub(super) output: CapturedOutput,
    /// Set by the epoch callback when the wall-clock deadline passed; the failure is then `timeout`.
    pub(super) timed_out: bool,
}

impl WasiView for StepState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}
