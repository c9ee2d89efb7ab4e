//! `alur step run` and `alur step inspect`: run or inspect one plugin locally, with the same sandbox, limits
//! and host imports as the runtime, and an in-memory kv store.
//!
//! Exit codes of `run`: 0 with the output JSON on stdout; 2 when the plugin returned its own `step-error`;
//! 3 when the host detected a fault (trap, out-of-fuel, memory-limit, timeout, invalid-output, link-error).
//! Both failures print `{"kind", "code", "message"}` on stdout.

use crate::sandbox::http::HttpOrigin;
use crate::sandbox::kv::MemoryKv;
use crate::sandbox::limits::StepLimits;
use crate::sandbox::outcome::{FaultKind, StepFailure};
use crate::sandbox::{LoadError, Sandbox, SandboxConfig, StepContext, StepGrants, StepRequest, inspect};
use anyhow::Context as _;
use clap::Subcommand;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Exit code when the plugin returned its own error.
pub const EXIT_STEP_ERROR: i32 = 2;
/// Exit code when the host detected a fault.
pub const EXIT_FAULT: i32 = 3;

/// `alur step ...`
#[derive(Debug, Subcommand)]
pub enum StepCommand {
    /// Run a step plugin once and print its output JSON.
    Run {
        /// The component (.wasm).
        plugin: PathBuf,
        /// The input JSON, or @file to read it from a file.
        #[arg(long)]
        input: String,
        /// A config entry `key=value` for the step (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
        /// Fuel budget.
        #[arg(long)]
        fuel: Option<u64>,
        /// Memory cap, such as 64MiB.
        #[arg(long)]
        memory: Option<bytesize::ByteSize>,
        /// Wall-clock timeout, such as 5s or 250ms.
        #[arg(long, value_parser = humantime::parse_duration)]
        timeout: Option<Duration>,
        /// An origin the step may send HTTP requests to, such as https://api.example.com (repeatable), as a
        /// definition's `http: {allow: [...]}` grants it; without one, every request is refused.
        #[arg(long = "allow-http", value_name = "ORIGIN")]
        allow_http: Vec<HttpOrigin>,
    },
    /// Print a component's imports and exports and whether it fits the alur:step world.
    Inspect {
        /// The component (.wasm).
        plugin: PathBuf,
    },
}

/// Runs a `step` subcommand; returns the exit code.
pub async fn run(cmd: StepCommand) -> anyhow::Result<i32> {
    match cmd {
        StepCommand::Run { plugin, input, config, fuel, memory, timeout, allow_http } => {
            let wasm = std::fs::read(&plugin).with_context(|| format!("cannot read {}", plugin.display()))?;
            let input = read_input(&input)?;
            let config = parse_config(&config)?;
            let defaults = StepLimits::default();
            let limits = StepLimits {
                fuel: fuel.unwrap_or(defaults.fuel),
                memory_bytes: memory.map(|m| m.as_u64() as usize).unwrap_or(defaults.memory_bytes),
                timeout: timeout.unwrap_or(defaults.timeout),
                max_output_bytes: defaults.max_output_bytes,
            };
            let name = plugin.file_stem().and_then(|s| s.to_str()).unwrap_or("plugin").to_string();
            let grants = StepGrants { http: allow_http.into(), ..StepGrants::default() };
            run_once(wasm, &name, &input, config, limits, &grants).await
        }
        StepCommand::Inspect { plugin } => {
            let wasm = std::fs::read(&plugin).with_context(|| format!("cannot read {}", plugin.display()))?;
            let sandbox = Sandbox::new(cli_sandbox_config(), Arc::new(MemoryKv::default()))?;
            let report = inspect::inspect(sandbox.engine(), &wasm)?;
            println!("imports:");
            for line in &report.imports {
                println!("  {line}");
            }
            println!("exports:");
            for line in &report.exports {
                println!("  {line}");
            }
            match sandbox.load(wasm).await {
                Ok(p) => {
                    println!("fits the alur:step@0.1.0 `step` world: yes ({})", p.digest);
                    Ok(0)
                }
                Err(e) => {
                    println!("fits the alur:step@0.1.0 `step` world: no: {e}");
                    Ok(1)
                }
            }
        }
    }
}

async fn run_once(
    wasm: Vec<u8>,
    plugin: &str,
    input: &str,
    config: BTreeMap<String, String>,
    limits: StepLimits,
    grants: &StepGrants,
) -> anyhow::Result<i32> {
    let sandbox = Sandbox::new(cli_sandbox_config(), Arc::new(MemoryKv::default()))?;
    let component = match sandbox.load(wasm).await {
        Ok(c) => c,
        Err(e) => {
            let kind = match e {
                LoadError::Link(_) | LoadError::World(_) => FaultKind::LinkError,
                _ => FaultKind::Trap,
            };
            if matches!(e, LoadError::NotAComponent(_) | LoadError::Invalid(_)) {
                anyhow::bail!("{e}");
            }
            println!("{}", StepFailure::fault(kind, e.to_string()).to_json());
            return Ok(EXIT_FAULT);
        }
    };
    let context = StepContext {
        tenant: "local".into(),
        process: "local".into(),
        process_version: 1,
        instance_id: "local".into(),
        step_id: plugin.into(),
        attempt: 1,
    };
    let request = StepRequest { component: &component, plugin, context, input, config: Arc::new(config), limits };
    let outcome = sandbox.run_with(request, grants).await;
    tracing::debug!(fuel_used = outcome.fuel_used, duration = ?outcome.duration, "step finished");
    match outcome.result {
        Ok(json) => {
            println!("{json}");
            Ok(0)
        }
        Err(failure) => {
            println!("{}", failure.to_json());
            Ok(match failure {
                StepFailure::Step { .. } => EXIT_STEP_ERROR,
                StepFailure::Fault { .. } => EXIT_FAULT,
            })
        }
    }
}

fn read_input(arg: &str) -> anyhow::Result<String> {
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("cannot read input file {path}"))?,
        None => arg.to_string(),
    };
    serde_json::from_str::<serde::de::IgnoredAny>(&text).context("--input is not valid JSON")?;
    Ok(text)
}

fn parse_config(entries: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    entries
        .iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => anyhow::bail!("--config takes key=value, got {e:?}"),
        })
        .collect()
}

/// `ALUR_COMPILED_CACHE`, when set, keeps compiled components between runs (a Python component compiles in
/// ~20 s, then loads in milliseconds); by default nothing is written.
fn cli_sandbox_config() -> SandboxConfig {
    let cache_dir = std::env::var_os("ALUR_COMPILED_CACHE").filter(|d| !d.is_empty()).map(std::path::PathBuf::from);
    SandboxConfig { cache_dir, ..SandboxConfig::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_entries_split_on_the_first_equals() {
        let c = parse_config(&["a=1".into(), "b=x=y".into()]).unwrap();
        assert_eq!(c["b"], "x=y");
        assert!(parse_config(&["novalue".into()]).is_err());
        assert!(parse_config(&["=v".into()]).is_err());
    }

    #[test]
    fn input_must_be_json() {
        assert!(read_input("{\"a\":1}").is_ok());
        assert!(read_input("{oops").is_err());
    }
}
