//! Releases: repo channel policies, drafts with artifacts, reading and listing them; the
//! lifecycle (validate, publish, deprecate, rollback) lives in `lifecycle`.

mod lifecycle;

use serde_json::json;

use super::{Caller, Listed, Page, Principal, Registry, audit, now_micros, store_error};
use crate::{
    domain::{
        Artifact, Compatibility, Error, ErrorCode, Etag, Finding, Name, Policy, ReleaseId,
        ReleaseRecord, ReleaseState, Result, Retention, Role, Severity, VersionKey, VersionState,
        Violation,
    },
    store::{NewEvent, Outcome, ReleaseEdit, StoreError},
};

/// A release to create, parsed by the transport.
#[derive(Debug, Clone)]
pub struct NewRelease {
    /// The repo to create it in.
    pub repo: Name,
    /// The channel it will be offered on.
    pub channel: Name,
    /// Its semver version, unique in the channel.
    pub version: semver::Version,
    /// Which app versions and platforms it is for.
    pub compatibility: Compatibility,
    /// Release notes for people; may be empty.
    pub notes: String,
    /// Whether clients it admits must install it before going on.
    pub mandatory: bool,
}

/// A change to a draft release's artifacts, parsed by the transport.
#[derive(Debug, Clone)]
pub struct ArtifactEdit {
    /// The draft to change.
    pub release: ReleaseId,
    /// The role to attach or detach.
    pub role: Name,
    /// What to attach under the role (a package and its version); `None` detaches it.
    pub target: Option<(Name, semver::Version)>,
    /// When set, the draft's etag must equal it.
    pub etag: Option<Etag>,
}

/// A release deprecation, parsed by the transport.
#[derive(Debug, Clone)]
pub struct ReleaseDeprecation {
    /// The release to deprecate.
    pub release: ReleaseId,
    /// Why (required, not blank).
    pub reason: String,
    /// Another release of the same channel clients should move to.
    pub replacement: Option<ReleaseId>,
}

/// A channel rollback, parsed by the transport.
#[derive(Debug, Clone)]
pub struct Rollback {
    /// The repo of the channel.
    pub repo: Name,
    /// The channel to roll back.
    pub channel: Name,
    /// The published release of the channel to roll back to.
    pub target: ReleaseId,
}

/// What publishing a release did.
#[derive(Debug, Clone)]
pub struct Published {
    /// The release as it now is.
    pub release: ReleaseRecord,
    /// The WARNING findings that did not block it.
    pub warnings: Vec<Finding>,
}

/// What a channel rollback did.
#[derive(Debug, Clone)]
pub struct RolledBack {
    /// The target release, as it now is.
    pub release: ReleaseRecord,
    /// The releases it deprecated, in id order.
    pub deprecated: Vec<ReleaseId>,
    /// The channel sequence of the rollback; `None` when nothing was newer than the target.
    pub sequence: Option<i64>,
}

fn violations(findings: &[Finding]) -> Vec<Violation> {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| Violation {
            rule: f.rule.into(),
            subject: f.field.clone(),
            description: f.message.clone(),
        })
        .collect()
}

fn release_event(
    topic: &str,
    r: &ReleaseRecord,
    sequence: i64,
    extra: serde_json::Value,
) -> NewEvent {
    let mut payload = json!({
        "release_id": r.id, "repo": r.repo, "channel": r.channel,
        "version": r.version.to_string(), "sequence": sequence,
    });
    if let (Some(p), serde_json::Value::Object(extra)) = (payload.as_object_mut(), extra) {
        p.extend(extra);
    }
    NewEvent {
        topic: topic.into(),
        repo: r.repo.to_string(),
        payload: payload.to_string(),
    }
}

impl Registry {
    /// Replaces a repo's policies: the artifact roles each channel requires, and retention.
    pub async fn update_repo_policy(
        &self,
        caller: &Caller,
        repo: &Name,
        channels: Vec<(String, Vec<String>)>,
        retention: Retention,
    ) -> Result<Vec<(String, Vec<String>)>> {
        let mut policy = Policy::from_channels(&channels)?;
        policy.retention = retention;
        let (principal, _) = self.writable_repo(caller, repo, Role::Admin).await?;
        let record = audit(
            &principal,
            caller,
            "repo.policy_updated",
            repo,
            repo,
            json!({ "channels": policy.channels, "retention": policy.retention }),
        );
        self.store
            .set_repo_policy(repo, &policy, &record)
            .await
            .map_err(store_error)?;
        self.cache.forget_repo(repo);
        Ok(channels)
    }

