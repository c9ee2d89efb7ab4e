//! The no-op step as an Extism plugin, doing what `tests/components/noop` does: read the JSON input (skipping
//! it, so the input still crosses the boundary and is parsed) and answer `{"ok":true}`.

use extism_pdk::{FnResult, plugin_fn};

#[plugin_fn]
pub fn run(input: String) -> FnResult<String> {
    let _: serde::de::IgnoredAny = serde_json::from_str(&input)?;
    Ok(serde_json::json!({ "ok": true }).to_string())
}
