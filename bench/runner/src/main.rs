//! Alur's benchmark suite (issue 7): Alur against the raw-wasmtime floor and against the systems a user would
//! pick instead, in one run on one machine. `bench/run [--quick]` builds everything and calls
//! `bench-runner all [--quick]`; `bench-runner load ...` is the load generator, which the runner starts as a
//! separate process for every measurement.
//!
//! Sections: step dispatch (floor, Alur, Extism, Python and JavaScript guests), end to end over HTTP (Alur
//! against Restate at 1/16/64/256 concurrent clients), cold start, 10,000 tenants, noisy neighbours. Every
//! failure of a measurement (a server that does not start, a request that fails) makes the run fail; a missed
//! target does not, it is reported.

mod api;
mod load;
mod report;
mod restate;
mod sys;

use anyhow::{Context, Result, bail};
use api::{Api, Tenant};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use sys::{Monitor, Proc};

/// The input of one `lead-intake`-like workflow, the same for both systems.
pub fn lead_input() -> Value {
    json!({ "lead": {
        "email": "ana@acme.io", "company": "Acme", "employees": 1200, "country": "US",
        "source": "referral", "demo_requested": true
    } })
}

/// Alur's side of the end-to-end benchmark: three no-op steps, like the three `ctx.run` steps of
/// `bench/restate/service.mjs`, and an output of the same shape.
const LEAD_INTAKE: &str = r#"
name: lead-intake
steps:
  - id: score
    plugin: noop
  - id: assign
    plugin: noop
  - id: notify
    plugin: noop
output: '{score: .steps.score, assign: .steps.assign, notify: .steps.notify}'
"#;

/// A noisy neighbour: one step that spins until its one-second timeout (10^12 fuel is over a minute of
/// spinning, so time, not fuel, stops it).
const SPIN: &str = r#"
name: spin
steps:
  - id: spin
    plugin: hostile
    config: { mode: loop }
    timeout: 1s
    fuel: 1000000000000
"#;

/// One section of the suite: its results, or why it could not measure.
type Section = fn(&Cfg) -> Result<Value>;

struct Cfg {
    quick: bool,
    root: PathBuf,
    alur: PathBuf,
    me: PathBuf,
    work: PathBuf,
    out: PathBuf,
    repeats: usize,
    noop: Vec<u8>,
    hostile: Vec<u8>,
    /// (language, component) of the guests of other languages that were built.
    guests: Vec<(String, PathBuf)>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("load") => load_main(&args[1..]),
        Some("all") => all(args.iter().any(|a| a == "--quick"), only(&args)),
        _ => Err(anyhow::anyhow!("usage: bench-runner all [--quick] [--only s1,s2] | bench-runner load --url U ...")),
    };
    if let Err(e) = result {
        eprintln!("bench-runner: {e:#}");
        std::process::exit(1);
    }
}

/// `--only dispatch,noisy`: the sections to run (for working on one of them); no report is written then.
fn only(args: &[String]) -> Option<Vec<String>> {
    let at = args.iter().position(|a| a == "--only")?;
    Some(args.get(at + 1).map(|list| list.split(',').map(str::to_string).collect()).unwrap_or_default())
}

fn load_main(args: &[String]) -> Result<()> {
    let spec = load::LoadSpec::from_args(args)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let report = rt.block_on(load::run(spec))?;
    println!("{report}");
    Ok(())
}

