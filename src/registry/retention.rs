//! Retention and package deletion: running a repo's retention policy on demand (or as a dry
//! run that only lists what would go), the background runner that runs it for every repo
//! (one runner at a time across servers), and deleting a package that never published.
//! What may go is decided in the store's transaction; here are authorization and audit.

use std::time::Duration;

use serde_json::json;

use super::{Caller, Principal, Registry, audit, now_micros, store_error};
use crate::{
    domain::{Error, ErrorCode, Name, ReleaseId, Repo, Result, Role},
    store::{PackageDeletion, Removal},
};

/// Repos the background runner reads per page.
const REPO_PAGE: i64 = 100;

impl Registry {
    /// Runs a repo's retention policy (admin): removes what it lets go, or on a `dry_run`
    /// lists what would go and changes nothing. Every removal is audited.
    pub async fn run_retention(
        &self,
        caller: &Caller,
        repo: &Name,
        dry_run: bool,
    ) -> Result<Vec<Removal>> {
        let (principal, repo) = self.writable_repo(caller, repo, Role::Admin).await?;
        self.retain(&principal, caller, &repo, dry_run).await
    }

    /// Runs one repo's retention as `principal`.
    async fn retain(
        &self,
        principal: &Principal,
        caller: &Caller,
        repo: &Repo,
        dry_run: bool,
    ) -> Result<Vec<Removal>> {
        let records = |removal: &Removal| {
            let (action, target, details) = match removal {
                Removal::Version {
                    package,
                    version,
                    state,
                } => (
                    "version.removed",
                    format!("{package}@{version}"),
                    json!({ "state": state, "retention": repo.policy.retention }),
                ),
                Removal::Release {
                    id,
                    channel,
                    version,
                } => (
                    "release.removed",
                    id.clone(),
                    json!({
                        "channel": channel,
                        "version": version,
                        "retention": repo.policy.retention,
                    }),
                ),
            };
            audit(principal, caller, action, &repo.key, target, details)
        };
        let removals = self
            .store
            .run_retention(
                &repo.key,
                &repo.policy.retention,
                now_micros(),
                dry_run,
                &records,
            )
            .await
            .map_err(store_error)?;
        if !dry_run {
            for removal in &removals {
                if let Removal::Release { id, .. } = removal
                    && let Ok(id) = ReleaseId::named("id", id)
                {
                    self.cache.forget_manifest(&id);
                }
            }
            if !removals.is_empty() {
                tracing::info!(repo = %repo.key, removed = removals.len(), "retention removed");
            }
            // Removed releases leave the repo's TUF targets now, not at the next keeper round.
            if removals
                .iter()
                .any(|r| matches!(r, Removal::Release { .. }))
                && let Err(e) = self.refresh_tuf(&repo.key, false).await
            {
                tracing::warn!(error = %e, repo = %repo.key, "re-signing the TUF metadata failed");
            }
        }
        Ok(removals)
    }

    /// Runs every repo's retention once, if this process holds the runner lease (no other
    /// runner is at work); returns how many removals it made, `None` without the lease.
    pub async fn run_retention_everywhere(&self) -> Result<Option<usize>> {
        let Some(lease) = self.store.runner_lease().await.map_err(store_error)? else {
            return Ok(None);
        };
        let result = self.retain_every_repo().await;
        lease.release().await;
        result.map(Some)
    }

    async fn retain_every_repo(&self) -> Result<usize> {
        let caller = Caller {
            request_id: "retention-runner".into(),
            ..Caller::default()
        };
        let mut after: Option<Name> = None;
        let mut removed = 0;
        loop {
            let repos = self
                .store
                .list_repos(true, None, after.as_ref(), REPO_PAGE)
                .await
                .map_err(store_error)?;
            for repo in &repos {
                if repo.policy.retention.is_empty() {
                    continue;
                }
                match self.retain(&Principal::Local, &caller, repo, false).await {
                    Ok(removals) => removed += removals.len(),
                    Err(e) => tracing::warn!(repo = %repo.key, error = %e, "retention failed"),
                }
            }
            match repos.last() {
                Some(last) if repos.len() as i64 == REPO_PAGE => after = Some(last.key.clone()),
                _ => return Ok(removed),
            }
        }
    }

    /// Runs every repo's retention every `every`, until the task is dropped.
    pub async fn run_retention_every(&self, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.run_retention_everywhere().await {
                Ok(None) => tracing::debug!("retention: another runner holds the lease"),
                Ok(Some(_)) => {}
                Err(e) => tracing::warn!(error = %e, "retention run failed"),
            }
        }
    }

    /// Deletes a package with its drafts (publisher); FAILED_PRECONDITION when a version of it
    /// was ever published. Returns how many drafts went with it.
    pub async fn delete_package(
        &self,
        caller: &Caller,
        repo: &Name,
        package: &Name,
    ) -> Result<u64> {
        let (principal, _) = self.writable_repo(caller, repo, Role::Publisher).await?;
        let record = audit(
            &principal,
            caller,
            "package.deleted",
            repo,
            package,
            json!({}),
        );
        match self
            .store
            .delete_package(repo, package, &record)
            .await
            .map_err(store_error)?
        {
            PackageDeletion::Deleted { drafts } => Ok(drafts),
            PackageDeletion::InUse => Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "package {repo}/{package} has versions that were published \
                     (their version strings stay taken): it cannot be deleted"
                ),
            )),
            PackageDeletion::Missing => Err(Error::not_found(format!("package {repo}/{package}"))),
        }
    }
}
