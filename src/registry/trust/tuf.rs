//! The TUF export: a repo's roots, signed releases and their files as TUF metadata
//! (`domain::tuf` says the format), re-signed when the signed releases or the root change and
//! before the metadata expires, stored so that every server serves the same documents.
//!
//! - TUF root n renders relreg root n with the same keys and threshold, signed by the held
//!   keys of roots n-1 and n. It is written when relreg root n is (both keys are held then)
//!   and never changes.
//! - Targets, snapshot and timestamp share one version, which only grows (a conditional
//!   update), and expire with channel heads (`--head-expiry`).
//! - Targets list every signed release (published or deprecated) as a release document and
//!   every file its artifacts hold.

use std::collections::{BTreeMap, HashSet};

use super::*;
use crate::{
    domain::{
        BlobInfo,
        tuf::{self, MetadataFile, TargetFile, TargetPath},
    },
    store::StoredTuf,
};

/// A repo's TUF targets with the signed releases they were built from.
#[derive(Debug, Default, Clone)]
pub(super) struct Targets {
    files: BTreeMap<String, TargetFile>,
    releases: HashSet<String>,
    /// When the newest of those releases was signed (unix microseconds).
    last_signed_at: i64,
}

impl Targets {
    /// Adds a signed release's document and files.
    fn add(&mut self, id: String, signed_at: i64, envelope: &Envelope) -> Result<()> {
        self.last_signed_at = self.last_signed_at.max(signed_at);
        if self.releases.contains(&id) {
            return Ok(());
        }
        let m: pb::SignedManifest = decode(envelope)?;
        let document = release_document(&m);
        self.files.insert(
            tuf::release_target(&id),
            TargetFile {
                length: document.len() as u64,
                sha256: hex::encode(Sha256::digest(&document)),
            },
        );
        for a in &m.artifacts {
            for f in &a.files {
                self.files.insert(
                    tuf::file_target(&a.package, &a.version, &f.path),
                    TargetFile {
                        length: f.size.max(0) as u64,
                        sha256: hex_of(&f.digest).to_owned(),
                    },
                );
            }
        }
        self.releases.insert(id);
        Ok(())
    }
}

/// What a TUF target resolves to.
#[derive(Debug)]
pub enum TufTarget {
    /// A release document (canonical JSON).
    Document(Vec<u8>),
    /// A file's bytes.
    Blob(BlobInfo),
}

/// Renders a release document: the signed manifest's identities, compatibility and artifacts,
/// each file with its target path, length and SHA-256. A pure function of the signed bytes,
/// so its hash never changes.
fn release_document(m: &pb::SignedManifest) -> Vec<u8> {
    let artifacts: Vec<serde_json::Value> = m
        .artifacts
        .iter()
        .map(|a| {
            let files: Vec<serde_json::Value> = a
                .files
                .iter()
                .map(|f| {
                    json!({
                        "path": f.path,
                        "target": tuf::file_target(&a.package, &a.version, &f.path),
                        "length": f.size,
                        "sha256": hex_of(&f.digest),
                    })
                })
                .collect();
            json!({
                "role": a.role, "package": a.package, "version": a.version, "kind": a.kind,
                "content_digest": a.content_digest, "files": files,
            })
        })
        .collect();
    tuf::canonical_json(&json!({
        "release_id": m.release_id, "repo": m.repo, "channel": m.channel, "version": m.version,
        "sequence": m.sequence, "min_app_version": m.min_app_version,
        "max_app_version": m.max_app_version, "platforms": m.platforms,
        "mandatory": m.mandatory, "artifacts": artifacts,
    }))
}

/// The hex part of a signed file's `sha256:` digest.
fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

fn raw_keys(root: &pb::TrustRoot) -> Result<Vec<[u8; 32]>> {
    root.keys
        .iter()
        .map(|k| {
            <[u8; 32]>::try_from(k.public_key.as_ref()).map_err(|_| {
                Error::new(
                    ErrorCode::Internal,
                    format!("root key {} is not a raw Ed25519 key", k.key_id),
                )
            })
        })
        .collect()
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("canonical JSON of UTF-8 text is UTF-8")
}

