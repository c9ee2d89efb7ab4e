//! The data of one step's [`wasmtime::Store`]: everything the guest can reach, built fresh per attempt.

use super::host::HostView;
use super::http::HttpGrant;
use super::limits::StepLimiter;
use super::stdio::CapturedOutput;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Per-attempt store data.
pub struct StepState {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) host: HostView,
    pub(super) http_ctx: WasiHttpCtx,
    pub(super) http: HttpGrant,
    pub(super) limiter: StepLimiter,
    pub(super) output: CapturedOutput,
    /// Set by the epoch callback when the wall-clock deadline passed; the failure is then `timeout`.
    pub(super) timed_out: bool,
}

impl WasiHttpView for StepState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http_ctx, table: &mut self.table, hooks: &mut self.http }
    }
}

impl WasiView for StepState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}
