//! Free text in admin requests (display names, notes, reasons, media types, etags, token
//! names, …) is stored as SQL text, and PostgreSQL refuses a NUL character in text: without a
//! check, such a request would be a server error on PostgreSQL and stored data on SQLite. This
//! layer, in the gRPC service stack that native gRPC, gRPC-Web and the JSON bridge all reach,
//! reads each unary `ReleaseAdmin` request through its descriptor and refuses one with a NUL
//! in any string field as INVALID_ARGUMENT naming the field, before any handler runs; every
//! string field, present and future, is covered in one place. (Catalog reads, the hot path,
//! carry only names and page tokens, which their parsers check; JSON manifests are stored as
//! escaped JSON text, where a NUL is no problem, and are not looked into.)

use std::{collections::HashMap, sync::LazyLock};

use axum::{body::Body, extract::Request, middleware::Next, response::Response};
use prost_reflect::{
    DescriptorPool, DynamicMessage, MessageDescriptor, ReflectMessage as _, Value,
};

use crate::{
    api::{error::status, limits::MAX_MESSAGE_BYTES},
    domain::{Error, ErrorCode, check_text},
};

/// The input of every unary `ReleaseAdmin` method, by gRPC path.
static ADMIN_INPUTS: LazyLock<HashMap<String, MessageDescriptor>> = LazyLock::new(|| {
    let Ok(pool) = DescriptorPool::decode(crate::pb::FILE_DESCRIPTOR_SET) else {
        return HashMap::new();
    };
    pool.get_service_by_name("relreg.v1.ReleaseAdmin")
        .into_iter()
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .filter(|m| !m.is_client_streaming())
        .map(|m| {
            (
                format!("/{}/{}", m.parent_service().full_name(), m.name()),
                m.input(),
            )
        })
        .collect()
});

/// Refuses an admin request whose string fields hold a NUL; passes every other request on.
pub async fn refuse_nul(request: Request, next: Next) -> Response {
    let Some(input) = ADMIN_INPUTS.get(request.uri().path()) else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_MESSAGE_BYTES + 5).await {
        Ok(bytes) => bytes,
        // Larger than any acceptable message (or a broken body): refused as tonic would.
        Err(_) => {
            let e = Error::new(
                ErrorCode::MessageTooLarge,
                "the request message is too large",
            );
            return status(e).into_http();
        }
    };
    // One uncompressed frame: flag 0, length, message. Anything else is left to tonic.
    if let Some(message) = bytes
        .get(5..)
        .filter(|m| {
            bytes[0] == 0
                && m.len() == u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize
        })
        .and_then(|m| DynamicMessage::decode(input.clone(), m).ok())
        && let Err(e) = check_message(&message, "")
    {
        return status(e).into_http();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Checks every string in a message (not in `google.protobuf` types such as a `Struct`).
fn check_message(message: &DynamicMessage, prefix: &str) -> Result<(), Error> {
    if message
        .descriptor()
        .full_name()
        .starts_with("google.protobuf.")
    {
        return Ok(());
    }
    for (field, value) in message.fields() {
        let path = if prefix.is_empty() {
            field.name().to_owned()
        } else {
            format!("{prefix}.{}", field.name())
        };
        check_value(value, &path)?;
    }
    Ok(())
}

fn check_value(value: &Value, path: &str) -> Result<(), Error> {
    match value {
        Value::String(text) => check_text(path, text).map(drop),
        Value::Message(message) => check_message(message, path),
        Value::List(items) => items.iter().try_for_each(|v| check_value(v, path)),
        Value::Map(entries) => entries.iter().try_for_each(|(key, v)| {
            if let prost_reflect::MapKey::String(key) = key {
                check_text(path, key)?;
            }
            check_value(v, path)
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unary_admin_method_is_known() {
        assert!(ADMIN_INPUTS.contains_key("/relreg.v1.ReleaseAdmin/CreateRepo"));
        assert!(!ADMIN_INPUTS.contains_key("/relreg.v1.ReleaseAdmin/UploadBlob"));
        let input = &ADMIN_INPUTS["/relreg.v1.ReleaseAdmin/CreateRepo"];
        let mut message = DynamicMessage::new(input.clone());
        message.set_field_by_name("display_name", Value::String("a\0b".into()));
        let e = check_message(&message, "").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("display_name"));
        message.set_field_by_name("display_name", Value::String("fine".into()));
        assert!(check_message(&message, "").is_ok());
    }
}
