//! Counting gRPC and gRPC-Web answers by their real status. An answer's `grpc-status` is in
//! its head only when it failed before sending a message (a trailers-only answer); otherwise
//! it comes last, in the HTTP trailers (gRPC) or in the body's trailer frame (gRPC-Web). So an
//! answer without one in the head is counted when its status passes, or as `2` (UNKNOWN) if
//! the body ends or is dropped without one. Routes are the known RPC paths; any other path
//! counts under one `unknown` label, so made-up paths cannot grow the metrics.
//!
//! Each failure is also classed by whose fault it was, by the HTTP status gRPC's table gives
//! its code: a request the server could not parse answers INTERNAL (gRPC's table prescribes
//! it), but it is the client's fault, so such answers (told by tonic's decode messages) count
//! as client errors.

use std::{
    pin::Pin,
    sync::LazyLock,
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body::{Frame, SizeHint};

/// The route label of every path that is not a known RPC.
const UNKNOWN_ROUTE: &str = "unknown";
/// What a gRPC answer without a status counts as: UNKNOWN.
const NO_STATUS: &str = "2";

/// The RPC paths this server answers, sorted: both services, health and reflection.
static RPC_PATHS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut paths = vec![
        "/grpc.health.v1.Health/Check".to_owned(),
        "/grpc.health.v1.Health/Watch".to_owned(),
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo".to_owned(),
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo".to_owned(),
    ];
    if let Ok(pool) = prost_reflect::DescriptorPool::decode(crate::pb::FILE_DESCRIPTOR_SET) {
        for service in pool.services() {
            for method in service.methods() {
                paths.push(format!("/{}/{}", service.full_name(), method.name()));
            }
        }
    }
    paths.sort();
    paths
});

/// Returns the route label of a gRPC path: the path of a known RPC, else `unknown`.
pub(crate) fn route(path: &str) -> &'static str {
    match RPC_PATHS.binary_search_by(|p| p.as_str().cmp(path)) {
        Ok(i) => RPC_PATHS[i].as_str(),
        Err(_) => UNKNOWN_ROUTE,
    }
}

/// Returns the status an answer's head carries: its `grpc-status`, or for an HTTP error
/// without one, the code gRPC's HTTP mapping gives it (a 404 is UNIMPLEMENTED, not OK).
pub(crate) fn head_status(status: StatusCode, headers: &HeaderMap) -> Option<String> {
    if let Some(code) = headers.get("grpc-status").and_then(|v| v.to_str().ok()) {
        return Some(code.to_owned());
    }
    let code = match status.as_u16() {
        200 => return None,
        400 => "13",
        401 => "16",
        403 => "7",
        404 => "12",
        429 | 502 | 503 | 504 => "14",
        _ => "2",
    };
    Some(code.to_owned())
}

/// The starts of tonic's `grpc-message` when it could not parse a request (after `%20` is
/// read as a space): a malformed frame, a message that is not protobuf, a truncated stream.
const MALFORMED: [&str; 4] = [
    "failed to decode Protobuf message",
    "protocol error:",
    "Unexpected EOF decoding stream",
    "Error decompressing",
];

/// Returns whose fault a gRPC answer was: `None` for OK, `Some(true)` for the client's (the
/// codes whose HTTP equivalent is a 4xx, and an INTERNAL that reports an unparsable request),
/// `Some(false)` for the server's.
pub(crate) fn fault(code: &str, message: Option<&str>) -> Option<bool> {
    match code {
        "0" => None,
        // CANCELLED, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED,
        // RESOURCE_EXHAUSTED, FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE, UNIMPLEMENTED,
        // UNAUTHENTICATED.
        "1" | "3" | "5" | "6" | "7" | "8" | "9" | "10" | "11" | "12" | "16" => Some(true),
        "13" => Some(message.is_some_and(|m| {
            let m = m.replace("%20", " ");
            MALFORMED.iter().any(|p| m.starts_with(p))
        })),
        _ => Some(false),
    }
}

/// Returns whose fault an HTTP answer was: `None` below 400, the client's for 4xx.
pub(crate) fn http_fault(status: StatusCode) -> Option<bool> {
    (status.is_client_error() || status.is_server_error()).then(|| status.is_client_error())
}

