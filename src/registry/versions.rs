//! Package versions: the draft → published → deprecated/yanked state machine, etag-guarded
//! edits, validation-gated atomic publish, diff and semver resolution.

use serde_json::json;

use super::{Caller, Page, Principal, Registry, audit, new_etag, now_micros, store_error};
use crate::{
    domain::{
        Digest, Error, ErrorCode, FilePath, Manifest, Result, Role, VersionFile, VersionKey,
        VersionRecord, VersionState, canonical_json, content_digest, diff_files, parse_manifest,
        parse_name, parse_requirement, parse_semver, validator_for,
    },
    store::{DraftEdit, Guard, NewEvent, Outcome, StoreError, Transition},
};

/// A change to a draft, as requested.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Binds a path to an uploaded blob, replacing what it was bound to.
    PutFile {
        /// The file's path inside the version, relative.
        path: String,
        /// `sha256:<hex>` of a blob already in the repo.
        digest: String,
        /// The media type to serve it with; empty means unknown.
        media_type: String,
    },
    /// Removes a path from the draft.
    DeleteFile {
        /// The path to remove.
        path: String,
    },
    /// Replaces the draft's manifest.
    SetManifest(Manifest),
}

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

/// Parses the three parts of a version's identity.
fn version_key(repo: &str, package: &str, version: &str) -> Result<VersionKey> {
    parse_name("repo", repo)?;
    parse_name("package", package)?;
    parse_semver("version", version)?;
    Ok(VersionKey {
        repo: repo.into(),
        package: package.into(),
        version: version.into(),
    })
}

/// Fills in the content digest a draft would publish with.
fn with_digest(mut v: VersionRecord) -> Result<VersionRecord> {
    if v.content_digest.is_none() {
        let manifest = parse_manifest("manifest", &v.manifest).map_err(Error::internal)?;
        v.content_digest = Some(content_digest(&v.files, &manifest));
    }
    Ok(v)
}

/// Rejects a path that would clash with an existing file on a client's filesystem: equal
/// ignoring case, or a file where another file needs a directory.
fn check_path_clash(files: &[VersionFile], path: &str) -> Result<()> {
    for f in files.iter().filter(|f| f.path != path) {
        let clash = f.path.eq_ignore_ascii_case(path)
            || path.starts_with(&format!("{}/", f.path))
            || f.path.starts_with(&format!("{path}/"));
        if clash {
            return Err(Error::invalid(
                "path",
                format!("{path:?} clashes with existing file {:?}", f.path),
            ));
        }
    }
    Ok(())
}