    /// Creates a draft release.
    pub async fn create_release(&self, caller: &Caller, new: NewRelease) -> Result<ReleaseRecord> {
        let (principal, _) = self
            .writable_repo(caller, &new.repo, Role::Publisher)
            .await?;
        let now = now_micros();
        let release = ReleaseRecord {
            id: ReleaseId::random(),
            seq: 0,
            repo: new.repo,
            channel: new.channel,
            version: new.version,
            state: ReleaseState::Draft,
            etag: Etag::random(),
            compatibility: new.compatibility,
            notes: new.notes,
            mandatory: new.mandatory,
            sequence: None,
            deprecation_reason: None,
            replacement: None,
            artifacts: Vec::new(),
            created_at: now,
            updated_at: now,
            published_at: None,
        };
        let details = json!({ "channel": release.channel, "version": release.version.to_string() });
        let record = audit(
            &principal,
            caller,
            "release.created",
            &release.repo,
            release.id.to_string(),
            details,
        );
        match self.store.create_release(&release, &record).await {
            Ok(r) => Ok(r),
            Err(StoreError::Conflict) => Err(Error::new(
                ErrorCode::AlreadyExists,
                format!(
                    "release {} already exists in channel {}",
                    release.version, release.channel
                ),
            )),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Loads a release with its artifacts or answers NOT_FOUND.
    pub(in crate::registry) async fn release(&self, id: &ReleaseId) -> Result<ReleaseRecord> {
        self.store
            .get_release(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found(format!("release {id}")))
    }

    /// Loads a release the caller may read: drafts only for publishers.
    pub(super) async fn readable_release(
        &self,
        caller: &Caller,
        id: &ReleaseId,
    ) -> Result<(Principal, ReleaseRecord)> {
        let release = self.release(id).await?;
        let (principal, _) = self.readable_repo(caller, &release.repo).await?;
        if release.state == ReleaseState::Draft && !principal.sees_drafts(&release.repo) {
            return Err(Error::not_found(format!("release {id}")));
        }
        Ok((principal, release))
    }

    /// Returns a release.
    pub async fn get_release(&self, caller: &Caller, id: &ReleaseId) -> Result<ReleaseRecord> {
        Ok(self.readable_release(caller, id).await?.1)
    }

    /// Attaches (`Some(package, version)`) or detaches (`None`) a role of a draft release.
    pub async fn edit_release(&self, caller: &Caller, edit: ArtifactEdit) -> Result<ReleaseRecord> {
        let ArtifactEdit {
            release: id,
            role,
            target,
            etag,
        } = edit;
        let release = self.release(&id).await?;
        let (principal, _) = self
            .writable_repo(caller, &release.repo, Role::Publisher)
            .await?;
        let attached = target.as_ref().map(|(package, version)| VersionKey {
            repo: release.repo.clone(),
            package: package.clone(),
            version: version.clone(),
        });
        let (edit, action, details) = match (target, &attached) {
            (Some((package, version)), Some(key)) => {
                match self.store.get_version(key).await.map_err(store_error)? {
                    None => return Err(Error::not_found(format!("version {key}"))),
                    Some(v) if v.state == VersionState::Removed => return Err(removed(key)),
                    Some(_) => {}
                }
                let details = json!({ "role": role, "package": package, "version": key.version });
                let artifact = Artifact {
                    role: role.clone(),
                    package,
                    version,
                };
                (
                    ReleaseEdit::Attach(artifact),
                    "release.artifact_attached",
                    details,
                )
            }
            _ => (
                ReleaseEdit::Detach(role.clone()),
                "release.artifact_detached",
                json!({ "role": role }),
            ),
        };
        let record = audit(
            &principal,
            caller,
            action,
            &release.repo,
            id.to_string(),
            details,
        );
        match self
            .store
            .edit_release(
                &id,
                etag.as_ref(),
                &Etag::random(),
                now_micros(),
                &edit,
                &record,
            )
            .await
            .map_err(store_error)?
        {
            Outcome::Applied => self.release(&id).await,
            Outcome::Missing => Err(match &attached {
                // The version went (retention) between the check above and the write.
                Some(key) => removed(key),
                None => Error::not_found(format!("artifact {role} of release {id}")),
            }),
            Outcome::GuardFailed => {
                let now = self.release(&id).await?;
                Err(if now.state != ReleaseState::Draft {
                    Error::new(
                        ErrorCode::FailedPrecondition,
                        format!("release {id} is {}: only drafts change", now.state),
                    )
                } else {
                    Error::new(
                        ErrorCode::EtagMismatch,
                        format!("release {id} changed: etag does not match"),
                    )
                })
            }
        }
    }

    /// Lists a repo's releases: with drafts for publishers (`admin`), published ones otherwise.
    pub async fn list_releases(
        &self,
        caller: &Caller,
        repo: &Name,
        channel: Option<&Name>,
        admin: bool,
        page: &Page,
    ) -> Result<Listed<ReleaseRecord>> {
        if admin {
            self.writable_repo(caller, repo, Role::Publisher).await?;
        } else {
            self.readable_repo(caller, repo).await?;
        }
        let rows = self
            .store
            .list_releases(repo, channel, admin, page.after_id()?, page.limit())
            .await
            .map_err(store_error)?;
        Ok(page.listed(rows, |r| r.seq.to_string()))
    }
}

/// The answer to attaching a version that retention removed.
fn removed(key: &VersionKey) -> Error {
    Error::new(
        ErrorCode::FailedPrecondition,
        format!("version {key} was removed by retention"),
    )
}
