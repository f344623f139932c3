//! The garbage-collection area: marks and guarded deletes on the `blobs` and `repo_blobs`
//! tables, behind `GcStore` (see `store/gc.rs` for the protocol), and the reads `relreg fsck`
//! and `relreg backup` make.

use async_trait::async_trait;
use sqlx::pool::PoolConnection;

use super::{Columns, Dialect, SqlStore, sql};
use crate::{
    domain::AuditRecord,
    store::{
        StoreResult,
        gc::{DanglingFile, GcStore, HeldGuard, Marked, StoredBlob},
    },
};

/// The advisory lock key of the blob guard.
const BLOB_GUARD: &str = "hashtext('relreg.blob_gc')";

/// A held blob guard: on PostgreSQL a session advisory lock on a pooled connection (`None` on
/// SQLite).
struct AdvisoryGuard<DB: sqlx::Database> {
    conn: Option<PoolConnection<DB>>,
    exclusive: bool,
}

#[async_trait]
impl<DB: Dialect> HeldGuard for AdvisoryGuard<DB> {
    async fn release(mut self: Box<Self>) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let unlock = if self.exclusive {
            format!("SELECT pg_advisory_unlock({BLOB_GUARD})")
        } else {
            format!("SELECT pg_advisory_unlock_shared({BLOB_GUARD})")
        };
        if DB::run(&mut *conn, sql(&unlock)).await.is_err() {
            // Closing the session releases the lock.
            drop(conn.detach());
        }
    }
}

impl<DB: sqlx::Database> Drop for AdvisoryGuard<DB> {
    fn drop(&mut self) {
        // Not released (an error path): close the session instead of handing a connection
        // that still holds the lock back to the pool.
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

#[async_trait]
impl<DB: Dialect> GcStore for SqlStore<DB> {
    async fn blob_guard(&self, exclusive: bool) -> StoreResult<Box<dyn HeldGuard>> {
        if !DB::ADVISORY_LOCKS {
            return Ok(Box::new(AdvisoryGuard::<DB> {
                conn: None,
                exclusive,
            }));
        }
        let mut conn = self.acquire().await?;
        let lock = if exclusive {
            format!("SELECT pg_advisory_lock({BLOB_GUARD})")
        } else {
            format!("SELECT pg_advisory_lock_shared({BLOB_GUARD})")
        };
        DB::run(&mut *conn, sql(&lock)).await?;
        Ok(Box::new(AdvisoryGuard {
            conn: Some(conn),
            exclusive,
        }))
    }

    async fn mark_unreferenced(&self, at: i64) -> StoreResult<Marked> {
        let mut tx = self.begin_write().await?;
        let marked = tx
            .execute(
                sql("UPDATE blobs SET unreferenced_since = $1 WHERE unreferenced_since IS NULL \
                     AND NOT EXISTS (SELECT 1 FROM version_files vf WHERE vf.digest = blobs.digest)")
                .bind(at),
            )
            .await?;
        let cleared = tx
            .execute(sql(
                "UPDATE blobs SET unreferenced_since = NULL WHERE unreferenced_since IS NOT NULL \
                 AND EXISTS (SELECT 1 FROM version_files vf WHERE vf.digest = blobs.digest)",
            ))
            .await?;
        tx.commit().await?;
        Ok(Marked { marked, cleared })
    }

    async fn collectable_blobs(&self, cutoff: i64, limit: i64) -> StoreResult<Vec<String>> {
        let rows = self
            .all(
                sql(
                    "SELECT digest FROM blobs WHERE unreferenced_since IS NOT NULL \
                     AND unreferenced_since <= $1 ORDER BY unreferenced_since, digest LIMIT $2",
                )
                .bind(cutoff)
                .bind(limit),
            )
            .await?;
        rows.iter().map(|r| r.text("digest")).collect()
    }

    async fn collect_blob(
        &self,
        digest: &str,
        cutoff: i64,
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        // A no-op write as a row lock (SQLite's write transaction already excludes every
        // other writer): an attach that cleared the stamp first has committed by the time the
        // lock is granted, and PostgreSQL then re-checks the condition on its row.
        let locked = tx
            .execute(
                sql(
                    "UPDATE blobs SET unreferenced_since = unreferenced_since WHERE digest = $1 \
                     AND unreferenced_since IS NOT NULL AND unreferenced_since <= $2",
                )
                .bind(digest)
                .bind(cutoff),
            )
            .await?;
        if locked == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        // Read after the lock, so with a snapshot that holds every attach that got it first.
        let named = tx
            .optional(
                sql("SELECT 1 AS one FROM version_files WHERE digest = $1 LIMIT 1").bind(digest),
            )
            .await?
            .is_some();
        if named {
            tx.execute(
                sql("UPDATE blobs SET unreferenced_since = NULL WHERE digest = $1").bind(digest),
            )
            .await?;
            tx.commit().await?;
            return Ok(false);
        }
        let repos = tx
            .all(sql("DELETE FROM repo_blobs WHERE digest = $1 RETURNING repo").bind(digest))
            .await?;
        tx.execute(sql("DELETE FROM blobs WHERE digest = $1").bind(digest))
            .await?;
        for row in &repos {
            let record = AuditRecord {
                repo: row.text("repo")?,
                ..audit.clone()
            };
            tx.write_audit(&record).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn list_stored_blobs(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<StoredBlob>> {
        let rows = self
            .all(
                sql("SELECT digest, size, unreferenced_since FROM blobs \
                     WHERE ($1 IS NULL OR digest > $1) ORDER BY digest LIMIT $2")
                .bind(after)
                .bind(limit),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredBlob {
                    digest: r.text("digest")?,
                    size: r.int("size")?,
                    unreferenced_since: r.opt_int("unreferenced_since")?,
                })
            })
            .collect()
    }

    async fn has_blob_row(&self, digest: &str) -> StoreResult<bool> {
        Ok(self
            .optional(sql("SELECT 1 AS one FROM blobs WHERE digest = $1").bind(digest))
            .await?
            .is_some())
    }

    async fn dangling_files(&self, limit: i64) -> StoreResult<Vec<DanglingFile>> {
        let rows = self
            .all(
                sql("SELECT v.repo, v.package, v.version, vf.path, vf.digest \
                     FROM version_files vf JOIN versions v ON v.seq = vf.version_seq \
                     WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = vf.digest) \
                     ORDER BY v.seq, vf.path LIMIT $1")
                .bind(limit),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DanglingFile {
                    version: format!(
                        "{}/{}@{}",
                        r.text("repo")?,
                        r.text("package")?,
                        r.text("version")?
                    ),
                    path: r.text("path")?,
                    digest: r.text("digest")?,
                })
            })
            .collect()
    }
}
