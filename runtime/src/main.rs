//! The `alur` binary: parses the command line and hands over to the library.

use clap::Parser;

// The server allocates and frees many small objects per request (JSON values, journal rows, futures); under
// load glibc's malloc took ~15% of its CPU (BENCHMARKS.md), mimalloc a fraction of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("ALUR_LOG").unwrap_or_else(|_| EnvFilter::new("warn,alur=info")))
        .with_writer(std::io::stderr)
        .init();
    let cli = alur_runtime::cli::Cli::parse();
    let code = alur_runtime::cli::run(cli).await?;
    std::process::exit(code);
}
