//! Generated protobuf messages and tonic services for `relreg.v1`; lint relaxations for
//! generated code are confined to this module.
#![allow(unreachable_pub, clippy::all, clippy::pedantic, missing_docs)]

tonic::include_proto!("relreg.v1");

/// The encoded descriptor set of the contract (with its imports), for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/relreg_descriptor.bin"));
