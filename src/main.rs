use std::process::ExitCode;

// Chosen by measurement (docs/PERFORMANCE.md#allocator): faster on the Check
// path, which allocates for every decoded request, and more compact for the
// token cache than the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<ExitCode> {
    gatehouse::cli::main()
}
