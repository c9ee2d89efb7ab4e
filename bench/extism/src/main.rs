//! Step dispatch through Extism 1.30, the peer of Alur's sandbox, measured the way
//! `runtime/benches/step_dispatch.rs` measures Alur: the no-op step (`guests/extism-noop`, which parses and
//! ignores its input and answers `{"ok":true}`) with the same 1 KB JSON input, rounds x iterations, the p50,
//! p99 and mean of each round.
//!
//! (a) reused: one `Plugin`, called again and again (Extism resets the guest's memory between calls but keeps
//!     the instance: state can leak from one call to the next, which Alur's fresh-instance model rules out);
//! (b) fresh: a new `Plugin` per call from a `CompiledPlugin` (no recompilation: Extism's own fast path for a
//!     fresh instance), which is what per-call isolation costs in Extism.
//!
//! It is a binary of its own because Extism links another wasmtime (43) than Alur (48).
//!
//! `bench-extism <plugin.wasm> [--quick]` prints one JSON object on stdout.

use extism::{CompiledPlugin, Manifest, Plugin, PluginBuilder, Wasm};
use serde_json::json;
use std::time::{Duration, Instant};

/// Per-iteration latencies of `f`, after a warm-up of a tenth of the iterations.
fn sample(iterations: usize, mut f: impl FnMut()) -> Vec<Duration> {
    for _ in 0..iterations / 10 {
        f();
    }
    (0..iterations)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

/// `{p50_us, p99_us, mean_us}` of one round.
fn stats(mut d: Vec<Duration>) -> serde_json::Value {
    d.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = d.iter().sum::<Duration>() / d.len() as u32;
    json!({ "p50_us": us(d[d.len() / 2]), "p99_us": us(d[d.len() * 99 / 100]), "mean_us": us(mean) })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let path = args.iter().find(|a| !a.starts_with("--")).expect("usage: bench-extism <plugin.wasm> [--quick]");
    let (rounds, iterations) = if quick { (1, 300) } else { (5, 5000) };
    let wasm = std::fs::read(path).expect("the Extism no-op plugin");
    let input = json!({ "payload": "x".repeat(1000 - 15) }).to_string();
    assert!((990..=1010).contains(&input.len()), "input is {} bytes", input.len());

    // WASI on: the guest is built for wasm32-wasip1, as a Rust Extism plugin usually is.
    let builder = || PluginBuilder::new(Manifest::new([Wasm::data(wasm.clone())])).with_wasi(true);
    let compile_started = Instant::now();
    let compiled = CompiledPlugin::new(builder()).expect("compiles");
    let compile_ms = compile_started.elapsed().as_secs_f64() * 1e3;

    let first_started = Instant::now();
    let mut reused = Plugin::new_from_compiled(&compiled).expect("instantiates");
    let out: String = reused.call("run", input.as_str()).expect("calls");
    let first_call_us = first_started.elapsed().as_secs_f64() * 1e6;
    assert_eq!(out, r#"{"ok":true}"#, "the no-op plugin answers");

    let mut reused_rounds = Vec::new();
    let mut fresh_rounds = Vec::new();
    for _ in 0..rounds {
        reused_rounds.push(stats(sample(iterations, || {
            let out: &str = reused.call("run", input.as_str()).expect("calls");
            assert_eq!(out.len(), 11);
        })));
        fresh_rounds.push(stats(sample(iterations, || {
            let mut plugin = Plugin::new_from_compiled(&compiled).expect("instantiates");
            let out: &str = plugin.call("run", input.as_str()).expect("calls");
            assert_eq!(out.len(), 11);
        })));
    }
    let report = json!({
        "extism_version": "1.30.0",
        "input_bytes": input.len(),
        "rounds": rounds,
        "iterations": iterations,
        "compile_ms": compile_ms,
        "first_call_us": first_call_us,
        "paths": { "extism reused plugin": reused_rounds, "extism fresh plugin": fresh_rounds },
    });
    println!("{report}");
}
