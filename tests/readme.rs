//! The README's five-minute tour, run as written (with the server's address and data directory put in) against a
//! fresh `alur serve --demo`, so that the tour cannot go stale.

use alur_tests::server::Server;
use std::path::Path;
use std::process::Command;

fn tour(readme: &str) -> String {
    let start = readme.find("<!-- tour:start -->").expect("the README marks its tour");
    let end = readme.find("<!-- tour:end -->").expect("the README marks the end of its tour");
    let block = &readme[start..end];
    let body = block.split_once("```sh\n").expect("the tour is a sh block").1;
    body.rsplit_once("```").expect("the tour's block is closed").0.to_string()
}

#[test]
fn the_readme_tour_runs_against_the_demo() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let script = tour(&readme);
    assert!(script.contains("http://127.0.0.1:8080") && script.contains("alur-data/demo.key"), "{script}");

    let dir = tempfile::tempdir().unwrap();
    let (processes, plugins) = (root.join("examples/processes"), root.join("target/plugins"));
    let args = ["--demo", "--demo-processes", processes.to_str().unwrap(), "--demo-plugins", plugins.to_str().unwrap()];
    let server = Server::start_with(dir.path(), &args, &[]);
    let key_file = dir.path().join("demo.key");
    let script =
        script.replace("http://127.0.0.1:8080", &server.base).replace("alur-data/demo.key", key_file.to_str().unwrap());

    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(root)
        .output()
        .expect("bash runs the tour");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the tour failed ({}):\n{stdout}\n{stderr}", out.status);
    // What the tour's comments promise.
    for expected in
        ["lead-intake", "\"grade\": \"hot\"", "\"status\": \"completed\"", "step-completed", "invalid-definition"]
    {
        assert!(stdout.contains(expected), "the tour's output lacks {expected}:\n{stdout}");
    }
    server.stop();
}
