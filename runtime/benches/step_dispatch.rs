//! Step dispatch cost, in one run: the raw-wasmtime floor against Alur's full dispatch.
//!
//! (a) floor: a pooled `InstancePre`, a fresh store with a bare WASI context, instantiate + call `run` with
//!     wasmtime's async API (the one Alur uses; for a component with WASI imports it is also faster than the
//!     sync API, whose WASI p2 bindings enter a tokio runtime per call, see (a''')); no fuel, no epochs, no
//!     limits, no host imports beyond the WASI the component needs. Its pool resets slots the way Alur's does
//!     (dirty pages rewritten in place, `engine::reset_dirty_pages_in_place`), so the floor is the best
//!     wasmtime can do, not a handicapped one.
//! (a') the same floor on an engine with fuel metering on, to show what metering costs.
//! (a'') the floor with wasmtime's default pool (every slot `madvise`d on reuse), to show what the reset in
//!     place buys; `ALUR_BENCH_POOL=keep=<bytes>,batch=<n>,pagemap=1` tries other settings there.
//! (a''') the floor through the sync API (`instantiate` + `call`, WASI's sync bindings).
//! (b) Alur: `Sandbox::run`, a fresh store with fuel, memory cap, deadline, captured stdio, host imports, kv
//!     overlay, async call, and JSON validation of the output.
//! The paths take turns in blocks of calls, the async ones inside one `block_on` per round, as a step runs inside a
//! task of the server.
//! The step is the `noop` test component with a 1 KB JSON input. Also: compile time of the component and
//! load time from the on-disk cache.
//!
//! Also, when `ALUR_BENCH_GUESTS=python=<file.wasm>,javascript=<file.wasm>` names guests of other languages:
//! each one's compile time, its first call after the compile, its fresh-instance calls (every Alur call is
//! one) and its load time from the disk cache. With `ALUR_BENCH_JSON=<file>` every number is also written
//! there as JSON, for the suite in `bench/` to merge.
//!
//! `cargo bench --bench step_dispatch` (add `-- --quick` for a smoke run; `ALUR_BENCH_PROFILE=alur` or `floor`
//! calls only that path, for a profiler).

use alur_runtime::sandbox::bindings;
use alur_runtime::sandbox::engine::{self, PoolConfig};
use alur_runtime::sandbox::kv::MemoryKv;
use alur_runtime::sandbox::limits::StepLimits;
use alur_runtime::sandbox::{Sandbox, SandboxConfig, StepContext, StepRequest};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

struct Floor {
    wasi: WasiCtx,
    table: ResourceTable,
}

/// One floor: an engine, the component pre-linked against WASI's async and sync bindings, and its `run`.
struct FloorPath {
    engine: Engine,
    pre: wasmtime::component::InstancePre<Floor>,
    pre_sync: wasmtime::component::InstancePre<Floor>,
    run: wasmtime::component::ComponentExportIndex,
    fuel: bool,
}

impl WasiView for Floor {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

// The allocator the `alur` binary uses, so that the dispatch is measured as it runs in the server (the floors
// get it too).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type RunParams<'a> = (bindings::Context, &'a str);
type RunResults = (Result<String, bindings::StepError>,);

fn floor_engine(fuel: bool, default_pool: bool) -> Engine {
    let pool = PoolConfig::default();
    let mut pooling = PoolingAllocationConfig::default();
    pooling.total_component_instances(pool.max_concurrent).max_memory_size(pool.max_memory_bytes);
    let mut config = Config::new();
    config.consume_fuel(fuel);
    if !default_pool {
        let mut in_place = pooling.clone();
        engine::reset_dirty_pages_in_place(&mut in_place);
        // Where the kernel has no PAGEMAP_SCAN, Alur's engine falls back to the default pool, and so does this.
        if let Ok(engine) =
            Engine::new(config.clone().allocation_strategy(InstanceAllocationStrategy::Pooling(in_place)))
        {
            return engine;
        }
    }
    if default_pool && std::env::var("ALUR_BENCH_POOL").is_ok() {
        let setting = |key: &str, default: usize| {
            std::env::var("ALUR_BENCH_POOL")
                .ok()
                .and_then(|v| {
                    v.split(',').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse::<usize>().ok())
                })
                .unwrap_or(default)
        };
        let keep = setting("keep", 0);
        pooling.linear_memory_keep_resident(keep).table_keep_resident(keep).decommit_batch_size(setting("batch", 1));
        if setting("pagemap", 0) == 1 {
            pooling.pagemap_scan(wasmtime::Enabled::Yes);
        }
    }
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    Engine::new(&config).expect("floor engine")
}

