//! The `alur` command line. `main.rs` parses; each subcommand lives in its own module.
//!
//! # Layout
//! - [`serve`]: `alur serve`, the runtime as a service.
//! - [`step`]: `alur step run|inspect`, for plugin authors working on one component locally.
//! - [`tenant`], [`plugin`], [`process`], [`instance`]: the HTTP API of a running `alur serve`, through
//!   [`client`] (connection flags, requests, error printing).
//! - [`scaffold`]: `alur plugin new`, a plugin project from the embedded templates.

pub mod client;
pub mod instance;
pub mod plugin;
pub mod process;
pub mod scaffold;
pub mod serve;
pub mod step;
pub mod tenant;

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
    /// Manage tenants on a server (admin key).
    Tenant(tenant::TenantArgs),
    /// Upload and manage the tenant's step plugins; start a new plugin project.
    Plugin(plugin::PluginArgs),
    /// Deploy and start the tenant's processes.
    Process(process::ProcessArgs),
    /// Inspect, signal and cancel the tenant's process instances.
    Instance(instance::InstanceArgs),
}

/// Runs the parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    let (result, json) = match cli.command {
        Command::Serve(args) => return serve::run(args).await,
        Command::Step(cmd) => return step::run(cmd).await,
        Command::Tenant(args) => {
            let json = args.conn.json;
            (tenant::run(args).await, json)
        }
        Command::Plugin(args) => {
            let json = args.conn.json;
            (plugin::run(args).await, json)
        }
        Command::Process(args) => {
            let json = args.conn.json;
            (process::run(args).await, json)
        }
        Command::Instance(args) => {
            let json = args.conn.json;
            (instance::run(args).await, json)
        }
    };
    // The remote commands tell their own failures (`error: <code>: <message>`) and exit 1.
    Ok(result.unwrap_or_else(|e| client::report(&e, json)))
}
