//! The retention area: `RetentionStore` over the `versions`, `version_files`, `releases`,
//! `release_artifacts` and `packages` tables. Planning reads the repo inside the write
//! transaction and picks candidates with the pure rules of `domain::retention`; each removal
//! is then a conditional write that re-checks, in the database, that the candidate is still
//! removable (in a state its `Remove` step starts from, named by no release, offered by no
//! channel), so a concurrent attach
//! or publish is never undercut. Removal leaves a tombstone row (`removed_at`), never a hole.

use std::{collections::BTreeMap, sync::Arc};

use async_trait::async_trait;

use super::{Columns, Dialect, SqlStore, Tx, names, placeholders, sql};
use crate::{
    domain::{
        AuditRecord, ReleaseAge, ReleaseState, ReleaseStep, Retention, VersionAge, VersionState,
        VersionStep, releases_to_remove, versions_to_remove,
    },
    store::{Lease, PackageDeletion, Removal, RemovalRecords, RetentionStore, StoreResult},
};

/// The advisory lock key of the retention runner on PostgreSQL (`relreg` + `ret` in ASCII).
const RUNNER_LOCK_KEY: i64 = 0x7265_6c72_6567_7274;

/// Whether a release names the version row `versions` (correlated).
const NAMED_BY_A_RELEASE: &str = "EXISTS (SELECT 1 FROM release_artifacts a \
     JOIN releases r ON r.seq = a.release_seq WHERE r.repo = versions.repo \
     AND a.package = versions.package AND a.version = versions.version)";

/// Whether a channel offers the release row `releases` (correlated).
const OFFERED: &str = "EXISTS (SELECT 1 FROM channel_offers o WHERE o.repo = releases.repo \
     AND o.channel = releases.channel AND o.release_id = releases.id)";

impl<DB: Dialect> Tx<DB> {
    /// Removes the deprecated releases of `repo` the rules let go.
    async fn remove_releases(
        &mut self,
        repo: &str,
        rules: &Retention,
        now: i64,
        records: RemovalRecords<'_>,
        removals: &mut Vec<Removal>,
    ) -> StoreResult<()> {
        let text = format!(
            "SELECT seq, channel, state, sequence, CASE WHEN {OFFERED} THEN CAST(1 AS BIGINT) ELSE CAST(0 AS BIGINT) END \
             AS offered FROM releases WHERE repo = $1 AND state <> $2 \
             AND removed_at IS NULL"
        );
        let rows = self
            .all(sql(&text).bind(repo).bind(ReleaseState::Draft.as_str()))
            .await?;
        let mut by_channel: BTreeMap<String, Vec<ReleaseAge>> = BTreeMap::new();
        for row in &rows {
            by_channel
                .entry(row.text("channel")?)
                .or_default()
                .push(ReleaseAge {
                    seq: row.int("seq")?,
                    sequence: row.opt_int("sequence")?.unwrap_or(0),
                    deprecated: ReleaseStep::Remove
                        .from()
                        .iter()
                        .any(|s| row.text("state").is_ok_and(|t| t == s.as_str())),
                    offered: row.int("offered")? != 0,
                });
        }
        let from = ReleaseStep::Remove.from();
        let remove = format!(
            "UPDATE releases SET removed_at = $1 WHERE seq = $2 AND state IN ({}) \
             AND removed_at IS NULL AND NOT {OFFERED} RETURNING id, channel, version",
            placeholders(3, from.len())
        );
        for seq in by_channel
            .values()
            .flat_map(|releases| releases_to_remove(rules, releases))
        {
            let stmt = sql(&remove).bind(now).bind(seq).bind_all(names(from));
            let Some(row) = self.optional(stmt).await? else {
                continue;
            };
            self.execute(sql("DELETE FROM release_artifacts WHERE release_seq = $1").bind(seq))
                .await?;
            let removal = Removal::Release {
                id: row.text("id")?,
                channel: row.text("channel")?,
                version: row.text("version")?,
            };
            self.write_audit(&records(&removal)).await?;
            removals.push(removal);
        }
        Ok(())
    }

    /// Removes the yanked and deprecated versions of `repo` the rules let go.
    async fn remove_versions(
        &mut self,
        repo: &str,
        rules: &Retention,
        now: i64,
        records: RemovalRecords<'_>,
        removals: &mut Vec<Removal>,
    ) -> StoreResult<()> {
        let text = format!(
            "SELECT seq, package, state, published_at, created_at, \
             CASE WHEN {NAMED_BY_A_RELEASE} THEN CAST(1 AS BIGINT) ELSE CAST(0 AS BIGINT) END AS referenced FROM versions \
             WHERE repo = $1 AND state <> $2 AND removed_at IS NULL"
        );
        let rows = self
            .all(sql(&text).bind(repo).bind(VersionState::Draft.as_str()))
            .await?;
        let mut by_package: BTreeMap<String, Vec<VersionAge>> = BTreeMap::new();
        for row in &rows {
            by_package
                .entry(row.text("package")?)
                .or_default()
                .push(VersionAge {
                    seq: row.int("seq")?,
                    published_at: row
                        .opt_int("published_at")?
                        .map_or_else(|| row.int("created_at"), Ok)?,
                    referenced: row.int("referenced")? != 0,
                });
        }
        let from = VersionStep::Remove.from();
        let remove = format!(
            "UPDATE versions SET removed_at = $1, manifest = '{{}}' WHERE seq = $2 \
             AND removed_at IS NULL AND state IN ({}) \
             AND NOT {NAMED_BY_A_RELEASE} RETURNING package, version, state",
            placeholders(3, from.len())
        );
        for seq in by_package
            .values()
            .flat_map(|versions| versions_to_remove(rules, versions, now))
        {
            // Locks the row first: an attach of this version holds the same lock until it
            // commits, so the check below (a new statement, hence a fresh snapshot on
            // PostgreSQL) sees its artifact.
            let held = self
                .execute(
                    sql("UPDATE versions SET updated_at = updated_at \
                         WHERE seq = $1 AND removed_at IS NULL")
                    .bind(seq),
                )
                .await?;
            if held == 0 {
                continue;
            }
            let stmt = sql(&remove).bind(now).bind(seq).bind_all(names(from));
            let Some(row) = self.optional(stmt).await? else {
                continue;
            };
            self.execute(sql("DELETE FROM version_files WHERE version_seq = $1").bind(seq))
                .await?;
            let removal = Removal::Version {
                package: row.text("package")?,
                version: row.text("version")?,
                state: row.text("state")?,
            };
            self.write_audit(&records(&removal)).await?;
            removals.push(removal);
        }
        Ok(())
    }
}

