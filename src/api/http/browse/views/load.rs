//! Loading the browse views through the registry's read use cases: the repo page with its
//! channels and recent releases, and the package, version and release pages.

use std::collections::BTreeMap;

use crate::{
    domain::{Error, Name, ReleaseId, ReleaseRecord, ReleaseState, VersionKey, newest_offered},
    registry::{Caller, Listed, Page, Registry},
};

use super::{
    ArtifactView, ChannelView, FileView, PackagePageView, PackageView, ReleasePageView,
    ReleaseView, RepoRef, RepoView, VersionPageView, VersionView, package_href, repo_href, rfc3339,
    seg, version_href,
};

/// Rows per page of packages and of versions.
const PAGE_SIZE: i32 = 100;
/// How many releases the repo page reads to find its channels (1000 per call).
const MAX_RELEASES_SCANNED: usize = 10_000;
/// How many of the newest releases the repo page lists.
const RECENT_RELEASES: usize = 50;

pub(in crate::api::http::browse) async fn repo_view(
    registry: &Registry,
    caller: &Caller,
    key: &str,
    page_token: Option<&str>,
) -> Result<RepoView, Error> {
    let repo_name = Name::parse("repo", key)?;
    let repo = registry.get_repo(caller, &repo_name).await?;
    let page = Page::parse(PAGE_SIZE, page_token.unwrap_or(""))?;
    let Listed {
        items: packages,
        next_page_token: next,
    } = registry.list_packages(caller, &repo_name, &page).await?;

    let mut releases = Vec::new();
    let mut token = String::new();
    let mut truncated = false;
    loop {
        let page = Page::parse(1000, &token)?;
        let listed = registry
            .list_releases(caller, &repo_name, None, false, &page)
            .await?;
        let next = listed.next_page_token;
        releases.extend(listed.items);
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
    // Releases are read typed, so the rule needs no parsing here.
    for r in releases {
        by_channel.entry(&r.channel).or_default().push(r);
    }
    by_channel
        .into_iter()
        .map(|(channel, rs)| {
            let latest = newest_offered(rs.iter().copied(), |r| {
                (r.state == ReleaseState::OFFERED).then(|| (r.version.clone(), r.seq))
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

pub(in crate::api::http::browse) async fn package_view(
    registry: &Registry,
    caller: &Caller,
    repo: &str,
    name: &str,
    page_token: Option<&str>,
) -> Result<PackagePageView, Error> {
    let (repo, name) = (Name::parse("repo", repo)?, Name::parse("package", name)?);
    let package = registry.get_package(caller, &repo, &name).await?;
    let repo = registry.get_repo(caller, &repo).await?;
    let page = Page::parse(PAGE_SIZE, page_token.unwrap_or(""))?;
    let Listed {
        items: versions,
        next_page_token: next,
    } = registry
        .list_versions(caller, &repo.key, &name, &page)
        .await?;
    Ok(PackagePageView {
        next_versions_href: (!next.is_empty())
            .then(|| format!("{}?page={}", package_href(&repo.key, &name), seg(&next))),
        repo: RepoRef::new(&repo),
        package: PackageView::new(&package),
        versions: versions.iter().map(VersionView::new).collect(),
    })
}

pub(in crate::api::http::browse) async fn version_view(
    registry: &Registry,
    caller: &Caller,
    repo: &str,
    package: &str,
    version: &str,
) -> Result<VersionPageView, Error> {
    let key = VersionKey::parse(repo, package, version)?;
    let v = registry.get_version(caller, &key).await?;
    let package = registry
        .get_package(caller, &key.repo, &key.package)
        .await?;
    let repo = registry.get_repo(caller, &key.repo).await?;
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

pub(in crate::api::http::browse) async fn release_view(
    registry: &Registry,
    caller: &Caller,
    repo: &str,
    id: &str,
) -> Result<ReleasePageView, Error> {
    let repo = registry
        .get_repo(caller, &Name::parse("repo", repo)?)
        .await?;
    let id = ReleaseId::named("release_id", id)?;
    let manifest = registry.release_manifest(caller, &id).await?;
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
            role: a.role.to_string(),
            package: a.package.to_string(),
            package_href: package_href(&repo.key, &a.package),
            kind: package.kind.clone(),
            version: a.version.to_string(),
            version_href: version_href(&repo.key, &a.package, &a.version.to_string()),
            version_state: version.state.as_str(),
            content_digest: version.content_digest.map(|d| d.to_string()),
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

fn manifest_json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}
