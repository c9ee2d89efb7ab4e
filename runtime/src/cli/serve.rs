//! `alur serve`: the runtime as a service.

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `alur serve` options; each flag falls back to an `ALUR_*` environment variable.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ALUR_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Data directory: the SQLite journal, compiled components, the admin key.
    #[arg(long, env = "ALUR_DATA", default_value = "./alur-data")]
    pub data: PathBuf,
    /// How long running steps may take to finish at shutdown.
    #[arg(long, env = "ALUR_DRAIN", default_value = "10s", value_parser = humantime::parse_duration)]
    pub drain: Duration,
    /// Create the tenant `demo` with the example plugins and processes loaded, and print its key.
    #[arg(long, env = "ALUR_DEMO")]
    pub demo: bool,
    /// Where `--demo` finds the example process definitions.
    #[arg(long, env = "ALUR_DEMO_PROCESSES", default_value = "examples/processes")]
    pub demo_processes: PathBuf,
    /// Where `--demo` finds the compiled example plugins (`plugins/build` writes them there).
    #[arg(long, env = "ALUR_DEMO_PLUGINS", default_value = "target/plugins")]
    pub demo_plugins: PathBuf,
    /// Where compiled components are cached (default: `<data>/compiled`); may be shared.
    #[arg(long, env = "ALUR_COMPILED_CACHE")]
    pub compiled_cache: Option<PathBuf>,
    /// How many cores long-running steps may use at once (default: all but one, so requests and short steps
    /// always find a core).
    #[arg(long, env = "ALUR_GUEST_CORES", value_parser = clap::value_parser!(u16).range(1..))]
    pub guest_cores: Option<u16>,
}

/// Runs the server until ctrl-c or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<i32> {
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let config = crate::server::ServeConfig {
        data: args.data,
        admin_key: std::env::var("ALUR_ADMIN_KEY").ok(),
        drain: args.drain,
        compiled_cache: args.compiled_cache,
        guest_cores: args.guest_cores.map(usize::from),
        demo: args
            .demo
            .then_some(crate::demo::DemoConfig { processes: args.demo_processes, plugins: args.demo_plugins }),
    };
    crate::server::run(config, listener, crate::server::shutdown_signal()).await?;
    Ok(0)
}
