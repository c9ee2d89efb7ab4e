//! What one step attempt may consume, and the limiter that enforces the memory and table parts of it.
//!
//! Fuel and wall time are enforced by the store (fuel counter, epoch deadline); memory, tables and instance
//! counts by [`StepLimiter`], which also remembers that it refused a growth so that the failure is reported
//! as `memory-limit` even when the guest turns the refusal into a trap of its own (Rust aborts on OOM).

use serde::{Deserialize, Serialize};
use std::time::Duration;
use wasmtime::ResourceLimiter;

/// Limits of one step attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepLimits {
    /// Fuel units (roughly wasm instructions) the attempt may burn.
    pub fuel: u64,
    /// Bytes of linear memory, summed over the component's memories.
    pub memory_bytes: usize,
    /// Wall-clock time from instantiation to the returned result, host calls included.
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// Largest output (JSON text) accepted from the step.
    pub max_output_bytes: usize,
}

impl Default for StepLimits {
    /// Fits a business step: a billion instructions, 64 MiB and five seconds are far more than scoring a lead
    /// or checking stock needs, and little enough that a runaway step is stopped quickly.
    fn default() -> Self {
        StepLimits {
            fuel: 1_000_000_000,
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(5),
            max_output_bytes: 1 << 20,
        }
    }
}

/// Tables and instances a component may create; generous for real guests, finite for hostile ones.
const MAX_INSTANCES: usize = 128;
const MAX_TABLES: usize = 128;
const MAX_MEMORIES: usize = 64;
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

/// The [`ResourceLimiter`] of one step store.
#[derive(Debug)]
pub struct StepLimiter {
    memory_cap: usize,
    memory_in_use: usize,
    /// Set when a memory growth was refused; the attempt's failure is then `memory-limit`.
    pub memory_refused: bool,
}

impl StepLimiter {
    /// A limiter allowing `memory_cap` bytes over all memories.
    pub fn new(memory_cap: usize) -> Self {
        StepLimiter { memory_cap, memory_in_use: 0, memory_refused: false }
    }
}

impl ResourceLimiter for StepLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current);
        let within_module_max = maximum.is_none_or(|max| desired <= max);
        if within_module_max && self.memory_in_use.saturating_add(growth) <= self.memory_cap {
            self.memory_in_use += growth;
            Ok(true)
        } else {
            self.memory_refused = true;
            Ok(false)
        }
    }

    fn table_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS && maximum.is_none_or(|max| desired <= max))
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// Durations as human text ("5s", "250ms") in JSON and YAML.
mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_cap_counts_all_memories_and_remembers_refusal() {
        let mut l = StepLimiter::new(100);
        assert!(l.memory_growing(0, 60, None).unwrap());
        assert!(l.memory_growing(0, 40, None).unwrap());
        assert!(!l.memory_refused);
        assert!(!l.memory_growing(40, 41, None).unwrap());
        assert!(l.memory_refused);
    }

    #[test]
    fn module_maximum_is_respected() {
        let mut l = StepLimiter::new(1000);
        assert!(!l.memory_growing(0, 20, Some(10)).unwrap());
    }
}
