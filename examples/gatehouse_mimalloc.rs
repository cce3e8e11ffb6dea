//! `gatehouse` with mimalloc as the global allocator: the same `main` as
//! `src/main.rs`, so `bench/load.sh` can compare allocators on the identical
//! code path without touching the library.
//!
//! ```sh
//! cargo build --release --features mimalloc --example gatehouse_mimalloc
//! target/release/examples/gatehouse_mimalloc serve --config gatehouse.yaml
//! ```

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<ExitCode> {
    let cli = gatehouse::cli::Cli::parse();
    gatehouse::telemetry::init_logging(cli.log_format, &cli.log_level);
    gatehouse::cli::run(cli)
}
