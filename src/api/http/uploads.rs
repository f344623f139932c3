//! Blob uploads over HTTP: a single `PUT` and OCI-style resumable sessions.
//!
//! - `PUT /v1/repos/{repo}/blobs/uploads?digest=sha256:…`: the body is the whole blob,
//!   streamed into the blob store and checked against the digest → 201.
//! - `POST /v1/repos/{repo}/blobs/uploads`: opens a session → 202 with its `Location`.
//! - `PATCH …/uploads/{session}`: appends the body. With `Content-Range: <first>-<last>`
//!   (OCI; `bytes <first>-<last>/<total>` is accepted too) the chunk must start at the
//!   session's offset, or the answer is 416 with the current `Range`; without it, the body is
//!   appended at the offset. → 202.
//! - `GET …/uploads/{session}`: the offset to resume from → 204.
//! - `PUT …/uploads/{session}?digest=sha256:…`: an optional last chunk, then completion: the
//!   staged bytes are hashed and checked, and the blob becomes visible atomically → 201. A
//!   wrong digest answers 400 `DIGEST_MISMATCH` and removes the session with its bytes.
//! - `DELETE …/uploads/{session}`: cancels → 204.
//!
//! Session answers carry `Location` (the session URL), `Docker-Upload-UUID` (its id),
//! `Range: 0-<last byte held>` and `Upload-Offset: <bytes held>`. `Range` follows OCI and
//! the Docker registry: an empty session reports `0-0`, so that header cannot tell zero bytes
//! from one; `Upload-Offset` (as in the IETF resumable-uploads draft) is exact, and is where
//! a client resumes. Completion answers carry `Location` (the blob's download URL) and
//! `Docker-Content-Digest`, with `{"digest", "size"}` as the JSON body. The blob's media type
//! is the `media_type` query parameter, else the request's `Content-Type`. Errors are the
//! usual JSON errors; every call needs a publisher token for the repo (401 / 403).

use std::ops::RangeInclusive;

use axum::{
    Router,
    body::Body,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::put,
};
use futures::TryStreamExt as _;
use serde::Deserialize;

use crate::{
    api::{caller::from_headers as caller, error::HttpError},
    blobs::ByteStream,
    domain::{BlobInfo, Digest, Error, ErrorCode, Name},
    registry::{Caller, Chunk, Registry, UploadHeader},
};

const UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");

/// Returns the routes of this module.
pub(super) fn routes() -> Router<Registry> {
    Router::new()
        .route(
            "/v1/repos/{repo}/blobs/uploads",
            put(upload_whole).post(start),
        )
        .route(
            "/v1/repos/{repo}/blobs/uploads/{session}",
            put(complete).patch(append).get(status).delete(cancel),
        )
}

/// The query parameters of the uploads that name a digest.
#[derive(Debug, Default, Deserialize)]
struct DigestQuery {
    digest: Option<String>,
    media_type: Option<String>,
}

/// Reads the digest query, which these routes require.
fn digest_query(
    query: Result<Query<DigestQuery>, QueryRejection>,
    headers: &HeaderMap,
) -> Result<(Digest, String), HttpError> {
    let Query(query) = query.map_err(|e| Error::invalid("query", e.body_text()))?;
    let digest = query
        .digest
        .filter(|d| !d.is_empty())
        .ok_or_else(|| Error::invalid("digest", "is required (sha256:<hex>)"))?;
    let digest = Digest::parse("digest", &digest)?;
    let media_type = query.media_type.unwrap_or_else(|| {
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    });
    Ok((digest, media_type))
}

/// Streams a request body without buffering it.
fn body_stream(body: Body) -> ByteStream {
    Box::pin(body.into_data_stream().map_err(|e| {
        Error::new(
            ErrorCode::InvalidArgument,
            format!("reading the request body failed: {e}"),
        )
    }))
}

/// Reads `Content-Range` as a byte range (first and last byte, inclusive), if present.
fn content_range(headers: &HeaderMap) -> Result<Option<RangeInclusive<u64>>, HttpError> {
    let Some(value) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default();
    parse_content_range(value).map(Some).ok_or_else(|| {
        Error::invalid(
            "content-range",
            format!("{value:?} is not <first>-<last> (or bytes <first>-<last>/<total>)"),
        )
        .into()
    })
}

/// Parses `<first>-<last>`, `bytes <first>-<last>/<total|*>` or `bytes=<first>-<last>`.
fn parse_content_range(value: &str) -> Option<RangeInclusive<u64>> {
    let value = value.trim();
    let spec = value
        .strip_prefix("bytes ")
        .or_else(|| value.strip_prefix("bytes="))
        .map_or(value, str::trim);
    let spec = spec.split_once('/').map_or(spec, |(range, _total)| range);
    let (first, last) = spec.split_once('-')?;
    let first: u64 = first.trim().parse().ok()?;
    let last: u64 = last.trim().parse().ok()?;
    (last >= first).then_some(first..=last)
}

fn location(repo: &str, session: &str) -> String {
    format!("/v1/repos/{repo}/blobs/uploads/{session}")
}

