//! The contract of blob garbage collection and of the storage checks (`relreg fsck`,
//! `relreg backup`): `GcStore`, implemented for both backends in `sql/gc.rs`.
//!
//! Collection is mark and sweep over the `blobs` table: a mark pass stamps every blob no
//! version file names with the time it first found it so (`unreferenced_since`) and clears
//! the stamp of every blob named again; attaching a blob to a draft clears it in the
//! attaching transaction. The sweep deletes one blob at a time, and only one stamped before
//! its cutoff (now minus the grace period) that no version file names, checked again under
//! the blob's row lock in the deleting transaction.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::AuditRecord;

/// A blob as the `blobs` table records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Its length in bytes.
    pub size: i64,
    /// When a mark pass first found no version file naming it (unix microseconds).
    pub unreferenced_since: Option<i64>,
}

/// A version file that names a blob the `blobs` table does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DanglingFile {
    /// `repo/package@version`.
    pub version: String,
    /// The file's path in the version.
    pub path: String,
    /// The digest it names.
    pub digest: String,
}

/// What a mark pass changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marked {
    /// Blobs newly found unreferenced.
    pub marked: u64,
    /// Marked blobs found referenced again.
    pub cleared: u64,
}

/// The blob guard held in the database, for blob stores that servers share without a common
/// file system (S3): an upload making a blob visible holds it shared, a sweep deleting blobs
/// holds it exclusively (a shared blob directory has its lock file instead). Release it with
/// `release`; dropped unreleased (an error path), its connection closes, which releases it.
#[async_trait]
pub trait HeldGuard: Send {
    /// Releases the guard.
    async fn release(self: Box<Self>);
}

/// Blob garbage collection and the reads the storage checks need.
#[async_trait]
pub trait GcStore: Send + Sync {
    /// Takes the database-wide blob guard, shared or exclusive: a PostgreSQL advisory lock on
    /// a connection of its own; on SQLite (one process serves the database) nothing.
    async fn blob_guard(&self, exclusive: bool) -> StoreResult<Box<dyn HeldGuard>>;
    /// Stamps every unstamped blob no version file names with `at`, and clears the stamp of
    /// every stamped blob a version file names.
    async fn mark_unreferenced(&self, at: i64) -> StoreResult<Marked>;
    /// Lists up to `limit` digests stamped at or before `cutoff`, oldest stamp first.
    async fn collectable_blobs(&self, cutoff: i64, limit: i64) -> StoreResult<Vec<String>>;
    /// Deletes a blob's rows (`blobs` and every repo's `repo_blobs`) if, under its row lock, it
    /// is still stamped at or before `cutoff` and no version file names it; writes `audit`
    /// once per repo that held it (its `repo` replaced). Returns whether it deleted.
    async fn collect_blob(
        &self,
        digest: &str,
        cutoff: i64,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;
    /// Lists blobs by digest after `after`.
    async fn list_stored_blobs(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<StoredBlob>>;
    /// Returns whether the `blobs` table holds a digest.
    async fn has_blob_row(&self, digest: &str) -> StoreResult<bool>;
    /// Lists up to `limit` version files whose blob has no row.
    async fn dangling_files(&self, limit: i64) -> StoreResult<Vec<DanglingFile>>;
}
