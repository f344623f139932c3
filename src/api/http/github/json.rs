//! The JSON GitHub clients read: repositories, releases and assets with their URLs, and the
//! `Link` header of paged lists, shaped as api.github.com shapes them.

use axum::http::Uri;
use serde_json::{Value, json};

use super::API_PREFIX;
use crate::{
    domain::{VersionRecord, VersionState},
    registry::{GithubAsset, GithubRelease, GithubRepository, Registry},
};

/// Where the URLs of an answer point.
pub(super) struct Links {
    /// `{public}{prefix}`: where the REST paths are.
    api_root: String,
    /// `{public}{prefix}/repos/{repo}/{package}`.
    pub(super) api: String,
    /// `{public}/{repo}/{package}`.
    web: String,
}

impl Links {
    /// Points at the public URL, under the API prefix when the request came in on it.
    pub(super) fn new(registry: &Registry, uri: &Uri, repo: &str, package: &str) -> Self {
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

/// GitHub's `Link` header of a paged list: `first`, `prev`, `next` and `last` as they apply.
pub(super) fn page_links(base: &str, page: usize, per_page: usize, last: usize) -> Option<String> {
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
pub(super) fn encode_path(path: &str) -> String {
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

/// Returns a package as a GitHub repository.
pub(super) fn repository_json(links: &Links, found: &GithubRepository) -> Value {
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

/// Returns a released version as a GitHub release, with its assets.
pub(super) fn release_json(links: &Links, release: &GithubRelease) -> Value {
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
        "target_commitish": v.content_digest.map(|d| d.to_string()).unwrap_or_default(),
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
    if let Some(reason) = &v.deprecation_reason {
        body.push_str(": ");
        body.push_str(reason);
    }
    if let Some(replacement) = &v.replacement {
        body.push_str(&format!(" (use {replacement} instead)"));
    }
    body
}

/// Returns a file of a version as a GitHub release asset.
pub(super) fn asset_json(links: &Links, v: &VersionRecord, asset: &GithubAsset) -> Value {
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
            encode_path(f.path.as_str())
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
