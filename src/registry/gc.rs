//! Storage that does not only grow: blob garbage collection and the staged-upload sweep,
//! run at startup (the sweep), in the background every `--gc-interval`, and on demand
//! (`relreg gc`).
//!
//! Blob GC is mark and sweep with a grace period (`store/gc.rs` has the protocol): a mark
//! pass stamps blobs no version file names, then every blob stamped longer ago than the
//! grace period is deleted, database rows first (re-checked in the deleting transaction, with
//! a `blob.collected` audit event per repo that held it), then its file, under the blob
//! store's exclusive guard (`blobs/gc.rs`) so that no upload makes it visible in between. A
//! crash between the two leaves a file no row names, an orphan, which the next run (or
//! `relreg fsck --repair`) removes once it is older than the grace period.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::{Registry, now_micros, store_error, uploads::SESSION_TTL};
use crate::{
    blobs::Stored,
    domain::{AuditRecord, Digest, Error, ErrorCode, Result},
};

/// How many collectable blobs one query returns.
const BATCH: i64 = 200;

/// What one garbage collection did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Blobs newly found unreferenced (their grace period starts now).
    pub marked: u64,
    /// Marked blobs found referenced again.
    pub unmarked: u64,
    /// Blobs deleted (rows and file).
    pub collected: u64,
    /// Bytes those blobs held.
    pub collected_bytes: u64,
    /// Files no row names, older than the grace period, removed.
    pub orphans_removed: u64,
    /// Dead staged uploads removed.
    pub staged_removed: u64,
    /// Bytes those staged uploads held.
    pub staged_bytes: u64,
}

impl Registry {
    /// Removes staged bytes no live upload will finish (dead processes' temporary uploads,
    /// expired and half-removed sessions); returns how many entries and bytes.
    pub async fn sweep_staging(&self) -> Result<(u64, u64)> {
        let removed = self.blobs.staging_leftovers(SESSION_TTL, true).await?;
        let bytes = removed.iter().map(|l| l.bytes).sum();
        if !removed.is_empty() {
            tracing::info!(
                entries = removed.len(),
                bytes,
                "dead staged uploads removed"
            );
        }
        Ok((removed.len() as u64, bytes))
    }

    /// Runs one garbage collection: the staged-upload sweep, a mark pass, and the sweep of
    /// blobs unreferenced for longer than `grace` and of orphan files older than it.
    pub async fn collect_garbage(&self, grace: Duration) -> Result<GcReport> {
        let mut report = GcReport::default();
        (report.staged_removed, report.staged_bytes) = self.sweep_staging().await?;
        let now = now_micros();
        let marked = self
            .store
            .mark_unreferenced(now)
            .await
            .map_err(store_error)?;
        report.marked = marked.marked;
        report.unmarked = marked.cleared;
        let cutoff = now.saturating_sub(grace.as_micros().min(i64::MAX as u128) as i64);
        let record = AuditRecord {
            at: now,
            actor: "gc".into(),
            action: "blob.collected".into(),
            repo: String::new(),
            target: String::new(),
            details: String::new(),
            request_id: uuid::Uuid::new_v4().to_string(),
        };
        loop {
            let digests = self
                .store
                .collectable_blobs(cutoff, BATCH)
                .await
                .map_err(store_error)?;
            let mut progressed = false;
            for text in &digests {
                let digest = Digest::parse("digest", text)?;
                let size = self.blobs.size(&digest).await?.unwrap_or(0);
                let record = AuditRecord {
                    target: text.clone(),
                    details: json!({ "size": size, "grace_secs": grace.as_secs() }).to_string(),
                    ..record.clone()
                };
                let guard = self.gc_guard(true).await?;
                if self
                    .store
                    .collect_blob(text, cutoff, &record)
                    .await
                    .map_err(store_error)?
                {
                    progressed = true;
                    self.blobs.remove_blob(&digest).await?;
                    report.collected += 1;
                    report.collected_bytes += size;
                }
                guard.release().await;
            }
            if (digests.len() as i64) < BATCH || !progressed {
                break;
            }
        }
        report.orphans_removed = self.remove_orphans(grace).await?;
        if report.collected > 0 || report.orphans_removed > 0 {
            tracing::info!(
                collected = report.collected,
                bytes = report.collected_bytes,
                orphans = report.orphans_removed,
                "blob garbage collected"
            );
        }
        Ok(report)
    }

    /// Removes files under `sha256/` that no `blobs` row names and that were last written
    /// longer than `grace` ago; returns how many.
    pub async fn remove_orphans(&self, grace: Duration) -> Result<u64> {
        let now = std::time::SystemTime::now();
        let mut removed = 0;
        for file in self.blobs.stored_files().await? {
            if now.duration_since(file.modified).unwrap_or_default() <= grace {
                continue;
            }
            let named = |digest: Option<Digest>| async move {
                match digest {
                    Some(d) => self
                        .store
                        .has_blob_row(&d.to_string())
                        .await
                        .map_err(store_error),
                    None => Ok(false),
                }
            };
            if named(file.digest).await? {
                continue;
            }
            // Checked again under the guard: an upload may have just made it visible.
            let guard = self.gc_guard(true).await?;
            if !named(file.digest).await? {
                self.blobs.remove_stored_file(&file.path).await?;
                removed += 1;
            }
            guard.release().await;
        }
        Ok(removed)
    }

    /// Takes the blob guard: the blob store's (a lock file in a shared directory, in-process
    /// otherwise) and, for a store without a shared file system (S3), the database's too, so
    /// that servers sharing the bucket exclude each other. `exclusive` for a sweep.
    pub(super) async fn gc_guard(&self, exclusive: bool) -> Result<GcGuard> {
        let blobs = if exclusive {
            self.blobs.sweep_guard().await?
        } else {
            self.blobs.upload_guard().await?
        };
        let db = match self.blobs.root() {
            Some(_) => None,
            None => Some(
                self.store
                    .blob_guard(exclusive)
                    .await
                    .map_err(store_error)?,
            ),
        };
        Ok(GcGuard { _blobs: blobs, db })
    }

    /// Runs garbage collection every `interval` until the task is dropped; failures are logged
    /// and wait for the next run.
    pub async fn collect_garbage_every(&self, interval: Duration, grace: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate; startup swept already
        loop {
            ticker.tick().await;
            if let Err(e) = self.collect_garbage(grace).await {
                tracing::warn!(error = %e, "garbage collection failed");
            }
        }
    }

    /// Checks, under the upload guard, that a stored blob's file is still in place: when the
    /// bytes were stored before, a sweep may have deleted them since (the upload then asks to
    /// be retried).
    pub(super) async fn gc_check_stored(&self, stored: &Stored) -> Result<()> {
        match self.blobs.size(&stored.digest).await? {
            Some(size) if size == stored.size => Ok(()),
            _ => Err(Error::new(
                ErrorCode::Aborted,
                format!(
                    "blob {} was garbage collected while it was uploaded; upload it again",
                    stored.digest
                ),
            )),
        }
    }
}

/// A held blob guard (see `Registry::gc_guard`); release it when done.
pub(super) struct GcGuard {
    _blobs: crate::blobs::BlobGuard,
    db: Option<Box<dyn crate::store::HeldGuard>>,
}

impl GcGuard {
    /// Releases the database's guard, then the blob store's.
    pub(super) async fn release(self) {
        if let Some(db) = self.db {
            db.release().await;
        }
    }
}
