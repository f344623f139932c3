//! The one table from domain error codes to gRPC codes and HTTP statuses, and the two ways an
//! error leaves the server: a `tonic::Status` with `google.rpc.ErrorInfo`, or a JSON body
//! `{"code", "message", "details"}`.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::domain::{Error, ErrorCode};

/// The error domain carried in `ErrorInfo`.
const DOMAIN: &str = "relreg.dev";

/// Maps every error code to its gRPC code and HTTP status (grpc-gateway's table, with 412
/// for etag mismatches, 409 for immutability and for conflicts worth retrying (ABORTED), 413
/// for oversized blobs and messages and 416 for ranges).
pub fn codes(code: ErrorCode) -> (tonic::Code, StatusCode) {
    use tonic::Code as G;
    match code {
        ErrorCode::InvalidArgument => (G::InvalidArgument, StatusCode::BAD_REQUEST),
        ErrorCode::NotFound => (G::NotFound, StatusCode::NOT_FOUND),
        ErrorCode::AlreadyExists => (G::AlreadyExists, StatusCode::CONFLICT),
        ErrorCode::EtagMismatch => (G::FailedPrecondition, StatusCode::PRECONDITION_FAILED),
        ErrorCode::VersionImmutable => (G::FailedPrecondition, StatusCode::CONFLICT),
        ErrorCode::ValidationFailed => (G::FailedPrecondition, StatusCode::BAD_REQUEST),
        ErrorCode::DigestMismatch => (G::InvalidArgument, StatusCode::BAD_REQUEST),
        ErrorCode::BlobTooLarge => (G::ResourceExhausted, StatusCode::PAYLOAD_TOO_LARGE),
        ErrorCode::MessageTooLarge => (G::ResourceExhausted, StatusCode::PAYLOAD_TOO_LARGE),
        ErrorCode::DeadlineExceeded => (G::DeadlineExceeded, StatusCode::GATEWAY_TIMEOUT),
        ErrorCode::RangeNotSatisfiable => (G::OutOfRange, StatusCode::RANGE_NOT_SATISFIABLE),
        ErrorCode::FailedPrecondition => (G::FailedPrecondition, StatusCode::BAD_REQUEST),
        ErrorCode::Aborted => (G::Aborted, StatusCode::CONFLICT),
        ErrorCode::Unauthenticated => (G::Unauthenticated, StatusCode::UNAUTHORIZED),
        ErrorCode::PermissionDenied => (G::PermissionDenied, StatusCode::FORBIDDEN),
        ErrorCode::Unavailable => (G::Unavailable, StatusCode::SERVICE_UNAVAILABLE),
        ErrorCode::Overloaded => (G::ResourceExhausted, StatusCode::SERVICE_UNAVAILABLE),
        ErrorCode::Internal => (G::Internal, StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// Maps a gRPC code back to the error code it stands for, when a status carries no reason
/// (tonic's own answers, e.g. refusing an oversized message): the reverse of [`codes`].
pub fn code_of(code: tonic::Code) -> ErrorCode {
    use tonic::Code as G;
    match code {
        G::InvalidArgument => ErrorCode::InvalidArgument,
        G::NotFound => ErrorCode::NotFound,
        G::AlreadyExists => ErrorCode::AlreadyExists,
        G::FailedPrecondition => ErrorCode::FailedPrecondition,
        G::OutOfRange => ErrorCode::RangeNotSatisfiable,
        G::Unauthenticated => ErrorCode::Unauthenticated,
        G::PermissionDenied => ErrorCode::PermissionDenied,
        G::Unavailable => ErrorCode::Unavailable,
        // tonic refuses an oversized message with this code and no reason.
        G::ResourceExhausted => ErrorCode::MessageTooLarge,
        G::DeadlineExceeded => ErrorCode::DeadlineExceeded,
        G::Aborted => ErrorCode::Aborted,
        G::Ok | G::Cancelled | G::Unknown | G::Unimplemented | G::Internal | G::DataLoss => {
            ErrorCode::Internal
        }
    }
}

/// Logs the hidden cause of an error as its answer is built.
fn log_cause(e: &Error) {
    if let Some(cause) = &e.cause {
        tracing::error!(reason = e.code.reason(), error = %cause, "request failed");
    }
}

fn metadata(e: &Error) -> std::collections::HashMap<String, String> {
    e.field
        .iter()
        .map(|f| ("field".to_owned(), f.clone()))
        .collect()
}

/// Converts a domain error to a gRPC status carrying `ErrorInfo` (and `BadRequest` for fields).
pub fn status(e: Error) -> tonic::Status {
    log_cause(&e);
    let (code, _) = codes(e.code);
    let mut details = ErrorDetails::with_error_info(e.code.reason(), DOMAIN, metadata(&e));
    if let Some(field) = &e.field {
        details.add_bad_request_violation(field.clone(), e.message.clone());
    }
    for v in &e.violations {
        details.add_precondition_failure_violation(
            v.rule.clone(),
            v.subject.clone(),
            v.description.clone(),
        );
    }
    tonic::Status::with_error_details(code, e.message, details)
}

/// Returns the HTTP status and JSON body of a domain error.
pub fn json_error(e: &Error) -> (StatusCode, serde_json::Value) {
    log_cause(e);
    let (code, http) = codes(e.code);
    let mut details = vec![serde_json::json!({
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": e.code.reason(),
        "domain": DOMAIN,
        "metadata": metadata(e),
    })];
    if !e.violations.is_empty() {
        let violations: Vec<_> = e
            .violations
            .iter()
            .map(|v| serde_json::json!({ "type": v.rule, "subject": v.subject, "description": v.description }))
            .collect();
        details.push(serde_json::json!({
            "@type": "type.googleapis.com/google.rpc.PreconditionFailure",
            "violations": violations,
        }));
    }
    let body = serde_json::json!({ "code": code as i32, "message": e.message, "details": details });
    (http, body)
}

/// An error answered as JSON by the HTTP routes.
#[derive(Debug)]
pub struct HttpError(pub Error);

impl From<Error> for HttpError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, body) = json_error(&self.0);
        (status, axum::Json(body)).into_response()
    }
}
