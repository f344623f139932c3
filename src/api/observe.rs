//! The request middleware every protocol passes through: it times each request and counts it
//! by protocol (grpc, grpc-web, json, http), route and result code.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request},
    http::header,
    middleware::Next,
    response::Response,
};

/// Set by the JSON bridge on its responses: the RPC a JSON call reached.
#[derive(Debug, Clone, Copy)]
pub struct BridgedRpc(pub &'static str);

/// Times and counts a request.
pub async fn track(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let grpc = if content_type.starts_with("application/grpc-web") {
        Some("grpc-web")
    } else if content_type.starts_with("application/grpc") {
        Some("grpc")
    } else {
        None
    };
    let path = request.uri().path().to_owned();
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let response = next.run(request).await;
    let (protocol, route, code) = match (grpc, response.extensions().get::<BridgedRpc>()) {
        (Some(protocol), _) => {
            let code = response
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("0");
            (protocol, path, code.to_owned())
        }
        (None, Some(rpc)) => (
            "json",
            rpc.0.to_owned(),
            response.status().as_u16().to_string(),
        ),
        (None, None) => (
            "http",
            matched.unwrap_or_else(|| "unmatched".into()),
            response.status().as_u16().to_string(),
        ),
    };
    crate::metrics::record_request(protocol, &route, &code, start.elapsed());
    response
}
