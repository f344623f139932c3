//! The access log: one info line per request, under the target `relreg::access` (silence it
//! with `RUST_LOG=info,relreg::access=off`), written when the response body is done: method,
//! route (the route template, the gRPC method or the bridged RPC; `unmatched` otherwise,
//! never the raw path), status (and `grpc_status` when the head carries one, or the
//! trailers do), duration, request id and the response body's bytes. With
//! `--log-format json` it is a JSON object like every other line.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use axum::{
    body::Body,
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use http::{HeaderValue, Method, header};
use http_body::Frame;

use crate::api::observe::{BridgedRpc, REQUEST_ID};

/// Logs a request once its answer is done.
pub(super) async fn log(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    let mut route = if grpc {
        Route::Static(super::rpcs::route(request.uri().path()))
    } else {
        match request.extensions().get::<MatchedPath>() {
            Some(m) => Route::Matched(m.clone()),
            None => Route::Static("unmatched"),
        }
    };
    let sent_id = request.headers().get(&REQUEST_ID).cloned();
    let response = next.run(request).await;
    if let Some(BridgedRpc(rpc)) = response.extensions().get::<BridgedRpc>() {
        route = Route::Static(rpc);
    }
    let entry = Entry {
        start,
        method,
        route,
        status: response.status().as_u16(),
        grpc_status: response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
        request_id: response.headers().get(&REQUEST_ID).cloned().or(sent_id),
        bytes: 0,
    };
    response.map(|body| Body::new(Logged { body, entry }))
}

/// Where a request went.
enum Route {
    Static(&'static str),
    Matched(MatchedPath),
}

impl Route {
    fn as_str(&self) -> &str {
        match self {
            Self::Static(s) => s,
            Self::Matched(m) => m.as_str(),
        }
    }
}

/// What the line says.
struct Entry {
    start: Instant,
    method: Method,
    route: Route,
    status: u16,
    grpc_status: Option<i32>,
    request_id: Option<HeaderValue>,
    bytes: u64,
}

/// A response body that writes the access line when it is done (or dropped).
struct Logged {
    body: Body,
    entry: Entry,
}

impl Drop for Logged {
    fn drop(&mut self) {
        let e = &self.entry;
        let elapsed = e.start.elapsed();
        tracing::info!(
            target: "relreg::access",
            method = e.method.as_str(),
            route = e.route.as_str(),
            status = e.status,
            grpc_status = e.grpc_status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            request_id = e.request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or_default(),
            bytes = e.bytes,
            "request"
        );
    }
}

impl http_body::Body for Logged {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.entry.bytes += data.len() as u64;
            } else if let Some(code) = frame
                .trailers_ref()
                .and_then(|t| t.get("grpc-status"))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
            {
                self.entry.grpc_status = Some(code);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
