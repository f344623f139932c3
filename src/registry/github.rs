//! The GitHub view of packages, for updaters written against GitHub's releases API.
//!
//! The mapping:
//! - GitHub owner = relreg repo, GitHub repository = relreg package;
//! - a GitHub release = a released package version: published, deprecated (the body says so)
//!   or, for downloads by exact version only, yanked. Drafts are never shown, and yanked
//!   versions are neither listed nor found by tag: they stay downloadable only for those who
//!   already know them (the crates.io yank model);
//! - the release id is the version's `seq` (global and never reused), the tag is the version;
//! - assets are the version's files in path order; an asset's id is `seq << 20 | (index + 1)`,
//!   stable because published versions are immutable and below 2^53 so that JavaScript clients
//!   read it exactly. A version lists at most 2^20 - 1 assets;
//! - an asset's name is the file's full path (GitHub names cannot hold `/`; flat files, the
//!   common case, look exactly like GitHub's, and nested ones download by their path).
//!
//! **Latest** is the highest semver among published (not deprecated, not yanked) versions
//! without a pre-release part; never the most recently created one.

use super::{Caller, Registry, store_error};
use crate::domain::{
    BlobInfo, Error, ErrorCode, Name, Package, Repo, Result, VersionFile, VersionKey,
    VersionRecord, VersionState, newest_offered,
};

/// How many bits of an asset id number the file within its version.
const ASSET_BITS: u32 = 20;
/// GitHub's default page size of lists.
const DEFAULT_PER_PAGE: usize = 30;
/// GitHub's largest page size.
const MAX_PER_PAGE: usize = 100;

/// A released package version seen as a GitHub release.
#[derive(Debug, Clone)]
pub struct GithubRelease {
    /// The version with its files.
    pub version: VersionRecord,
    /// Whether the version has a semver pre-release part.
    pub prerelease: bool,
    /// The files as assets, in path order.
    pub assets: Vec<GithubAsset>,
}

/// A file of a released version seen as a GitHub release asset.
#[derive(Debug, Clone)]
pub struct GithubAsset {
    /// A stable number built from the version's sequence and the file's position in it.
    pub id: i64,
    /// The version file the asset serves.
    pub file: VersionFile,
}

/// One page of a package's GitHub releases.
#[derive(Debug, Clone)]
pub struct GithubReleasePage {
    /// The releases on this page, newest first.
    pub releases: Vec<GithubRelease>,
    /// The page served, from 1.
    pub page: usize,
    /// How many releases a full page holds.
    pub per_page: usize,
    /// How many pages the whole list has (at least 1).
    pub last_page: usize,
}

/// A package seen as a GitHub repository.
#[derive(Debug, Clone)]
pub struct GithubRepository {
    /// The repo that owns the package.
    pub repo: Repo,
    /// The package shown as the repository.
    pub package: Package,
    /// A stable number derived from the repo and package names.
    pub id: i64,
    /// A stable number derived from the repo name.
    pub owner_id: i64,
}

/// A file to download, authorized.
#[derive(Debug, Clone)]
pub struct GithubDownload {
    /// The version the file belongs to.
    pub version: VersionRecord,
    /// The blob to stream.
    pub blob: BlobInfo,
}

impl Registry {
    /// Returns the base URL clients reach this server at (no trailing slash).
    pub fn public_url(&self) -> &str {
        &self.settings.public_url
    }

    /// Returns a package as a GitHub repository.
    pub async fn github_repository(
        &self,
        caller: &Caller,
        repo: &Name,
        package: &Name,
    ) -> Result<GithubRepository> {
        let (repo, package) = self.github_package(caller, repo, package).await?;
        Ok(GithubRepository {
            id: stable_id(&format!("{}/{}", repo.key, package.name)),
            owner_id: stable_id(&repo.key),
            repo,
            package,
        })
    }

