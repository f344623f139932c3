//! GitHub-compatible release routes, so updaters written for GitHub releases work.
//!
//! The REST paths answer both at the root and under `/api/v3` (GitHub Enterprise's prefix,
//! which clients such as PyGithub and octokit are pointed at with a base URL); the URLs in
//! an answer keep the prefix the request came in on:
//! - `GET /repos/{repo}/{package}`: the package as a GitHub repository;
//! - `GET /repos/{repo}/{package}/releases` (`per_page`, `page`, `Link` header),
//!   `…/releases/latest`, `…/releases/tags/{tag}` (`v` prefix accepted), `…/releases/{id}`,
//!   `…/releases/{id}/assets`;
//! - `GET /repos/{repo}/{package}/releases/assets/{id}`: the asset, or its bytes when asked
//!   with `Accept: application/octet-stream` (what GitHub updaters do with an asset's `url`).
//!
//! Downloads, like github.com's `browser_download_url`, with `Range`, `If-Range`, `HEAD`:
//! `GET /{repo}/{package}/releases/download/{version}/{path}` and
//! `GET /{repo}/{package}/releases/latest/download/{path}`. An asset's name is its file's full
//! path; nested paths download with their `/` as is or percent-encoded (`%2F`).
//!
//! Release writes (create, asset upload at `upload_url`, publish) live in `upload.rs`.
//!
//! Which versions are releases, and which one is latest, is decided in
//! `registry::github`; this module only shapes JSON. Tokens are accepted as GitHub clients
//! send them: `Authorization: token X` or `Bearer X`. Errors are the project's JSON errors,
//! whose `message` GitHub clients read too.

mod json;
mod upload;

use axum::{
    Router,
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use json::{Links, asset_json, encode_path, page_links, release_json, repository_json};

use super::blobs::{IMMUTABLE, send_blob};
use crate::{
    api::{caller::caller_from, error::HttpError},
    domain::{BlobInfo, Error, Name},
    registry::{Caller, GithubRelease, Registry},
};

/// GitHub Enterprise's API prefix.
pub(super) const API_PREFIX: &str = "/api/v3";
/// The `Cache-Control` of answers that change when a version is published.
const REVALIDATE: &str = "private, max-age=0";

/// Returns the routes of this module.
pub(super) fn routes() -> Router<Registry> {
    let mut router = Router::new()
        .route(
            "/{repo}/{package}/releases/download/{version}/{*path}",
            get(download),
        )
        .route(
            "/{repo}/{package}/releases/latest/download/{*path}",
            get(download_latest),
        );
    for prefix in ["", API_PREFIX] {
        let repos = format!("{prefix}/repos/{{repo}}/{{package}}");
        router = router
            .route(&repos, get(repository))
            .route(&format!("{repos}/releases"), get(releases))
            .route(&format!("{repos}/releases/latest"), get(latest))
            .route(&format!("{repos}/releases/tags/{{tag}}"), get(by_tag))
            .route(&format!("{repos}/releases/{{id}}"), get(by_id))
            .route(&format!("{repos}/releases/{{id}}/assets"), get(assets))
            .route(&format!("{repos}/releases/assets/{{id}}"), get(asset));
    }
    router.merge(upload::routes())
}

/// `per_page` and `page`, as GitHub reads them (anything unreadable: the default).
#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    per_page: Option<String>,
    page: Option<String>,
}

/// Reads the caller: GitHub clients send `token X`, others `Bearer X`.
pub(super) fn caller(headers: &HeaderMap) -> Caller {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.strip_prefix("token ")
                .or_else(|| v.strip_prefix("Token "))
                .unwrap_or(v)
        });
    caller_from(
        authorization,
        headers.get("x-request-id").and_then(|v| v.to_str().ok()),
    )
}

/// Parses the owner and repository of a GitHub path: a relreg repo and package.
pub(super) fn names(repo: String, package: String) -> Result<(Name, Name), HttpError> {
    Ok((
        Name::parse_owned("repo", repo)?,
        Name::parse_owned("package", package)?,
    ))
}

