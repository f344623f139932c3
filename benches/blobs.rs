//! Blob throughput benchmark (placeholder until written): see scripts/bench-blobs.sh.
fn main() {}