fn all(quick: bool, only: Option<Vec<String>>) -> Result<()> {
    let root = std::env::var("ALUR_ROOT").map(PathBuf::from).unwrap_or(std::env::current_dir()?);
    let target = root.join("target");
    let alur = std::env::var("ALUR_BIN").map(PathBuf::from).unwrap_or(target.join("release/alur"));
    let rt = std::env::var("BENCH_RT").is_ok_and(|v| v == "1");
    sys::set_realtime(rt);
    let mode = match (quick, rt) {
        (true, _) => "quick",
        (false, true) => "realtime",
        (false, false) => "full",
    };
    let work = target.join("bench/tmp").join(mode);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let out = root.join("bench/results").join(if mode == "full" { "" } else { mode });
    std::fs::create_dir_all(&out)?;
    let wasm = target.join("wasm/wasm32-wasip2/release");
    let read = |p: PathBuf| std::fs::read(&p).with_context(|| format!("reading {}", p.display()));
    let guests = ["python", "javascript"]
        .iter()
        .zip(["py-noop", "js-noop"])
        .map(|(lang, file)| (lang.to_string(), target.join(format!("bench/guests/{file}.wasm"))))
        .filter(|(_, p)| p.exists())
        .collect();
    let cfg = Cfg {
        quick,
        alur,
        me: std::env::current_exe()?,
        work,
        out,
        repeats: if quick { 1 } else { 3 },
        noop: read(wasm.join("noop.wasm"))?,
        hostile: read(wasm.join("hostile.wasm"))?,
        guests,
        root,
    };

    let started = Instant::now();
    let mut results = Map::new();
    results.insert("mode".into(), json!(if rt && quick { "quick, realtime" } else { mode }));
    results.insert("machine".into(), sys::machine());
    results.insert("versions".into(), versions(&cfg));
    let sections: [(&str, Section); 6] = [
        ("dispatch", dispatch),
        ("e2e", e2e),
        ("e2e_tmpfs", e2e_tmpfs),
        ("cold_start", cold_start),
        ("scale", scale),
        ("noisy", noisy),
    ];
    if let Some(names) = &only
        && let Some(unknown) = names.iter().find(|n| !sections.iter().any(|(s, _)| s == n))
    {
        bail!("no section `{unknown}` (sections: dispatch, e2e, e2e_tmpfs, cold_start, scale, noisy)");
    }
    for (name, section) in sections {
        if only.as_ref().is_some_and(|names| !names.iter().any(|n| n == name)) {
            continue;
        }
        let t = Instant::now();
        eprintln!("== {name} (load average {})", sys::loadavg());
        let value = section(&cfg).with_context(|| format!("section {name}"))?;
        eprintln!("   {name} took {:.1} s", t.elapsed().as_secs_f64());
        if name == "e2e" {
            // Both systems' results sit at the top level, as `e2e_alur` and `e2e_restate`.
            for (k, v) in value.as_object().context("e2e results")? {
                results.insert(k.clone(), v.clone());
            }
        } else {
            results.insert(name.into(), value);
        }
    }
    if only.is_some() {
        // Part of a run: the sections' results as they are, no report or targets.
        println!("{}", serde_json::to_string_pretty(&Value::Object(results))?);
        return Ok(());
    }
    results.insert("loadavg_after".into(), json!(sys::loadavg()));
    results.insert("duration_s".into(), json!(started.elapsed().as_secs_f64()));
    let mut results = Value::Object(results);
    let targets = report::targets(&results);
    results["targets"] = targets;

    std::fs::write(cfg.out.join("latest.json"), serde_json::to_string_pretty(&results)?)?;
    let markdown = report::markdown(&results);
    std::fs::write(cfg.out.join("latest.md"), &markdown)?;
    report::plot(&results, &cfg.out.join("latency.svg"))?;
    println!("{markdown}");
    eprintln!("wrote {}/latest.json, latest.md and latency.svg", cfg.out.display());
    Ok(())
}

fn versions(cfg: &Cfg) -> Value {
    json!({
        "alur": sys::command_line("git", &["-C", cfg.root.to_str().unwrap_or("."), "describe", "--always", "--dirty"]),
        "rustc": sys::command_line("rustc", &["--version"]),
        "wasmtime_alur": "48.0.8",
        "extism": "1.30.0 (wasmtime 43)",
        "restate": restate::describe(&cfg.root),
    })
}

