//! The `alur` binary's own surface. Being an integration test of this package, it also makes
//! `cargo test --workspace` build the binary that the end-to-end tests in `tests/` start.

use std::process::Command;

fn alur(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_alur")).args(args).output().expect("alur runs")
}

#[test]
fn version_and_help_describe_the_commands() {
    let out = alur(&["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("alur "));
    let help = String::from_utf8_lossy(&alur(&["serve", "--help"]).stdout).to_string();
    for flag in ["--listen", "--data", "ALUR_LISTEN", "ALUR_DATA"] {
        assert!(help.contains(flag), "serve --help mentions {flag}: {help}");
    }
}

#[test]
fn an_unknown_command_is_a_usage_error() {
    let out = alur(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}
