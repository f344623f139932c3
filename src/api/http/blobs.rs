//! `GET`/`HEAD /v1/repos/{repo}/blobs/sha256:{hex}`: immutable, cacheable blob downloads with
//! `Range`, `If-Range` and `If-None-Match`.

use axum::{
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{
    api::{caller::from_headers, error::HttpError},
    domain::{BlobInfo, Digest, Error, ErrorCode, Name},
    registry::Registry,
};

/// Serves a blob's bytes, whole or a single range.
pub(super) async fn download(
    State(registry): State<Registry>,
    Path((repo, digest)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let caller = from_headers(&headers);
    let repo = Name::parse_owned("repo", repo)?;
    let digest = Digest::parse("digest", &digest)?;
    let blob = registry.blob_info(&caller, &repo, &digest).await?;
    send_blob(&registry, blob, IMMUTABLE, &method, &headers).await
}

/// The `Cache-Control` of bytes that never change behind their URL.
pub(super) const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Answers a request for the bytes of a blob the caller was authorized to read: `ETag` = the
/// digest, `If-None-Match`, a single `Range` (guarded by `If-Range`), and `HEAD`.
pub(super) async fn send_blob(
    registry: &Registry,
    blob: BlobInfo,
    cache_control: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response, HttpError> {
    let get = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let etag = format!("\"{}\"", blob.digest);
    let size = blob.size;
    let mut response = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::CACHE_CONTROL, cache_control)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_TYPE, content_type(&blob));
    if get(header::IF_NONE_MATCH).is_some_and(|v| etag_matches(v, &etag)) {
        return Ok(response
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .unwrap_or_default());
    }
    let if_range_holds = get(header::IF_RANGE).is_none_or(|v| v.trim() == etag);
    let range = match get(header::RANGE).filter(|_| if_range_holds) {
        None => None,
        Some(spec) => match parse_range(spec, size) {
            RangeSpec::Ignore => None,
            RangeSpec::Unsatisfiable => {
                let mut r = HttpError(Error::new(
                    ErrorCode::RangeNotSatisfiable,
                    format!("range {spec:?} is outside blob of {size} bytes"),
                ))
                .into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    r.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(r);
            }
            RangeSpec::Bytes(start, end) => Some((start, end)),
        },
    };
    let (status, start, end) = match range {
        Some((start, end)) => {
            response = response.header(
                header::CONTENT_RANGE,
                format!("bytes {start}-{}/{size}", end - 1),
            );
            (StatusCode::PARTIAL_CONTENT, start, end)
        }
        None => (StatusCode::OK, 0, size),
    };
    response = response
        .status(status)
        .header(header::CONTENT_LENGTH, end - start);
    if *method == Method::HEAD {
        return Ok(response.body(Body::empty()).unwrap_or_default());
    }
    let download = registry.open_blob(blob, start, Some(end)).await?;
    Ok(response
        .body(Body::from_stream(download.bytes))
        .unwrap_or_default())
}

fn content_type(blob: &BlobInfo) -> String {
    if blob.media_type.is_empty() {
        "application/octet-stream".into()
    } else {
        blob.media_type.clone()
    }
}

fn etag_matches(header_value: &str, etag: &str) -> bool {
    header_value
        .split(',')
        .map(str::trim)
        .any(|v| v == "*" || v == etag || v.strip_prefix("W/") == Some(etag))
}

/// What a `Range` header asks of a blob of a given size.
#[derive(Debug, PartialEq, Eq)]
enum RangeSpec {
    /// Not a single byte range this server serves partially: answer the whole blob.
    Ignore,
    /// No byte of the range lies within the blob.
    Unsatisfiable,
    /// Bytes `start..end` (end exclusive).
    Bytes(u64, u64),
}

fn parse_range(spec: &str, size: u64) -> RangeSpec {
    let Some(ranges) = spec.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    if ranges.contains(',') {
        return RangeSpec::Ignore;
    }
    let Some((first, last)) = ranges.trim().split_once('-') else {
        return RangeSpec::Ignore;
    };
    let (first, last) = (first.trim(), last.trim());
    let parsed = match (first.parse::<u64>(), last.parse::<u64>()) {
        (Ok(start), Ok(end)) if end >= start => Some((start, end.saturating_add(1).min(size))),
        (Ok(_), Ok(_)) => return RangeSpec::Ignore,
        (Ok(start), Err(_)) if last.is_empty() => Some((start, size)),
        (Err(_), Ok(suffix)) if first.is_empty() => {
            if suffix == 0 {
                return RangeSpec::Unsatisfiable;
            }
            Some((size.saturating_sub(suffix), size))
        }
        _ => None,
    };
    match parsed {
        None => RangeSpec::Ignore,
        Some((start, _)) if start >= size => RangeSpec::Unsatisfiable,
        Some((start, end)) => RangeSpec::Bytes(start, end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeSpec::Bytes(0, 10));
        assert_eq!(parse_range("bytes=90-", 100), RangeSpec::Bytes(90, 100));
        assert_eq!(parse_range("bytes=-10", 100), RangeSpec::Bytes(90, 100));
        assert_eq!(parse_range("bytes=-1000", 100), RangeSpec::Bytes(0, 100));
        assert_eq!(parse_range("bytes=50-1000", 100), RangeSpec::Bytes(50, 100));
        assert_eq!(parse_range("bytes=100-", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), RangeSpec::Ignore);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeSpec::Ignore);
        assert_eq!(parse_range("items=0-1", 100), RangeSpec::Ignore);
        assert_eq!(parse_range("bytes=x-1", 100), RangeSpec::Ignore);
    }

    #[test]
    fn etags_match_lists_and_weak_forms() {
        assert!(etag_matches("\"a\"", "\"a\""));
        assert!(etag_matches("\"b\", W/\"a\"", "\"a\""));
        assert!(etag_matches("*", "\"a\""));
        assert!(!etag_matches("\"b\"", "\"a\""));
    }
}