/// Adds the headers that describe a session's state.
fn session_headers(headers: &mut HeaderMap, repo: &str, session: &str, offset: u64) {
    let last = offset.saturating_sub(1);
    for (name, value) in [
        (header::LOCATION, location(repo, session)),
        (UPLOAD_UUID, session.to_owned()),
        (header::RANGE, format!("0-{last}")),
        (UPLOAD_OFFSET, offset.to_string()),
        (header::CACHE_CONTROL, "no-store".to_owned()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// Answers a session call, with the session's state.
fn session_response(status: StatusCode, repo: &str, session: &str, offset: u64) -> Response {
    let mut response = status.into_response();
    session_headers(response.headers_mut(), repo, session, offset);
    response
}

/// Answers an error of a session call; a 416 carries the session's current range.
async fn session_error(
    registry: &Registry,
    caller: &Caller,
    repo: &Name,
    session: &str,
    error: Error,
) -> Response {
    let range_error = error.code == ErrorCode::RangeNotSatisfiable;
    let mut response = HttpError(error).into_response();
    if range_error && let Ok(s) = registry.upload_status(caller, repo, session).await {
        session_headers(response.headers_mut(), repo, session, s.offset);
    }
    response
}

/// Answers a finished upload: 201, where to download it, and `{"digest", "size"}`.
fn created(repo: &Name, blob: &BlobInfo) -> Response {
    let body = serde_json::json!({ "digest": blob.digest, "size": blob.size.to_string() });
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::LOCATION,
            format!("/v1/repos/{repo}/blobs/{}", blob.digest),
        ),
        (CONTENT_DIGEST, blob.digest.to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

/// `PUT /v1/repos/{repo}/blobs/uploads?digest=…`: the whole blob in one streamed body.
async fn upload_whole(
    State(registry): State<Registry>,
    Path(repo): Path<String>,
    query: Result<Query<DigestQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let caller = caller(&headers);
    let repo = Name::parse_owned("repo", repo)?;
    let (digest, media_type) = digest_query(query, &headers)?;
    let expected_size = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let header = UploadHeader {
        repo: repo.clone(),
        expected_digest: Some(digest),
        expected_size,
        media_type,
    };
    let blob = registry
        .upload_blob(&caller, header, body_stream(body))
        .await?;
    Ok(created(&repo, &blob))
}

/// `POST /v1/repos/{repo}/blobs/uploads`: opens a session.
async fn start(
    State(registry): State<Registry>,
    Path(repo): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let repo = Name::parse_owned("repo", repo)?;
    let session = registry.start_upload(&caller(&headers), &repo).await?;
    Ok(session_response(
        StatusCode::ACCEPTED,
        &session.repo,
        &session.id,
        session.offset,
    ))
}

/// `GET …/uploads/{session}`: the offset to resume from.
async fn status(
    State(registry): State<Registry>,
    Path((repo, session)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let repo = Name::parse_owned("repo", repo)?;
    let s = registry
        .upload_status(&caller(&headers), &repo, &session)
        .await?;
    Ok(session_response(
        StatusCode::NO_CONTENT,
        &s.repo,
        &s.id,
        s.offset,
    ))
}

/// `PATCH …/uploads/{session}`: appends a chunk.
async fn append(
    State(registry): State<Registry>,
    Path((repo, session)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let caller = caller(&headers);
    let range = match content_range(&headers) {
        Ok(range) => range,
        Err(e) => return e.into_response(),
    };
    let repo = match Name::parse_owned("repo", repo) {
        Ok(repo) => repo,
        Err(e) => return HttpError(e).into_response(),
    };
    match registry
        .append_upload(
            &caller,
            &repo,
            &session,
            Chunk {
                range,
                bytes: body_stream(body),
            },
        )
        .await
    {
        Ok(s) => session_response(StatusCode::ACCEPTED, &s.repo, &s.id, s.offset),
        Err(e) => session_error(&registry, &caller, &repo, &session, e).await,
    }
}

/// `PUT …/uploads/{session}?digest=…`: an optional last chunk, then completion.
async fn complete(
    State(registry): State<Registry>,
    Path((repo, session)): Path<(String, String)>,
    query: Result<Query<DigestQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let caller = caller(&headers);
    let parsed = digest_query(query, &headers).and_then(|q| Ok((q, content_range(&headers)?)));
    let ((digest, media_type), range) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return e.into_response(),
    };
    let repo = match Name::parse_owned("repo", repo) {
        Ok(repo) => repo,
        Err(e) => return HttpError(e).into_response(),
    };
    let bytes = body_stream(body);
    match registry
        .complete_upload(
            &caller,
            &repo,
            &session,
            digest,
            media_type,
            Chunk { range, bytes },
        )
        .await
    {
        Ok(blob) => created(&repo, &blob),
        Err(e) => session_error(&registry, &caller, &repo, &session, e).await,
    }
}

/// `DELETE …/uploads/{session}`: cancels a session.
async fn cancel(
    State(registry): State<Registry>,
    Path((repo, session)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, HttpError> {
    let repo = Name::parse_owned("repo", repo)?;
    registry
        .cancel_upload(&caller(&headers), &repo, &session)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse_in_oci_and_rfc_forms() {
        assert_eq!(parse_content_range("0-99"), Some(0..=99));
        assert_eq!(parse_content_range(" 100-199 "), Some(100..=199));
        assert_eq!(parse_content_range("bytes 5-9/100"), Some(5..=9));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some(5..=9));
        assert_eq!(parse_content_range("bytes=0-0"), Some(0..=0));
        assert_eq!(parse_content_range("9-5"), None);
        assert_eq!(parse_content_range("5-"), None);
        assert_eq!(parse_content_range("-5"), None);
        assert_eq!(parse_content_range("bytes */100"), None);
        assert_eq!(parse_content_range("x-y"), None);
    }
}
