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
//! Which versions are releases, and which one is latest, is decided in
//! `registry::github`; this module only shapes JSON. Tokens are accepted as GitHub clients
//! send them: `Authorization: token X` or `Bearer X`. Errors are the project's JSON errors,
//! whose `message` GitHub clients read too.

use axum::{
    Router,
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::blobs::{IMMUTABLE, send_blob};
use crate::{
    api::{caller::caller_from, error::HttpError},
    domain::{BlobInfo, Error, VersionRecord, VersionState},
    registry::{Caller, GithubAsset, GithubRelease, GithubRepository, Registry},
};

/// GitHub Enterprise's API prefix.
const API_PREFIX: &str = "/api/v3";
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
    router
}

/// `per_page` and `page`, as GitHub reads them (anything unreadable: the default).
#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    per_page: Option<String>,
    page: Option<String>,
}

/// Where the URLs of an answer point.
struct Links {
    /// `{public}{prefix}`: where the REST paths are.
    api_root: String,
    /// `{public}{prefix}/repos/{repo}/{package}`.
    api: String,
    /// `{public}/{repo}/{package}`.
    web: String,
}

impl Links {
    fn new(registry: &Registry, uri: &Uri, repo: &str, package: &str) -> Self {
        let public = registry.public_url();
        let prefix = if uri.path().starts_with(&format!("{API_PREFIX}/")) {
            API_PREFIX
        } else {
            ""
        };
        Self {
            api_root: format!("{public}{prefix}"),
            api: format!("{public}{prefix}/repos/{repo}/{package}"),
            web: format!("{public}/{repo}/{package}"),
        }
    }
}