impl Registry {
    /// Writes the TUF roots a repo lacks, oldest first; stops (returning `false`) at one this
    /// server cannot sign because it holds no key of that root or of the one before it.
    async fn export_tuf_roots(&self, repo: &str) -> Result<bool> {
        let newest = self.store.trust_root(repo, None).await;
        let Some((newest, _)) = newest.map_err(store_error)? else {
            return Ok(false);
        };
        let have = self.store.tuf_root(repo, None).await.map_err(store_error)?;
        let mut previous: Option<pb::TrustRoot> = None;
        for version in have.map_or(1, |(v, _)| v + 1)..=newest {
            if previous.is_none() && version > 1 {
                previous = self.root_version(repo, version - 1).await?;
            }
            let Some(root) = self.root_version(repo, version).await? else {
                return Ok(false);
            };
            let mut signers = self.held_keys(&root);
            let before = previous.as_ref().map(|p| self.held_keys(p));
            if signers.is_empty() || before.as_ref().is_some_and(Vec::is_empty) {
                tracing::warn!(%repo, version, "cannot export TUF root: no key of it or of the root before it is held");
                return Ok(false);
            }
            signers.extend(before.unwrap_or_default());
            let signed = tuf::root(
                version,
                root.expires_unix,
                &raw_keys(&root)?,
                root.threshold.max(1) as u32,
            );
            let document = text(tuf::sign(&signed, signers));
            self.store
                .put_tuf_root(repo, version, &document)
                .await
                .map_err(store_error)?;
            previous = Some(root);
        }
        Ok(true)
    }

    async fn root_version(&self, repo: &str, version: i64) -> Result<Option<pb::TrustRoot>> {
        let found = self.store.trust_root(repo, Some(version)).await;
        found
            .map_err(store_error)?
            .map(|(_, envelope)| decode(&envelope))
            .transpose()
    }

    /// Every target of a repo whose `count` signed releases were last signed at `last`: its
    /// signed releases' documents and their files. Reads only the manifests signed since the
    /// targets last built; reads them all when a release went away meanwhile.
    async fn tuf_targets(&self, repo: &str, count: i64, last: i64) -> Result<Arc<Targets>> {
        let cached = self
            .trust
            .tuf_targets
            .read()
            .expect("tuf targets lock")
            .get(repo)
            .cloned();
        if let Some(c) = &cached
            && c.releases.len() as i64 == count
            && c.last_signed_at == last
        {
            return Ok(c.clone());
        }
        let mut targets = cached.map(Arc::unwrap_or_clone).unwrap_or_default();
        for since in [targets.last_signed_at, 0] {
            if since == 0 {
                targets = Targets::default();
            }
            let signed = self.store.repo_signatures(repo, since).await;
            for (id, signed_at, envelope) in signed.map_err(store_error)? {
                targets.add(id, signed_at, &envelope)?;
            }
            if targets.releases.len() as i64 == count || since == 0 {
                break;
            }
        }
        let targets = Arc::new(targets);
        self.trust
            .tuf_targets
            .write()
            .expect("tuf targets lock")
            .insert(repo.to_owned(), targets.clone());
        Ok(targets)
    }

