//! The host API a step may call: logging, its config, and key-value state.
//!
//! On wasm these call the `alur:step/host` imports. Off wasm (unit tests on the host) they are served by the
//! in-process fake in [`crate::testing`].

#[cfg(target_arch = "wasm32")]
use crate::bindings::alur::step::host as wit;

/// Logging into the runtime's log, tagged with tenant, process, instance and step.
pub mod log {
    /// The level of a log line.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Level {
        /// Very detailed tracing.
        Trace,
        /// Debugging detail.
        Debug,
        /// Normal operation.
        Info,
        /// Something unexpected that the step handled.
        Warn,
        /// Something failed.
        Error,
    }

    /// Writes one log line.
    pub fn log(level: Level, message: &str) {
        #[cfg(target_arch = "wasm32")]
        {
            use super::wit::Level as L;
            let level = match level {
                Level::Trace => L::Trace,
                Level::Debug => L::Debug,
                Level::Info => L::Info,
                Level::Warn => L::Warn,
                Level::Error => L::Error,
            };
            super::wit::log(level, message);
        }
        #[cfg(not(target_arch = "wasm32"))]
        crate::testing::with(|h| h.logs.push((level, message.to_string())));
    }

    /// Writes a debug line.
    pub fn debug(message: &str) {
        log(Level::Debug, message)
    }
    /// Writes an info line.
    pub fn info(message: &str) {
        log(Level::Info, message)
    }
    /// Writes a warning.
    pub fn warn(message: &str) {
        log(Level::Warn, message)
    }
    /// Writes an error line.
    pub fn error(message: &str) {
        log(Level::Error, message)
    }
}

/// The step's `config:` block from the process definition.
pub mod config {
    use crate::StepError;
    use std::str::FromStr;

    /// The raw value of a config key, if the definition set it.
    pub fn get(key: &str) -> Option<String> {
        #[cfg(target_arch = "wasm32")]
        {
            super::wit::config(key)
        }
        #[cfg(not(target_arch = "wasm32"))]
        crate::testing::with(|h| h.config.get(key).cloned())
    }

    /// A config value parsed with [`FromStr`]; a value that does not parse is an `invalid-config` internal error
    /// (the definition is wrong, not the input).
    pub fn parse<T: FromStr>(key: &str) -> Result<Option<T>, StepError>
    where
        T::Err: std::fmt::Display,
    {
        match get(key) {
            None => Ok(None),
            Some(raw) => raw.trim().parse::<T>().map(Some).map_err(|e| {
                StepError::internal("invalid-config", format!("config key `{key}` = `{raw}` does not parse: {e}"))
            }),
        }
    }

    /// A config value holding JSON (for tables such as weights or stock levels).
    pub fn json<T: serde::de::DeserializeOwned>(key: &str) -> Result<Option<T>, StepError> {
        match get(key) {
            None => Ok(None),
            Some(raw) => serde_json::from_str(&raw).map(Some).map_err(|e| {
                StepError::internal("invalid-config", format!("config key `{key}` is not the expected JSON: {e}"))
            }),
        }
    }
}

/// State scoped to (tenant, plugin name). A step's writes become visible to others only once the engine has
/// committed the step's completion, so a failed or retried attempt leaves no trace.
pub mod kv {
    use crate::StepError;

    /// The raw bytes under `key`.
    pub fn get_bytes(key: &str) -> Option<Vec<u8>> {
        #[cfg(target_arch = "wasm32")]
        {
            super::wit::kv_get(key)
        }
        #[cfg(not(target_arch = "wasm32"))]
        crate::testing::with(|h| h.kv.get(key).cloned())
    }

    /// Stores raw bytes under `key`.
    pub fn set_bytes(key: &str, value: &[u8]) {
        #[cfg(target_arch = "wasm32")]
        super::wit::kv_set(key, value);
        #[cfg(not(target_arch = "wasm32"))]
        crate::testing::with(|h| {
            h.kv.insert(key.to_string(), value.to_vec());
        });
    }

    /// Removes `key`.
    pub fn delete(key: &str) {
        #[cfg(target_arch = "wasm32")]
        super::wit::kv_delete(key);
        #[cfg(not(target_arch = "wasm32"))]
        crate::testing::with(|h| {
            h.kv.remove(key);
        });
    }

    /// The JSON value under `key`, decoded; a value that does not decode is an `invalid-state` internal error.
    pub fn get<T: serde::de::DeserializeOwned>(key: &str) -> Result<Option<T>, StepError> {
        match get_bytes(key) {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                StepError::internal("invalid-state", format!("kv key `{key}` does not hold the expected JSON: {e}"))
            }),
        }
    }

    /// Stores `value` as JSON under `key`.
    pub fn set<T: serde::Serialize>(key: &str, value: &T) -> Result<(), StepError> {
        let bytes = serde_json::to_vec(value).map_err(|e| {
            StepError::internal("invalid-state", format!("kv value for `{key}` cannot be encoded: {e}"))
        })?;
        set_bytes(key, &bytes);
        Ok(())
    }
}
