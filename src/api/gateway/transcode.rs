//! Transcoding between HTTP+JSON and gRPC: a JSON request (path bindings, query parameters,
//! body, `If-Match`) becomes a protobuf message, the call runs through the very same gRPC
//! service stack in-process, and the answer (or the `grpc-status` with its details) becomes
//! proto3 canonical JSON with the HTTP status of the error table.

use axum::body::Body;
use bytes::{BufMut as _, Bytes, BytesMut};
use http::{
    HeaderMap, HeaderName, HeaderValue, Request,
    header::{self, AUTHORIZATION},
};
use http_body_util::BodyExt as _;
use prost::Message as _;
use prost_reflect::{DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};
use tonic_types::StatusExt as _;
use tower::ServiceExt as _;

use super::rules::{BodyRule, Rule};
use crate::{
    api::{limits::GRPC_TIMEOUT, observe::REQUEST_ID},
    domain::{Error, ErrorCode, Violation},
};

/// Builds the request message from the route's bindings, the query string and the body.
pub(super) fn request_message(
    rule: &Rule,
    bound: Vec<(String, String)>,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<DynamicMessage, Error> {
    let input = rule.input();
    let mut object = match &rule.body {
        BodyRule::None => serde_json::Map::new(),
        BodyRule::All => match parse_body(body)? {
            serde_json::Value::Object(map) => map,
            serde_json::Value::Null => serde_json::Map::new(),
            _ => return Err(Error::invalid("body", "must be a JSON object")),
        },
        BodyRule::Field(name) => {
            let field = field(&input, name)
                .ok_or_else(|| Error::internal(format!("body field {name} missing")))?;
            let mut map = serde_json::Map::new();
            map.insert(field.json_name().to_owned(), parse_body(body)?);
            map
        }
    };
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let f = field(&input, &key)
            .ok_or_else(|| Error::invalid(key.as_ref(), "is not a field of this request"))?;
        let value = scalar(&f, &value)?;
        if f.is_list() {
            let entry = object
                .entry(f.json_name().to_owned())
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let serde_json::Value::Array(items) = entry {
                items.push(value);
            }
        } else {
            object.insert(f.json_name().to_owned(), value);
        }
    }
    for (name, value) in bound {
        let f = field(&input, &name)
            .ok_or_else(|| Error::internal(format!("path field {name} missing")))?;
        // Drop a body copy under the other spelling so the path binding wins.
        object.remove(f.name());
        object.insert(f.json_name().to_owned(), scalar(&f, &value)?);
    }
    if let (Some(etag), Some(f)) = (headers.get(header::IF_MATCH), field(&input, "etag")) {
        let etag = etag
            .to_str()
            .map_err(|_| Error::invalid("If-Match", "is not text"))?;
        let unset = object
            .get(f.json_name())
            .or_else(|| object.get(f.name()))
            .is_none_or(|v| v == "");
        if unset {
            object.remove(f.name());
            object.insert(
                f.json_name().to_owned(),
                serde_json::Value::String(etag.to_owned()),
            );
        }
    }
    for (key, value) in &object {
        if json_depth(value) > MAX_JSON_DEPTH {
            let name = field(&input, key).map_or_else(|| key.clone(), |f| f.name().to_owned());
            return Err(Error::invalid(
                name,
                format!("is nested more than {MAX_JSON_DEPTH} levels deep"),
            ));
        }
    }
    let options = DeserializeOptions::new();
    DynamicMessage::deserialize_with_options(input, serde_json::Value::Object(object), &options)
        .map_err(|e| Error::invalid("body", e.to_string()))
}

/// How deep a field's JSON may nest (objects and arrays). A `google.protobuf.Struct` costs
/// three protobuf message levels per JSON object level, and the protobuf decoder stops at 100
/// levels: past this, a request would reach the gRPC service as a message it cannot decode
/// (an INTERNAL error), so the bridge refuses it as the bad input it is.
const MAX_JSON_DEPTH: usize = 32;

/// Returns how deep a JSON value nests: 0 for a scalar, 1 for a flat object or array.
/// Iterative, so that no input can exhaust the stack here.
fn json_depth(value: &serde_json::Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0)];
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &serde_json::Value>> = match value {
            serde_json::Value::Object(map) => Box::new(map.values()),
            serde_json::Value::Array(items) => Box::new(items.iter()),
            _ => continue,
        };
        deepest = deepest.max(depth + 1);
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    deepest
}

