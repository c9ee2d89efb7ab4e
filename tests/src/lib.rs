//! Support for Alur's end-to-end tests: the paths of the real compiled guest components (built by
//! `build.rs`) and shared helpers.

include!(concat!(env!("OUT_DIR"), "/components.rs"));

/// The bytes of a compiled component.
pub fn component_bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read component {path}: {e}"))
}

/// The `alur` binary built beside the running test (`cargo test --workspace` builds it).
pub fn alur_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/alur
    let bin = exe.parent().and_then(|d| d.parent()).map(|d| d.join("alur")).expect("target layout");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` so the binary is built",
        bin.display()
    );
    bin
}

pub mod runtime;
pub mod server;

/// The compiled example plugin `name` from `target/plugins/` (written by `plugins/build`, which builds the
/// plugins of every language); panics with the command to run when it is missing.
pub fn plugin_path(name: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let path = root.join("target/plugins").join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run `plugins/build` first", path.display());
    path.display().to_string()
}

/// A compiled-component cache shared by every test's `alur serve` and `alur step run` (entries are keyed by
/// content and engine, written atomically), so the Python and JavaScript plugins compile once per test run.
pub fn shared_compiled_cache() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    root.join("target/test-compiled-cache")
}
pub mod examples;

/// A small lead-intake process over the `crm-lead-score` and `hostile` test components: a hot lead is "assigned"
/// (echoed) at once, any other waits for a `lead-updated` signal. The API and CLI suites deploy it.
pub const LEAD_INTAKE: &str = r#"
name: lead-intake
steps:
  - id: score
    plugin: crm-lead-score
    input: '{lead: .input.lead}'
    config: { target_countries: "US" }
  - id: route
    switch:
      - when: '.steps.score.grade == "hot"'
        then: assign
      - default: nurture
  - id: assign
    plugin: hostile
    config: { mode: echo }
    input: '{owner: "ana"}'
    next: end
  - id: nurture
    wait: { signal: lead-updated, timeout: 30d }
output: '{grade: .steps.score.grade, owner: .steps.assign.owner, update: .steps.nurture}'
"#;
