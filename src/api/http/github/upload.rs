//! GitHub's release writes, as PyGithub and similar clients send them, onto package
//! versions, so that a pipeline written for GitHub releases can publish to relreg:
//! - `POST /repos/{repo}/{package}/releases` (`tag_name`, `draft`): creates (or reuses) the
//!   draft version of the tag (`v` prefix accepted); `draft: false`, GitHub's default,
//!   publishes it at once. 201 with the release.
//! - `POST /repos/{repo}/{package}/releases/{id}/assets?name=…` (the `upload_url` of a
//!   release): the raw body is stored as a blob and bound to the path `name` of the draft
//!   whose id (`seq`) this is. 201 with GitHub's asset JSON. A published version answers 409
//!   `VERSION_IMMUTABLE` before any byte is stored.
//! - `PATCH /repos/{repo}/{package}/releases/{id}` with `draft: false`: publishes the draft.
//!
//! The paths answer under `/api/v3` too. Writes need a publisher token, sent as `token X` or
//! `Bearer X`; every rule is the registry's (the same as over gRPC).

use axum::{
    Json, Router,
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{patch, post},
};
use futures::TryStreamExt as _;
use serde::Deserialize;

use super::{
    API_PREFIX, caller,
    json::{Links, asset_json, release_json},
    names,
};
use crate::{
    api::error::HttpError,
    domain::{Error, ErrorCode, FilePath, Name, VersionKey, VersionRecord, VersionState},
    registry::{Caller, Edit, GithubAsset, GithubRelease, Listed, Page, Registry, UploadHeader},
};

/// How many bits of an asset id number the file within its version (as `registry::github`).
const ASSET_BITS: u32 = 20;

/// Returns the routes of this module.
pub(super) fn routes() -> Router<Registry> {
    let mut router = Router::new();
    for prefix in ["", API_PREFIX] {
        let repos = format!("{prefix}/repos/{{repo}}/{{package}}");
        router = router
            .route(&format!("{repos}/releases"), post(create_release))
            .route(&format!("{repos}/releases/{{id}}"), patch(update_release))
            .route(
                &format!("{repos}/releases/{{id}}/assets"),
                post(upload_asset),
            );
    }
    router
}

/// The fields of GitHub's create/update release bodies that relreg reads.
#[derive(Debug, Default, Deserialize)]
struct ReleaseBody {
    tag_name: Option<String>,
    draft: Option<bool>,
}

/// The query of an asset upload.
#[derive(Debug, Default, Deserialize)]
struct AssetQuery {
    name: Option<String>,
}

/// Reads a tag as a version: `v1.2.3` and `1.2.3` alike.
fn version_of(tag: &str) -> &str {
    match tag.strip_prefix('v') {
        Some(rest) if semver::Version::parse(rest).is_ok() => rest,
        _ => tag,
    }
}

/// Shapes a version (draft or not) as a GitHub release.
fn release_answer(status: StatusCode, links: &Links, version: VersionRecord) -> Response {
    let prerelease = !version.key.version.pre.is_empty();
    let draft = version.state == VersionState::Draft;
    let assets = version
        .files
        .iter()
        .enumerate()
        .map(|(i, file)| GithubAsset {
            id: asset_id(version.seq, i),
            file: file.clone(),
        })
        .collect();
    let mut body = release_json(
        links,
        &GithubRelease {
            version,
            prerelease,
            assets,
        },
    );
    body["draft"] = draft.into();
    (status, Json(body)).into_response()
}

fn asset_id(seq: i64, index: usize) -> i64 {
    (seq << ASSET_BITS) | (index as i64 + 1)
}

