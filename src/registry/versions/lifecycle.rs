//! The version state machine: validation-gated atomic publish, deprecate and yank, each a
//! guarded transition recorded with its audit entry and outbox event.

use serde_json::json;

use super::{target, version_event, with_digest};
use crate::{
    domain::{
        Error, ErrorCode, Etag, Manifest, Result, Role, VersionKey, VersionRecord, VersionState,
        VersionStep, content_digest, parse_manifest, validator_for,
    },
    registry::{Caller, Principal, Registry, audit, now_micros, store_error},
    store::{Guard, Outcome, Recorded, Transition},
};

/// A step of a released version as `transition` takes it: what it records and writes.
struct Step {
    /// The audit action and event topic, e.g. `version.yanked`.
    action: &'static str,
    /// The step of the state machine.
    step: VersionStep,
    /// The fields it writes.
    change: Transition,
    /// The audit details and event payload additions.
    details: serde_json::Value,
}

/// A deprecation of a version, as requested.
#[derive(Debug, Clone)]
pub struct VersionDeprecation {
    /// The version to deprecate.
    pub key: VersionKey,
    /// Why; never blank.
    pub reason: String,
    /// The version readers should move to instead.
    pub replacement: Option<semver::Version>,
}

impl Registry {
    /// Publishes a draft: every file's blob must be in the repo and the manifest must pass its
    /// kind; the state flips in one transaction with its audit record and one outbox event.
    /// Publishing a published version again returns it unchanged and records nothing.
    pub async fn publish_version(
        &self,
        caller: &Caller,
        key: &VersionKey,
        etag: Option<&Etag>,
    ) -> Result<VersionRecord> {
        let repo = &key.repo;
        let (principal, _) = self.writable_repo(caller, repo, Role::Publisher).await?;
        let pkg = self.package(repo, &key.package).await?;
        for _ in 0..crate::registry::PUBLISH_ATTEMPTS {
            let v = self.version(key).await?;
            if v.state.is_released() {
                return with_digest(v);
            }
            if etag.is_some_and(|e| *e != v.etag) {
                return Err(Error::new(
                    ErrorCode::EtagMismatch,
                    format!("version {key} changed: etag does not match"),
                ));
            }
            let manifest = parse_manifest("manifest", &v.manifest).map_err(Error::internal)?;
            self.check_publishable(&pkg.kind, &v, &manifest).await?;
            let digest = content_digest(&v.files, &manifest);
            let details = json!({ "content_digest": digest.to_string(), "files": v.files.len() });
            let change = Transition {
                at: now_micros(),
                records: Recorded::Publish {
                    content_digest: digest,
                },
            };
            let record = audit(
                &principal,
                caller,
                "version.published",
                repo,
                target(key),
                details,
            );
            let event = version_event(
                "version.published",
                key,
                json!({ "content_digest": digest.to_string() }),
            );
            let guard = Guard {
                key,
                step: VersionStep::Publish,
                etag: Some(&v.etag),
            };
            match self
                .store
                .transition_version(guard, &change, &record, Some(&event))
                .await
            {
                Ok(Outcome::Applied) => {
                    crate::metrics::record_publish("version");
                    return with_digest(self.version(key).await?);
                }
                // Published by a concurrent caller, or edited since it was read: look again.
                Ok(_) => continue,
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(Error::new(
            ErrorCode::Aborted,
            format!("version {key} kept changing while publishing; try again"),
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
        deprecation: VersionDeprecation,
    ) -> Result<VersionRecord> {
        let VersionDeprecation {
            key,
            reason,
            replacement,
        } = deprecation;
        let key = &key;
        let (principal, _) = self
            .writable_repo(caller, &key.repo, Role::Publisher)
            .await?;
        if let Some(replacement) = &replacement {
            let other = self.version(&key.at(replacement.clone())).await?;
            if !other.state.is_released()
                || other.state == VersionState::Removed
                || *replacement == key.version
            {
                return Err(Error::invalid(
                    "replacement",
                    format!("{replacement} is not another published version"),
                ));
            }
        }
        let details = json!({
            "reason": reason,
            "replacement": replacement.as_ref().map(ToString::to_string).unwrap_or_default(),
        });
        let change = Transition {
            at: now_micros(),
            records: Recorded::Deprecate {
                reason,
                replacement,
            },
        };
        let step = Step {
            action: "version.deprecated",
            step: VersionStep::Deprecate,
            change,
            details,
        };
        self.transition(&principal, caller, key, step).await
    }

    /// Yanks a published or deprecated version: it no longer resolves for new consumers.
    pub async fn yank_version(
        &self,
        caller: &Caller,
        key: &VersionKey,
        reason: &str,
    ) -> Result<VersionRecord> {
        let (principal, _) = self
            .writable_repo(caller, &key.repo, Role::Publisher)
            .await?;
        let change = Transition {
            at: now_micros(),
            records: Recorded::Yank {
                reason: reason.into(),
            },
        };
        let step = Step {
            action: "version.yanked",
            step: VersionStep::Yank,
            change,
            details: json!({ "reason": reason }),
        };
        self.transition(&principal, caller, key, step).await
    }

    /// Takes a step of a released version if it is in one of the step's `from` states; a
    /// version already in the step's target state is returned as is (idempotent, nothing
    /// recorded).
    async fn transition(
        &self,
        principal: &Principal,
        caller: &Caller,
        key: &VersionKey,
        step: Step,
    ) -> Result<VersionRecord> {
        let Step {
            action,
            step,
            change,
            details,
        } = step;
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
            step,
            etag: None,
        };
        let outcome = self
            .store
            .transition_version(guard, &change, &record, Some(&event))
            .await;
        let v = self.version(key).await?;
        match outcome.map_err(store_error)? {
            Outcome::Applied => with_digest(v),
            _ if Some(v.state) == step.to() => with_digest(v),
            _ if v.state == VersionState::Draft => Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!("version {key} is a draft: publish it first"),
            )),
            _ => Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "version {key} is {}: cannot become {}",
                    v.state,
                    step.to().map_or("deleted", VersionState::as_str)
                ),
            )),
        }
    }
}
