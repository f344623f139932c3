//! Package versions: drafts (create, etag-guarded edits, delete) and reading them; the
//! state transitions live in `lifecycle`, comparison and resolution in `diff`.

mod diff;
mod lifecycle;

pub use diff::DiffResult;
pub use lifecycle::VersionDeprecation;

use serde_json::json;

use super::{Caller, Listed, Page, Principal, Registry, audit, now_micros, store_error};
use crate::{
    domain::{
        Digest, Error, ErrorCode, Etag, FilePath, Manifest, Name, Result, Role, VersionFile,
        VersionKey, VersionRecord, VersionState, VersionStep, canonical_json, content_digest,
        parse_manifest, validator_for,
    },
    store::{DraftEdit, Guard, NewEvent, Outcome, StoreError},
};

/// A change to a draft, as requested.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Binds a path to an uploaded blob, replacing what it was bound to.
    PutFile {
        /// The file's path inside the version, relative.
        path: FilePath,
        /// A blob already in the repo.
        digest: Digest,
        /// The media type to serve it with; `None` takes the blob's.
        media_type: Option<String>,
    },
    /// Removes a path from the draft.
    DeleteFile {
        /// The path to remove.
        path: FilePath,
    },
    /// Replaces the draft's manifest.
    SetManifest(Manifest),
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
fn check_path_clash(files: &[VersionFile], path: &FilePath) -> Result<()> {
    let path = path.as_str();
    for f in files.iter().filter(|f| f.path.as_str() != path) {
        let existing = f.path.as_str();
        let clash = existing.eq_ignore_ascii_case(path)
            || path.starts_with(&format!("{existing}/"))
            || existing.starts_with(&format!("{path}/"));
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
        key: &VersionKey,
    ) -> Result<(VersionRecord, bool)> {
        let repo = &key.repo;
        let (principal, _) = self.writable_repo(caller, repo, Role::Publisher).await?;
        self.package(repo, &key.package).await?;
        if let Some(existing) = self.store.get_version(key).await.map_err(store_error)? {
            return existing_draft(existing).map(|v| (v, false));
        }
        let record = audit(
            &principal,
            caller,
            "version.created",
            repo,
            target(key),
            json!({}),
        );
        match self
            .store
            .create_version(key, &Etag::random(), now_micros(), &record)
            .await
        {
            Ok(v) => Ok((with_digest(v)?, true)),
            Err(StoreError::Conflict) => {
                existing_draft(self.version(key).await?).map(|v| (v, false))
            }
            Err(e) => Err(store_error(e)),
        }
    }

    /// Returns a version; drafts only to publishers.
    pub async fn get_version(&self, caller: &Caller, key: &VersionKey) -> Result<VersionRecord> {
        let (principal, _) = self.readable_repo(caller, &key.repo).await?;
        self.visible_version(&principal, key).await
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
        repo: &Name,
        package: &Name,
        page: &Page,
    ) -> Result<Listed<VersionRecord>> {
        let (principal, _) = self.readable_repo(caller, repo).await?;
        self.package(repo, package).await?;
        let rows = self
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
        Ok(page.listed(rows, |v| v.seq.to_string()))
    }

    /// Applies an edit to a draft, guarded by its etag (`None`: no check).
    pub async fn edit_version(
        &self,
        caller: &Caller,
        key: &VersionKey,
        etag: Option<&Etag>,
        edit: Edit,
    ) -> Result<VersionRecord> {
        let repo = &key.repo;
        let (principal, _) = self.writable_repo(caller, repo, Role::Publisher).await?;
        let pkg = self.package(repo, &key.package).await?;
        let current = self.version(key).await?;
        if current.state != VersionState::Draft {
            return Err(immutable(key));
        }
        let (edit, action, details) = match edit {
            Edit::PutFile {
                path,
                digest,
                media_type,
            } => {
                check_path_clash(&current.files, &path)?;
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
                let media_type = [media_type.unwrap_or_default(), blob.media_type]
                    .into_iter()
                    .find(|m| !m.is_empty())
                    .unwrap_or_else(|| "application/octet-stream".into());
                let details = json!({
                    "path": path.as_str(),
                    "digest": digest.to_string(),
                    "size": blob.size,
                });
                let file = VersionFile {
                    path,
                    digest,
                    size: blob.size,
                    media_type,
                };
                (DraftEdit::PutFile(file), "version.file_put", details)
            }
            Edit::DeleteFile { path } => {
                let details = json!({ "path": path.as_str() });
                (DraftEdit::DeleteFile(path), "version.file_deleted", details)
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
            key,
            step: VersionStep::Edit,
            etag,
        };
        let record = audit(&principal, caller, action, repo, target(key), details);
        match self
            .store
            .edit_draft(guard, &Etag::random(), now_micros(), &edit, &record)
            .await
        {
            Ok(Outcome::Applied) => with_digest(self.version(key).await?),
            Ok(Outcome::GuardFailed) => Err(self.draft_guard_failure(key).await),
            Ok(Outcome::Missing) => Err(Error::not_found(format!("file in version {key}"))),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Deletes a draft version (published versions are never deleted).
    pub async fn delete_version(
        &self,
        caller: &Caller,
        key: &VersionKey,
        etag: Option<&Etag>,
    ) -> Result<()> {
        let (principal, _) = self
            .writable_repo(caller, &key.repo, Role::Publisher)
            .await?;
        let guard = Guard {
            key,
            step: VersionStep::Delete,
            etag,
        };
        let record = audit(
            &principal,
            caller,
            "version.deleted",
            &key.repo,
            target(key),
            json!({}),
        );
        match self
            .store
            .delete_version(guard, &record)
            .await
            .map_err(store_error)?
        {
            Outcome::Applied => Ok(()),
            _ => Err(self.draft_guard_failure(key).await),
        }
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

fn target(key: &VersionKey) -> String {
    format!("{}@{}", key.package, key.version)
}

fn canonical(manifest: &str) -> Result<String> {
    Ok(canonical_json(
        &parse_manifest("manifest", manifest).map_err(Error::internal)?,
    ))
}

fn version_event(topic: &str, key: &VersionKey, extra: serde_json::Value) -> NewEvent {
    let mut payload = json!({
        "repo": key.repo,
        "package": key.package,
        "version": key.version.to_string(),
    });
    if let (Some(p), serde_json::Value::Object(extra)) = (payload.as_object_mut(), extra) {
        p.extend(extra);
    }
    NewEvent {
        topic: topic.into(),
        repo: key.repo.to_string(),
        payload: payload.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> FilePath {
        FilePath::parse("path", text).unwrap()
    }

    fn file(text: &str) -> VersionFile {
        VersionFile {
            path: path(text),
            digest: Digest::from_bytes([0; 32]),
            size: 0,
            media_type: String::new(),
        }
    }

    #[test]
    fn path_clashes_are_refused() {
        let files = [file("data/a.txt"), file("readme")];
        assert!(check_path_clash(&files, &path("data/b.txt")).is_ok());
        assert!(
            check_path_clash(&files, &path("data/a.txt")).is_ok(),
            "replacing a path is fine"
        );
        assert!(check_path_clash(&files, &path("DATA/A.TXT")).is_err());
        assert!(check_path_clash(&files, &path("readme/x")).is_err());
        assert!(check_path_clash(&files, &path("data")).is_err());
    }
}
