//! The `alur` command line. `main.rs` parses; each subcommand lives in its own module.
//!
//! # Layout
//! - [`serve`]: `alur serve`, the runtime as a service.
//! - [`step`]: `alur step run|inspect`, for plugin authors working on one component locally.

pub mod serve;
pub mod step;

use clap::{Parser, Subcommand};

/// Alur: business processes whose steps are sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "alur", version, about)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (tenants, plugins, processes, instances) over a data directory.
    Serve(serve::ServeArgs),
    /// Work with one step plugin locally: run it, inspect it.
    #[command(subcommand)]
    Step(step::StepCommand),
}

/// Runs the parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Step(cmd) => step::run(cmd).await,
    }
}
