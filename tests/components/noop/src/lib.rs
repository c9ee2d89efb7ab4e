//! A step that ignores its input and answers `{"ok":true}`: the benchmark's measure of pure dispatch cost.

use alur_sdk::{Context, Step, StepError};

struct Noop;

impl Step for Noop {
    type Input = serde::de::IgnoredAny;
    type Output = serde_json::Value;

    fn run(_ctx: &Context, _input: Self::Input) -> Result<Self::Output, StepError> {
        Ok(serde_json::json!({ "ok": true }))
    }
}

alur_sdk::export_step!(Noop);