/// A gRPC answer's body, counted once its status passes.
pub(crate) struct Counted {
    inner: Body,
    pending: Option<(&'static str, &'static str, Instant)>,
}

impl Counted {
    /// Wraps a body whose status is still to come.
    pub(crate) fn new(
        inner: Body,
        protocol: &'static str,
        route: &'static str,
        start: Instant,
    ) -> Self {
        Self {
            inner,
            pending: Some((protocol, route, start)),
        }
    }

    fn count(&mut self, code: &str, message: Option<&str>) {
        if let Some((protocol, route, start)) = self.pending.take() {
            record(protocol, route, code, message, start.elapsed());
        }
    }
}

fn record(
    protocol: &'static str,
    route: &'static str,
    code: &str,
    message: Option<&str>,
    elapsed: Duration,
) {
    crate::metrics::record_request(protocol, route.into(), code, fault(code, message), elapsed);
}

/// Reads `grpc-status` and `grpc-message` from a gRPC-Web trailer frame (`0x80`, length,
/// `name:value\r\n` lines).
fn web_trailer_status(data: &Bytes) -> Option<(String, Option<String>)> {
    let text = std::str::from_utf8(data.get(5..).filter(|_| data.first() == Some(&0x80))?).ok()?;
    let field = |wanted: &str| {
        text.split("\r\n").find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case(wanted)
                .then(|| value.trim().to_owned())
        })
    };
    Some((field("grpc-status")?, field("grpc-message")))
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                let status = match (f.trailers_ref(), f.data_ref()) {
                    (Some(trailers), _) => trailers
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .map(|code| {
                            let message = trailers.get("grpc-message");
                            let message = message.and_then(|v| v.to_str().ok());
                            (code.to_owned(), message.map(str::to_owned))
                        }),
                    (None, Some(data)) => web_trailer_status(data),
                    (None, None) => None,
                };
                if let Some((code, message)) = status {
                    self.count(&code, message.as_deref());
                }
            }
            Some(Err(_)) | None => self.count(NO_STATUS, None),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        // A client that went away before the status: counted as cancelled.
        self.count("1", None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_known_rpcs_or_unknown() {
        assert_eq!(
            route("/relreg.v1.ReleaseCatalog/GetLatestRelease"),
            "/relreg.v1.ReleaseCatalog/GetLatestRelease"
        );
        assert_eq!(
            route("/grpc.health.v1.Health/Check"),
            "/grpc.health.v1.Health/Check"
        );
        assert_eq!(route("/x.Y/Z"), UNKNOWN_ROUTE);
        assert_eq!(route("/relreg.v1.ReleaseCatalog/Nope"), UNKNOWN_ROUTE);
    }

    #[test]
    fn head_statuses_follow_the_http_mapping() {
        let mut headers = HeaderMap::new();
        assert_eq!(head_status(StatusCode::OK, &headers), None);
        assert_eq!(
            head_status(StatusCode::NOT_FOUND, &headers).as_deref(),
            Some("12")
        );
        headers.insert("grpc-status", "5".parse().unwrap());
        assert_eq!(head_status(StatusCode::OK, &headers).as_deref(), Some("5"));
    }

    #[test]
    fn malformed_requests_are_the_clients_fault() {
        assert_eq!(fault("0", None), None);
        assert_eq!(fault("5", None), Some(true));
        assert_eq!(fault("14", None), Some(false));
        assert_eq!(fault("13", Some("internal%20error")), Some(false));
        let decode = "failed%20to%20decode%20Protobuf%20message:%20invalid%20wire%20type";
        assert_eq!(fault("13", Some(decode)), Some(true));
        assert_eq!(
            fault("13", Some("Unexpected%20EOF%20decoding%20stream.")),
            Some(true)
        );
    }

    #[test]
    fn web_trailer_frames_carry_the_status() {
        let text = b"grpc-status:7\r\ngrpc-message:no\r\n";
        let mut frame = vec![0x80, 0, 0, 0, text.len() as u8];
        frame.extend_from_slice(text);
        assert_eq!(
            web_trailer_status(&Bytes::from(frame)),
            Some(("7".to_owned(), Some("no".to_owned())))
        );
        assert_eq!(
            web_trailer_status(&Bytes::from_static(b"\0\0\0\0\x01a")),
            None
        );
    }
}
