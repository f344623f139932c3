//! Release manifests signed once, right after publish: the signed bytes, the signing, the
//! in-memory copies served with every manifest, and the catch-up of missed ones.

use super::*;

impl Registry {
    /// Builds the signed bytes of a release's manifest: identities, compatibility, and per
    /// artifact its package, version, content digest and files with digests and sizes.
    async fn manifest_payload(&self, release: &ReleaseRecord) -> Result<pb::SignedManifest> {
        let mut artifacts = Vec::with_capacity(release.artifacts.len());
        for a in &release.artifacts {
            let package = self.package(&release.repo, &a.package).await?;
            let key = VersionKey {
                repo: release.repo.clone(),
                package: a.package.clone(),
                version: a.version.clone(),
            };
            let version = self.version(&key).await?;
            let mut files: Vec<pb::SignedFile> = version
                .files
                .iter()
                .map(|f| pb::SignedFile {
                    path: f.path.to_string(),
                    digest: f.digest.to_string(),
                    size: f.size as i64,
                })
                .collect();
            files.sort_by(|a, b| a.path.cmp(&b.path));
            artifacts.push(pb::SignedArtifact {
                role: a.role.to_string(),
                package: a.package.to_string(),
                version: a.version.to_string(),
                kind: package.kind,
                content_digest: version
                    .content_digest
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                files,
            });
        }
        artifacts.sort_by(|a, b| a.role.cmp(&b.role));
        let c = &release.compatibility;
        Ok(pb::SignedManifest {
            release_id: release.id.to_string(),
            repo: release.repo.to_string(),
            channel: release.channel.to_string(),
            version: release.version.to_string(),
            sequence: release.sequence.unwrap_or_default(),
            min_app_version: c
                .min
                .as_ref()
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default(),
            max_app_version: c
                .max
                .as_ref()
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default(),
            platforms: c.platforms.iter().map(|p| p.to_string()).collect(),
            mandatory: release.mandatory,
            artifacts,
        })
    }

    /// Signs a published release's manifest once, with the keys of its repo's root this
    /// server holds; returns the stored signature (an earlier one wins). `None` when the repo
    /// has no root or the server holds none of its keys.
    pub(super) async fn sign_manifest(
        &self,
        release: &ReleaseRecord,
    ) -> Result<Option<Arc<Envelope>>> {
        if release.state == ReleaseState::Draft {
            return Ok(None);
        }
        if let Some(stored) = self
            .store
            .release_signature(&release.id.to_string())
            .await
            .map_err(store_error)?
        {
            return Ok(Some(Arc::new(stored)));
        }
        let Some(root) = self.newest_root(&release.repo).await? else {
            return Ok(None);
        };
        let signers = self.held_keys(&root.decoded);
        if signers.is_empty() {
            return Ok(None);
        }
        let payload = self.manifest_payload(release).await?.encode_to_vec();
        let envelope = Envelope::sign(payload, signers);
        let stored = self
            .store
            .put_release_signature(&release.id.to_string(), &envelope, now_micros())
            .await
            .map_err(store_error)?;
        let stored = Arc::new(stored);
        self.trust
            .manifests
            .write()
            .expect("manifests lock")
            .insert(release.id, Ok(stored.clone()));
        Ok(Some(stored))
    }

    /// Returns a release's signed manifest from memory (the database once per release, or
    /// again after a few seconds while it has none).
    pub async fn manifest_signature(&self, id: &ReleaseId) -> Result<Option<Arc<Envelope>>> {
        let now = now_micros();
        match self.trust.manifests.read().expect("manifests lock").get(id) {
            Some(Ok(signed)) => return Ok(Some(signed.clone())),
            Some(Err(at)) if now - at < UNSIGNED_RECHECK_MICROS => return Ok(None),
            _ => {}
        }
        let stored = self
            .store
            .release_signature(&id.to_string())
            .await
            .map_err(store_error)?
            .map(Arc::new);
        self.trust
            .manifests
            .write()
            .expect("manifests lock")
            .insert(*id, stored.clone().ok_or(now));
        Ok(stored)
    }

    /// Signs every published release that has no signature yet (catch-up at startup, after a
    /// repo first trusts a key, and in the background).
    pub(crate) async fn sign_pending(&self) {
        let ids = match self.store.unsigned_releases(1000).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list unsigned releases");
                return;
            }
        };
        for id in ids {
            let Ok(id) = ReleaseId::from_text(&id).ok_or(()) else {
                continue;
            };
            let signed = match self.release(&id).await {
                Ok(release) => self.sign_manifest(&release).await,
                Err(e) => Err(e),
            };
            if let Err(e) = signed {
                tracing::warn!(error = %e, release = %id, "signing a manifest failed");
            }
        }
    }
}
