//! The `alur` command line. `main.rs` parses; each subcommand lives in its own module.
//!
//! # Layout
//! - [`step`]: `alur step run|inspect`, for plugin authors working on one component locally.

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
    /// Work with one step plugin locally: run it, inspect it.
    #[command(subcommand)]
    Step(step::StepCommand),
}

/// Runs the parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Step(cmd) => step::run(cmd).await,
    }
}