/// The lease of the PostgreSQL runner: a transaction holding the advisory lock.
struct TxLease<DB: sqlx::Database>(Tx<DB>);

#[async_trait]
impl<DB: Dialect> Lease for TxLease<DB> {
    async fn release(self: Box<Self>) {
        if let Err(e) = self.0.rollback().await {
            tracing::warn!(error = %e, "releasing the retention runner lock");
        }
    }
}

/// The lease of the SQLite runner: a lock in this process.
struct LocalLease(#[allow(dead_code)] tokio::sync::OwnedMutexGuard<()>);

#[async_trait]
impl Lease for LocalLease {
    async fn release(self: Box<Self>) {}
}

/// The process-wide runner lock for SQLite.
fn local_runner_lock() -> Arc<tokio::sync::Mutex<()>> {
    static LOCK: std::sync::LazyLock<Arc<tokio::sync::Mutex<()>>> =
        std::sync::LazyLock::new(Arc::default);
    LOCK.clone()
}

#[async_trait]
impl<DB: Dialect> RetentionStore for SqlStore<DB> {
    async fn run_retention(
        &self,
        repo: &str,
        rules: &Retention,
        now: i64,
        dry_run: bool,
        records: RemovalRecords<'_>,
    ) -> StoreResult<Vec<Removal>> {
        let mut removals = Vec::new();
        if rules.is_empty() {
            return Ok(removals);
        }
        let mut tx = self.begin_write().await?;
        tx.remove_releases(repo, rules, now, records, &mut removals)
            .await?;
        tx.remove_versions(repo, rules, now, records, &mut removals)
            .await?;
        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(removals)
    }

    async fn delete_package(
        &self,
        repo: &str,
        package: &str,
        audit: &AuditRecord,
    ) -> StoreResult<PackageDeletion> {
        let mut tx = self.begin_write().await?;
        let drafts = tx
            .execute(
                sql("DELETE FROM versions WHERE repo = $1 AND package = $2 AND state = $3")
                    .bind(repo)
                    .bind(package)
                    .bind(VersionState::Draft.as_str()),
            )
            .await?;
        let deleted = tx
            .execute(
                sql(
                    "DELETE FROM packages WHERE repo = $1 AND name = $2 AND NOT EXISTS \
                     (SELECT 1 FROM versions v WHERE v.repo = $1 AND v.package = $2)",
                )
                .bind(repo)
                .bind(package),
            )
            .await;
        match deleted {
            Ok(1) => {
                tx.write_audit(audit).await?;
                tx.commit().await?;
                Ok(PackageDeletion::Deleted { drafts })
            }
            // A version inserted meanwhile still points at the package.
            Err(crate::store::StoreError::NotFound) => Ok(PackageDeletion::InUse),
            Err(e) => Err(e),
            Ok(_) => {
                let exists = tx
                    .optional(
                        sql("SELECT 1 AS one FROM packages WHERE repo = $1 AND name = $2")
                            .bind(repo)
                            .bind(package),
                    )
                    .await?
                    .is_some();
                tx.rollback().await?;
                Ok(if exists {
                    PackageDeletion::InUse
                } else {
                    PackageDeletion::Missing
                })
            }
        }
    }

    async fn runner_lease(&self) -> StoreResult<Option<Box<dyn Lease>>> {
        if DB::NAME != "PostgreSQL" {
            return Ok(local_runner_lock()
                .try_lock_owned()
                .ok()
                .map(|guard| Box::new(LocalLease(guard)) as Box<dyn Lease>));
        }
        // A transaction-scoped lock: however the holder ends (release, crash, lost
        // connection), the database lets go of it.
        let pool_tx = self.pool.begin().await.map_err(super::classify)?;
        let mut tx = Tx(pool_tx, super::Wake::default());
        let held = tx
            .one(sql("SELECT pg_try_advisory_xact_lock($1) AS held").bind(RUNNER_LOCK_KEY))
            .await?
            .flag("held")?;
        if !held {
            tx.rollback().await?;
            return Ok(None);
        }
        Ok(Some(Box::new(TxLease(tx))))
    }
}
