//! Compiles the protobuf subset in `proto/` with a pure-Rust compiler (protox),
//! so building gatehouse never needs a system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const ROOTS: &[&str] = &["envoy/service/auth/v3/external_auth.proto"];
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(ROOTS, ["proto"])?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
