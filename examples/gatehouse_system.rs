//! `gatehouse` with the system allocator: the same `main` as `src/main.rs`
//! without its `#[global_allocator]` (an example binary gets the system
//! allocator), so `bench/load.sh` can compare allocators on the identical code
//! path.
//!
//! ```sh
//! cargo build --release --example gatehouse_system
//! target/release/examples/gatehouse_system serve --config gatehouse.yaml
//! ```

use std::process::ExitCode;

use clap::Parser;

fn main() -> anyhow::Result<ExitCode> {
    let cli = gatehouse::cli::Cli::parse();
    gatehouse::telemetry::init_logging(cli.log_format, &cli.log_level);
    gatehouse::cli::run(cli)
}