    /// Lists a package's releases newest first (semver descending), yanked ones left out;
    /// `page` counts from 1, `per_page` defaults to 30 and is at most 100.
    pub async fn github_releases(
        &self,
        caller: &Caller,
        (repo, package): (&Name, &Name),
        page: Option<usize>,
        per_page: Option<usize>,
    ) -> Result<GithubReleasePage> {
        let listed = self.listed_versions(caller, repo, package).await?;
        let per_page = per_page
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_PER_PAGE)
            .min(MAX_PER_PAGE);
        let page = page.filter(|n| *n > 0).unwrap_or(1);
        let last_page = listed.len().div_ceil(per_page).max(1);
        let mut releases = Vec::new();
        let skip = (page - 1).saturating_mul(per_page);
        for (_, v) in listed.into_iter().skip(skip).take(per_page) {
            releases.push(self.github_release(v.key).await?);
        }
        Ok(GithubReleasePage {
            releases,
            page,
            per_page,
            last_page,
        })
    }

    /// Returns the latest release: the highest semver among published versions that are not
    /// pre-releases (deprecated and yanked versions never are latest).
    pub async fn github_latest_release(
        &self,
        caller: &Caller,
        repo: &Name,
        package: &Name,
    ) -> Result<GithubRelease> {
        let listed = self.listed_versions(caller, repo, package).await?;
        let key = newest_offered(listed, |(s, v)| {
            (v.state == VersionState::Published && s.pre.is_empty()).then(|| (s.clone(), v.seq))
        })
        .map(|(_, v)| v.key)
        .ok_or_else(|| Error::not_found(format!("latest release of {repo}/{package}")))?;
        self.github_release(key).await
    }

    /// Returns the release of a tag: the version, with or without a leading `v`.
    pub async fn github_release_by_tag(
        &self,
        caller: &Caller,
        repo: &Name,
        package: &Name,
        tag: &str,
    ) -> Result<GithubRelease> {
        let wanted = parse_tag(tag)
            .ok_or_else(|| Error::not_found(format!("release {tag} of {repo}/{package}")))?;
        let key = self
            .listed_versions(caller, repo, package)
            .await?
            .into_iter()
            .find(|(s, _)| *s == wanted)
            .map(|(_, v)| v.key)
            .ok_or_else(|| Error::not_found(format!("release {tag} of {repo}/{package}")))?;
        self.github_release(key).await
    }

    /// Returns a release by its id (the version's `seq`).
    pub async fn github_release_by_id(
        &self,
        caller: &Caller,
        repo: &Name,
        package: &Name,
        id: i64,
    ) -> Result<GithubRelease> {
        let key = self
            .listed_versions(caller, repo, package)
            .await?
            .into_iter()
            .find(|(_, v)| v.seq == id)
            .map(|(_, v)| v.key)
            .ok_or_else(|| Error::not_found(format!("release {id} of {repo}/{package}")))?;
        self.github_release(key).await
    }

    /// Returns an asset by its id, with the release it belongs to.
    pub async fn github_asset(
        &self,
        caller: &Caller,
        repo: &Name,
        package: &Name,
        asset_id: i64,
    ) -> Result<(GithubRelease, GithubAsset)> {
        let not_found = || Error::not_found(format!("asset {asset_id} of {repo}/{package}"));
        if asset_id <= 0 {
            return Err(not_found());
        }
        let release = self
            .github_release_by_id(caller, repo, package, asset_id >> ASSET_BITS)
            .await
            .map_err(|e| {
                if e.code == ErrorCode::NotFound {
                    not_found()
                } else {
                    e
                }
            })?;
        let asset = release
            .assets
            .iter()
            .find(|a| a.id == asset_id)
            .cloned()
            .ok_or_else(not_found)?;
        Ok((release, asset))
    }

    /// Authorizes the download of a file of a version (`None`: of the latest release). An
    /// exact version may be a yanked one: those who pinned it keep working.
    pub async fn github_download(
        &self,
        caller: &Caller,
        (repo, package): (&Name, &Name),
        version: Option<&str>,
        path: &str,
    ) -> Result<GithubDownload> {
        let version = match version {
            None => {
                self.github_latest_release(caller, repo, package)
                    .await?
                    .version
            }
            Some(tag) => {
                self.github_package(caller, repo, package).await?;
                let missing = || Error::not_found(format!("release {tag} of {repo}/{package}"));
                let wanted = parse_tag(tag).ok_or_else(missing)?;
                let key = VersionKey {
                    repo: repo.clone(),
                    package: package.clone(),
                    version: wanted,
                };
                self.store
                    .get_version(&key)
                    .await
                    .map_err(store_error)?
                    .filter(|v| v.state.is_released())
                    .ok_or_else(missing)?
            }
        };
        let file = version
            .files
            .iter()
            .find(|f| f.path.as_str() == path)
            .ok_or_else(|| {
                Error::not_found(format!(
                    "asset {path:?} of release {} of {repo}/{package}",
                    version.key.version
                ))
            })?;
        let blob = BlobInfo {
            digest: file.digest,
            size: file.size,
            media_type: file.media_type.clone(),
        };
        Ok(GithubDownload { version, blob })
    }

    /// Authorizes the caller and loads the repo and package.
    async fn github_package(
        &self,
        caller: &Caller,
        repo: &Name,
        package: &Name,
    ) -> Result<(Repo, Package)> {
        let (_, repo) = self.readable_repo(caller, repo).await?;
        let package = self.package(&repo.key, package).await?;
        Ok((repo, package))
    }

    /// Returns the versions shown as releases (published and deprecated, without files),
    /// highest semver first.
    async fn listed_versions(
        &self,
        caller: &Caller,
        repo: &Name,
        package: &Name,
    ) -> Result<Vec<(semver::Version, VersionRecord)>> {
        self.github_package(caller, repo, package).await?;
        let released = self
            .store
            .released_versions(repo, package)
            .await
            .map_err(store_error)?;
        Ok(newest_first(released))
    }

    /// Loads a released version with its files as a GitHub release.
    async fn github_release(&self, key: VersionKey) -> Result<GithubRelease> {
        Ok(as_release(self.version(&key).await?))
    }
}

