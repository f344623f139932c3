//! Compiles the protobuf contract with protox (no system `protoc`), generates the tonic
//! services and keeps the encoded descriptor set for reflection and the JSON bridge.

use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    // error_details.proto rides along so that reflection clients can decode ErrorInfo details.
    let files = [
        "relreg/v1/admin.proto",
        "relreg/v1/catalog.proto",
        "relreg/v1/trust.proto",
        "google/rpc/error_details.proto",
    ];
    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(files)?;
    // Encoded from the compiler itself so that option extensions (google.api.http) survive.
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out.join("relreg_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .bytes(".")
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
