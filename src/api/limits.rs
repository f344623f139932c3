//! Limits every protocol shares, applied in the gRPC service stack that native gRPC, gRPC-Web
//! and the JSON bridge all reach: the largest request message, and the caller's deadline.

use std::time::Duration;

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use http::HeaderName;

use crate::{
    api::error::status,
    domain::{Error, ErrorCode},
};

/// The largest request message any protocol accepts: a gRPC message, or a JSON bridge body.
/// (Blob bytes are streamed in chunks and limited by `--max-blob-size` instead.)
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The header of a caller's deadline (gRPC's; the JSON bridge forwards it too).
pub const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// The longest a unary call may run, whatever deadline its caller sent (`--max-call-duration`).
#[derive(Debug, Clone, Copy)]
pub struct MaxCallDuration(pub Duration);

/// Applies the shared limits around a gRPC call: the caller's deadline (for unary calls
/// capped by the server's maximum), and one answer for an oversized message.
pub async fn enforce(State(max): State<MaxCallDuration>, request: Request, next: Next) -> Response {
    let response = within_deadline(max.0, request, next).await;
    oversized_as_resource_exhausted(response)
}

/// Runs a call within the deadline its caller sent in `grpc-timeout`, a unary call within
/// the server's maximum too; past it the call is dropped (an open transaction rolls back)
/// and answers DEADLINE_EXCEEDED. A zero deadline has passed already: the call does not start.
async fn within_deadline(max: Duration, request: Request, next: Next) -> Response {
    let asked = request
        .headers()
        .get(&GRPC_TIMEOUT)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout);
    let cap = crate::edge::rpcs::is_unary(request.uri().path()).then_some(max);
    let (timeout, whose) = match (asked, cap) {
        (Some(asked), Some(cap)) if cap < asked => (cap, "the server's maximum call duration"),
        (Some(asked), _) => (asked, "its deadline"),
        (None, Some(cap)) => (cap, "the server's maximum call duration"),
        (None, None) => return next.run(request).await,
    };
    let expired = || {
        answer(Error::new(
            ErrorCode::DeadlineExceeded,
            format!("the call did not finish within {whose} ({timeout:?})"),
        ))
    };
    if timeout.is_zero() {
        return expired();
    }
    tokio::time::timeout(timeout, next.run(request))
        .await
        .unwrap_or_else(|_| expired())
}

/// tonic refuses a message over `max_decoding_message_size` with OUT_OF_RANGE and no details;
/// gRPC's convention (and the JSON bridge's answer) is RESOURCE_EXHAUSTED, so that is what
/// the caller gets, with the `MESSAGE_TOO_LARGE` reason.
fn oversized_as_resource_exhausted(response: Response) -> Response {
    match tonic::Status::from_header_map(response.headers()) {
        Some(s)
            if s.code() == tonic::Code::OutOfRange
                && s.message().contains("message length too large") =>
        {
            answer(Error::new(
                ErrorCode::MessageTooLarge,
                format!("the request message exceeds {MAX_MESSAGE_BYTES} bytes"),
            ))
        }
        _ => response,
    }
}

/// The trailers-only gRPC answer of an error.
fn answer(error: Error) -> Response {
    status(error).into_http::<axum::body::Body>()
}

/// Parses a `grpc-timeout` value: at most 8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
fn parse_grpc_timeout(text: &str) -> Option<Duration> {
    let (digits, unit) = text.split_at_checked(text.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_by_unit() {
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_grpc_timeout("10S"), Some(Duration::from_secs(10)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(
            parse_grpc_timeout("99999999u"),
            Some(Duration::from_micros(99_999_999))
        );
        assert_eq!(parse_grpc_timeout("5n"), Some(Duration::from_nanos(5)));
        for bad in ["", "S", "10", "10s", "123456789S", "-1S", "1.5S", "1 S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }
}
