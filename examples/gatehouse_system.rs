//! `gatehouse` with the system allocator: the same `main` as `src/main.rs`
//! without its `#[global_allocator]` (an example binary gets the system
//! allocator), so `loadtest/load.sh` can compare allocators on the identical code
//! path.
//!
//! ```sh
//! cargo build --release --example gatehouse_system
//! target/release/examples/gatehouse_system serve --config gatehouse.yaml
//! ```

use std::process::ExitCode;

fn main() -> anyhow::Result<ExitCode> {
    gatehouse::cli::main()
}