/// Finds the version whose id (`seq`) a release URL names, drafts included.
async fn version_by_id(
    registry: &Registry,
    caller: &Caller,
    (repo, package): (&Name, &Name),
    id: &str,
) -> Result<VersionRecord, HttpError> {
    let not_found = || Error::not_found(format!("release {id} of {repo}/{package}"));
    let seq = id
        .parse::<i64>()
        .ok()
        .filter(|s| *s > 0)
        .ok_or_else(not_found)?;
    let page = Page {
        size: 1,
        after: Some((seq - 1).to_string()),
    };
    let Listed {
        items: versions, ..
    } = registry.list_versions(caller, repo, package, &page).await?;
    let found = versions
        .into_iter()
        .find(|v| v.seq == seq)
        .ok_or_else(not_found)?;
    // Listed rows may leave out the files; the full record has them.
    Ok(registry.get_version(caller, &found.key).await?)
}

/// `POST …/releases`: a draft for the tag, published at once unless `draft: true`.
async fn create_release(
    State(registry): State<Registry>,
    Path((repo, package)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<ReleaseBody>,
) -> Result<Response, HttpError> {
    let caller = caller(&headers);
    let tag = body
        .tag_name
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::invalid("tag_name", "is required"))?;
    let key = VersionKey::parse(&repo, &package, version_of(&tag))?;
    let (mut record, _) = registry.create_version(&caller, &key).await?;
    if !body.draft.unwrap_or(false) {
        record = registry.publish_version(&caller, &key, None).await?;
    }
    let links = Links::new(&registry, &uri, &repo, &package);
    Ok(release_answer(StatusCode::CREATED, &links, record))
}

/// `PATCH …/releases/{id}`: `draft: false` publishes the draft; the rest is read-only.
async fn update_release(
    State(registry): State<Registry>,
    Path((repo, package, id)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<ReleaseBody>,
) -> Result<Response, HttpError> {
    let caller = caller(&headers);
    let (repo, package) = names(repo, package)?;
    let mut record = version_by_id(&registry, &caller, (&repo, &package), &id).await?;
    if body.draft == Some(false) && record.state == VersionState::Draft {
        record = registry
            .publish_version(&caller, &record.key, Some(&record.etag))
            .await?;
    }
    let links = Links::new(&registry, &uri, &repo, &package);
    Ok(release_answer(StatusCode::OK, &links, record))
}

/// `POST …/releases/{id}/assets?name=…`: stores the body and binds it to the draft.
async fn upload_asset(
    State(registry): State<Registry>,
    Path((repo, package, id)): Path<(String, String, String)>,
    Query(query): Query<AssetQuery>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let caller = caller(&headers);
    let name = query
        .name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::invalid("name", "is required"))?;
    let (repo, package) = names(repo, package)?;
    let draft = version_by_id(&registry, &caller, (&repo, &package), &id).await?;
    if draft.state != VersionState::Draft {
        return Err(Error::new(
            ErrorCode::VersionImmutable,
            format!("version {} is published and cannot change", draft.key),
        )
        .into());
    }
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let expected_size = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let bytes = Box::pin(body.into_data_stream().map_err(|e| {
        Error::new(
            ErrorCode::InvalidArgument,
            format!("reading the request body failed: {e}"),
        )
    }));
    let path = FilePath::parse("path", &name)?;
    let header = UploadHeader {
        repo: repo.clone(),
        expected_digest: None,
        expected_size,
        media_type: media_type.clone(),
    };
    let blob = registry.upload_blob(&caller, header, bytes).await?;
    let edited = registry
        .edit_version(
            &caller,
            &draft.key,
            None,
            Edit::PutFile {
                path: path.clone(),
                digest: blob.digest,
                media_type: Some(media_type).filter(|m| !m.is_empty()),
            },
        )
        .await?;
    let (index, file) = edited
        .files
        .iter()
        .enumerate()
        .find(|(_, f)| f.path == path)
        .ok_or_else(|| Error::internal(format!("bound file {name} is missing")))?;
    let asset = GithubAsset {
        id: asset_id(edited.seq, index),
        file: file.clone(),
    };
    let links = Links::new(&registry, &uri, &repo, &package);
    let body = asset_json(&links, &edited, &asset);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
