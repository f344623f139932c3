//! Upload chunk limits. An HTTP chunk (`PATCH …/blobs/uploads/{session}`, or the body of the
//! completing `PUT`) declaring more than `--max-upload-chunk` bytes in `Content-Length` or
//! `Content-Range` is refused before anything is written (413 `MESSAGE_TOO_LARGE`); a body
//! that declares neither is cut off at the limit. gRPC `UploadBlob` reads the limit from the
//! request's extensions ([`ChunkLimit`]) and refuses a larger chunk message the same way.

use axum::{
    body::Body,
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse as _, Response},
};
use futures::StreamExt as _;
use http::{Method, header};

use crate::{
    api::error::HttpError,
    domain::{Error, ErrorCode},
};

/// The largest upload chunk in bytes, as a request extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimit(pub u64);

impl ChunkLimit {
    /// The error of a chunk over the limit.
    pub fn refusal(self, size: Option<u64>) -> Error {
        let size = size.map(|n| format!(" ({n} bytes)")).unwrap_or_default();
        Error::new(
            ErrorCode::MessageTooLarge,
            format!(
                "an upload chunk{size} exceeds the server's limit of {} bytes (--max-upload-chunk): send smaller chunks",
                self.0
            ),
        )
    }
}

/// Applies the chunk limit to HTTP upload chunks and hands it to the gRPC services.
pub(super) async fn limit(
    State(limit): State<ChunkLimit>,
    mut request: Request,
    next: Next,
) -> Response {
    request.extensions_mut().insert(limit);
    if !is_chunk(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let declared = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(range_len);
    match length.or(declared) {
        Some(n) if n > limit.0 => return HttpError(limit.refusal(Some(n))).into_response(),
        Some(_) => return next.run(request).await,
        None => {}
    }
    // Neither declared: count the bytes as they arrive and break the body off past the limit.
    let request = request.map(|body| {
        let mut seen = 0u64;
        let max = limit.0;
        Body::from_stream(body.into_data_stream().map(move |chunk| {
            let chunk = chunk?;
            seen += chunk.len() as u64;
            if seen > max {
                return Err(axum::Error::new(limit.refusal(None).message));
            }
            Ok(chunk)
        }))
    });
    next.run(request).await
}

/// Tells whether a request carries an upload chunk: a `PATCH` or `PUT` of a session.
fn is_chunk(method: &Method, path: &str) -> bool {
    if method != Method::PATCH && method != Method::PUT {
        return false;
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    matches!(
        segments.as_slice(),
        ["v1", "repos", _, "blobs", "uploads", session] if !session.is_empty()
    )
}

/// The length of a `Content-Range` (`<first>-<last>`, with an optional `bytes ` and `/total`).
fn range_len(value: &str) -> Option<u64> {
    let value = value.trim();
    let value = value.strip_prefix("bytes ").unwrap_or(value);
    let range = value.split('/').next()?;
    let (first, last) = range.split_once('-')?;
    let (first, last): (u64, u64) = (first.trim().parse().ok()?, last.trim().parse().ok()?);
    last.checked_sub(first)?.checked_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_session_patches_and_puts() {
        assert!(is_chunk(&Method::PATCH, "/v1/repos/acme/blobs/uploads/s1"));
        assert!(is_chunk(&Method::PUT, "/v1/repos/acme/blobs/uploads/s1"));
        assert!(!is_chunk(&Method::PUT, "/v1/repos/acme/blobs/uploads"));
        assert!(!is_chunk(&Method::GET, "/v1/repos/acme/blobs/uploads/s1"));
        assert_eq!(range_len("0-1023"), Some(1024));
        assert_eq!(range_len("bytes 10-19/100"), Some(10));
        assert_eq!(range_len("5-4"), None);
    }
}
