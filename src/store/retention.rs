//! The retention area's contract: removing what a repo's retention policy lets go (leaving
//! tombstones), deleting packages that never published, and the lease that lets one retention
//! runner work at a time across servers. `sql/retention.rs` implements it.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{AuditRecord, Retention};

/// What retention removed (or would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// A version, now a tombstone without files or manifest.
    Version {
        /// The package.
        package: String,
        /// The version string.
        version: String,
        /// Its state when it went (`YANKED` or `DEPRECATED`).
        state: String,
    },
    /// A deprecated release, now a tombstone without artifacts.
    Release {
        /// The release id.
        id: String,
        /// Its channel.
        channel: String,
        /// Its version.
        version: String,
    },
}

/// Builds the audit record of one removal.
pub type RemovalRecords<'a> = &'a (dyn Fn(&Removal) -> AuditRecord + Send + Sync);

/// What `delete_package` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageDeletion {
    /// The package is gone, with this many drafts.
    Deleted {
        /// Drafts deleted with it.
        drafts: u64,
    },
    /// A version of it was published (or removed after publishing), or one appeared
    /// meanwhile: nothing was deleted.
    InUse,
    /// There is no such package.
    Missing,
}

/// A held runner lease; `release` gives it back (dropping it does too, eventually).
#[async_trait]
pub trait Lease: Send {
    /// Gives the lease back.
    async fn release(self: Box<Self>);
}

/// Retention and package deletion.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Removes from `repo` what `rules` let go at `now` (unix microseconds), in one
    /// transaction that decides with conditional writes (so a concurrent attach or publish is
    /// never undercut), writing one audit record per removal; a `dry_run` rolls it all back.
    /// Releases go first (freeing the versions they named), then versions.
    async fn run_retention(
        &self,
        repo: &str,
        rules: &Retention,
        now: i64,
        dry_run: bool,
        records: RemovalRecords<'_>,
    ) -> StoreResult<Vec<Removal>>;

    /// Deletes a package with its drafts, if no version of it is anything but a draft.
    async fn delete_package(
        &self,
        repo: &str,
        package: &str,
        audit: &AuditRecord,
    ) -> StoreResult<PackageDeletion>;

    /// Takes the retention runner's lease if no one holds it: a PostgreSQL advisory lock
    /// (held across servers), or a lock in this process on SQLite (which one process serves).
    async fn runner_lease(&self) -> StoreResult<Option<Box<dyn Lease>>>;
}
