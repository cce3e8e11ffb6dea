use std::process::ExitCode;

use clap::Parser;

fn main() -> anyhow::Result<ExitCode> {
    let cli = gatehouse::cli::Cli::parse();
    gatehouse::telemetry::init_logging(cli.log_format, &cli.log_level);
    gatehouse::cli::run(cli)
}
