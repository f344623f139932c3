//! Comparing versions: the file and manifest difference between two versions of a package,
//! and semver resolution of a requirement to the best published version.

use super::{canonical, with_digest};
use crate::{
    domain::{
        Digest, Error, Name, Result, VersionFile, VersionKey, VersionRecord, VersionState,
        diff_files,
    },
    registry::{Caller, Registry, store_error},
};

/// What `diff_version` found.
#[derive(Debug, Clone)]
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
    pub base_content_digest: Digest,
    /// The content digest of the new version.
    pub content_digest: Digest,
}

impl Registry {
    /// Compares a version with a base version of the same package.
    pub async fn diff_version(
        &self,
        caller: &Caller,
        key: &VersionKey,
        base_version: semver::Version,
    ) -> Result<DiffResult> {
        let base_key = key.at(base_version);
        let (principal, _) = self.readable_repo(caller, &key.repo).await?;
        let new = self.visible_version(&principal, key).await?;
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
            base_content_digest: drafted_digest(&base)?,
            content_digest: drafted_digest(&new)?,
        })
    }

    /// Returns the highest published version matching a semver requirement. Yanked versions
    /// never match; deprecated ones only when no other version does.
    pub async fn resolve_version(
        &self,
        caller: &Caller,
        repo: &Name,
        package: &Name,
        req: &semver::VersionReq,
    ) -> Result<VersionRecord> {
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
                .filter(|v| v.state == state && req.matches(&v.key.version))
                .max_by(|a, b| a.key.version.cmp(&b.key.version))
                .map(|v| v.key.clone())
        };
        let key = best(VersionState::Published)
            .or_else(|| best(VersionState::Deprecated))
            .ok_or_else(|| {
                Error::not_found(format!(
                    "version of {repo}/{package} matching {:?}",
                    req.to_string()
                ))
            })?;
        with_digest(self.version(&key).await?)
    }
}

/// The content digest of a version as `with_digest` filled it in.
fn drafted_digest(v: &VersionRecord) -> Result<Digest> {
    v.content_digest
        .ok_or_else(|| Error::internal(format!("version {} has no content digest", v.key)))
}
