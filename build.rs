//! Compiles the wire contract in `proto/` into Rust (prost messages and tonic service traits).
//! Pure Rust: protox parses the .proto files, so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(
        ["tfplugin6.proto", "plugin.proto", "health.proto"],
        ["proto"],
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(false)
        .compile_fds(fds)?;
    Ok(())
}
