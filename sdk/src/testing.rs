//! A host-side fake of the Alur host API, for unit tests of plugin logic with `cargo test`.
//!
//! Each test thread has its own fake; set config and kv before calling the step, read logs and kv after.
//!
//! ```
//! use alur_sdk::testing;
//! testing::reset();
//! testing::set_config("limit", "100");
//! assert_eq!(alur_sdk::config::get("limit").as_deref(), Some("100"));
//! alur_sdk::kv::set("seen", &3u32).unwrap();
//! assert_eq!(alur_sdk::kv::get::<u32>("seen").unwrap(), Some(3));
//! ```

use crate::log::Level;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// The state of the fake host.
#[derive(Debug, Default, Clone)]
pub struct FakeHost {
    /// The step's config map.
    pub config: BTreeMap<String, String>,
    /// The plugin's key-value state.
    pub kv: BTreeMap<String, Vec<u8>>,
    /// Every line logged, in order.
    pub logs: Vec<(Level, String)>,
}

thread_local! {
    static HOST: RefCell<FakeHost> = RefCell::new(FakeHost::default());
}

/// Runs `f` with the current thread's fake host.
pub fn with<R>(f: impl FnOnce(&mut FakeHost) -> R) -> R {
    HOST.with(|h| f(&mut h.borrow_mut()))
}

/// Clears config, kv and logs.
pub fn reset() {
    with(|h| *h = FakeHost::default());
}

/// Sets one config value.
pub fn set_config(key: &str, value: &str) {
    with(|h| {
        h.config.insert(key.to_string(), value.to_string());
    });
}

/// A copy of the fake host's state.
pub fn snapshot() -> FakeHost {
    with(|h| h.clone())
}