/// Reads the caller: GitHub clients send `token X`, others `Bearer X`.
fn caller(headers: &HeaderMap) -> Caller {
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

async fn repository(
    State(registry): State<Registry>,
    Path((repo, package)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
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
    Ok(registry
        .github_release_by_id(&caller(headers), repo, package, id)
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
    let (release, asset) = registry
        .github_asset(&caller(&headers), &repo, &package, id)
        .await?;
    let wants_bytes = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/octet-stream"));
    if wants_bytes {
        let blob = BlobInfo {
            digest: asset.file.digest.clone(),
            size: asset.file.size,
            media_type: asset.file.media_type.clone(),
        };
        let response = send_blob(&registry, blob, IMMUTABLE, &method, &headers).await?;
        return Ok(with_filename(response, &asset.file.path));
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

/// GitHub's `Link` header of a paged list: `first`, `prev`, `next` and `last` as they apply.
fn page_links(base: &str, page: usize, per_page: usize, last: usize) -> Option<String> {
    let link =
        |n: usize, rel: &str| format!("<{base}?per_page={per_page}&page={n}>; rel=\"{rel}\"");
    let mut links = Vec::new();
    if page > 1 {
        links.push(link(page - 1, "prev"));
    }
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    if page > 1 {
        links.push(link(1, "first"));
    }
    (!links.is_empty()).then(|| links.join(", "))
}

/// Formats unix microseconds as GitHub does: RFC 3339, whole seconds, `Z`.
fn time(micros: i64) -> String {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: 0,
    }
    .to_string()
}

/// Percent-encodes a file path for a URL, keeping its `/` separators.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn repository_json(links: &Links, found: &GithubRepository) -> Value {
    let (repo, package) = (&found.repo, &found.package);
    json!({
        "id": found.id,
        "node_id": format!("R_relreg_{}", found.id),
        "name": package.name,
        "full_name": format!("{}/{}", repo.key, package.name),
        "private": !repo.public,
        "visibility": if repo.public { "public" } else { "private" },
        "owner": {
            "login": repo.key,
            "id": found.owner_id,
            "node_id": format!("O_relreg_{}", found.owner_id),
            "type": "Organization",
            "site_admin": false,
            "url": format!("{}/orgs/{}", links.api_root, repo.key),
            "html_url": null,
        },
        "html_url": links.web,
        "description": package.description,
        "fork": false,
        "url": links.api,
        "releases_url": format!("{}/releases{{/id}}", links.api),
        "created_at": time(package.created_at),
        "updated_at": time(package.created_at),
        "pushed_at": time(package.created_at),
        "homepage": null,
        "size": 0,
        "language": null,
        "has_issues": false,
        "has_projects": false,
        "has_wiki": false,
        "has_pages": false,
        "has_downloads": true,
        "archived": false,
        "disabled": false,
        "default_branch": "main",
        "topics": [package.kind],
        "permissions": { "admin": false, "maintain": false, "push": false, "triage": false, "pull": true },
    })
}

fn release_json(links: &Links, release: &GithubRelease) -> Value {
    let v = &release.version;
    let url = format!("{}/releases/{}", links.api, v.seq);
    let assets: Vec<Value> = release
        .assets
        .iter()
        .map(|a| asset_json(links, v, a))
        .collect();
    json!({
        "url": url,
        "html_url": format!("{}/releases/tag/{}", links.web, v.key.version),
        "assets_url": format!("{url}/assets"),
        "upload_url": format!("{url}/assets{{?name,label}}"),
        "tarball_url": null,
        "zipball_url": null,
        "id": v.seq,
        "node_id": format!("RE_relreg_{}", v.seq),
        "tag_name": v.key.version,
        "target_commitish": v.content_digest.clone().unwrap_or_default(),
        "name": v.key.version,
        "body": body(v),
        "draft": false,
        "prerelease": release.prerelease,
        "immutable": true,
        "created_at": time(v.created_at),
        "published_at": v.published_at.map(time),
        "author": null,
        "assets": assets,
    })
}

/// The release notes: empty, or why the version is deprecated and what replaces it.
fn body(v: &VersionRecord) -> String {
    if v.state != VersionState::Deprecated {
        return String::new();
    }
    let mut body = String::from("Deprecated");
    if !v.deprecation_reason.is_empty() {
        body.push_str(": ");
        body.push_str(&v.deprecation_reason);
    }
    if !v.replacement.is_empty() {
        body.push_str(&format!(" (use {} instead)", v.replacement));
    }
    body
}

fn asset_json(links: &Links, v: &VersionRecord, asset: &GithubAsset) -> Value {
    let f = &asset.file;
    let at = time(v.published_at.unwrap_or(v.created_at));
    let content_type = if f.media_type.is_empty() {
        "application/octet-stream"
    } else {
        f.media_type.as_str()
    };
    json!({
        "url": format!("{}/releases/assets/{}", links.api, asset.id),
        "browser_download_url": format!(
            "{}/releases/download/{}/{}",
            links.web,
            v.key.version,
            encode_path(&f.path)
        ),
        "id": asset.id,
        "node_id": format!("RA_relreg_{}", asset.id),
        "name": f.path,
        "label": "",
        "state": "uploaded",
        "content_type": content_type,
        "size": f.size,
        "digest": f.digest,
        "download_count": 0,
        "created_at": at,
        "updated_at": at,
        "uploader": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_slashes_and_encode_the_rest() {
        assert_eq!(encode_path("app-1.0.tar.gz"), "app-1.0.tar.gz");
        assert_eq!(encode_path("data/a b#?.txt"), "data/a%20b%23%3F.txt");
        assert_eq!(encode_path("é"), "%C3%A9");
    }

    #[test]
    fn page_links_follow_github() {
        assert_eq!(page_links("b", 1, 30, 1), None);
        assert_eq!(
            page_links("b", 1, 2, 3).unwrap(),
            "<b?per_page=2&page=2>; rel=\"next\", <b?per_page=2&page=3>; rel=\"last\""
        );
        assert_eq!(
            page_links("b", 3, 2, 3).unwrap(),
            "<b?per_page=2&page=2>; rel=\"prev\", <b?per_page=2&page=1>; rel=\"first\""
        );
    }

    #[test]
    fn times_are_whole_seconds_in_utc() {
        assert_eq!(time(1_700_000_000_123_456), "2023-11-14T22:13:20Z");
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
    }
}
