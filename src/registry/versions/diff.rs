//! Comparing versions: the file and manifest difference between two versions of a package,
//! and semver resolution of a requirement to the best published version.

use super::{canonical, version_key, with_digest};
use crate::{
    domain::{
        Error, Result, VersionFile, VersionKey, VersionRecord, VersionState, diff_files,
        parse_name, parse_requirement, parse_semver,
    },
    registry::{Caller, Registry, store_error},
};

/// What `diff_version` found.
#[derive(Debug, Clone, Default)]
pub struct DiffResult {
    /// Files only the new version has.
    pub added: Vec<VersionFile>,
    /// Files only the base version has.
    pub removed: Vec<VersionFile>,
    /// `(base, new)` pairs.
    pub changed: Vec<(VersionFile, VersionFile)>,
    /// Whether the canonical manifests differ.
    pub manifest_changed: bool,
    /// The content digest of the base version.
    pub base_content_digest: String,
    /// The content digest of the new version.
    pub content_digest: String,
}

impl Registry {
    /// Compares a version with a base version of the same package.
    pub async fn diff_version(
        &self,
        caller: &Caller,
        (repo, package, version): (&str, &str, &str),
        base_version: &str,
    ) -> Result<DiffResult> {
        let key = version_key(repo, package, version)?;
        parse_semver("base_version", base_version)?;
        let base_key = VersionKey {
            version: base_version.into(),
            ..key.clone()
        };
        let (principal, _) = self.readable_repo(caller, repo).await?;
        let new = self.visible_version(&principal, &key).await?;
        let base = self.visible_version(&principal, &base_key).await?;
        let diff = diff_files(&base.files, &new.files);
        Ok(DiffResult {
            added: diff.added.into_iter().cloned().collect(),
            removed: diff.removed.into_iter().cloned().collect(),
            changed: diff
                .changed
                .into_iter()
                .map(|(a, b)| (a.clone(), b.clone()))
                .collect(),
            manifest_changed: canonical(&base.manifest)? != canonical(&new.manifest)?,
            base_content_digest: base.content_digest.unwrap_or_default(),
            content_digest: new.content_digest.unwrap_or_default(),
        })
    }

    /// Returns the highest published version matching a semver requirement. Yanked versions
    /// never match; deprecated ones only when no other version does.
    pub async fn resolve_version(
        &self,
        caller: &Caller,
        repo: &str,
        package: &str,
        requirement: &str,
    ) -> Result<VersionRecord> {
        parse_name("repo", repo)?;
        parse_name("package", package)?;
        let req = parse_requirement("requirement", requirement)?;
        self.readable_repo(caller, repo).await?;
        self.package(repo, package).await?;
        let released = self
            .store
            .released_versions(repo, package)
            .await
            .map_err(store_error)?;
        let best = |state: VersionState| {
            released
                .iter()
                .filter(|v| v.state == state)
                .filter_map(|v| semver::Version::parse(&v.key.version).ok().map(|s| (s, v)))
                .filter(|(s, _)| req.matches(s))
                .max_by(|a, b| a.0.cmp(&b.0))
                .map(|(_, v)| v.key.clone())
        };
        let key = best(VersionState::Published)
            .or_else(|| best(VersionState::Deprecated))
            .ok_or_else(|| {
                Error::not_found(format!(
                    "version of {repo}/{package} matching {requirement:?}"
                ))
            })?;
        with_digest(self.version(&key).await?)
    }
}
