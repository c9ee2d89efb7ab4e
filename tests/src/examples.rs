//! The shipped material tests read (the workspace root, `examples/processes/` files) and the commands they run
//! (`alur step run`, a guest's own build and test scripts).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// The text of a file of `examples/processes/`.
pub fn example(file: &str) -> String {
    let path = root().join("examples/processes").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A JSON sample of `examples/processes/`.
pub fn sample(file: &str) -> Value {
    serde_json::from_str(&example(file)).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"))
}

/// `text` with `from` replaced by `to`, which must be there: a test must not silently keep a 30-day timer.
#[track_caller]
pub fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "`{from}` is not in the definition any more");
    text.replace(from, to)
}

/// Runs a command to completion and panics with its output unless it succeeds; its stdout.
#[track_caller]
pub fn check(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `alur step run <wasm> --input <text> [--config k=v]...` (with the shared compiled cache): its exit code and
/// the JSON it printed.
pub fn step_run_raw(wasm: &Path, input: &str, config: &[&str]) -> (i32, Value) {
    let mut cmd = Command::new(crate::alur_bin());
    cmd.args(["step", "run"])
        .arg(wasm)
        .args(["--input", input])
        .env("ALUR_LOG", "warn")
        .env("ALUR_COMPILED_CACHE", crate::shared_compiled_cache());
    for c in config {
        cmd.args(["--config", c]);
    }
    let out = cmd.output().expect("alur step run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("alur step run printed no JSON ({e}):\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr))
    });
    (out.status.code().expect("exit code"), json)
}

/// [`step_run_raw`] with a JSON input.
pub fn step_run(wasm: &Path, input: &Value, config: &[&str]) -> (i32, Value) {
    step_run_raw(wasm, &input.to_string(), config)
}