async fn repository(
    State(registry): State<Registry>,
    Path((repo, package)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let (repo, package) = names(repo, package)?;
    let found = registry
        .github_repository(&caller(&headers), &repo, &package)
        .await?;
    let links = Links::new(&registry, &uri, &repo, &package);
    Ok(json_answer(
        &headers,
        &repository_json(&links, &found),
        None,
    ))
}

async fn releases(
    State(registry): State<Registry>,
    Path((repo, package)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let (repo, package) = names(repo, package)?;
    let number = |v: Option<String>| v.and_then(|v| v.trim().parse::<usize>().ok());
    let page = registry
        .github_releases(
            &caller(&headers),
            (&repo, &package),
            number(query.page),
            number(query.per_page),
        )
        .await?;
    let links = Links::new(&registry, &uri, &repo, &package);
    let body: Vec<Value> = page
        .releases
        .iter()
        .map(|r| release_json(&links, r))
        .collect();
    let base = format!("{}/releases", links.api);
    let link = page_links(&base, page.page, page.per_page, page.last_page);
    Ok(json_answer(&headers, &Value::Array(body), link))
}

async fn latest(
    State(registry): State<Registry>,
    Path((repo, package)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let (repo, package) = names(repo, package)?;
    let release = registry
        .github_latest_release(&caller(&headers), &repo, &package)
        .await?;
    let links = Links::new(&registry, &uri, &repo, &package);
    Ok(json_answer(&headers, &release_json(&links, &release), None))
}

async fn by_tag(
    State(registry): State<Registry>,
    Path((repo, package, tag)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let (repo, package) = names(repo, package)?;
    let release = registry
        .github_release_by_tag(&caller(&headers), &repo, &package, &tag)
        .await?;
    let links = Links::new(&registry, &uri, &repo, &package);
    Ok(json_answer(&headers, &release_json(&links, &release), None))
}

async fn by_id(
    State(registry): State<Registry>,
    Path((repo, package, id)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let release = release_by_id(&registry, &headers, &repo, &package, &id).await?;
    let links = Links::new(&registry, &uri, &repo, &package);
    Ok(json_answer(&headers, &release_json(&links, &release), None))
}

async fn assets(
    State(registry): State<Registry>,
    Path((repo, package, id)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let release = release_by_id(&registry, &headers, &repo, &package, &id).await?;
    let links = Links::new(&registry, &uri, &repo, &package);
    let body: Vec<Value> = release
        .assets
        .iter()
        .map(|a| asset_json(&links, &release.version, a))
        .collect();
    Ok(json_answer(&headers, &Value::Array(body), None))
}

async fn release_by_id(
    registry: &Registry,
    headers: &HeaderMap,
    repo: &str,
    package: &str,
    id: &str,
) -> Result<GithubRelease, HttpError> {
    let not_found = || Error::not_found(format!("release {id} of {repo}/{package}"));
    let id = id.parse::<i64>().map_err(|_| not_found())?;
    let (repo, package) = names(repo.to_owned(), package.to_owned())?;
    Ok(registry
        .github_release_by_id(&caller(headers), &repo, &package, id)
        .await?)
}

/// The asset as JSON, or its bytes when the client accepts `application/octet-stream`.
async fn asset(
    State(registry): State<Registry>,
    Path((repo, package, id)): Path<(String, String, String)>,
    uri: Uri,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let not_found = || Error::not_found(format!("asset {id} of {repo}/{package}"));
    let id = id.parse::<i64>().map_err(|_| not_found())?;
    let (repo, package) = names(repo, package)?;
    let (release, asset) = registry
        .github_asset(&caller(&headers), &repo, &package, id)
        .await?;
    let wants_bytes = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/octet-stream"));
    if wants_bytes {
        let blob = BlobInfo {
            digest: asset.file.digest,
            size: asset.file.size,
            media_type: asset.file.media_type.clone(),
        };
        let response = send_blob(&registry, blob, IMMUTABLE, &method, &headers).await?;
        return Ok(with_filename(response, asset.file.path.as_str()));
    }
    let links = Links::new(&registry, &uri, &repo, &package);
    let body = asset_json(&links, &release.version, &asset);
    Ok(json_answer(&headers, &body, None))
}

async fn download(
    State(registry): State<Registry>,
    Path((repo, package, version, path)): Path<(String, String, String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let (repo, package) = names(repo, package)?;
    let found = registry
        .github_download(&caller(&headers), (&repo, &package), Some(&version), &path)
        .await?;
    let response = send_blob(&registry, found.blob, IMMUTABLE, &method, &headers).await?;
    Ok(with_filename(response, &path))
}

/// Serves a file of the latest release; `Content-Location` names the versioned URL.
async fn download_latest(
    State(registry): State<Registry>,
    Path((repo, package, path)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let (repo, package) = names(repo, package)?;
    let found = registry
        .github_download(&caller(&headers), (&repo, &package), None, &path)
        .await?;
    let location = format!(
        "/{repo}/{package}/releases/download/{}/{}",
        found.version.key.version,
        encode_path(&path)
    );
    let mut response = send_blob(&registry, found.blob, REVALIDATE, &method, &headers).await?;
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::CONTENT_LOCATION, v);
    }
    Ok(with_filename(response, &path))
}

/// Names the file a browser saves (the last segment of the path), as github.com does.
fn with_filename(mut response: Response, path: &str) -> Response {
    if !response.status().is_success() {
        return response;
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    let value = if name.bytes().all(|b| b.is_ascii_graphic() && b != b'"') {
        format!("attachment; filename=\"{name}\"")
    } else {
        format!("attachment; filename*=UTF-8''{}", encode_path(name))
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// Answers JSON with a validator: `ETag` over the body, `If-None-Match` → 304.
fn json_answer(headers: &HeaderMap, body: &Value, link: Option<String>) -> Response {
    let text = body.to_string();
    let etag = format!("W/\"{}\"", hex::encode(Sha256::digest(text.as_bytes())));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.trim_start_matches("W/") == etag.trim_start_matches("W/"))
        });
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            Body::from(text),
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Some(v) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LINK, v);
    }
    response
}
