//! The release lifecycle: validation, validation-gated publish with the channel's next
//! sequence, deprecation, and channel rollback, each committed with its audit record and event.

use serde_json::json;

use super::{Published, ReleaseDeprecation, Rollback, RolledBack, release_event, violations};
use crate::{
    domain::{
        AttachedVersion, Error, ErrorCode, Etag, Finding, ReleaseId, ReleaseRecord, ReleaseState,
        Result, Role, Severity, VersionKey, validate_release,
    },
    registry::{Caller, Registry, audit, now_micros, store_error},
};

impl Registry {
    /// Validates a release as it stands.
    pub async fn validate_release(&self, caller: &Caller, id: &ReleaseId) -> Result<Vec<Finding>> {
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
                state: v.map(|v| v.state),
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
        id: &ReleaseId,
        etag: Option<&Etag>,
    ) -> Result<Published> {
        let release = self.release(id).await?;
        let (principal, _) = self
            .writable_repo(caller, &release.repo, Role::Publisher)
            .await?;
        for _ in 0..crate::registry::PUBLISH_ATTEMPTS {
            let release = self.release(id).await?;
            if release.state != ReleaseState::Draft {
                return Ok(Published {
                    release,
                    warnings: Vec::new(),
                });
            }
            if etag.is_some_and(|e| *e != release.etag) {
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
                let details = json!({
                    "channel": release.channel, "version": release.version.to_string(),
                    "sequence": sequence,
                });
                let record = audit(
                    &principal,
                    caller,
                    "release.published",
                    &release.repo,
                    id.to_string(),
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
                let published = self.release(id).await?;
                self.after_channel_change(&release.repo, &release.channel, Some(&published))
                    .await;
                let warnings = findings
                    .into_iter()
                    .filter(|f| f.severity == Severity::Warning)
                    .collect();
                return Ok(Published {
                    release: published,
                    warnings,
                });
            }
            // Published concurrently, edited since validation, or an artifact changed state:
            // look again.
        }
        Err(Error::new(
            ErrorCode::Aborted,
            format!("release {id} kept changing while publishing; try again"),
        ))
    }

    /// Stops offering a published release; deprecating it again returns it unchanged.
    pub async fn deprecate_release(
        &self,
        caller: &Caller,
        deprecation: ReleaseDeprecation,
    ) -> Result<ReleaseRecord> {
        let ReleaseDeprecation {
            release: id,
            reason,
            replacement,
        } = deprecation;
        let id = &id;
        let release = self.release(id).await?;
        let (principal, _) = self
            .writable_repo(caller, &release.repo, Role::Publisher)
            .await?;
        if let Some(replacement) = &replacement {
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
            let details = json!({
                "reason": reason,
                "replacement": replacement.map(|r| r.to_string()).unwrap_or_default(),
                "sequence": sequence,
            });
            let record = audit(
                &principal,
                caller,
                "release.deprecated",
                &release.repo,
                id.to_string(),
                details.clone(),
            );
            (
                record,
                release_event("release.deprecated", &release, sequence, details),
            )
        };
        let changed = self
            .store
            .deprecate_release(id, &reason, replacement.as_ref(), now_micros(), &records)
            .await
            .map_err(store_error)?;
        let now = self.release(id).await?;
        match (changed, now.state) {
            (Some(_), _) => {
                self.cache.forget_channel(&release.repo, &release.channel);
                self.after_channel_change(&release.repo, &release.channel, None)
                    .await;
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
        rollback: Rollback,
    ) -> Result<RolledBack> {
        let Rollback {
            repo,
            channel,
            target: target_id,
        } = rollback;
        let (principal, _) = self.writable_repo(caller, &repo, Role::Publisher).await?;
        let (repo, channel, target_id) = (repo.as_str(), channel.as_str(), &target_id);
        let target = self.release(target_id).await?;
        if target.repo != repo || target.channel != channel {
            return Err(Error::invalid(
                "release_id",
                format!("release {target_id} is not in channel {channel} of {repo}"),
            ));
        }
        let reason = format!("rolled back to {}", target.version);
        let records = |sequence: i64| {
            let details = json!({
                "target": target.id, "version": target.version.to_string(), "sequence": sequence,
            });
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
            self.after_channel_change(repo, channel, None).await;
        }
        Ok(RolledBack {
            release: self.release(target_id).await?,
            deprecated: outcome.deprecated,
            sequence: outcome.sequence,
        })
    }
}