/// Runs the load generator as a child process while sampling the servers `pids`.
fn measured_load(cfg: &Cfg, pids: &[u32], spec: &load::LoadSpec) -> Result<Value> {
    let monitor = Monitor::start(pids);
    let output = sys::measured(&cfg.me).args(spec.to_args()).stderr(Stdio::inherit()).output()?;
    let usage = monitor.stop();
    if !output.status.success() {
        bail!("the load generator failed: {}", output.status);
    }
    let mut report: Value = serde_json::from_slice(&output.stdout).context("the load generator's report")?;
    let failed = report["failed"].as_u64().unwrap_or(0);
    // A benchmark whose requests fail measures the failures: a few time-outs at 256 clients are reported, more
    // than 1% is a broken run.
    if failed * 100 > spec.requests as u64 {
        bail!("{failed} of {} requests to {} failed: {}", spec.requests, spec.url, report["first_failures"]);
    }
    for (k, v) in usage.as_object().expect("an object") {
        report[k] = v.clone();
    }
    Ok(report)
}

fn alur_spec(api: &Api, t: &Tenant, process: &str, concurrency: usize, requests: usize) -> load::LoadSpec {
    load::LoadSpec {
        url: format!("{}/v1/processes/{process}/instances?wait=60s", api.base),
        headers: vec![
            ("authorization".into(), format!("Bearer {}", t.key)),
            ("content-type".into(), "application/json".into()),
        ],
        body: json!({ "input": lead_input() }).to_string(),
        concurrency,
        requests,
        expect_status: 200,
        expect_body: Some(r#""status":"completed""#.into()),
        timeout: Duration::from_secs(60),
    }
}

fn concurrencies() -> [usize; 4] {
    [1, 16, 64, 256]
}

/// Requests per measured run at a concurrency: enough for a stable p99 (at least 100 per client at 1, and
/// several rounds of every client at 256) in full mode; seconds in all in quick mode.
fn requests_at(cfg: &Cfg, c: usize) -> usize {
    if cfg.quick {
        (c * 4).max(100)
    } else {
        match c {
            1 => 1000,
            16 => 4000,
            64 => 6400,
            _ => 10240,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// 1. Step dispatch

fn dispatch(cfg: &Cfg) -> Result<Value> {
    // Alur's side: the runtime's own bench binary (floor, floor + fuel, Alur), so that no binary links two
    // wasmtimes; plus the guests of other languages through Alur's dispatch.
    let json_path = cfg.work.join("step_dispatch.json");
    // bench/run hands over the built binary; without it, cargo builds and runs it.
    let mut cmd = match std::env::var("STEP_DISPATCH_BIN") {
        Ok(bin) => sys::measured(bin),
        Err(_) => {
            let mut cmd = Command::new("cargo");
            cmd.args(["bench", "--bench", "step_dispatch", "--"]).env_remove("CARGO_TARGET_DIR");
            cmd
        }
    };
    cmd.current_dir(cfg.root.join("runtime"))
        .args(if cfg.quick { vec!["--quick"] } else { vec![] })
        .env("ALUR_BENCH_JSON", &json_path);
    if !cfg.guests.is_empty() {
        let list: Vec<String> = cfg.guests.iter().map(|(l, p)| format!("{l}={}", p.display())).collect();
        cmd.env("ALUR_BENCH_GUESTS", list.join(","));
    }
    let status = cmd.stdout(Stdio::inherit()).status().context("cargo bench --bench step_dispatch")?;
    if !status.success() {
        bail!("cargo bench --bench step_dispatch failed: {status}");
    }
    let mut alur: Value = serde_json::from_slice(&std::fs::read(&json_path)?)?;

    // Extism's side, in its own binary.
    let extism_bin = cfg.root.join("target/bench/release/bench-extism");
    let plugin = cfg.root.join("target/bench/wasm32-wasip1/release/extism_noop.wasm");
    let mut cmd = sys::measured(&extism_bin);
    cmd.arg(&plugin);
    if cfg.quick {
        cmd.arg("--quick");
    }
    let out = cmd.stderr(Stdio::inherit()).output().with_context(|| format!("{}", extism_bin.display()))?;
    if !out.status.success() {
        bail!("bench-extism failed: {}", out.status);
    }
    let extism: Value = serde_json::from_slice(&out.stdout).context("bench-extism's report")?;
    for (path, rounds) in extism["paths"].as_object().context("extism paths")? {
        alur["paths"][path] = rounds.clone();
    }
    alur["extism"] = json!({ "compile_ms": extism["compile_ms"], "first_call_us": extism["first_call_us"] });
    Ok(alur)
}

// ---------------------------------------------------------------------------------------------------------
// 2-3. End to end over HTTP: Alur and Restate, interleaved

const ALUR_DURABILITY: &str = "SQLite in WAL mode with synchronous=FULL; one writer task commits every event that \
    arrives during the previous commit in one transaction (group commit). When `?wait` answers, the start, each \
    of the three step completions and the instance's completion have each been fsynced.";

const RESTATE_DURABILITY: &str = "Restate's defaults: the replicated loglet with replication 1 on this node's \
    log-server, whose RocksDB WAL is fsynced (rocksdb-disable-wal-fsync = false). An invocation, each ctx.run \
    result and the completion are appended to that log and acknowledged after the fsync, so when the ingress \
    answers, the same four kinds of record as Alur's are on disk.";

fn e2e(cfg: &Cfg) -> Result<Value> {
    e2e_over(cfg, &cfg.work.join("alur-e2e"), &cfg.work.join("restate"), &concurrencies(), cfg.repeats)
}

/// Both servers up at once, and each repetition measures Alur then Restate at every concurrency, so that both
/// see the same conditions of a shared machine within a minute of each other.
fn e2e_over(cfg: &Cfg, alur_data: &Path, restate_data: &Path, cs: &[usize], repeats: usize) -> Result<Value> {
    let (server, _) = sys::start_alur(&cfg.alur, alur_data, api::ADMIN)?;
    let api = Api::new(&server.base)?;
    let t = api.tenant("bench")?;
    api.plugin(&t, "noop", &cfg.noop)?;
    api.process(&t, "lead-intake", LEAD_INTAKE)?;
    api.run(&t, "lead-intake", &lead_input())?;
    let alur_pids = [server.proc.pid()];

    std::fs::create_dir_all(restate_data)?;
    let peer = restate::start(&cfg.root, restate_data)?;
    let restate_pids = peer.pids();
    let restate_spec = |c: usize, requests: usize| load::LoadSpec {
        url: format!("{}/LeadIntake/run", restate::INGRESS),
        headers: vec![("content-type".into(), "application/json".into())],
        body: lead_input().to_string(),
        concurrency: c,
        requests,
        expect_status: 200,
        expect_body: Some(r#""notify""#.into()),
        timeout: Duration::from_secs(60),
    };

    let warm_up = if cfg.quick { 200 } else { 2000 };
    measured_load(cfg, &alur_pids, &alur_spec(&api, &t, "lead-intake", 16, warm_up))?;
    measured_load(cfg, &restate_pids, &restate_spec(16, warm_up))?;
    let (mut alur_runs, mut restate_runs) = (Vec::new(), Vec::new());
    for rep in 0..repeats {
        for &c in cs {
            let r = measured_load(cfg, &alur_pids, &alur_spec(&api, &t, "lead-intake", c, requests_at(cfg, c)))?;
            eprintln!("   alur    c={c:<3} run {rep}: {}", brief(&r));
            alur_runs.push(r);
        }
        for &c in cs {
            let r = measured_load(cfg, &restate_pids, &restate_spec(c, requests_at(cfg, c)))?;
            eprintln!("   restate c={c:<3} run {rep}: {}", brief(&r));
            restate_runs.push(r);
        }
    }
    let (alur_bytes, restate_bytes) = (dir_size(alur_data), dir_size(restate_data));
    server.proc.stop(Duration::from_secs(10));
    peer.service.stop(Duration::from_secs(5));
    peer.server.stop(Duration::from_secs(20));
    Ok(json!({
        "e2e_alur": { "runs": alur_runs, "data_dir_bytes_after": alur_bytes, "durability": ALUR_DURABILITY },
        "e2e_restate": { "runs": restate_runs, "data_dir_bytes_after": restate_bytes, "durability": RESTATE_DURABILITY },
    }))
}

fn brief(r: &Value) -> String {
    format!(
        "{:.0}/s p50 {:.2} ms p99 {:.2} ms cpu {:.0}% rss {:.0} MiB",
        r["throughput_per_s"].as_f64().unwrap_or(0.0),
        r["p50_ms"].as_f64().unwrap_or(0.0),
        r["p99_ms"].as_f64().unwrap_or(0.0),
        r["server_cpu_pct"].as_f64().unwrap_or(0.0),
        r["server_rss_peak_mib"].as_f64().unwrap_or(0.0)
    )
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// Both systems again with their data on tmpfs, where an fsync costs next to nothing: not a durable
/// configuration, a diagnostic that separates the disk's share of the end-to-end numbers from the CPU's.
fn e2e_tmpfs(cfg: &Cfg) -> Result<Value> {
    let base = Path::new("/dev/shm").join(format!("alur-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)?;
    let result = e2e_over(cfg, &base.join("alur"), &base.join("restate"), &[16, 64], 1);
    let _ = std::fs::remove_dir_all(&base);
    result
}

// ---------------------------------------------------------------------------------------------------------
// 4. Cold start

fn one_step(plugin: &str) -> String {
    format!("name: {plugin}-once\nsteps:\n  - id: only\n    plugin: {plugin}\n")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn cold_start(cfg: &Cfg) -> Result<Value> {
    let mut plugins: Vec<(String, Vec<u8>)> = vec![("rust".into(), cfg.noop.clone())];
    for (lang, path) in &cfg.guests {
        if lang == "python" {
            plugins.push((lang.clone(), std::fs::read(path)?));
        }
    }
    let mut runs = Vec::new();
    for rep in 0..cfg.repeats {
        let data = cfg.work.join(format!("cold-{rep}"));
        let (server, ready) = sys::start_alur(&cfg.alur, &data, api::ADMIN)?;
        let api = Api::new(&server.base)?;
        let t = api.tenant("cold")?;
        let mut run = json!({ "fresh_start_to_listening_ms": ms(ready) });
        for (lang, wasm) in &plugins {
            let name = format!("noop-{lang}");
            let t0 = Instant::now();
            api.plugin(&t, &name, wasm)?;
            let t1 = Instant::now();
            api.process(&t, &format!("{name}-once"), &one_step(&name))?;
            let t2 = Instant::now();
            api.run(&t, &format!("{name}-once"), &lead_input())?;
            let t3 = Instant::now();
            run[lang.as_str()] = json!({
                "bytes": wasm.len(),
                "upload_ms": ms(t1 - t0),
                "deploy_ms": ms(t2 - t1),
                "first_run_ms": ms(t3 - t2),
                "upload_to_first_result_ms": ms(t3 - t0),
            });
        }
        server.proc.stop(Duration::from_secs(10));
        // A restart per plugin, so each first result is really the first after the restart.
        for (lang, _) in &plugins {
            let spawned = Instant::now();
            let (server, ready) = sys::start_alur(&cfg.alur, &data, api::ADMIN)?;
            let listening = Instant::now();
            let api = Api::new(&server.base)?;
            api.run(&t, &format!("noop-{lang}-once"), &lead_input())?;
            let first = Instant::now();
            run[lang.as_str()]["restart_to_listening_ms"] = json!(ms(ready));
            run[lang.as_str()]["listening_to_first_result_ms"] = json!(ms(first - listening));
            run[lang.as_str()]["restart_to_first_result_ms"] = json!(ms(first - spawned));
            server.proc.stop(Duration::from_secs(10));
        }
        // Where the first result's time goes: one more restart, then an authenticated read that touches the
        // database (key check, process lookup) but no component, then the first run, then a second run.
        let (server, _) = sys::start_alur(&cfg.alur, &data, api::ADMIN)?;
        let api = Api::new(&server.base)?;
        let t0 = Instant::now();
        api.get(&t, "/v1/processes/noop-rust-once")?;
        let t1 = Instant::now();
        api.run(&t, "noop-rust-once", &lead_input())?;
        let t2 = Instant::now();
        api.run(&t, "noop-rust-once", &lead_input())?;
        let t3 = Instant::now();
        run["rust"]["breakdown_after_restart"] = json!({
            "first_authenticated_read_ms": ms(t1 - t0),
            "then_first_run_ms": ms(t2 - t1),
            "then_second_run_ms": ms(t3 - t2),
        });
        server.proc.stop(Duration::from_secs(10));
        eprintln!("   cold start run {rep}: {run}");
        runs.push(run);
    }
    Ok(json!({ "runs": runs }))
}

// ---------------------------------------------------------------------------------------------------------
// 5. Scale: many tenants

fn scale(cfg: &Cfg) -> Result<Value> {
    let tenants = if cfg.quick { 200 } else { 10_000 };
    let probe_requests = if cfg.quick { 100 } else { 1000 };
    let (server, _) = sys::start_alur(&cfg.alur, &cfg.work.join("scale"), api::ADMIN)?;
    let api = Api::new(&server.base)?;
    let pid = server.proc.pid();
    let setup = |name: &str| -> Result<Tenant> {
        let t = api.tenant(name)?;
        api.plugin(&t, "noop", &cfg.noop)?;
        api.process(&t, "lead-intake", LEAD_INTAKE)?;
        Ok(t)
    };
    let probe = |t: &Tenant| -> Result<Vec<Value>> {
        api.run(t, "lead-intake", &lead_input())?;
        (0..cfg.repeats)
            .map(|_| measured_load(cfg, &[pid], &alur_spec(&api, t, "lead-intake", 1, probe_requests)))
            .collect()
    };
    let first = setup("t00000")?;
    let one = json!({ "tenants": 1, "rss_mib": sys::rss_kib(pid) as f64 / 1024.0, "probe": probe(&first)? });

    // The other tenants, from 8 client threads (setup speed is not what is measured, memory is).
    let t = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(1);
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= tenants {
                            return Ok(());
                        }
                        setup(&format!("t{i:05}"))?;
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("setup thread")?;
        }
        Ok(())
    })?;
    let setup_s = t.elapsed().as_secs_f64();
    let rss_after = sys::rss_kib(pid) as f64 / 1024.0;
    let middle = setup(&format!("probe-{tenants}"))?;
    let many = json!({
        "tenants": tenants + 1,
        "setup_s": setup_s,
        "rss_mib": rss_after,
        "probe": probe(&middle)?,
        "rss_mib_after_probe": sys::rss_kib(pid) as f64 / 1024.0,
        "data_dir_bytes": dir_size(&cfg.work.join("scale")),
    });
    eprintln!(
        "   scale: 1 tenant {:.0} MiB, {} tenants {rss_after:.0} MiB (setup {setup_s:.1} s)",
        one["rss_mib"],
        tenants + 1
    );
    server.proc.stop(Duration::from_secs(10));
    Ok(json!({ "one": one, "many": many }))
}

// ---------------------------------------------------------------------------------------------------------
// 6. Noisy neighbours

fn noisy(cfg: &Cfg) -> Result<Value> {
    // Spinning guests at SCHED_FIFO would hold both cores for everyone: this section always runs normally.
    sys::set_realtime(false);
    // Crowded, one workflow takes a few hundred ms: 300 keep a full run to minutes.
    let requests = if cfg.quick { 100 } else { 300 };
    let (server, _) = sys::start_alur(&cfg.alur, &cfg.work.join("noisy"), api::ADMIN)?;
    let api = Api::new(&server.base)?;
    let pid = server.proc.pid();
    let quiet = api.tenant("quiet")?;
    api.plugin(&quiet, "noop", &cfg.noop)?;
    api.process(&quiet, "lead-intake", LEAD_INTAKE)?;
    api.run(&quiet, "lead-intake", &lead_input())?;
    let mut neighbours = Vec::new();
    for i in 0..8 {
        let t = api.tenant(&format!("noisy-{i}"))?;
        api.plugin(&t, "hostile", &cfg.hostile)?;
        api.process(&t, "spin", SPIN)?;
        neighbours.push(t);
    }
    let mut alone = Vec::new();
    let mut crowded = Vec::new();
    for _ in 0..cfg.repeats {
        let mut r = measured_load(cfg, &[pid], &alur_spec(&api, &quiet, "lead-intake", 1, requests))?;
        r["journal"] = journal_timings(&api, &quiet)?;
        alone.push(r);
        // Each neighbour keeps one spinning step running for longer than the measurement takes; they are
        // stopped (by pid) when it is done, or stop by themselves.
        let spinners: Vec<Proc> = neighbours
            .iter()
            .map(|t| {
                let mut spec = alur_spec(&api, t, "spin", 1, if cfg.quick { 60 } else { 400 });
                spec.expect_body = Some(r#""status":"failed""#.into());
                let child = Command::new(&cfg.me).args(spec.to_args()).stdout(Stdio::null()).spawn()?;
                Ok(Proc { child, name: "spinning neighbour".into() })
            })
            .collect::<Result<_>>()?;
        std::thread::sleep(Duration::from_millis(1500));
        let r = measured_load(cfg, &[pid], &alur_spec(&api, &quiet, "lead-intake", 1, requests))?;
        let spinning = count_running(&api, &neighbours);
        let journal = journal_timings(&api, &quiet)?;
        for mut s in spinners {
            s.check_alive().context("a spinning neighbour finished before the measurement did")?;
            s.stop(Duration::from_secs(2));
        }
        // Their last steps spin on until their timeout: the next "alone" must not run beside them.
        let quiet_by = Instant::now() + Duration::from_secs(5);
        while count_running(&api, &neighbours) > 0 && Instant::now() < quiet_by {
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut r = r;
        r["neighbour_steps_running_after"] = json!(spinning);
        r["journal"] = journal;
        eprintln!("   noisy: alone {} / crowded {}", brief(alone.last().expect("one")), brief(&r));
        crowded.push(r);
    }
    server.proc.stop(Duration::from_secs(10));
    Ok(json!({ "alone": alone, "with_8_spinning_neighbours": crowded }))
}

/// Runs one workflow of `t` and reads its journal: per step, the time from its start event to its completion
/// event against the step's own run time, which shows whether a slow workflow waited or worked.
fn journal_timings(api: &Api, t: &Tenant) -> Result<Value> {
    let started = Instant::now();
    let out = api.run(t, "lead-intake", &lead_input())?;
    let wall_ms = ms(started.elapsed());
    let id = out["id"].as_str().context("instance id")?;
    let history = api.history(t, id)?;
    let events = history["events"].as_array().context("journal events")?;
    let at = |e: &Value| e["at"].as_i64().unwrap_or(0);
    let first = events.first().map(at).unwrap_or(0);
    let last = events.last().map(at).unwrap_or(0);
    let mut steps = Vec::new();
    for e in events.iter().filter(|e| e["type"] == "step-completed") {
        let start = events.iter().find(|s| s["type"] == "step-started" && s["step"] == e["step"]).map(at);
        steps.push(json!({
            "step": e["step"],
            "started_to_completed_ms": start.map(|s| at(e) - s),
            "step_run_ms": e["duration_ms"],
        }));
    }
    Ok(json!({ "request_ms": wall_ms, "journal_span_ms": last - first, "steps": steps }))
}

/// How many of the neighbours have a spinning instance running right now (proof that the noise was there).
fn count_running(api: &Api, neighbours: &[Tenant]) -> usize {
    let http = reqwest::blocking::Client::new();
    neighbours
        .iter()
        .filter(|t| {
            http.get(format!("{}/v1/instances?process=spin&status=running&limit=1", api.base))
                .bearer_auth(&t.key)
                .send()
                .ok()
                .and_then(|r| r.text().ok())
                .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                .and_then(|v| v["instances"].as_array().map(|a| !a.is_empty()))
                .unwrap_or(false)
        })
        .count()
}
