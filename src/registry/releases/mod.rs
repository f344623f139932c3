//! Releases: repo channel policies, drafts with artifacts, reading and listing them; the
//! lifecycle (validate, publish, deprecate, rollback) lives in `lifecycle`.

mod lifecycle;

use serde_json::json;

use super::{Caller, Page, Principal, Registry, audit, new_etag, now_micros, store_error};
use crate::{
    domain::{
        Artifact, Compatibility, Error, ErrorCode, Finding, Policy, ReleaseRecord, ReleaseState,
        Result, Retention, Role, Severity, VersionKey, VersionState, Violation, parse_app_version,
        parse_name, parse_semver,
    },
    store::{NewEvent, Outcome, ReleaseEdit, StoreError},
};

/// A release to create.
#[derive(Debug, Clone, Default)]
pub struct NewRelease {
    /// The repo to create it in.
    pub repo: String,
    /// The channel it will be offered on.
    pub channel: String,
    /// Its semver version, unique in the channel.
    pub version: String,
    /// Which app versions and platforms it is for.
    pub compatibility: Compatibility,
    /// Release notes for people; may be empty.
    pub notes: String,
    /// Whether clients it admits must install it before going on.
    pub mandatory: bool,
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
        "release_id": r.id, "repo": r.repo, "channel": r.channel, "version": r.version, "sequence": sequence,
    });
    if let (Some(p), serde_json::Value::Object(extra)) = (payload.as_object_mut(), extra) {
        p.extend(extra);
    }
    NewEvent {
        topic: topic.into(),
        repo: r.repo.clone(),
        payload: payload.to_string(),
    }
}

impl Registry {
    /// Replaces a repo's policies: the artifact roles each channel requires, and retention.
    pub async fn update_repo_policy(
        &self,
        caller: &Caller,
        repo: &str,
        channels: Vec<(String, Vec<String>)>,
        retention: Retention,
    ) -> Result<Vec<(String, Vec<String>)>> {
        parse_name("repo", repo)?;
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
        parse_name("repo", &new.repo)?;
        parse_name("channel", &new.channel)?;
        parse_semver("version", &new.version)?;
        let c = &new.compatibility;
        if !c.min_app_version.is_empty() {
            parse_app_version("min_app_version", &c.min_app_version)?;
        }
        if !c.max_app_version.is_empty() {
            parse_app_version("max_app_version", &c.max_app_version)?;
        }
        for (i, p) in c.platforms.iter().enumerate() {
            parse_name(&format!("platforms[{i}]"), p)?;
        }
        let (principal, _) = self
            .writable_repo(caller, &new.repo, Role::Publisher)
            .await?;
        let now = now_micros();
        let release = ReleaseRecord {
            id: format!("rel_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
            seq: 0,
            repo: new.repo,
            channel: new.channel,
            version: new.version,
            state: ReleaseState::Draft,
            etag: new_etag(),
            compatibility: new.compatibility,
            notes: new.notes,
            mandatory: new.mandatory,
            sequence: None,
            deprecation_reason: String::new(),
            replacement: String::new(),
            artifacts: Vec::new(),
            created_at: now,
            updated_at: now,
            published_at: None,
        };
        let details = json!({ "channel": release.channel, "version": release.version });
        let record = audit(
            &principal,
            caller,
            "release.created",
            &release.repo,
            &release.id,
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
    async fn release(&self, id: &str) -> Result<ReleaseRecord> {
        if id.is_empty() {
            return Err(Error::invalid("release_id", "is required"));
        }
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
        id: &str,
    ) -> Result<(Principal, ReleaseRecord)> {
        let release = self.release(id).await?;
        let (principal, _) = self.readable_repo(caller, &release.repo).await?;
        if release.state == ReleaseState::Draft && !principal.sees_drafts(&release.repo) {
            return Err(Error::not_found(format!("release {id}")));
        }
        Ok((principal, release))
    }

    /// Returns a release.
    pub async fn get_release(&self, caller: &Caller, id: &str) -> Result<ReleaseRecord> {
        Ok(self.readable_release(caller, id).await?.1)
    }

    /// Attaches (`Some(package, version)`) or detaches (`None`) a role of a draft release.
    pub async fn edit_release(
        &self,
        caller: &Caller,
        id: &str,
        role: &str,
        target: Option<(&str, &str)>,
        etag: &str,
    ) -> Result<ReleaseRecord> {
        parse_name("role", role)?;
        let release = self.release(id).await?;
        let (principal, _) = self
            .writable_repo(caller, &release.repo, Role::Publisher)
            .await?;
        let (edit, action, details) = match target {
            Some((package, version)) => {
                parse_name("package", package)?;
                parse_semver("version", version)?;
                let key = VersionKey {
                    repo: release.repo.clone(),
                    package: package.into(),
                    version: version.into(),
                };
                match self.store.get_version(&key).await.map_err(store_error)? {
                    None => return Err(Error::not_found(format!("version {key}"))),
                    Some(v) if v.state == VersionState::Removed => return Err(removed(&key)),
                    Some(_) => {}
                }
                let artifact = Artifact {
                    role: role.into(),
                    package: package.into(),
                    version: version.into(),
                };
                let details = json!({ "role": role, "package": package, "version": version });
                (
                    ReleaseEdit::Attach(artifact),
                    "release.artifact_attached",
                    details,
                )
            }
            None => (
                ReleaseEdit::Detach(role.into()),
                "release.artifact_detached",
                json!({ "role": role }),
            ),
        };
        let record = audit(&principal, caller, action, &release.repo, id, details);
        let etag = (!etag.is_empty()).then_some(etag);
        match self
            .store
            .edit_release(id, etag, &new_etag(), now_micros(), &edit, &record)
            .await
            .map_err(store_error)?
        {
            Outcome::Applied => self.release(id).await,
            Outcome::Missing => Err(match target {
                // The version went (retention) between the check above and the write.
                Some((package, version)) => removed(&VersionKey {
                    repo: release.repo.clone(),
                    package: package.into(),
                    version: version.into(),
                }),
                None => Error::not_found(format!("artifact {role} of release {id}")),
            }),
            Outcome::GuardFailed => {
                let now = self.release(id).await?;
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
        repo: &str,
        channel: &str,
        admin: bool,
        page: &Page,
    ) -> Result<(Vec<ReleaseRecord>, String)> {
        parse_name("repo", repo)?;
        if !channel.is_empty() {
            parse_name("channel", channel)?;
        }
        if admin {
            self.writable_repo(caller, repo, Role::Publisher).await?;
        } else {
            self.readable_repo(caller, repo).await?;
        }
        let channel = (!channel.is_empty()).then_some(channel);
        let mut rows = self
            .store
            .list_releases(repo, channel, admin, page.after_id()?, page.limit())
            .await
            .map_err(store_error)?;
        let next = page.finish(&mut rows, |r| r.seq.to_string());
        Ok((rows, next))
    }
}

/// The answer to attaching a version that retention removed.
fn removed(key: &VersionKey) -> Error {
    Error::new(
        ErrorCode::FailedPrecondition,
        format!("version {key} was removed by retention"),
    )
}