    /// Re-signs a repo's TUF targets, snapshot and timestamp when its root or its signed
    /// releases changed, when past half their lifetime, or when `force`d. The new set's
    /// version is one above the stored one, written only if the stored one is still that
    /// version (the database decides).
    pub(crate) async fn refresh_tuf(&self, repo: &str, force: bool) -> Result<()> {
        let expiry = self.settings.head_expiry_secs.max(1) as i64;
        for _ in 0..5 {
            let Some(root) = self.newest_root(repo).await? else {
                return Ok(());
            };
            let signers = self.held_keys(&root.decoded);
            if signers.is_empty() || !self.export_tuf_roots(repo).await? {
                return Ok(());
            }
            let (count, last) = self
                .store
                .repo_signatures_summary(repo)
                .await
                .map_err(store_error)?;
            let digest = format!("root {} signed {count} last {last}", root.decoded.version);
            let stored = self.store.tuf_metadata(repo).await.map_err(store_error)?;
            let now = now_secs();
            if let Some(s) = &stored
                && !force
                && s.inputs_digest == digest
                && s.expires_at - now > expiry / 2
            {
                return Ok(());
            }
            let targets = self.tuf_targets(repo, count, last).await?;
            let version = stored.as_ref().map_or(1, |s| s.version + 1);
            let expires = now + expiry;
            let sign = |signed: Vec<u8>| text(tuf::sign_canonical(signed, signers.iter().copied()));
            let snapshot = sign(tuf::canonical_json(&tuf::snapshot(
                version, expires, version,
            )));
            let new = StoredTuf {
                version,
                inputs_digest: digest,
                expires_at: expires,
                targets: sign(tuf::targets(version, expires, &targets.files)),
                timestamp: sign(tuf::canonical_json(&tuf::timestamp(
                    version,
                    expires,
                    version,
                    snapshot.as_bytes(),
                ))),
                snapshot,
            };
            let written = self
                .store
                .put_tuf_metadata(repo, stored.map(|s| s.version), &new)
                .await
                .map_err(store_error)?;
            if written {
                return Ok(());
            }
            // Another server re-signed meanwhile: look again.
        }
        Err(Error::new(
            ErrorCode::Aborted,
            format!("the TUF metadata of {repo} kept changing while re-signing"),
        ))
    }

    /// Returns one of a repo's TUF metadata files, as stored. The first read of a repo whose
    /// metadata was never written signs it (as a channel's first head is).
    pub async fn tuf_metadata(
        &self,
        caller: &Caller,
        repo: &Name,
        file: MetadataFile,
    ) -> Result<String> {
        self.readable_repo(caller, repo).await?;
        let key = repo.as_str();
        let missing = || {
            Error::not_found(format!(
                "TUF metadata of repo {repo} (it trusts no key this server holds)"
            ))
        };
        if let MetadataFile::Root(version) = file {
            let mut found = self.store.tuf_root(key, version).await;
            if found.as_ref().is_ok_and(Option::is_none) && self.export_tuf_roots(key).await? {
                found = self.store.tuf_root(key, version).await;
            }
            return match found.map_err(store_error)? {
                Some((_, document)) => Ok(document),
                None if version.is_some() => Err(Error::not_found(format!(
                    "TUF root {} of repo {repo}",
                    version.unwrap_or_default()
                ))),
                None => Err(missing()),
            };
        }
        let mut stored = self.store.tuf_metadata(key).await.map_err(store_error)?;
        if stored.is_none() {
            self.refresh_tuf(key, false).await?;
            stored = self.store.tuf_metadata(key).await.map_err(store_error)?;
        }
        let stored = stored.ok_or_else(missing)?;
        Ok(match file {
            MetadataFile::Targets => stored.targets,
            MetadataFile::Snapshot => stored.snapshot,
            _ => stored.timestamp,
        })
    }

    /// Resolves a TUF target: a signed release's document, or a file of a package version
    /// the caller may read.
    pub async fn tuf_target(
        &self,
        caller: &Caller,
        repo: &Name,
        target: &TargetPath,
    ) -> Result<TufTarget> {
        match target {
            TargetPath::Release(id) => {
                self.readable_repo(caller, repo).await?;
                let m: Option<pb::SignedManifest> = self
                    .manifest_signature(id)
                    .await?
                    .map(|envelope| decode(&envelope))
                    .transpose()?;
                match m.filter(|m| m.repo == repo.as_str()) {
                    Some(m) => Ok(TufTarget::Document(release_document(&m))),
                    None => Err(Error::not_found(format!(
                        "signed release {id} in repo {repo}"
                    ))),
                }
            }
            TargetPath::File {
                package,
                version,
                path,
            } => {
                let key = VersionKey {
                    repo: repo.clone(),
                    package: package.clone(),
                    version: version.clone(),
                };
                let found = self.get_version(caller, &key).await?;
                let file = found
                    .files
                    .iter()
                    .find(|f| &f.path == path)
                    .ok_or_else(|| Error::not_found(format!("file {path} of version {key}")))?;
                Ok(TufTarget::Blob(
                    self.blob_info(caller, repo, &file.digest).await?,
                ))
            }
        }
    }
}