fn parse_body(body: &[u8]) -> Result<serde_json::Value, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|e| Error::invalid("body", format!("is not valid JSON: {e}")))
}

/// Finds a field by its proto name or its JSON name.
fn field(message: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    message
        .get_field_by_name(name)
        .or_else(|| message.get_field_by_json_name(name))
}

/// Reads a path or query text as the JSON value of a field.
fn scalar(field: &FieldDescriptor, text: &str) -> Result<serde_json::Value, Error> {
    Ok(match field.kind() {
        Kind::Bool => match text {
            "true" => serde_json::Value::Bool(true),
            "false" => serde_json::Value::Bool(false),
            _ => return Err(Error::invalid(field.name(), "must be true or false")),
        },
        // proto3 JSON accepts numbers, timestamps, enums and bytes as strings.
        _ => serde_json::Value::String(text.to_owned()),
    })
}

/// Response headers of the gRPC answer that the JSON answer carries too.
const FORWARDED: [&str; 1] = [crate::api::grpc::MANIFEST_SIGNATURE];

/// Sends the request message through the gRPC service and returns the response message's
/// protobuf bytes with the `FORWARDED` headers it came with, or the error it answered.
pub(super) async fn call(
    grpc: &axum::Router,
    rule: &Rule,
    message: &DynamicMessage,
    headers: &HeaderMap,
) -> Result<(Bytes, Vec<(HeaderName, HeaderValue)>), Error> {
    let mut frame = BytesMut::with_capacity(message.encoded_len() + 5);
    frame.put_u8(0);
    frame.put_u32(message.encoded_len() as u32);
    message.encode(&mut frame).map_err(Error::internal)?;
    let mut request = Request::post(rule.grpc_path.as_str())
        .header(header::CONTENT_TYPE, "application/grpc")
        .header("te", "trailers");
    for name in [AUTHORIZATION, REQUEST_ID, GRPC_TIMEOUT] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    let request = request
        .body(Body::from(frame.freeze()))
        .map_err(Error::internal)?;
    let response = grpc
        .clone()
        .oneshot(request)
        .await
        .map_err(Error::internal)?;
    let (parts, body) = response.into_parts();
    let collected = body.collect().await.map_err(Error::internal)?;
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let data = collected.to_bytes();
    let status_source = if parts.headers.contains_key("grpc-status") {
        &parts.headers
    } else {
        &trailers
    };
    match tonic::Status::from_header_map(status_source) {
        Some(status) if status.code() != tonic::Code::Ok => Err(status_error(&status)),
        _ => {
            if data.len() < 5 {
                return Err(Error::internal("gRPC answer without a message"));
            }
            let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
            let message = data
                .get(5..5 + len)
                .map(|m| data.slice_ref(m))
                .ok_or_else(|| Error::internal("truncated gRPC answer"))?;
            let forwarded = FORWARDED
                .iter()
                .filter_map(|name| {
                    let value = parts.headers.get(*name)?;
                    Some((HeaderName::from_static(name), value.clone()))
                })
                .collect();
            Ok((message, forwarded))
        }
    }
}

/// Rebuilds the domain error a gRPC status carries, from its `ErrorInfo` reason and details.
fn status_error(status: &tonic::Status) -> Error {
    let details = status.get_error_details();
    let info = details.error_info();
    let code = info
        .and_then(|i| ErrorCode::from_reason(&i.reason))
        .unwrap_or_else(|| crate::api::error::code_of(status.code()));
    let mut error = Error::new(code, status.message());
    error.field = info.and_then(|i| i.metadata.get("field").cloned());
    if let Some(failure) = details.precondition_failure() {
        error.violations = failure
            .violations
            .iter()
            .map(|v| Violation {
                rule: v.r#type.clone(),
                subject: v.subject.clone(),
                description: v.description.clone(),
            })
            .collect();
    }
    error
}

/// Serializes a response message as proto3 canonical JSON.
pub(super) fn response_json(output: MessageDescriptor, bytes: Bytes) -> Result<Vec<u8>, Error> {
    crate::pb::canonical_json(output, bytes).map_err(Error::internal)
}

/// Returns a header value, or nothing for text that cannot be one.
pub(super) fn header_value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_depth_counts_objects_and_arrays() {
        assert_eq!(json_depth(&serde_json::json!(1)), 0);
        assert_eq!(json_depth(&serde_json::json!({})), 1);
        assert_eq!(json_depth(&serde_json::json!({"a": [1, {"b": []}]})), 4);
    }
}
