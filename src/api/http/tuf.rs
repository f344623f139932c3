//! The TUF export's routes: a repo's metadata at `/v1/repos/{repo}/tuf/` (`{n}.root.json`,
//! `root.json`, `timestamp.json`, `snapshot.json`, `targets.json`) and its targets under
//! `/v1/repos/{repo}/tuf/targets/` (release documents and files), for outside TUF clients.

use axum::{
    Router,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, Method, header},
    response::{IntoResponse, Response},
    routing::get,
};

use super::blobs::{IMMUTABLE, send_blob};
use crate::{
    api::{caller::from_headers, error::HttpError},
    domain::{
        Name,
        tuf::{MetadataFile, TargetPath},
    },
    registry::{Registry, TufTarget},
};

/// Returns the TUF routes.
pub(super) fn routes() -> Router<Registry> {
    Router::new()
        .route("/v1/repos/{repo}/tuf/{file}", get(metadata))
        .route("/v1/repos/{repo}/tuf/targets/{*path}", get(target))
}

/// Serves a metadata file: versioned roots never change; the others are revalidated.
async fn metadata(
    State(registry): State<Registry>,
    Path((repo, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let caller = from_headers(&headers);
    let repo = Name::parse_owned("repo", repo)?;
    let file = MetadataFile::parse(&file)?;
    let document = registry.tuf_metadata(&caller, &repo, file).await?;
    let cache = if file.immutable() {
        IMMUTABLE
    } else {
        "no-cache"
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, cache),
        ],
        document,
    )
        .into_response())
}

/// Serves a target: a release document or a file's bytes (with ranges and `ETag`).
async fn target(
    State(registry): State<Registry>,
    Path((repo, path)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let caller = from_headers(&headers);
    let repo = Name::parse_owned("repo", repo)?;
    let path = TargetPath::parse(&path)?;
    match registry.tuf_target(&caller, &repo, &path).await? {
        TufTarget::Document(bytes) => Ok((
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, IMMUTABLE),
            ],
            Body::from(bytes),
        )
            .into_response()),
        TufTarget::Blob(blob) => send_blob(&registry, blob, IMMUTABLE, &method, &headers).await,
    }
}
