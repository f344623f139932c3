//! The versions area: the `versions`, `version_files`, `blobs` and `repo_blobs` tables, behind
//! `VersionStore` (drafts and their edits, guarded state transitions, deletion, and the blobs
//! a repo may point its files at).

use async_trait::async_trait;

use super::{Columns, Dialect, SqlStore, Tx, names, parsed, placeholders, sql};
use crate::{
    domain::{
        AuditRecord, BlobInfo, Digest, Etag, Name, VersionFile, VersionKey, VersionRecord,
        VersionState, parse_semver,
    },
    store::{
        DraftEdit, Guard, NewEvent, Outcome, Recorded, StoreError, StoreResult, Transition,
        VersionStore,
    },
};

// A version removed by retention reads as `REMOVED` (its stored state is kept for the audit).
const VERSION_COLUMNS: &str = "seq, repo, package, version, \
     CASE WHEN removed_at IS NULL THEN state ELSE 'REMOVED' END AS state, etag, content_digest, \
     manifest, deprecation_reason, replacement, yank_reason, created_at, updated_at, published_at";

/// Reads a stored optional text: empty is `None`.
fn optional(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn version_from_row(row: &impl Columns) -> StoreResult<VersionRecord> {
    let state = row.text("state")?;
    let seq = row.int("seq")?;
    let what = format!("version #{seq}");
    let replacement = optional(row.text("replacement")?)
        .map(|t| parsed(&what, "replacement", &t, |t| parse_semver("replacement", t)))
        .transpose()?;
    Ok(VersionRecord {
        key: VersionKey {
            repo: row.name(&what, "repo")?,
            package: row.name(&what, "package")?,
            version: row.version(&what, "version")?,
        },
        seq,
        state: parsed(&what, "state", &state, str::parse)?,
        etag: Etag::from_text(row.text("etag")?).ok_or_else(|| {
            StoreError::Internal(format!("stored etag of version #{seq} is empty"))
        })?,
        content_digest: row.opt_digest(&what, "content_digest")?,
        manifest: row.text("manifest")?,
        files: Vec::new(),
        deprecation_reason: optional(row.text("deprecation_reason")?),
        replacement,
        yank_reason: optional(row.text("yank_reason")?),
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        published_at: row.opt_int("published_at")?,
    })
}

fn file_from_row(row: &impl Columns, what: &VersionKey) -> StoreResult<VersionFile> {
    Ok(VersionFile {
        path: row.path(what, "path")?,
        digest: row.digest(what, "digest")?,
        size: row.size(what, "size")?,
        media_type: row.text("media_type")?,
    })
}

impl<DB: Dialect> Tx<DB> {
    /// Takes the guard as a conditional write: bumps `updated_at` (and the etag when given)
    /// only if the version is in an allowed state with the expected etag. Returns its seq.
    async fn claim_version(
        &mut self,
        guard: &Guard<'_>,
        new_etag: Option<&Etag>,
        at: i64,
    ) -> StoreResult<Option<i64>> {
        let from = guard.step.from();
        let text = format!(
            "UPDATE versions SET updated_at = $1, etag = COALESCE($2, etag) \
             WHERE repo = $3 AND package = $4 AND version = $5 \
             AND ($6 IS NULL OR etag = $6) AND state IN ({}) RETURNING seq",
            placeholders(7, from.len())
        );
        let row = self
            .optional(
                sql(&text)
                    .bind(at)
                    .bind(new_etag)
                    .bind(&guard.key.repo)
                    .bind(&guard.key.package)
                    .bind(&guard.key.version)
                    .bind(guard.etag)
                    .bind_all(names(from)),
            )
            .await?;
        row.map(|r| r.int("seq")).transpose()
    }
}

#[async_trait]
impl<DB: Dialect> VersionStore for SqlStore<DB> {
    async fn create_version(
        &self,
        key: &VersionKey,
        etag: &Etag,
        at: i64,
        audit: &AuditRecord,
    ) -> StoreResult<VersionRecord> {
        let mut tx = self.begin_write().await?;
        let text = format!(
            "INSERT INTO versions (repo, package, version, state, etag, manifest, created_at, \
             updated_at) VALUES ($1, $2, $3, $6, $4, '{{}}', $5, $5) \
             RETURNING {VERSION_COLUMNS}"
        );
        let row = tx
            .one(
                sql(&text)
                    .bind(&key.repo)
                    .bind(&key.package)
                    .bind(&key.version)
                    .bind(etag)
                    .bind(at)
                    .bind(VersionState::Draft.as_str()),
            )
            .await?;
        let record = version_from_row(&row)?;
        tx.write_audit(audit).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn get_version(&self, key: &VersionKey) -> StoreResult<Option<VersionRecord>> {
        let text = format!(
            "SELECT {VERSION_COLUMNS} FROM versions \
             WHERE repo = $1 AND package = $2 AND version = $3"
        );
        let row = self
            .optional(
                sql(&text)
                    .bind(&key.repo)
                    .bind(&key.package)
                    .bind(&key.version),
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut record = version_from_row(&row)?;
        let files = self
            .all(
                sql("SELECT path, digest, size, media_type FROM version_files \
                     WHERE version_seq = $1 ORDER BY path")
                .bind(record.seq),
            )
            .await?;
        record.files = files
            .iter()
            .map(|f| file_from_row(f, key))
            .collect::<StoreResult<_>>()?;
        Ok(Some(record))
    }

    async fn list_versions(
        &self,
        repo: &Name,
        package: &Name,
        after_seq: Option<i64>,
        limit: i64,
        include_drafts: bool,
    ) -> StoreResult<Vec<VersionRecord>> {
        let text = format!(
            "SELECT {VERSION_COLUMNS} FROM versions WHERE repo = $1 AND package = $2 \
             AND ($3 IS NULL OR seq > $3) AND ($4 OR state <> $6) ORDER BY seq LIMIT $5"
        );
        let rows = self
            .all(
                sql(&text)
                    .bind(repo)
                    .bind(package)
                    .bind(after_seq)
                    .bind(include_drafts)
                    .bind(limit)
                    .bind(VersionState::Draft.as_str()),
            )
            .await?;
        rows.iter().map(version_from_row).collect()
    }

    async fn released_versions(
        &self,
        repo: &Name,
        package: &Name,
    ) -> StoreResult<Vec<VersionRecord>> {
        let released = VersionState::RELEASED;
        let text = format!(
            "SELECT {VERSION_COLUMNS} FROM versions WHERE repo = $1 AND package = $2 \
             AND state IN ({}) ORDER BY seq",
            placeholders(3, released.len())
        );
        let rows = self
            .all(
                sql(&text)
                    .bind(repo)
                    .bind(package)
                    .bind_all(names(released)),
            )
            .await?;
        rows.iter().map(version_from_row).collect()
    }

    async fn edit_draft(
        &self,
        guard: Guard<'_>,
        new_etag: &Etag,
        at: i64,
        edit: &DraftEdit,
        audit: &AuditRecord,
    ) -> StoreResult<Outcome> {
        let mut tx = self.begin_write().await?;
        let Some(seq) = tx.claim_version(&guard, Some(new_etag), at).await? else {
            return Ok(Outcome::GuardFailed);
        };
        if let DraftEdit::PutFile(f) = edit {
            // The repo must still hold the blob; clearing its GC stamp takes the blob's row
            // lock, so a concurrent sweep either sees this attach or deletes first (store/gc.rs).
            let held = tx
                .execute(
                    sql(
                        "UPDATE blobs SET unreferenced_since = NULL WHERE digest = $1 AND EXISTS \
                         (SELECT 1 FROM repo_blobs rb WHERE rb.repo = $2 AND rb.digest = $1)",
                    )
                    .bind(&f.digest)
                    .bind(&guard.key.repo),
                )
                .await?;
            if held == 0 {
                tx.rollback().await?;
                return Ok(Outcome::Missing);
            }
        }
        let stmt = match edit {
            DraftEdit::PutFile(f) => sql(
                "INSERT INTO version_files (version_seq, path, digest, size, media_type) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (version_seq, path) DO UPDATE \
                 SET digest = excluded.digest, size = excluded.size, \
                 media_type = excluded.media_type",
            )
            .bind(seq)
            .bind(&f.path)
            .bind(&f.digest)
            .bind(f.size)
            .bind(&f.media_type),
            DraftEdit::DeleteFile(path) => {
                sql("DELETE FROM version_files WHERE version_seq = $1 AND path = $2")
                    .bind(seq)
                    .bind(path)
            }
            DraftEdit::SetManifest(text) => sql("UPDATE versions SET manifest = $2 WHERE seq = $1")
                .bind(seq)
                .bind(text),
        };
        let affected = tx.execute(stmt).await?;
        tx.finish_edit(affected, audit).await
    }

    async fn transition_version(
        &self,
        guard: Guard<'_>,
        change: &Transition,
        audit: &AuditRecord,
        event: Option<&NewEvent>,
    ) -> StoreResult<Outcome> {
        let (from, Some(to)) = (guard.step.from(), guard.step.to()) else {
            return Err(StoreError::Internal(format!(
                "{:?} is not a state change",
                guard.step
            )));
        };
        let mut tx = self.begin_write().await?;
        let text = format!(
            "UPDATE versions SET state = $1, updated_at = $2, \
             content_digest = COALESCE($3, content_digest), \
             published_at = CASE WHEN $1 = $11 AND published_at IS NULL THEN $2 \
               ELSE published_at END, \
             deprecation_reason = COALESCE($4, deprecation_reason), \
             replacement = COALESCE($5, replacement), \
             yank_reason = COALESCE($6, yank_reason) \
             WHERE repo = $7 AND package = $8 AND version = $9 \
             AND ($10 IS NULL OR etag = $10) AND removed_at IS NULL AND state IN ({})",
            placeholders(12, from.len())
        );
        let (content_digest, deprecation_reason, replacement, yank_reason) = match &change.records {
            Recorded::Publish { content_digest } => (Some(content_digest), None, None, None),
            // An empty replacement clears one named by an earlier deprecation.
            Recorded::Deprecate {
                reason,
                replacement,
            } => (
                None,
                Some(reason.as_str()),
                Some(
                    replacement
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                ),
                None,
            ),
            Recorded::Yank { reason } => (None, None, None, Some(reason.as_str())),
        };
        let affected = tx
            .execute(
                sql(&text)
                    .bind(to.as_str())
                    .bind(change.at)
                    .bind(content_digest)
                    .bind(deprecation_reason)
                    .bind(replacement.as_deref())
                    .bind(yank_reason)
                    .bind(&guard.key.repo)
                    .bind(&guard.key.package)
                    .bind(&guard.key.version)
                    .bind(guard.etag)
                    .bind(VersionState::Published.as_str())
                    .bind_all(names(from)),
            )
            .await?;
        if affected == 0 {
            return Ok(Outcome::GuardFailed);
        }
        tx.write_audit(audit).await?;
        if let Some(event) = event {
            tx.write_event(change.at, event).await?;
        }
        tx.commit().await?;
        Ok(Outcome::Applied)
    }

    async fn delete_version(&self, guard: Guard<'_>, audit: &AuditRecord) -> StoreResult<Outcome> {
        let mut tx = self.begin_write().await?;
        let Some(seq) = tx.claim_version(&guard, None, audit.at).await? else {
            return Ok(Outcome::GuardFailed);
        };
        tx.execute(sql("DELETE FROM versions WHERE seq = $1").bind(seq))
            .await?;
        tx.write_audit(audit).await?;
        tx.commit().await?;
        Ok(Outcome::Applied)
    }

    async fn add_blob(
        &self,
        repo: &Name,
        blob: &BlobInfo,
        at: i64,
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        tx.execute(
            sql(
                "INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (digest) DO UPDATE SET unreferenced_since = NULL",
            )
            .bind(&blob.digest)
            .bind(blob.size)
            .bind(at),
        )
        .await?;
        let added = tx
            .execute(
                sql(
                    "INSERT INTO repo_blobs (repo, digest, media_type, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (repo, digest) DO NOTHING",
                )
                .bind(repo)
                .bind(&blob.digest)
                .bind(&blob.media_type)
                .bind(at),
            )
            .await?
            == 1;
        if added {
            tx.write_audit(audit).await?;
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn get_blob(&self, repo: &Name, digest: &Digest) -> StoreResult<Option<BlobInfo>> {
        let row = self
            .optional(
                sql("SELECT b.digest, b.size, rb.media_type FROM repo_blobs rb \
                     JOIN blobs b ON b.digest = rb.digest WHERE rb.repo = $1 AND rb.digest = $2")
                .bind(repo)
                .bind(digest),
            )
            .await?;
        row.map(|r| {
            Ok(BlobInfo {
                digest: r.digest(digest, "digest")?,
                size: r.size(digest, "size")?,
                media_type: r.text("media_type")?,
            })
        })
        .transpose()
    }
}
