//! Releases: policies, drafts with artifacts, validation-gated publish with channel sequences,
//! deprecation and rollback, and the mobile hot path — the "latest" decision and manifests.

use serde_json::json;

use super::{Caller, Page, Principal, Registry, audit, new_etag, now_micros, store_error};
use crate::{
    domain::{
        Artifact, AttachedVersion, Compatibility, Error, ErrorCode, Finding, Policy, ReleaseRecord,
        ReleaseState, Result, Role, Severity, VersionKey, Violation, parse_app_version, parse_name,
        parse_semver, validate_release,
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
    /// Replaces a repo's channel policies: the artifact roles each channel requires.
    pub async fn update_repo_policy(
        &self,
        caller: &Caller,
        repo: &str,
        channels: Vec<(String, Vec<String>)>,
    ) -> Result<Vec<(String, Vec<String>)>> {
        parse_name("repo", repo)?;
        let policy = Policy::from_channels(&channels)?;
        let (principal, _) = self.writable_repo(caller, repo, Role::Admin).await?;
        let record = audit(
            &principal,
            caller,
            "repo.policy_updated",
            repo,
            repo,
            json!({ "channels": policy.channels }),
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
                if self
                    .store
                    .get_version(&key)
                    .await
                    .map_err(store_error)?
                    .is_none()
                {
                    return Err(Error::not_found(format!("version {key}")));
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
            Outcome::Missing => Err(Error::not_found(format!("artifact {role} of release {id}"))),
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

    /// Validates a release as it stands.
    pub async fn validate_release(&self, caller: &Caller, id: &str) -> Result<Vec<Finding>> {
        let (_, release) = self.readable_release(caller, id).await?;
        self.findings(&release).await
    }

    async fn findings(&self, release: &ReleaseRecord) -> Result<Vec<Finding>> {
        let repo = self.current_repo(&release.repo).await?;
        let mut attached = Vec::with_capacity(release.artifacts.len());
        for a in &release.artifacts {
            let key = VersionKey {
                repo: release.repo.clone(),
                package: a.package.clone(),
                version: a.version.clone(),
            };
            let v = self.store.get_version(&key).await.map_err(store_error)?;
            attached.push(AttachedVersion {
                artifact: a.clone(),
                state: v.as_ref().map(|v| v.state),
                files: v
                    .map(|v| {
                        v.files
                            .into_iter()
                            .map(|f| (f.path, f.digest, f.size))
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
        Ok(validate_release(
            release,
            repo.policy.required_roles(&release.channel),
            &attached,
        ))
    }

    /// Publishes a draft release when no ERROR finding stands; the flip, the channel's next
    /// sequence, the audit record and one outbox event commit together. A retry returns the
    /// published release and records nothing.
    pub async fn publish_release(
        &self,
        caller: &Caller,
        id: &str,
        etag: &str,
    ) -> Result<(ReleaseRecord, Vec<Finding>)> {
        let release = self.release(id).await?;
        let (principal, _) = self
            .writable_repo(caller, &release.repo, Role::Publisher)
            .await?;
        for _ in 0..super::PUBLISH_ATTEMPTS {
            let release = self.release(id).await?;
            if release.state != ReleaseState::Draft {
                return Ok((release, Vec::new()));
            }
            if !etag.is_empty() && etag != release.etag {
                return Err(Error::new(
                    ErrorCode::EtagMismatch,
                    format!("release {id} changed: etag does not match"),
                ));
            }
            let findings = self.findings(&release).await?;
            if findings.iter().any(|f| f.severity == Severity::Error) {
                let mut e = Error::new(
                    ErrorCode::ValidationFailed,
                    format!("release {id} does not pass validation"),
                );
                e.violations = violations(&findings);
                return Err(e);
            }
            let records = |sequence: i64| {
                let details = json!({ "channel": release.channel, "version": release.version, "sequence": sequence });
                let record = audit(
                    &principal,
                    caller,
                    "release.published",
                    &release.repo,
                    id,
                    details,
                );
                (
                    record,
                    release_event("release.published", &release, sequence, json!({})),
                )
            };
            let published = self
                .store
                .publish_release(id, &release.etag, now_micros(), &records)
                .await
                .map_err(store_error)?;
            if published.is_some() {
                crate::metrics::record_publish("release");
                self.cache.forget_channel(&release.repo, &release.channel);
                let warnings = findings
                    .into_iter()
                    .filter(|f| f.severity == Severity::Warning)
                    .collect();
                return Ok((self.release(id).await?, warnings));
            }
            // Published concurrently, edited since validation, or an artifact changed state:
            // look again.
        }
        Err(Error::new(
            ErrorCode::FailedPrecondition,
            format!("release {id} kept changing while publishing"),
        ))
    }

    /// Stops offering a published release; deprecating it again returns it unchanged.
    pub async fn deprecate_release(
        &self,
        caller: &Caller,
        id: &str,
        reason: &str,
        replacement: &str,
    ) -> Result<ReleaseRecord> {
        if reason.trim().is_empty() {
            return Err(Error::invalid("reason", "is required"));
        }
        let release = self.release(id).await?;
        let (principal, _) = self
            .writable_repo(caller, &release.repo, Role::Publisher)
            .await?;
        if !replacement.is_empty() {
            let other = self
                .release(replacement)
                .await
                .map_err(|e| Error::invalid("replacement", e.message))?;
            if other.repo != release.repo
                || other.channel != release.channel
                || other.id == release.id
            {
                return Err(Error::invalid(
                    "replacement",
                    "must be another release of the same channel",
                ));
            }
        }
        let records = |sequence: i64| {
            let details =
                json!({ "reason": reason, "replacement": replacement, "sequence": sequence });
            let record = audit(
                &principal,
                caller,
                "release.deprecated",
                &release.repo,
                id,
                details.clone(),
            );
            (
                record,
                release_event("release.deprecated", &release, sequence, details),
            )
        };
        let changed = self
            .store
            .deprecate_release(id, reason, replacement, now_micros(), &records)
            .await
            .map_err(store_error)?;
        let now = self.release(id).await?;
        match (changed, now.state) {
            (Some(_), _) => {
                self.cache.forget_channel(&release.repo, &release.channel);
                Ok(now)
            }
            (None, ReleaseState::Deprecated) => Ok(now),
            (None, state) => Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!("release {id} is {state}: only published releases are deprecated"),
            )),
        }
    }

    /// Points a channel back at an earlier published release: every newer published release in
    /// the channel is deprecated with reason "rolled back to X", with one event and one sequence.
    pub async fn rollback_channel(
        &self,
        caller: &Caller,
        repo: &str,
        channel: &str,
        target_id: &str,
    ) -> Result<(ReleaseRecord, Vec<String>, Option<i64>)> {
        parse_name("repo", repo)?;
        parse_name("channel", channel)?;
        let (principal, _) = self.writable_repo(caller, repo, Role::Publisher).await?;
        let target = self.release(target_id).await?;
        if target.repo != repo || target.channel != channel {
            return Err(Error::invalid(
                "release_id",
                format!("release {target_id} is not in channel {channel} of {repo}"),
            ));
        }
        let reason = format!("rolled back to {}", target.version);
        let records = |sequence: i64| {
            let details =
                json!({ "target": target.id, "version": target.version, "sequence": sequence });
            let record = audit(
                &principal,
                caller,
                "channel.rolled_back",
                repo,
                channel,
                details.clone(),
            );
            (
                record,
                release_event("channel.rolled_back", &target, sequence, details),
            )
        };
        let outcome = self
            .store
            .rollback_channel(&target, &reason, now_micros(), &records)
            .await
            .map_err(store_error)?;
        let Some(outcome) = outcome else {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "release {target_id} is {}: a channel rolls back only to a published release",
                    target.state
                ),
            ));
        };
        if outcome.sequence.is_some() {
            self.cache.forget_channel(repo, channel);
        }
        Ok((
            self.release(target_id).await?,
            outcome.deprecated,
            outcome.sequence,
        ))
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
