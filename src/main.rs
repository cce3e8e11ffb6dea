use std::process::ExitCode;

use clap::Parser;

// Chosen by measurement (docs/PERFORMANCE.md#allocator): faster on the Check
// path, which allocates for every decoded request, and more compact for the
// token cache than the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<ExitCode> {
    let cli = gatehouse::cli::Cli::parse();
    gatehouse::telemetry::init_logging(cli.log_format, &cli.log_level);
    gatehouse::cli::run(cli)
}