/// Keeps the versions a GitHub client may list and sorts them by descending semver (then by
/// descending seq, for versions that differ only in build metadata).
fn newest_first(versions: Vec<VersionRecord>) -> Vec<(semver::Version, VersionRecord)> {
    let mut listed: Vec<_> = versions
        .into_iter()
        .filter(|v| matches!(v.state, VersionState::Published | VersionState::Deprecated))
        .map(|v| (v.key.version.clone(), v))
        .collect();
    listed.sort_by(|(a, va), (b, vb)| b.cmp_precedence(a).then(vb.seq.cmp(&va.seq)));
    listed
}

/// Numbers a version's files as assets.
fn as_release(mut version: VersionRecord) -> GithubRelease {
    version.files.sort_by(|a, b| a.path.cmp(&b.path));
    let assets = version
        .files
        .iter()
        .take((1 << ASSET_BITS) - 1)
        .enumerate()
        .map(|(i, f)| GithubAsset {
            id: (version.seq << ASSET_BITS) | (i as i64 + 1),
            file: f.clone(),
        })
        .collect();
    let prerelease = !version.key.version.pre.is_empty();
    GithubRelease {
        version,
        prerelease,
        assets,
    }
}

/// Reads a tag: a semver version, optionally prefixed with `v`.
fn parse_tag(tag: &str) -> Option<semver::Version> {
    let tag = tag.strip_prefix('v').unwrap_or(tag);
    semver::Version::parse(tag).ok()
}

/// Returns a stable positive number below 2^48 for a name.
fn stable_id(name: &str) -> i64 {
    use sha2::{Digest as _, Sha256};
    let hash = Sha256::digest(name.as_bytes());
    hash[..6]
        .iter()
        .fold(0i64, |n, b| (n << 8) | i64::from(*b))
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(v: &str, seq: i64, state: VersionState) -> VersionRecord {
        VersionRecord {
            key: VersionKey::parse("acme", "app", v).unwrap(),
            seq,
            state,
            etag: crate::domain::Etag::random(),
            content_digest: None,
            manifest: "{}".into(),
            files: Vec::new(),
            deprecation_reason: None,
            replacement: None,
            yank_reason: None,
            created_at: 0,
            updated_at: 0,
            published_at: None,
        }
    }

    #[test]
    fn releases_sort_by_semver_and_leave_out_yanked_and_drafts() {
        let listed = newest_first(vec![
            version("1.10.0", 1, VersionState::Published),
            version("1.9.0", 2, VersionState::Published),
            version("2.0.0-rc.1", 3, VersionState::Published),
            version("1.11.0", 4, VersionState::Deprecated),
            version("3.0.0", 5, VersionState::Yanked),
            version("4.0.0", 6, VersionState::Draft),
        ]);
        let order: Vec<_> = listed
            .iter()
            .map(|(_, v)| v.key.version.to_string())
            .collect();
        assert_eq!(order, ["2.0.0-rc.1", "1.11.0", "1.10.0", "1.9.0"]);
    }

    #[test]
    fn tags_accept_a_v_prefix() {
        assert_eq!(parse_tag("v1.2.3"), Some(semver::Version::new(1, 2, 3)));
        assert_eq!(parse_tag("1.2.3"), Some(semver::Version::new(1, 2, 3)));
        assert_eq!(parse_tag("latest"), None);
        assert_eq!(parse_tag("vv1.2.3"), None);
    }

    #[test]
    fn asset_ids_are_stable_and_decode_to_their_release() {
        let mut v = version("1.0.0", 7, VersionState::Published);
        for path in ["b.bin", "a.txt"] {
            v.files.push(VersionFile {
                path: crate::domain::FilePath::parse("path", path).unwrap(),
                digest: crate::domain::Digest::from_bytes([0; 32]),
                size: 0,
                media_type: String::new(),
            });
        }
        let release = as_release(v);
        let ids: Vec<_> = release
            .assets
            .iter()
            .map(|a| (a.file.path.as_str(), a.id))
            .collect();
        assert_eq!(ids, [("a.txt", (7 << 20) + 1), ("b.bin", (7 << 20) + 2)]);
        assert!(ids.iter().all(|(_, id)| id >> ASSET_BITS == 7));
        assert_eq!(stable_id("acme/app"), stable_id("acme/app"));
        assert!(stable_id("acme/app") < 1 << 48);
    }
}
