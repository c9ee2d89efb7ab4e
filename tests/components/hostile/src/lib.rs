//! A deliberately misbehaving step for the sandbox's tests. Config key `mode` picks the misbehaviour:
//!
//! - `echo`: returns its input (the well-behaved baseline);
//! - `loop`: spins forever; `memory`: allocates until refused; `recursion`: recurses without end;
//! - `trap`: panics; `huge-output`: returns 2 MiB of JSON; `not-json`: returns text that is not JSON;
//! - `chatty`: prints 1 MiB to stdout, then answers; `sleep`: sleeps 60 s in a WASI clock call;
//! - `fail`: returns a step error of config `kind` (invalid-input, business, transient, internal);
//! - `ambient`: reports what it can reach of the environment, args, filesystem and network;
//! - `count`: increments kv key `count` and returns the new value; `count-then-fail` does so and then fails;
//! - `tally`: counts its executions per (instance, step) in kv key `tally/<instance>/<step>`, optionally
//!   spinning `work-ms` milliseconds first, and returns `{"step", "count", "input"}`.

use alur_sdk::{Context, ErrorKind, Step, StepError};
use serde_json::{Value, json};
use std::hint::black_box;

struct Hostile;

fn recurse(n: u64) -> u64 {
    if black_box(n) == u64::MAX {
        return 0;
    }
    let local = black_box([n; 16]);
    black_box(recurse(local[3] + 1)) + local[0]
}

impl Step for Hostile {
    type Input = Value;
    type Output = Value;

    fn run(ctx: &Context, input: Value) -> Result<Value, StepError> {
        let mode = alur_sdk::config::get("mode").unwrap_or_else(|| "echo".into());
        match mode.as_str() {
            "echo" => Ok(input),
            "loop" => {
                let mut i = 0u64;
                loop {
                    i = black_box(i.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard = Vec::new();
                loop {
                    hoard.push(black_box(vec![1u8; 1 << 20]));
                }
            }
            "recursion" => Ok(json!(recurse(black_box(0)))),
            "trap" => panic!("hostile step gave up on purpose"),
            "huge-output" => Ok(Value::String("x".repeat(2 << 20))),
            "chatty" => {
                let line = "la ".repeat(100);
                for _ in 0..3500 {
                    println!("{line}");
                }
                Ok(json!({ "said": "a lot" }))
            }
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(60));
                Ok(json!({ "slept": true }))
            }
            "fail" => {
                let kind = match alur_sdk::config::get("kind").as_deref() {
                    Some("invalid-input") => ErrorKind::InvalidInput,
                    Some("business") => ErrorKind::Business,
                    Some("transient") => ErrorKind::Transient,
                    _ => ErrorKind::Internal,
                };
                Err(StepError::new(kind, "told-to-fail", "the test asked this step to fail"))
            }
            "ambient" => Ok(json!({
                "env": std::env::vars().count(),
                "args": std::env::args().count(),
                "read_root": std::fs::read_dir("/").is_ok(),
                "read_file": std::fs::read("/etc/passwd").is_ok(),
                "write_file": std::fs::write("/tmp/alur-escape", b"x").is_ok(),
                "tcp": std::net::TcpStream::connect("127.0.0.1:9").is_ok(),
            })),
            "count" | "count-then-fail" => {
                let n = alur_sdk::kv::get::<u64>("count")?.unwrap_or(0) + 1;
                alur_sdk::kv::set("count", &n)?;
                if mode == "count-then-fail" {
                    return Err(StepError::transient("after-write", "failed after writing kv"));
                }
                Ok(json!({ "count": n }))
            }
            "tally" => {
                let work: u64 = alur_sdk::config::parse("work-ms")?.unwrap_or(0);
                let until = std::time::Instant::now() + std::time::Duration::from_millis(work);
                while std::time::Instant::now() < until {
                    black_box(0);
                }
                let key = format!("tally/{}/{}", ctx.instance_id, ctx.step_id);
                let n = alur_sdk::kv::get::<u64>(&key)?.unwrap_or(0) + 1;
                alur_sdk::kv::set(&key, &n)?;
                Ok(json!({ "step": ctx.step_id, "count": n, "input": input }))
            }
            other => Err(StepError::invalid_input("unknown-mode", format!("no such mode: {other}"))),
        }
    }
}

/// The raw export: `not-json` must bypass the SDK, which only ever returns valid JSON.
struct RawExport;

impl alur_sdk::bindings::Guest for RawExport {
    fn run(
        ctx: alur_sdk::bindings::alur::step::types::Context,
        input: String,
    ) -> Result<String, alur_sdk::bindings::alur::step::types::StepError> {
        if alur_sdk::config::get("mode").as_deref() == Some("not-json") {
            return Ok("this is { not json".to_string());
        }
        alur_sdk::__private::dispatch::<Hostile>(ctx, input)
    }
}

alur_sdk::bindings::__export_step_world!(RawExport with_types_in alur_sdk::bindings);