impl Registry {
    /// Loads a version with its files or answers NOT_FOUND.
    pub(super) async fn version(&self, key: &VersionKey) -> Result<VersionRecord> {
        self.store
            .get_version(key)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found(format!("version {key}")))
    }

    /// Explains why a guarded write of a draft did not apply.
    async fn draft_guard_failure(&self, key: &VersionKey) -> Error {
        match self.store.get_version(key).await {
            Ok(None) => Error::not_found(format!("version {key}")),
            Ok(Some(v)) if v.state != VersionState::Draft => immutable(key),
            Ok(Some(_)) => Error::new(
                ErrorCode::EtagMismatch,
                format!("version {key} changed: etag does not match"),
            ),
            Err(e) => store_error(e),
        }
    }

    /// Creates a draft version; returns the existing draft if there is one (`false`), and
    /// ALREADY_EXISTS once the version was published.
    pub async fn create_version(
        &self,
        caller: &Caller,
        repo: &str,
        package: &str,
        version: &str,
    ) -> Result<(VersionRecord, bool)> {
        let key = version_key(repo, package, version)?;
        let (principal, _) = self.writable_repo(caller, repo, Role::Publisher).await?;
        self.package(repo, package).await?;
        if let Some(existing) = self.store.get_version(&key).await.map_err(store_error)? {
            return existing_draft(existing).map(|v| (v, false));
        }
        let record = audit(
            &principal,
            caller,
            "version.created",
            repo,
            target(&key),
            json!({}),
        );
        match self
            .store
            .create_version(&key, &new_etag(), now_micros(), &record)
            .await
        {
            Ok(v) => Ok((with_digest(v)?, true)),
            Err(StoreError::Conflict) => {
                existing_draft(self.version(&key).await?).map(|v| (v, false))
            }
            Err(e) => Err(store_error(e)),
        }
    }

    /// Returns a version; drafts only to publishers.
    pub async fn get_version(
        &self,
        caller: &Caller,
        repo: &str,
        package: &str,
        version: &str,
    ) -> Result<VersionRecord> {
        let key = version_key(repo, package, version)?;
        let (principal, _) = self.readable_repo(caller, repo).await?;
        self.visible_version(&principal, &key).await
    }

    async fn visible_version(
        &self,
        principal: &Principal,
        key: &VersionKey,
    ) -> Result<VersionRecord> {
        let v = self.version(key).await?;
        if v.state == VersionState::Draft && !principal.sees_drafts(&key.repo) {
            return Err(Error::not_found(format!("version {key}")));
        }
        with_digest(v)
    }

    /// Lists a package's versions in creation order; drafts only for publishers.
    pub async fn list_versions(
        &self,
        caller: &Caller,
        repo: &str,
        package: &str,
        page: &Page,
    ) -> Result<(Vec<VersionRecord>, String)> {
        parse_name("repo", repo)?;
        parse_name("package", package)?;
        let (principal, _) = self.readable_repo(caller, repo).await?;
        self.package(repo, package).await?;
        let mut rows = self
            .store
            .list_versions(
                repo,
                package,
                page.after_id()?,
                page.limit(),
                principal.sees_drafts(repo),
            )
            .await
            .map_err(store_error)?;
        let next = page.finish(&mut rows, |v| v.seq.to_string());
        Ok((rows, next))
    }

    /// Applies an edit to a draft, guarded by its etag (empty: no check).
    pub async fn edit_version(
        &self,
        caller: &Caller,
        (repo, package, version): (&str, &str, &str),
        etag: &str,
        edit: Edit,
    ) -> Result<VersionRecord> {
        let key = version_key(repo, package, version)?;
        let (principal, _) = self.writable_repo(caller, repo, Role::Publisher).await?;
        let pkg = self.package(repo, package).await?;
        let current = self.version(&key).await?;
        if current.state != VersionState::Draft {
            return Err(immutable(&key));
        }
        let (edit, action, details) = match edit {
            Edit::PutFile {
                path,
                digest,
                media_type,
            } => {
                let path = FilePath::parse("path", &path)?;
                let digest = Digest::parse("digest", &digest)?.to_string();
                check_path_clash(&current.files, path.as_str())?;
                let blob = self
                    .store
                    .get_blob(repo, &digest)
                    .await
                    .map_err(store_error)?
                    .ok_or_else(|| {
                        Error::new(
                            ErrorCode::FailedPrecondition,
                            format!("blob {digest} was not uploaded to repo {repo}"),
                        )
                    })?;
                let media_type = [media_type, blob.media_type]
                    .into_iter()
                    .find(|m| !m.is_empty())
                    .unwrap_or_else(|| "application/octet-stream".into());
                let details = json!({ "path": path.as_str(), "digest": digest, "size": blob.size });
                let file = VersionFile {
                    path: path.to_string(),
                    digest,
                    size: blob.size,
                    media_type,
                };
                (DraftEdit::PutFile(file), "version.file_put", details)
            }
            Edit::DeleteFile { path } => {
                let path = FilePath::parse("path", &path)?;
                let details = json!({ "path": path.as_str() });
                (
                    DraftEdit::DeleteFile(path.to_string()),
                    "version.file_deleted",
                    details,
                )
            }
            Edit::SetManifest(manifest) => {
                validator_for(&pkg.kind)?.check_manifest(&manifest)?;
                let text = canonical_json(&manifest);
                (
                    DraftEdit::SetManifest(text),
                    "version.manifest_set",
                    json!({}),
                )
            }
        };
        let guard = Guard {
            key: &key,
            states: &[VersionState::Draft],
            etag: non_empty(etag),
        };
        let record = audit(&principal, caller, action, repo, target(&key), details);
        match self
            .store
            .edit_draft(guard, &new_etag(), now_micros(), &edit, &record)
            .await
        {
            Ok(Outcome::Applied) => with_digest(self.version(&key).await?),
            Ok(Outcome::GuardFailed) => Err(self.draft_guard_failure(&key).await),
            Ok(Outcome::Missing) => Err(Error::not_found(format!("file in version {key}"))),
            Err(e) => Err(store_error(e)),
        }
    }

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

    /// Publishes a draft: every file's blob must be in the repo and the manifest must pass its
    /// kind; the state flips in one transaction with its audit record and one outbox event.
    /// Publishing a published version again returns it unchanged and records nothing.
    pub async fn publish_version(
        &self,
        caller: &Caller,
        (repo, package, version): (&str, &str, &str),
        etag: &str,
    ) -> Result<VersionRecord> {
        let key = version_key(repo, package, version)?;
        let (principal, _) = self.writable_repo(caller, repo, Role::Publisher).await?;
        let pkg = self.package(repo, package).await?;
        for _ in 0..super::PUBLISH_ATTEMPTS {
            let v = self.version(&key).await?;
            if v.state.is_released() {
                return with_digest(v);
            }
            if non_empty(etag).is_some_and(|e| e != v.etag) {
                return Err(Error::new(
                    ErrorCode::EtagMismatch,
                    format!("version {key} changed: etag does not match"),
                ));
            }
            let manifest = parse_manifest("manifest", &v.manifest).map_err(Error::internal)?;
            self.check_publishable(&pkg.kind, &v, &manifest).await?;
            let digest = content_digest(&v.files, &manifest);
            let change = Transition {
                to: VersionState::Published,
                at: now_micros(),
                content_digest: Some(digest.clone()),
                deprecation_reason: None,
                replacement: None,
                yank_reason: None,
            };
            let details = json!({ "content_digest": digest, "files": v.files.len() });
            let record = audit(
                &principal,
                caller,
                "version.published",
                repo,
                target(&key),
                details,
            );
            let event = version_event(
                "version.published",
                &key,
                json!({ "content_digest": digest }),
            );
            let guard = Guard {
                key: &key,
                states: &[VersionState::Draft],
                etag: Some(&v.etag),
            };
            match self
                .store
                .transition_version(guard, &change, &record, Some(&event))
                .await
            {
                Ok(Outcome::Applied) => {
                    crate::metrics::record_publish("version");
                    return with_digest(self.version(&key).await?);
                }
                // Published by a concurrent caller, or edited since it was read: look again.
                Ok(_) => continue,
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(Error::new(
            ErrorCode::FailedPrecondition,
            format!("version {key} kept changing while publishing"),
        ))
    }

    /// Checks what publishing requires; reports every problem at once.
    async fn check_publishable(
        &self,
        kind: &str,
        v: &VersionRecord,
        manifest: &Manifest,
    ) -> Result<()> {
        let mut problems = Vec::new();
        for f in &v.files {
            if self
                .store
                .get_blob(&v.key.repo, &f.digest)
                .await
                .map_err(store_error)?
                .is_none()
            {
                problems.push(format!("file {}: blob {} is missing", f.path, f.digest));
            }
        }
        let validator = validator_for(kind)?;
        if let Err(e) = validator
            .check_manifest(manifest)
            .and_then(|()| validator.check_publish(manifest, &v.files))
        {
            problems.push(e.message);
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(Error::new(
            ErrorCode::ValidationFailed,
            format!(
                "version {} cannot be published: {}",
                v.key,
                problems.join("; ")
            ),
        ))
    }

    /// Deprecates a published version with a reason and an optional replacement version.
    pub async fn deprecate_version(
        &self,
        caller: &Caller,
        (repo, package, version): (&str, &str, &str),
        reason: &str,
        replacement: &str,
    ) -> Result<VersionRecord> {
        let key = version_key(repo, package, version)?;
        if reason.trim().is_empty() {
            return Err(Error::invalid("reason", "is required"));
        }
        if !replacement.is_empty() {
            parse_semver("replacement", replacement)?;
        }
        let (principal, _) = self.writable_repo(caller, repo, Role::Publisher).await?;
        if !replacement.is_empty() {
            let other = self
                .version(&VersionKey {
                    version: replacement.into(),
                    ..key.clone()
                })
                .await?;
            if !other.state.is_released() || replacement == version {
                return Err(Error::invalid(
                    "replacement",
                    format!("{replacement} is not another published version"),
                ));
            }
        }
        let change = Transition {
            to: VersionState::Deprecated,
            at: now_micros(),
            content_digest: None,
            deprecation_reason: Some(reason.into()),
            replacement: Some(replacement.into()),
            yank_reason: None,
        };
        let details = json!({ "reason": reason, "replacement": replacement });
        self.transition(
            &principal,
            caller,
            &key,
            "version.deprecated",
            &[VersionState::Published],
            change,
            details,
        )
        .await
    }

    /// Yanks a published or deprecated version: it no longer resolves for new consumers.
    pub async fn yank_version(
        &self,
        caller: &Caller,
        (repo, package, version): (&str, &str, &str),
        reason: &str,
    ) -> Result<VersionRecord> {
        let key = version_key(repo, package, version)?;
        let (principal, _) = self.writable_repo(caller, repo, Role::Publisher).await?;
        let change = Transition {
            to: VersionState::Yanked,
            at: now_micros(),
            content_digest: None,
            deprecation_reason: None,
            replacement: None,
            yank_reason: Some(reason.into()),
        };
        let from = [VersionState::Published, VersionState::Deprecated];
        self.transition(
            &principal,
            caller,
            &key,
            "version.yanked",
            &from,
            change,
            json!({ "reason": reason }),
        )
        .await
    }

    /// Moves a released version to `change.to` if it is in one of `from`; a version already in
    /// the target state is returned as is (idempotent, nothing recorded).
    #[allow(clippy::too_many_arguments)]
    async fn transition(
        &self,
        principal: &Principal,
        caller: &Caller,
        key: &VersionKey,
        action: &str,
        from: &[VersionState],
        change: Transition,
        details: serde_json::Value,
    ) -> Result<VersionRecord> {
        let record = audit(
            principal,
            caller,
            action,
            &key.repo,
            target(key),
            details.clone(),
        );
        let event = version_event(action, key, details);
        let guard = Guard {
            key,
            states: from,
            etag: None,
        };
        let outcome = self
            .store
            .transition_version(guard, &change, &record, Some(&event))
            .await;
        let v = self.version(key).await?;
        match outcome.map_err(store_error)? {
            Outcome::Applied => with_digest(v),
            _ if v.state == change.to => with_digest(v),
            _ if v.state == VersionState::Draft => Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!("version {key} is a draft: publish it first"),
            )),
            _ => Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!("version {key} is {}: cannot become {}", v.state, change.to),
            )),
        }
    }

    /// Deletes a draft version (published versions are never deleted).
    pub async fn delete_version(
        &self,
        caller: &Caller,
        (repo, package, version): (&str, &str, &str),
        etag: &str,
    ) -> Result<()> {
        let key = version_key(repo, package, version)?;
        let (principal, _) = self.writable_repo(caller, repo, Role::Publisher).await?;
        let guard = Guard {
            key: &key,
            states: &[VersionState::Draft],
            etag: non_empty(etag),
        };
        let record = audit(
            &principal,
            caller,
            "version.deleted",
            repo,
            target(&key),
            json!({}),
        );
        match self
            .store
            .delete_version(guard, &record)
            .await
            .map_err(store_error)?
        {
            Outcome::Applied => Ok(()),
            _ => Err(self.draft_guard_failure(&key).await),
        }
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

fn existing_draft(v: VersionRecord) -> Result<VersionRecord> {
    if v.state == VersionState::Draft {
        return with_digest(v);
    }
    Err(Error::new(
        ErrorCode::AlreadyExists,
        format!(
            "version {} was published and cannot be created again",
            v.key
        ),
    ))
}

fn immutable(key: &VersionKey) -> Error {
    Error::new(
        ErrorCode::VersionImmutable,
        format!("version {key} is published and cannot change"),
    )
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn target(key: &VersionKey) -> String {
    format!("{}@{}", key.package, key.version)
}

fn canonical(manifest: &str) -> Result<String> {
    Ok(canonical_json(
        &parse_manifest("manifest", manifest).map_err(Error::internal)?,
    ))
}

fn version_event(topic: &str, key: &VersionKey, extra: serde_json::Value) -> NewEvent {
    let mut payload = json!({ "repo": key.repo, "package": key.package, "version": key.version });
    if let (Some(p), serde_json::Value::Object(extra)) = (payload.as_object_mut(), extra) {
        p.extend(extra);
    }
    NewEvent {
        topic: topic.into(),
        repo: key.repo.clone(),
        payload: payload.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> VersionFile {
        VersionFile {
            path: path.into(),
            digest: String::new(),
            size: 0,
            media_type: String::new(),
        }
    }

    #[test]
    fn path_clashes_are_refused() {
        let files = [file("data/a.txt"), file("readme")];
        assert!(check_path_clash(&files, "data/b.txt").is_ok());
        assert!(
            check_path_clash(&files, "data/a.txt").is_ok(),
            "replacing a path is fine"
        );
        assert!(check_path_clash(&files, "DATA/A.TXT").is_err());
        assert!(check_path_clash(&files, "readme/x").is_err());
        assert!(check_path_clash(&files, "data").is_err());
    }
}
