//! The mobile hot path's second call: a release manifest, everything a client needs to
//! bootstrap a release. Published manifests never change and are served from memory once built.

use std::sync::Arc;

use super::{Caller, Registry};
use crate::domain::{
    Artifact, Package, ReleaseId, ReleaseRecord, ReleaseState, Result, VersionKey, VersionRecord,
};

/// A release manifest: the release and, per artifact, its package and version with files.
#[derive(Debug, Clone)]
pub struct ManifestView {
    /// The release described.
    pub release: ReleaseRecord,
    /// Per artifact: the attachment, its package, and its version with files.
    pub artifacts: Vec<(Artifact, Package, VersionRecord)>,
    /// The base URL of download links.
    pub public_url: String,
}

impl Registry {
    /// Returns everything a client needs to bootstrap a release; published manifests are
    /// served from memory once built.
    pub async fn release_manifest(
        &self,
        caller: &Caller,
        id: &ReleaseId,
    ) -> Result<Arc<ManifestView>> {
        if let Some(manifest) = self.cache.manifest(id) {
            self.readable_repo(caller, &manifest.release.repo).await?;
            return Ok(manifest);
        }
        let (_, release) = self.readable_release(caller, id).await?;
        let mut artifacts = Vec::with_capacity(release.artifacts.len());
        for a in &release.artifacts {
            let package = self.package(&release.repo, &a.package).await?;
            let key = VersionKey {
                repo: release.repo.clone(),
                package: a.package.clone(),
                version: a.version.clone(),
            };
            let version = self.version(&key).await?;
            artifacts.push((a.clone(), package, version));
        }
        let published = release.state != ReleaseState::Draft;
        let manifest = Arc::new(ManifestView {
            release,
            artifacts,
            public_url: self.settings.public_url.clone(),
        });
        if published {
            self.cache.put_manifest(manifest.clone());
        }
        Ok(manifest)
    }
}
