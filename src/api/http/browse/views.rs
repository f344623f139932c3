//! What each browse page shows, as serializable views (answered as is for JSON), loaded
//! through the registry's read use cases, with the links between pages.

use std::{collections::BTreeMap, fmt::Write as _};

use serde::Serialize;

use crate::{
    domain::{
        Error, Package, ReleaseRecord, ReleaseState, Repo, VersionFile, VersionRecord,
        newest_offered,
    },
    registry::{Caller, Page, Registry},
};

/// Rows per page of packages and of versions.
const PAGE_SIZE: i32 = 100;
/// How many releases the repo page reads to find its channels (1000 per call).
const MAX_RELEASES_SCANNED: usize = 10_000;
/// How many of the newest releases the repo page lists.
const RECENT_RELEASES: usize = 50;

// ---------------------------------------------------------------------------------------------
// Views: what a page shows, serialized as is for JSON.

/// A link back to a repo.
#[derive(Debug, Serialize)]
pub(super) struct RepoRef {
    pub(super) key: String,
    pub(super) display_name: String,
    pub(super) public: bool,
    pub(super) href: String,
}

impl RepoRef {
    pub(super) fn new(repo: &Repo) -> Self {
        Self {
            key: repo.key.clone(),
            display_name: repo.display_name.clone(),
            public: repo.public,
            href: repo_href(&repo.key),
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct PackageView {
    pub(super) name: String,
    pub(super) kind: String,
    pub(super) description: String,
    pub(super) created_at: String,
    pub(super) href: String,
}

impl PackageView {
    pub(super) fn new(p: &Package) -> Self {
        Self {
            name: p.name.clone(),
            kind: p.kind.clone(),
            description: p.description.clone(),
            created_at: rfc3339(p.created_at),
            href: package_href(&p.repo, &p.name),
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct FileView {
    pub(super) path: String,
    pub(super) size: i64,
    pub(super) digest: String,
    pub(super) media_type: String,
    /// The blob download (`GET /v1/repos/{repo}/blobs/{digest}`), relative to the server.
    pub(super) download_href: String,
}

impl FileView {
    pub(super) fn new(repo: &str, f: &VersionFile) -> Self {
        Self {
            path: f.path.clone(),
            size: f.size,
            digest: f.digest.clone(),
            media_type: f.media_type.clone(),
            download_href: format!("/v1/repos/{}/blobs/{}", seg(repo), seg(&f.digest)),
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct VersionView {
    pub(super) version: String,
    pub(super) state: &'static str,
    pub(super) content_digest: Option<String>,
    pub(super) created_at: String,
    pub(super) published_at: Option<String>,
    pub(super) deprecation_reason: String,
    /// Another version of the package to use instead.
    pub(super) replacement: String,
    pub(super) replacement_href: Option<String>,
    pub(super) yank_reason: String,
    pub(super) href: String,
}

impl VersionView {
    pub(super) fn new(v: &VersionRecord) -> Self {
        let (repo, package) = (&v.key.repo, &v.key.package);
        Self {
            version: v.key.version.clone(),
            state: v.state.as_str(),
            content_digest: v.content_digest.clone(),
            created_at: rfc3339(v.created_at),
            published_at: v.published_at.map(rfc3339),
            deprecation_reason: v.deprecation_reason.clone(),
            replacement: v.replacement.clone(),
            replacement_href: (!v.replacement.is_empty())
                .then(|| version_href(repo, package, &v.replacement)),
            yank_reason: v.yank_reason.clone(),
            href: version_href(repo, package, &v.key.version),
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct ReleaseView {
    pub(super) id: String,
    pub(super) channel: String,
    pub(super) version: String,
    pub(super) state: &'static str,
    /// The channel sequence assigned when published.
    pub(super) sequence: Option<i64>,
    pub(super) mandatory: bool,
    pub(super) min_app_version: String,
    pub(super) max_app_version: String,
    pub(super) platforms: Vec<String>,
    pub(super) created_at: String,
    pub(super) published_at: Option<String>,
    pub(super) deprecation_reason: String,
    /// A release id to use instead.
    pub(super) replacement: String,
    pub(super) replacement_href: Option<String>,
    pub(super) href: String,
}

impl ReleaseView {
    pub(super) fn new(r: &ReleaseRecord) -> Self {
        Self {
            id: r.id.clone(),
            channel: r.channel.clone(),
            version: r.version.clone(),
            state: r.state.as_str(),
            sequence: r.sequence,
            mandatory: r.mandatory,
            min_app_version: r.compatibility.min_app_version.clone(),
            max_app_version: r.compatibility.max_app_version.clone(),
            platforms: r.compatibility.platforms.clone(),
            created_at: rfc3339(r.created_at),
            published_at: r.published_at.map(rfc3339),
            deprecation_reason: r.deprecation_reason.clone(),
            replacement: r.replacement.clone(),
            replacement_href: (!r.replacement.is_empty())
                .then(|| release_href(&r.repo, &r.replacement)),
            href: release_href(&r.repo, &r.id),
        }
    }
}

/// `/ui`.
#[derive(Debug, Serialize)]
pub(super) struct HomeView {
    /// Where a repo's page is: replace `{repo}`.
    pub(super) repo_href_template: &'static str,
    /// The repos the caller may read: public ones, and private ones its token covers.
    pub(super) repos: Vec<RepoRef>,
    /// The next page of repos, if any.
    pub(super) next_repos_href: Option<String>,
}

/// `/ui/{repo}`.
#[derive(Debug, Serialize)]
pub(super) struct RepoView {
    pub(super) repo: RepoRef,
    pub(super) created_at: String,
    pub(super) packages: Vec<PackageView>,
    /// The next page of packages, if any.
    pub(super) next_packages_href: Option<String>,
    pub(super) channels: Vec<ChannelView>,
    /// The newest releases, newest first.
    pub(super) recent_releases: Vec<ReleaseView>,
    /// How many published releases were read to find the channels.
    pub(super) releases_scanned: usize,
    /// Whether there were more than were read.
    pub(super) releases_truncated: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct ChannelView {
    pub(super) channel: String,
    /// Published and deprecated releases in the channel (of those read).
    pub(super) releases: usize,
    /// The published, non-deprecated release with the highest semver.
    pub(super) latest: Option<ReleaseView>,
    /// The highest sequence number assigned in the channel (of those read).
    pub(super) last_sequence: Option<i64>,
}

/// `/ui/{repo}/{package}`.
#[derive(Debug, Serialize)]
pub(super) struct PackagePageView {
    pub(super) repo: RepoRef,
    pub(super) package: PackageView,
    pub(super) versions: Vec<VersionView>,
    pub(super) next_versions_href: Option<String>,
}

/// `/ui/{repo}/{package}/{version}`.
#[derive(Debug, Serialize)]
pub(super) struct VersionPageView {
    pub(super) repo: RepoRef,
    pub(super) package: PackageView,
    pub(super) version: VersionView,
    pub(super) files: Vec<FileView>,
    pub(super) total_size: i64,
    pub(super) manifest: serde_json::Value,
}

/// `/ui/{repo}/releases/{release_id}`.
#[derive(Debug, Serialize)]
pub(super) struct ReleasePageView {
    pub(super) repo: RepoRef,
    pub(super) release: ReleaseView,
    pub(super) notes: String,
    pub(super) artifacts: Vec<ArtifactView>,
}

#[derive(Debug, Serialize)]
pub(super) struct ArtifactView {
    pub(super) role: String,
    pub(super) package: String,
    pub(super) package_href: String,
    pub(super) kind: String,
    pub(super) version: String,
    pub(super) version_href: String,
    pub(super) version_state: &'static str,
    pub(super) content_digest: Option<String>,
    pub(super) files: Vec<FileView>,
}

// ---------------------------------------------------------------------------------------------
// Loading the views through the registry's read use cases.

pub(super) async fn repo_view(
    registry: &Registry,
    caller: &Caller,
    key: &str,
    page_token: Option<&str>,
) -> Result<RepoView, Error> {
    let repo = registry.get_repo(caller, key).await?;
    let page = Page::parse(PAGE_SIZE, page_token.unwrap_or(""))?;
    let (packages, next) = registry.list_packages(caller, key, &page).await?;

    let mut releases = Vec::new();
    let mut token = String::new();
    let mut truncated = false;
    loop {
        let page = Page::parse(1000, &token)?;
        let (rows, next) = registry
            .list_releases(caller, key, "", false, &page)
            .await?;
        releases.extend(rows);
        if next.is_empty() {
            break;
        }
        if releases.len() >= MAX_RELEASES_SCANNED {
            truncated = true;
            break;
        }
        token = next;
    }

    Ok(RepoView {
        repo: RepoRef::new(&repo),
        created_at: rfc3339(repo.created_at),
        packages: packages.iter().map(PackageView::new).collect(),
        next_packages_href: (!next.is_empty())
            .then(|| format!("{}?page={}", repo_href(key), seg(&next))),
        channels: channels(&releases),
        recent_releases: releases
            .iter()
            .rev()
            .take(RECENT_RELEASES)
            .map(ReleaseView::new)
            .collect(),
        releases_scanned: releases.len(),
        releases_truncated: truncated,
    })
}

/// Groups releases by channel, each with its newest offered release: the published,
/// non-deprecated one with the highest semver (what "latest" picks from, before the app
/// version and platform filter).
pub(super) fn channels(releases: &[ReleaseRecord]) -> Vec<ChannelView> {
    let mut by_channel: BTreeMap<&str, Vec<&ReleaseRecord>> = BTreeMap::new();
    for r in releases {
        by_channel.entry(&r.channel).or_default().push(r);
    }
    by_channel
        .into_iter()
        .map(|(channel, rs)| {
            let latest = newest_offered(rs.iter().copied(), |r| {
                (r.state == ReleaseState::Published)
                    .then(|| semver::Version::parse(&r.version).ok().map(|v| (v, r.seq)))
                    .flatten()
            })
            .map(ReleaseView::new);
            ChannelView {
                channel: channel.to_owned(),
                releases: rs.len(),
                latest,
                last_sequence: rs.iter().filter_map(|r| r.sequence).max(),
            }
        })
        .collect()
}

pub(super) async fn package_view(
    registry: &Registry,
    caller: &Caller,
    repo: &str,
    name: &str,
    page_token: Option<&str>,
) -> Result<PackagePageView, Error> {
    let package = registry.get_package(caller, repo, name).await?;
    let repo = registry.get_repo(caller, repo).await?;
    let page = Page::parse(PAGE_SIZE, page_token.unwrap_or(""))?;
    let (versions, next) = registry
        .list_versions(caller, &repo.key, name, &page)
        .await?;
    Ok(PackagePageView {
        next_versions_href: (!next.is_empty())
            .then(|| format!("{}?page={}", package_href(&repo.key, name), seg(&next))),
        repo: RepoRef::new(&repo),
        package: PackageView::new(&package),
        versions: versions.iter().map(VersionView::new).collect(),
    })
}

pub(super) async fn version_view(
    registry: &Registry,
    caller: &Caller,
    repo: &str,
    package: &str,
    version: &str,
) -> Result<VersionPageView, Error> {
    let v = registry.get_version(caller, repo, package, version).await?;
    let package = registry.get_package(caller, repo, package).await?;
    let repo = registry.get_repo(caller, repo).await?;
    Ok(VersionPageView {
        repo: RepoRef::new(&repo),
        package: PackageView::new(&package),
        version: VersionView::new(&v),
        files: v
            .files
            .iter()
            .map(|f| FileView::new(&repo.key, f))
            .collect(),
        total_size: v.files.iter().map(|f| f.size).sum(),
        manifest: manifest_json(&v.manifest),
    })
}

pub(super) async fn release_view(
    registry: &Registry,
    caller: &Caller,
    repo: &str,
    id: &str,
) -> Result<ReleasePageView, Error> {
    let repo = registry.get_repo(caller, repo).await?;
    let manifest = registry.release_manifest(caller, id).await?;
    let release = &manifest.release;
    if release.repo != repo.key {
        return Err(Error::not_found(format!(
            "release {id} in repo {}",
            repo.key
        )));
    }
    let artifacts = manifest
        .artifacts
        .iter()
        .map(|(a, package, version)| ArtifactView {
            role: a.role.clone(),
            package: a.package.clone(),
            package_href: package_href(&repo.key, &a.package),
            kind: package.kind.clone(),
            version: a.version.clone(),
            version_href: version_href(&repo.key, &a.package, &a.version),
            version_state: version.state.as_str(),
            content_digest: version.content_digest.clone(),
            files: version
                .files
                .iter()
                .map(|f| FileView::new(&repo.key, f))
                .collect(),
        })
        .collect();
    Ok(ReleasePageView {
        repo: RepoRef::new(&repo),
        release: ReleaseView::new(release),
        notes: release.notes.clone(),
        artifacts,
    })
}

pub(super) fn manifest_json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

// ---------------------------------------------------------------------------------------------
// Links.

pub(super) fn repo_href(repo: &str) -> String {
    format!("/ui/{}", seg(repo))
}

pub(super) fn package_href(repo: &str, package: &str) -> String {
    format!("/ui/{}/{}", seg(repo), seg(package))
}

pub(super) fn version_href(repo: &str, package: &str, version: &str) -> String {
    format!("/ui/{}/{}/{}", seg(repo), seg(package), seg(version))
}

pub(super) fn release_href(repo: &str, id: &str) -> String {
    format!("/ui/{}/releases/{}", seg(repo), seg(id))
}

/// Percent-encodes a path segment (or query value): everything but RFC 3986 unreserved
/// characters and `:` (digests read `sha256:…`).
pub(super) fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Formats unix microseconds as RFC 3339 UTC.
pub(super) fn rfc3339(micros: i64) -> String {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(seg("1.0.0+build.1"), "1.0.0%2Bbuild.1");
        assert_eq!(seg("sha256:ab"), "sha256:ab");
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
        assert_eq!(seg("é"), "%C3%A9");
    }

    fn release(seq: i64, channel: &str, version: &str, state: ReleaseState) -> ReleaseRecord {
        ReleaseRecord {
            id: format!("rel_{seq}"),
            seq,
            repo: "acme".into(),
            channel: channel.into(),
            version: version.into(),
            state,
            etag: String::new(),
            compatibility: Default::default(),
            notes: String::new(),
            mandatory: false,
            sequence: Some(seq),
            deprecation_reason: String::new(),
            replacement: String::new(),
            artifacts: Vec::new(),
            created_at: 0,
            updated_at: 0,
            published_at: Some(0),
        }
    }

    #[test]
    fn channels_show_the_highest_offered_semver() {
        let rs = [
            release(1, "stable", "1.10.0", ReleaseState::Published),
            release(2, "stable", "1.9.0", ReleaseState::Published),
            release(3, "stable", "2.0.0", ReleaseState::Deprecated),
            release(4, "beta", "2.0.0-rc.1", ReleaseState::Deprecated),
        ];
        let cs = channels(&rs);
        assert_eq!(cs.len(), 2);
        assert_eq!(cs[0].channel, "beta");
        assert!(cs[0].latest.is_none());
        assert_eq!(cs[1].channel, "stable");
        assert_eq!(cs[1].releases, 3);
        assert_eq!(
            cs[1].latest.as_ref().map(|l| l.version.as_str()),
            Some("1.10.0")
        );
        assert_eq!(cs[1].last_sequence, Some(3));
    }
}
