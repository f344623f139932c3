//! The request middleware every protocol passes through (gRPC, gRPC-Web, the JSON bridge and
//! the HTTP routes): it gives each request an id (the client's `x-request-id`, or a new one)
//! that the services, audit rows, logs and the response header all carry, runs the request in
//! a tracing span, and times and counts it by protocol, route and result code (gRPC answers
//! by their real status, see `grpc_metrics`). A 503 without `Retry-After` gets one.

use std::{
    borrow::Cow,
    sync::{
        LazyLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use axum::{
    body::Body,
    extract::{MatchedPath, Request},
    http::{HeaderName, HeaderValue, StatusCode, header},
    middleware::Next,
    response::Response,
};
use tracing::Instrument as _;

use super::grpc_metrics;

/// The header that carries a request's id, in and out.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The `Retry-After` of a 503 that did not set its own, in seconds.
const RETRY_AFTER_SECS: &str = "1";

/// Set by the JSON bridge on its responses: the RPC a JSON call reached.
#[derive(Debug, Clone, Copy)]
pub struct BridgedRpc(pub &'static str);

/// Returns a process-unique request id: a random prefix drawn once, then a counter (no
/// system call per request, unlike a fresh UUID).
pub fn new_request_id() -> String {
    static PREFIX: LazyLock<String> =
        LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!("{}-{:x}", *PREFIX, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Tells whether a client's request id is kept: 1 to 128 visible ASCII characters.
pub fn acceptable_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Ids, traces, times and counts a request.
pub async fn track(mut request: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = match request.headers().get(&REQUEST_ID) {
        Some(v) if v.to_str().is_ok_and(acceptable_request_id) => v.clone(),
        _ => {
            let id = HeaderValue::try_from(new_request_id()).expect("ids are visible ASCII");
            request.headers_mut().insert(REQUEST_ID, id.clone());
            id
        }
    };
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
    let span = tracing::info_span!(
        "request",
        id = id.to_str().unwrap_or_default(),
        method = %request.method(),
        path = request.uri().path(),
    );
    let path = grpc.map(|_| request.uri().path().to_owned());
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // Every 503 (the database is down, the server is shedding load) tells when to retry.
        response
            .headers_mut()
            .entry(header::RETRY_AFTER)
            .or_insert(HeaderValue::from_static(RETRY_AFTER_SECS));
    }
    let elapsed = start.elapsed();
    let (protocol, route, code, fault): (&'static str, Cow<'static, str>, String, Option<bool>) =
        match (grpc, &path, response.extensions().get::<BridgedRpc>()) {
            (Some(protocol), Some(path), _) => {
                let route = grpc_metrics::route(path);
                match grpc_metrics::head_status(status, response.headers()) {
                    Some(code) => {
                        let headers = response.headers();
                        let fault = if headers.contains_key("grpc-status") {
                            let message = headers.get("grpc-message");
                            grpc_metrics::fault(&code, message.and_then(|v| v.to_str().ok()))
                        } else {
                            // An HTTP answer (e.g. 405): its code is gRPC's reading of the
                            // status, but whose fault it was is the status's class.
                            grpc_metrics::http_fault(status)
                        };
                        (protocol, route.into(), code, fault)
                    }
                    None => {
                        // The status comes last: counted when it passes.
                        response = response.map(|body| {
                            Body::new(grpc_metrics::Counted::new(body, protocol, route, start))
                        });
                        span.in_scope(|| tracing::debug!(protocol, route, "answering"));
                        response.headers_mut().insert(REQUEST_ID, id);
                        return response;
                    }
                }
            }
            (_, _, Some(rpc)) => (
                "json",
                rpc.0.into(),
                status.as_str().to_owned(),
                grpc_metrics::http_fault(status),
            ),
            _ => (
                "http",
                matched
                    .as_ref()
                    .map_or(Cow::Borrowed("unmatched"), |m| m.as_str().to_owned().into()),
                status.as_str().to_owned(),
                grpc_metrics::http_fault(status),
            ),
        };
    span.in_scope(|| {
        tracing::debug!(
            protocol,
            route = route.as_ref(),
            code,
            micros = elapsed.as_micros() as u64,
            "answered"
        );
    });
    crate::metrics::record_request(protocol, route, &code, fault, elapsed);
    response.headers_mut().insert(REQUEST_ID, id);
    response
}
