//! The `alur:step/host` interface: what a step may ask of the host (log, its config, its kv state).
//!
//! Isolation lives here: a step sees only the config of its own step and the kv scope of its own tenant and
//! plugin, both fixed by the host when the attempt starts; nothing a guest passes can name another scope.

use super::bindings::{Host, Level};
use super::kv::KvOverlay;
use super::redact::Redactor;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Longest log message kept; the rest is cut (a chatty plugin is never failed for its output).
const MAX_LOG_LINE: usize = 8 << 10;
/// Most log lines kept per attempt.
const MAX_LOG_LINES: usize = 1_000;

/// Who is running, for log tags.
#[derive(Debug, Clone, Default)]
pub struct StepTags {
    /// Tenant id.
    pub tenant: String,
    /// Process name.
    pub process: String,
    /// Instance id.
    pub instance: String,
    /// Step id.
    pub step: String,
}

/// The host side of one attempt's `alur:step/host` import.
pub struct HostView {
    pub(super) tags: Arc<StepTags>,
    pub(super) config: Arc<BTreeMap<String, String>>,
    pub(super) kv: KvOverlay,
    pub(super) redactor: Redactor,
    log_lines: usize,
}

impl HostView {
    /// A view for one attempt; its log lines pass through `redactor`.
    pub fn new(tags: Arc<StepTags>, config: Arc<BTreeMap<String, String>>, kv: KvOverlay, redactor: Redactor) -> Self {
        HostView { tags, config, kv, redactor, log_lines: 0 }
    }
}

fn truncated(message: &str) -> &str {
    if message.len() <= MAX_LOG_LINE {
        return message;
    }
    let mut end = MAX_LOG_LINE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

impl Host for HostView {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            return Ok(());
        }
        let t = &self.tags;
        let msg = self.redactor.apply(truncated(&message));
        let (tenant, process, instance, step) = (&t.tenant, &t.process, &t.instance, &t.step);
        match level {
            Level::Trace => tracing::trace!(target: "alur::guest", tenant, process, instance, step, "{msg}"),
            Level::Debug => tracing::debug!(target: "alur::guest", tenant, process, instance, step, "{msg}"),
            Level::Info => tracing::info!(target: "alur::guest", tenant, process, instance, step, "{msg}"),
            Level::Warn => tracing::warn!(target: "alur::guest", tenant, process, instance, step, "{msg}"),
            Level::Error => tracing::error!(target: "alur::guest", tenant, process, instance, step, "{msg}"),
        }
        Ok(())
    }

    async fn config(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.config.get(&key).cloned())
    }

    async fn kv_get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        // A backend failure is the host's, not the guest's: trap, and the attempt fails as a retryable fault.
        self.kv.get(&key).await.map_err(wasmtime::Error::msg)
    }

    async fn kv_set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        self.kv.put(key, Some(value)).await.map_err(wasmtime::Error::msg)
    }

    async fn kv_delete(&mut self, key: String) -> wasmtime::Result<()> {
        self.kv.put(key, None).await.map_err(wasmtime::Error::msg)
    }
}