/// One call on a floor: async instantiate + call of `run`.
async fn floor_call(floor: &FloorPath, mut store: Store<Floor>, ctx: bindings::Context, input: &str) {
    let instance = floor.pre.instantiate_async(&mut store).await.expect("instantiates");
    let f = instance.get_typed_func::<RunParams, RunResults>(&mut store, floor.run).expect("typed run");
    let (out,) = f.call_async(&mut store, (ctx, input)).await.expect("calls");
    assert!(out.is_ok());
}

/// Per-call latencies of `f` after a warm-up, all inside one `block_on`: a step runs inside a task of the server,
/// so entering the runtime for every call would measure the harness, not the dispatch.
fn sample_async<F: std::future::Future<Output = ()>>(
    rt: &tokio::runtime::Runtime,
    iterations: usize,
    mut f: impl FnMut() -> F,
) -> Vec<Duration> {
    rt.block_on(async {
        for _ in 0..iterations / 10 {
            f().await;
        }
        let mut latencies = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let t = Instant::now();
            f().await;
            latencies.push(t.elapsed());
        }
        latencies
    })
}

struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

fn stats(mut d: Vec<Duration>) -> Stats {
    d.sort();
    let mean = d.iter().sum::<Duration>() / d.len() as u32;
    Stats { p50: d[d.len() / 2], p99: d[d.len() * 99 / 100], mean }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn stats_json(s: &Stats) -> serde_json::Value {
    serde_json::json!({ "p50_us": us(s.p50), "p99_us": us(s.p99), "mean_us": us(s.mean) })
}

/// A guest of another language through Alur's full dispatch: compile, first call, fresh-instance calls, load
/// from the disk cache after a restart. Its own sandbox and cache directory, so the compile is a real one.
fn guest(
    rt: &tokio::runtime::Runtime,
    language: &str,
    path: &str,
    input: &str,
    context: &StepContext,
    rounds: usize,
    iterations: usize,
) -> serde_json::Value {
    let wasm = std::fs::read(path).unwrap_or_else(|e| panic!("{language} guest {path}: {e}"));
    let cache_dir = tempfile::tempdir().expect("tempdir");
    let config = SandboxConfig { cache_dir: Some(cache_dir.path().to_path_buf()), ..SandboxConfig::default() };
    let sandbox = rt.block_on(async { Sandbox::new(config.clone(), Arc::new(MemoryKv::default())) }).expect("sandbox");
    let t = Instant::now();
    let prepared = rt.block_on(sandbox.load(wasm.clone())).unwrap_or_else(|e| panic!("{language} guest loads: {e}"));
    let compile = t.elapsed();
    let (sandbox_ref, prepared_ref) = (&sandbox, &prepared);
    let once = move || async move {
        let out = sandbox_ref
            .run(StepRequest {
                component: prepared_ref,
                plugin: "guest",
                context: context.clone(),
                input,
                config: Default::default(),
                limits: StepLimits::default(),
            })
            .await;
        assert!(out.result.is_ok(), "{language} guest answers: {:?}", out.result);
    };
    let t = Instant::now();
    rt.block_on(once());
    let first_call = t.elapsed();
    let runs: Vec<Stats> = (0..rounds).map(|_| stats(sample_async(rt, iterations, once))).collect();
    let t = Instant::now();
    let restarted = rt.block_on(async { Sandbox::new(config, Arc::new(MemoryKv::default())) }).expect("sandbox");
    let from_disk = rt.block_on(restarted.cached(prepared.digest)).expect("in the disk cache");
    let load = t.elapsed();
    drop(from_disk);
    let mut p50: Vec<f64> = runs.iter().map(|s| us(s.p50)).collect();
    p50.sort_by(f64::total_cmp);
    println!(
        "{language:<10} {:>6.1} MB: compile {:.0} ms, first call {:.2} ms, fresh-instance call p50 {:.1}us, \
         load from disk cache {:.1} ms",
        wasm.len() as f64 / 1e6,
        compile.as_secs_f64() * 1e3,
        first_call.as_secs_f64() * 1e3,
        p50[p50.len() / 2],
        load.as_secs_f64() * 1e3
    );
    serde_json::json!({
        "bytes": wasm.len(),
        "compile_ms": compile.as_secs_f64() * 1e3,
        "first_call_us": us(first_call),
        "cache_load_ms": load.as_secs_f64() * 1e3,
        "iterations": iterations,
        "fresh_instance": runs.iter().map(stats_json).collect::<Vec<_>>(),
    })
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, iterations) = if quick { (1, 300) } else { (5, 5000) };
    let wasm = std::fs::read(alur_tests::NOOP).expect("noop component");
    let input = serde_json::json!({ "payload": "x".repeat(1000 - 15) }).to_string();
    assert!((990..=1010).contains(&input.len()), "input is {} bytes", input.len());
    let step_context = StepContext {
        tenant: "bench".into(),
        process: "bench".into(),
        process_version: 1,
        instance_id: "i".into(),
        step_id: "s".into(),
        attempt: 1,
    };
    let ctx = bindings::Context::from(step_context.clone());

    // (a), (a') and (a''): the floors, each with an async and a sync linker over the same engine.
    let floors: Vec<FloorPath> = [(false, false), (true, false), (false, true)]
        .into_iter()
        .map(|(fuel, default_pool)| {
            let engine = floor_engine(fuel, default_pool);
            let component = Component::new(&engine, &wasm).expect("compiles");
            let mut linker: Linker<Floor> = Linker::new(&engine);
            wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("wasi links");
            let pre = linker.instantiate_pre(&component).expect("links");
            let mut linker: Linker<Floor> = Linker::new(&engine);
            wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("wasi links");
            let pre_sync = linker.instantiate_pre(&component).expect("links");
            let run = component.get_export_index(None, "run").expect("exports run");
            FloorPath { engine, pre, pre_sync, run, fuel }
        })
        .collect();
    let new_store = |floor: &FloorPath| {
        let mut store =
            Store::new(&floor.engine, Floor { wasi: WasiCtx::builder().build(), table: ResourceTable::new() });
        if floor.fuel {
            store.set_fuel(u64::MAX).expect("fuel");
        }
        store
    };
    let floor_call = |floor| floor_call(floor, new_store(floor), ctx.clone(), &input);
    let floor_sync_once = |floor: &FloorPath| {
        let mut store = new_store(floor);
        let instance = floor.pre_sync.instantiate(&mut store).expect("instantiates");
        let f = instance.get_typed_func::<RunParams, RunResults>(&mut store, floor.run).expect("typed run");
        let (out,) = f.call(&mut store, (ctx.clone(), &input)).expect("calls");
        assert!(out.is_ok());
    };

    // (b): Alur's dispatch, on a current-thread runtime so that no cross-thread wakeups are counted.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let cache_dir = tempfile::tempdir().expect("tempdir");
    let config = SandboxConfig { cache_dir: Some(cache_dir.path().to_path_buf()), ..SandboxConfig::default() };
    let sandbox = rt.block_on(async { Sandbox::new(config.clone(), Arc::new(MemoryKv::default())) }).expect("sandbox");
    let compile_started = Instant::now();
    let prepared = rt.block_on(sandbox.load(wasm.clone())).expect("loads");
    let compile_time = compile_started.elapsed();
    let (sandbox_ref, prepared_ref, input_ref, context_ref) = (&sandbox, &prepared, &input, &step_context);
    let alur_once = move || async move {
        let out = sandbox_ref
            .run(StepRequest {
                component: prepared_ref,
                plugin: "noop",
                context: context_ref.clone(),
                input: input_ref,
                config: Default::default(),
                limits: StepLimits::default(),
            })
            .await;
        assert!(out.result.is_ok());
    };

    // `ALUR_BENCH_PROFILE=alur` (or `floor`) only calls that path, for a profiler to attach to, then exits.
    if let Ok(path) = std::env::var("ALUR_BENCH_PROFILE") {
        let calls = if quick { 20_000 } else { 200_000 };
        let t = Instant::now();
        match path.as_str() {
            "alur" => rt.block_on(async {
                for _ in 0..calls {
                    alur_once().await;
                }
            }),
            "floor" => rt.block_on(async {
                for _ in 0..calls {
                    floor_call(&floors[0]).await;
                }
            }),
            other => panic!("ALUR_BENCH_PROFILE={other}: alur or floor"),
        }
        println!("{path}: {calls} calls, {:.2} us each", us(t.elapsed()) / calls as f64);
        return;
    }

    let mut rows: Vec<(&str, Vec<Stats>)> = vec![
        ("floor", vec![]),
        ("floor+fuel", vec![]),
        ("alur", vec![]),
        ("floor+default-pool", vec![]),
        ("floor-sync", vec![]),
    ];
    // The paths take turns in blocks of BLOCK calls: this machine's speed changes from one stretch of milliseconds to
    // the next (a 5000-call round of one path could run at half the speed of the next path's), so paths measured
    // in turn see the same machine, while a block keeps each path's code and data in the caches, as a loop of
    // calls does.
    const BLOCK: usize = 250;
    for round in 0..rounds {
        let mut by_path: [Vec<Duration>; 5] = Default::default();
        rt.block_on(async {
            let warm_up: usize = if round == 0 { iterations / 10 } else { 0 };
            for block in 0..(warm_up + iterations).div_ceil(BLOCK) {
                if block * BLOCK == warm_up {
                    by_path.iter_mut().for_each(Vec::clear);
                }
                for (path, latencies) in by_path.iter_mut().enumerate() {
                    for _ in 0..BLOCK {
                        let t = Instant::now();
                        match path {
                            0 => floor_call(&floors[0]).await,
                            1 => floor_call(&floors[1]).await,
                            2 => alur_once().await,
                            3 => floor_call(&floors[2]).await,
                            _ => floor_sync_once(&floors[0]),
                        }
                        latencies.push(t.elapsed());
                    }
                }
            }
        });
        for (row, latencies) in rows.iter_mut().zip(by_path) {
            row.1.push(stats(latencies));
        }
    }

    // The disk cache: a second sandbox over the same directory, as after a restart.
    let load_started = Instant::now();
    let restarted = rt.block_on(async { Sandbox::new(config, Arc::new(MemoryKv::default())) }).expect("sandbox");
    let from_disk = rt.block_on(restarted.cached(prepared.digest)).expect("in the disk cache");
    let load_time = load_started.elapsed();
    drop(from_disk);

    println!(
        "step dispatch, noop Rust component, {}-byte JSON input, {rounds} rounds x {iterations} calls",
        input.len()
    );
    println!(
        "{:<12} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "path", "p50 min", "p50 med", "p50 max", "p99 med", "mean med"
    );
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut p50_medians = Vec::new();
    for (name, runs) in &rows {
        let mut p50: Vec<f64> = runs.iter().map(|s| us(s.p50)).collect();
        let mut p99: Vec<f64> = runs.iter().map(|s| us(s.p99)).collect();
        let mut mean: Vec<f64> = runs.iter().map(|s| us(s.mean)).collect();
        let (min, max) = (p50.iter().cloned().fold(f64::MAX, f64::min), p50.iter().cloned().fold(0.0, f64::max));
        let med = median(&mut p50);
        p50_medians.push(med);
        println!(
            "{name:<12} {min:>8.1}us {med:>8.1}us {max:>8.1}us {:>8.1}us {:>8.1}us",
            median(&mut p99),
            median(&mut mean)
        );
    }
    println!("ratio alur/floor (p50): {:.2}  (target <= 1.25)", p50_medians[2] / p50_medians[0]);
    println!("the floor through the sync API against the async one (p50): {:.2}x", p50_medians[4] / p50_medians[0]);
    println!("ratio alur/floor+fuel (p50): {:.2}", p50_medians[2] / p50_medians[1]);
    println!("fuel metering cost on the floor (p50): {:.2}x", p50_medians[1] / p50_medians[0]);
    println!(
        "wasmtime's default pool (madvise per slot) against the reset in place, on the floor (p50): {:.2}x",
        p50_medians[3] / p50_medians[0]
    );
    println!("compile time of the component: {:.1} ms", compile_time.as_secs_f64() * 1e3);
    println!(
        "load time from the on-disk cache (engine start + deserialize + link): {:.1} ms",
        load_time.as_secs_f64() * 1e3
    );

    // Guests of other languages: far bigger components (an interpreter inside), so fewer calls.
    let mut guests = serde_json::Map::new();
    if let Ok(list) = std::env::var("ALUR_BENCH_GUESTS") {
        let iterations = if quick { 20 } else { 200 };
        for entry in list.split(',').filter(|e| !e.is_empty()) {
            let (language, path) = entry.split_once('=').expect("ALUR_BENCH_GUESTS is language=path,...");
            let report = guest(&rt, language, path, &input, &step_context, rounds, iterations);
            guests.insert(language.to_string(), report);
        }
    }

    if let Ok(path) = std::env::var("ALUR_BENCH_JSON") {
        let paths: serde_json::Map<String, serde_json::Value> =
            rows.iter().map(|(name, runs)| (name.to_string(), runs.iter().map(stats_json).collect())).collect();
        let report = serde_json::json!({
            "input_bytes": input.len(),
            "rounds": rounds,
            "iterations": iterations,
            "paths": paths,
            "compile_ms": compile_time.as_secs_f64() * 1e3,
            "cache_load_ms": load_time.as_secs_f64() * 1e3,
            "guests": guests,
        });
        std::fs::write(&path, report.to_string()).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    }
}
