//! The `alur` command line as a client of a real `alur serve`: the whole tenant journey through the binary
//! (tenant, plugins, processes, instances; readable and `--json` output; exit codes; error printing), and
//! `alur plugin new` for every template language.

use alur_tests::server::{ADMIN, Server};
use alur_tests::{CRM_LEAD_SCORE, HOSTILE, alur_bin};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// What one run of the binary did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The stdout as JSON, or a panic that shows both streams.
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }

    /// The value after `label` on the line that starts with it (`id:      0190...` -> `0190...`).
    #[track_caller]
    fn field(&self, label: &str) -> String {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no line starting with {label:?} in:\n{}", self.stdout))
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs `alur <args>` against `url` with the tenant `key` in the environment (the flags override it).
fn alur(url: &str, key: &str, args: &[&str]) -> Run {
    let out = Command::new(alur_bin())
        .args(args)
        .env("ALUR_URL", url)
        .env("ALUR_API_KEY", key)
        .env_remove("ALUR_ADMIN_KEY")
        .env("ALUR_LOG", "warn")
        .output()
        .expect("run alur");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[track_caller]
fn ok(run: Run) -> Run {
    assert_eq!(run.code, 0, "{run:?}");
    run
}

fn hot_lead() -> String {
    json!({"lead": {"email": "ana@acme.io", "company": "Acme", "employees": 1200, "country": "US",
        "source": "referral", "demo_requested": true}})
    .to_string()
}

const COLD_LEAD: &str = r#"{"lead": {"email": "bob@gmail.com", "source": "web"}}"#;

/// The instance id that `process start` printed.
#[track_caller]
fn instance_id(run: &Run) -> String {
    let id = run.field("instance ");
    assert_eq!(id.len(), 36, "a UUID: {run:?}");
    id
}

#[test]
fn the_tenant_journey_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let url = server.base.as_str();
    let files = dir.path();

    // Tenants, with the admin key.
    let created = ok(alur(url, "", &["tenant", "create", "acme", "--admin-key", ADMIN]));
    let key = created.field("api key:");
    let tenant_id = created.field("id:");
    assert!(key.starts_with("alur_"), "{created:?}");
    let listed = ok(alur(url, "", &["tenant", "list", "--admin-key", ADMIN, "--json"])).json();
    assert_eq!(listed["tenants"][0]["name"], "acme");
    let table = ok(alur(url, "", &["tenant", "list", "--admin-key", ADMIN]));
    assert!(table.stdout.starts_with("ID") && table.stdout.contains(&tenant_id), "{table:?}");
    let taken = alur(url, "", &["tenant", "create", "acme", "--admin-key", ADMIN]);
    assert_eq!(taken.code, 1, "{taken:?}");
    assert!(taken.stderr.starts_with("error: name-taken: "), "{taken:?}");
    let not_admin = alur(url, "", &["tenant", "list", "--admin-key", &key]);
    assert!(not_admin.code == 1 && not_admin.stderr.starts_with("error: forbidden: "), "{not_admin:?}");
    let quota = ok(alur(
        url,
        "",
        &[
            "tenant",
            "quota",
            &tenant_id,
            "--admin-key",
            ADMIN,
            "--set",
            "max_plugins=5",
            "--set",
            "max_plugin_bytes=32MiB",
        ],
    ));
    assert!(
        quota.stdout.lines().any(|l| l.starts_with("max_plugins") && l.contains(" 5 ") && l.ends_with("override")),
        "{quota:?}"
    );
    // A later --set keeps the earlier overrides (the API replaces them all; the CLI merges).
    let quota =
        ok(alur(url, "", &["tenant", "quota", &tenant_id, "--admin-key", ADMIN, "--set", "max_processes=7", "--json"]))
            .json();
    assert_eq!((quota["quota"]["max_plugins"].as_u64(), quota["quota"]["max_processes"].as_u64()), (Some(5), Some(7)));
    assert_eq!(quota["quota"]["max_plugin_bytes"], 32 << 20);
    let bad_quota = alur(url, "", &["tenant", "quota", &tenant_id, "--admin-key", ADMIN, "--set", "max_plugins=lots"]);
    assert!(bad_quota.code == 1 && bad_quota.stderr.starts_with("error: invalid-quota: "), "{bad_quota:?}");
    let unset =
        ok(alur(url, "", &["tenant", "quota", &tenant_id, "--admin-key", ADMIN, "--unset", "max_plugins", "--json"]));
    assert_eq!(unset.json()["overrides"], json!({"max_plugin_bytes": 32 << 20, "max_processes": 7}));

    // A wrong key, a missing key, a server that is not there.
    let wrong = alur(url, "alur_wrong", &["plugin", "list"]);
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.stderr.starts_with("error: unauthorized: "), "{wrong:?}");
    let missing = alur(url, "", &["plugin", "list"]);
    assert!(missing.code == 1 && missing.stderr.contains("ALUR_API_KEY"), "{missing:?}");
    let down = alur("http://127.0.0.1:1", &key, &["plugin", "list"]);
    assert!(down.code == 1 && down.stderr.contains("cannot reach http://127.0.0.1:1/"), "{down:?}");

    // Plugins: new, the same bytes again, listed; no progress output when stderr is not a terminal.
    let pushed = ok(alur(url, &key, &["plugin", "push", "crm-lead-score", CRM_LEAD_SCORE]));
    assert!(pushed.stdout.starts_with("crm-lead-score version 1 (new version)"), "{pushed:?}");
    assert!(pushed.field("digest:").starts_with("sha256:") && pushed.field("size:").ends_with(" bytes)"), "{pushed:?}");
    assert_eq!(pushed.stderr, "", "no progress bar without a terminal");
    let again = ok(alur(url, &key, &["plugin", "push", "crm-lead-score", CRM_LEAD_SCORE]));
    assert!(again.stdout.starts_with("crm-lead-score version 1 (unchanged"), "{again:?}");
    let hostile = ok(alur(url, &key, &["plugin", "push", "hostile", HOSTILE, "--json"])).json();
    assert_eq!((hostile["name"].as_str(), hostile["version"].as_u64()), (Some("hostile"), Some(1)));
    assert_eq!(hostile["size"].as_u64(), Some(std::fs::metadata(HOSTILE).unwrap().len()));
    let junk = files.join("junk.wasm");
    std::fs::write(&junk, b"not wasm").unwrap();
    let rejected = alur(url, &key, &["plugin", "push", "junk", junk.to_str().unwrap()]);
    assert!(rejected.code == 1 && rejected.stderr.starts_with("error: not-a-component: "), "{rejected:?}");
    let list = ok(alur(url, &key, &["plugin", "list"]));
    assert!(
        list.stdout.lines().any(|l| l.starts_with("crm-lead-score ")) && list.stdout.contains("hostile"),
        "{list:?}"
    );
    let versions = ok(alur(url, &key, &["plugin", "get", "hostile", "--json"])).json();
    assert_eq!(versions["versions"][0]["digest"], hostile["digest"]);

    // Processes: YAML and JSON by extension; an invalid one prints every problem with its path.
    let yaml = files.join("lead-intake.yaml");
    std::fs::write(&yaml, alur_tests::LEAD_INTAKE).unwrap();
    let deployed = ok(alur(url, &key, &["process", "deploy", yaml.to_str().unwrap()]));
    assert_eq!(deployed.stdout.trim(), "deployed lead-intake version 1");
    let as_json = files.join("lead-intake.json");
    let doc: Value = serde_json::to_value(yaml_as_json(alur_tests::LEAD_INTAKE)).unwrap();
    std::fs::write(&as_json, doc.to_string()).unwrap();
    let v2 = ok(alur(url, &key, &["process", "deploy", as_json.to_str().unwrap(), "--json"])).json();
    assert_eq!(v2, json!({"name": "lead-intake", "version": 2}));
    let broken = files.join("broken.yml");
    std::fs::write(
        &broken,
        "name: broken\nsteps:\n  - id: a\n    plugin: nope\n    input: '.x +'\n  - id: a\n    sleep: { for: soon }\n",
    )
    .unwrap();
    let invalid = alur(url, &key, &["process", "deploy", broken.to_str().unwrap()]);
    assert_eq!(invalid.code, 1, "{invalid:?}");
    assert!(invalid.stderr.starts_with("error: invalid-definition: "), "{invalid:?}");
    for path in ["/steps/0/input: ", "/steps/1/id: ", "/steps/1/sleep/for: "] {
        assert!(invalid.stderr.lines().any(|l| l.trim_start().starts_with(path)), "{path} in {invalid:?}");
    }
    let processes = ok(alur(url, &key, &["process", "list", "--json"])).json();
    assert_eq!(processes["processes"][0]["latest_version"], 2);
    let shown = ok(alur(url, &key, &["process", "get", "lead-intake", "--version", "1"]));
    assert!(shown.stdout.starts_with("process lead-intake version 1"), "{shown:?}");
    assert!(
        shown.stdout.contains(hostile["digest"].as_str().unwrap()) && shown.stdout.contains("plugin: crm-lead-score"),
        "{shown:?}"
    );

    // Start and wait: completed, exit 0, the output as pretty JSON.
    let done = alur(url, &key, &["process", "start", "lead-intake", "--input", &hot_lead(), "--wait", "10s"]);
    assert_eq!(done.code, 0, "{done:?}");
    assert_eq!(done.field("status"), "completed");
    let output_text = done.stdout.split_once("output:\n").expect("an output block").1;
    let output: Value = serde_json::from_str(output_text).unwrap();
    assert_eq!(output, json!({"grade": "hot", "owner": "ana", "update": null}));

    // The input from a file, with --json: a failing instance exits 2.
    let bad_input = files.join("bad.json");
    std::fs::write(&bad_input, r#"{"lead": {"email": "not-an-email"}}"#).unwrap();
    let failed = alur(
        url,
        &key,
        &[
            "process",
            "start",
            "lead-intake",
            "--input",
            &format!("@{}", bad_input.display()),
            "--wait",
            "10s",
            "--json",
        ],
    );
    assert_eq!(failed.code, 2, "{failed:?}");
    assert_eq!(failed.json()["error"]["code"], "invalid-email", "{failed:?}");

    // A cold lead waits for a signal: still running when the wait runs out, exit 3.
    let waiting = alur(url, &key, &["process", "start", "lead-intake", "--input", COLD_LEAD, "--wait", "300ms"]);
    assert_eq!(waiting.code, 3, "{waiting:?}");
    let id = instance_id(&waiting);
    let got = ok(alur(url, &key, &["instance", "get", &id]));
    assert_eq!((got.field("status"), got.field("waiting")), ("running".into(), "lead-updated".into()), "{got:?}");
    let other = alur(url, &key, &["instance", "signal", &id, "other"]);
    assert!(other.code == 1 && other.stderr.starts_with("error: not-waiting: "), "{other:?}");
    let payload = files.join("payload.json");
    std::fs::write(&payload, r#"{"note": "called back"}"#).unwrap();
    let signalled = ok(alur(
        url,
        &key,
        &["instance", "signal", &id, "lead-updated", "--payload", &format!("@{}", payload.display())],
    ));
    assert_eq!(signalled.stdout.trim(), format!("delivered signal lead-updated to {id}"));
    let finished = wait_for(url, &key, &id, "completed");
    assert_eq!(finished["output"]["update"], json!({"note": "called back"}), "{finished}");
    let history = ok(alur(url, &key, &["instance", "history", &id]));
    let lines: Vec<&str> = history.stdout.lines().collect();
    assert!(lines[0].starts_with("SEQ") && lines[0].contains("FUEL"), "{history:?}");
    let completed_step = lines.iter().find(|l| l.contains(" step-completed ")).expect("a step-completed line");
    let cols: Vec<&str> = completed_step.split_whitespace().collect();
    assert_eq!((cols[0], cols[2], cols[3], cols[4]), ("3", "step-completed", "score", "1"), "{completed_step}");
    assert!(cols[5].ends_with("ms") && cols[6].parse::<u64>().unwrap() > 0, "{completed_step}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("signal-received") && l.contains(r#"signal lead-updated {"note":"called back"}"#)),
        "{history:?}"
    );
    assert!(lines.last().unwrap().contains(" completed"), "{history:?}");
    let events = ok(alur(url, &key, &["instance", "history", &id, "--json"])).json();
    assert_eq!(events["events"].as_array().unwrap().len(), lines.len() - 1);

    // Cancel a waiting one: it ends cancelled; cancelling again is a conflict.
    let started = ok(alur(url, &key, &["process", "start", "lead-intake", "--input", COLD_LEAD]));
    let second = instance_id(&started);
    let cancelled = ok(alur(url, &key, &["instance", "cancel", &second]));
    assert_eq!(cancelled.field("status"), "cancelled", "{cancelled:?}");
    let twice = alur(url, &key, &["instance", "cancel", &second]);
    assert!(twice.code == 1 && twice.stderr.starts_with("error: finished: "), "{twice:?}");
    assert_eq!(alur(url, &key, &["instance", "get", &second]).code, 0);

    // Idempotency: the same key returns the first instance.
    let first = ok(alur(
        url,
        &key,
        &["process", "start", "lead-intake", "--input", &hot_lead(), "--idempotency-key", "order-1", "--json"],
    ))
    .json();
    let repeat = ok(alur(
        url,
        &key,
        &["process", "start", "lead-intake", "--input", &hot_lead(), "--idempotency-key", "order-1"],
    ));
    assert_eq!(instance_id(&repeat), first["id"].as_str().unwrap());
    assert!(repeat.stdout.contains("not started again"), "{repeat:?}");

    // Listing, filtered and paged.
    let page = ok(alur(
        url,
        &key,
        &["instance", "list", "--process", "lead-intake", "--status", "completed", "--limit", "1", "--json"],
    ))
    .json();
    assert_eq!(page["instances"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().expect("a next page").to_string();
    let next =
        ok(alur(url, &key, &["instance", "list", "--status", "completed", "--cursor", &cursor, "--json"])).json();
    assert!(next["instances"].as_array().unwrap().iter().all(|i| i["id"] != page["instances"][0]["id"]));
    let readable = ok(alur(url, &key, &["instance", "list", "--status", "cancelled"]));
    assert!(
        readable.stdout.lines().nth(1).is_some_and(|l| l.starts_with(&second) && l.contains("cancelled")),
        "{readable:?}"
    );
    let unknown = alur(url, &key, &["instance", "list", "--status", "paused"]);
    assert!(unknown.code == 1 && unknown.stderr.starts_with("error: bad-request: "), "{unknown:?}");

    // Deleting a plugin a process uses is refused; another tenant sees none of it.
    let in_use = alur(url, &key, &["plugin", "delete", "hostile"]);
    assert!(in_use.code == 1 && in_use.stderr.starts_with("error: in-use: "), "{in_use:?}");
    let globex = ok(alur(url, "", &["tenant", "create", "globex", "--admin-key", ADMIN, "--json"])).json();
    let globex_key = globex["api_key"].as_str().unwrap();
    let hidden = alur(url, globex_key, &["instance", "get", &id]);
    assert!(hidden.code == 1 && hidden.stderr.starts_with("error: not-found: "), "{hidden:?}");
    let rotated =
        ok(alur(url, "", &["tenant", "rotate-key", globex["id"].as_str().unwrap(), "--admin-key", ADMIN, "--json"]))
            .json();
    assert_ne!(rotated["api_key"], globex["api_key"]);
    assert_eq!(alur(url, globex_key, &["plugin", "list"]).code, 1, "the old key stops working");
    assert_eq!(
        ok(alur(url, rotated["api_key"].as_str().unwrap(), &["plugin", "list", "--json"])).json()["plugins"],
        json!([])
    );

    server.stop();
}

/// The YAML definition as JSON, via the runtime's own converter.
fn yaml_as_json(yaml: &str) -> Value {
    alur_runtime::process::definition::yaml_to_json(yaml).expect("the definition is YAML")
}

/// Polls `alur instance get --json` until the instance has `status`.
fn wait_for(url: &str, key: &str, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = ok(alur(url, key, &["instance", "get", id, "--json"])).json();
        if got["status"] == status || Instant::now() > deadline {
            assert_eq!(got["status"], status, "{got}");
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Every file of a template folder, relative, `SDK_FILES` excluded.
fn template_files(lang: &str) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let base = root().join("sdk/templates").join(lang);
    let mut out = Vec::new();
    walk(&base, &base, &mut out);
    out.retain(|f| f != "SDK_FILES");
    out
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// Scaffolds `name` in `lang` into `parent` and checks the copy against the rules.
fn scaffold_and_check(parent: &Path, name: &str, lang: &str) -> PathBuf {
    let made = ok(alur("", "", &["plugin", "new", name, "--lang", lang, "--dir", parent.to_str().unwrap()]));
    let dest = parent.join(name);
    assert!(made.stdout.starts_with(&format!("created {}", dest.display())), "{made:?}");
    assert!(made.stdout.contains(&format!("alur plugin push {name} ")), "the next commands: {made:?}");
    for file in template_files(lang) {
        let text = std::fs::read_to_string(dest.join(&file)).unwrap_or_else(|e| panic!("{lang}: {file}: {e}"));
        assert!(!text.contains("{{name") && !text.contains("{{sdk_path}}"), "{lang}: {file} still has a placeholder");
    }
    assert!(!dest.join("SDK_FILES").exists(), "{lang}: SDK_FILES is not copied");
    assert_eq!(
        std::fs::read(dest.join("wit/alur-step.wit")).unwrap(),
        std::fs::read(root().join("sdk/wit/alur-step.wit")).unwrap()
    );
    if let Ok(list) = std::fs::read_to_string(root().join("sdk/templates").join(lang).join("SDK_FILES")) {
        for file in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
            assert_eq!(
                std::fs::read(dest.join(file)).unwrap_or_else(|e| panic!("{lang}: SDK file {file}: {e}")),
                std::fs::read(root().join("sdk").join(lang).join(file)).unwrap(),
                "{lang}: {file} is the SDK's"
            );
        }
    }
    for script in ["build.sh", "test.sh"] {
        if dest.join(script).exists() {
            assert_eq!(mode(&dest.join(script)), 0o755, "{lang}: {script}");
        }
    }
    let again = alur("", "", &["plugin", "new", name, "--lang", lang, "--dir", parent.to_str().unwrap()]);
    assert!(again.code == 1 && again.stderr.contains("already exists"), "{again:?}");
    dest
}

#[test]
fn plugin_new_scaffolds_python_js_and_c() {
    let dir = tempfile::tempdir().unwrap();
    let py = scaffold_and_check(dir.path(), "greet-visitor", "python");
    assert!(std::fs::read_to_string(py.join("app.py")).unwrap().starts_with("\"\"\"greet-visitor: "));
    assert!(std::fs::read_to_string(py.join("build.sh")).unwrap().contains("greet-visitor.wasm"));
    let js = scaffold_and_check(dir.path(), "contact-normalize", "js");
    assert!(std::fs::read_to_string(js.join("app.js")).unwrap().starts_with("// contact-normalize: "));
    assert!(js.join("alur-entry.js").is_file() && js.join(".gitignore").is_file());
    let c = scaffold_and_check(dir.path(), "order-price", "c");
    assert!(std::fs::read_to_string(c.join("step.c")).unwrap().contains("order-price: an Alur step plugin in C"));
    assert!(c.join("vendor/cjson/cJSON.c").is_file(), "SDK files keep their folders");
    assert_eq!(mode(&c.join("step.c")), 0o644);

    // Names a plugin, a crate and a module can all take; nothing is written for a bad one.
    for bad in ["Bad", "a_b", "x-", "two--dashes", "9lives"] {
        let run = alur("", "", &["plugin", "new", bad, "--lang", "c", "--dir", dir.path().to_str().unwrap()]);
        assert!(run.code == 1 && run.stderr.contains("kebab-case"), "{bad}: {run:?}");
        assert!(!dir.path().join(bad).exists());
    }
}

/// The nested cargo must build for the host and wasm as asked, not as the outer `cargo test` was.
fn cargo(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(args).current_dir(dir).env("CARGO_TARGET_DIR", root().join("target/scaffold-rust"));
    for var in ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "CARGO_BUILD_TARGET", "RUSTC_WORKSPACE_WRAPPER"] {
        cmd.env_remove(var);
    }
    let out = cmd.output().expect("run cargo");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn plugin_new_rust_tests_builds_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let dest = scaffold_and_check(dir.path(), "budget-check", "rust");
    let manifest = std::fs::read_to_string(dest.join("Cargo.toml")).unwrap();
    let sdk = std::fs::canonicalize(root().join("sdk")).unwrap();
    assert!(manifest.contains(&format!("alur-sdk = {{ path = \"{}\" }}", sdk.display())), "{manifest}");
    assert!(manifest.contains("name = \"budget-check\"") && manifest.contains("\n[workspace]\n"), "{manifest}");

    let tests = cargo(&dest, &["test", "--quiet"]);
    assert_eq!(tests.code, 0, "{tests:?}");
    assert!(tests.stdout.contains("6 passed"), "{tests:?}");
    let build = cargo(&dest, &["build", "--release", "--target", "wasm32-wasip2"]);
    assert_eq!(build.code, 0, "{build:?}");
    let wasm = root().join("target/scaffold-rust/wasm32-wasip2/release/budget_check.wasm");
    let wasm = wasm.to_str().unwrap();

    let input = r#"{"request": {"id": "PR-1", "department": " ops ", "amount_cents": 120000}}"#;
    let run = ok(alur("", "", &["step", "run", wasm, "--input", input, "--config", "budget_cents=500000"]));
    assert_eq!(
        run.json(),
        json!({"request_id": "PR-1", "department": "ops", "decision": "approved", "spent_cents": 120000, "remaining_cents": 380000})
    );
    let over = alur("", "", &["step", "run", wasm, "--input", input, "--config", "budget_cents=1000"]);
    assert_eq!(over.code, 2, "a step-error: {over:?}");
    assert_eq!((over.json()["kind"].as_str(), over.json()["code"].as_str()), (Some("business"), Some("over-budget")));
    let bad = alur("", "", &["step", "run", wasm, "--input", r#"{"request": {"id": "PR-1"}}"#]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert_eq!(bad.json()["kind"], "invalid-input");

    // --sdk must name the SDK crate.
    let wrong = alur(
        "",
        "",
        &[
            "plugin",
            "new",
            "other",
            "--lang",
            "rust",
            "--dir",
            dir.path().to_str().unwrap(),
            "--sdk",
            dir.path().to_str().unwrap(),
        ],
    );
    assert!(wrong.code == 1 && wrong.stderr.contains("no alur-sdk crate"), "{wrong:?}");
}
