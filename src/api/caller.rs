//! Who is calling: every transport turns a request's `authorization` and `x-request-id`
//! headers (or gRPC metadata) into a registry `Caller` here.

use http::HeaderMap;

use crate::{
    api::observe::{acceptable_request_id, new_request_id},
    registry::Caller,
};

/// Builds a caller from the `authorization` and `x-request-id` header values.
pub fn caller_from(authorization: Option<&str>, request_id: Option<&str>) -> Caller {
    let bearer = authorization.map(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .unwrap_or(v)
            .trim()
            .to_owned()
    });
    let request_id = request_id
        .filter(|id| acceptable_request_id(id))
        .map_or_else(new_request_id, str::to_owned);
    Caller { bearer, request_id }
}

/// Reads the caller of an HTTP request from its headers.
pub fn from_headers(headers: &HeaderMap) -> Caller {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    caller_from(get("authorization"), get("x-request-id"))
}

/// Reads the caller of a gRPC (or gRPC-Web) request from its metadata.
pub fn from_grpc<T>(request: &tonic::Request<T>) -> Caller {
    let get = |key: &str| request.metadata().get(key).and_then(|v| v.to_str().ok());
    caller_from(get("authorization"), get("x-request-id"))
}
