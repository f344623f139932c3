//! Generated protobuf messages and tonic services for `relreg.v1`; lint relaxations for
//! generated code are confined to this module.
#![allow(unreachable_pub, clippy::all, clippy::pedantic, missing_docs)]

tonic::include_proto!("relreg.v1");

/// The encoded descriptor set of the contract (with its imports), for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/relreg_descriptor.bin"));

/// Returns the descriptor pool of the contract, decoded once.
pub fn descriptor_pool() -> &'static prost_reflect::DescriptorPool {
    static POOL: std::sync::OnceLock<prost_reflect::DescriptorPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        prost_reflect::DescriptorPool::decode(FILE_DESCRIPTOR_SET)
            .expect("the descriptor set compiled into the binary decodes")
    })
}

/// Serializes the protobuf bytes of a message as proto3 canonical JSON (lowerCamelCase
/// names, int64 as strings, RFC 3339 `Z` timestamps, default values left out): the form
/// the JSON bridge answers with and the CLI prints with `--output json`.
pub fn canonical_json(
    message: prost_reflect::MessageDescriptor,
    bytes: impl bytes::Buf,
) -> Result<Vec<u8>, String> {
    let message =
        prost_reflect::DynamicMessage::decode(message, bytes).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(256);
    let mut serializer = serde_json::Serializer::new(&mut out);
    message
        .serialize_with_options(&mut serializer, &prost_reflect::SerializeOptions::new())
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Returns a `relreg.v1` message (`name` without the package) as proto3 canonical JSON.
pub fn to_json(name: &str, message: &impl prost::Message) -> Result<serde_json::Value, String> {
    let descriptor = descriptor_pool()
        .get_message_by_name(&format!("relreg.v1.{name}"))
        .ok_or_else(|| format!("no message relreg.v1.{name} in the contract"))?;
    let bytes = canonical_json(descriptor, message.encode_to_vec().as_slice())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// Reads a message from its proto3 JSON form; `full_name` names its type, e.g.
/// `google.protobuf.Struct` or `relreg.v1.RepoPolicy`.
pub fn from_json<M: prost::Message + Default>(
    full_name: &str,
    json: serde_json::Value,
) -> Result<M, String> {
    let descriptor = descriptor_pool()
        .get_message_by_name(full_name)
        .ok_or_else(|| format!("no message {full_name} in the contract"))?;
    let message =
        prost_reflect::DynamicMessage::deserialize(descriptor, json).map_err(|e| e.to_string())?;
    message.transcode_to::<M>().map_err(|e| e.to_string())
}

/// Returns a message of any type in the contract (`full_name` with its package) as the
/// text of its canonical JSON, e.g. a `google.protobuf.Timestamp` as `"2026-01-31T12:00:00Z"`
/// without quotes; `None` if it cannot be rendered.
pub fn to_json_value(full_name: &str, message: &impl prost::Message) -> Option<String> {
    let descriptor = descriptor_pool().get_message_by_name(full_name)?;
    let bytes = canonical_json(descriptor, message.encode_to_vec().as_slice()).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}
