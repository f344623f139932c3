//! The versions area: the `versions`, `version_files`, `blobs` and `repo_blobs` tables, behind
//! `VersionStore` (drafts and their edits, guarded state transitions, deletion, and the blobs
//! a repo may point its files at). `impl_version_store!` instantiates it for one backend.

use crate::domain::VersionState;

pub(crate) const VERSION_COLUMNS: &str = "seq, repo, package, version, state, etag, content_digest, manifest, \
     deprecation_reason, replacement, yank_reason, created_at, updated_at, published_at";

/// The SQL list of `states`, for an `IN (…)` guard.
pub(crate) fn states_sql(states: &[VersionState]) -> String {
    let list: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
    list.join(", ")
}

/// Implements `VersionStore` for `$store` inside a backend's `impl_sql_store!` module.
macro_rules! impl_version_store {
    ($store:ident) => {
        mod versions {
        use async_trait::async_trait;
        use sqlx::Row as _;

        use super::$store;
        use super::{
            Conn, DbRow,
            audit::{write_audit, write_event},
            finish_edit,
        };
        use crate::domain::{AuditRecord, BlobInfo, VersionFile, VersionKey, VersionRecord};
        use crate::store::{
            DraftEdit, Guard, NewEvent, Outcome, StoreResult, Transition, VersionStore,
            sql::{
                classify,
                versions::{VERSION_COLUMNS, states_sql},
            },
        };

        fn version_from_row(row: &DbRow) -> Result<VersionRecord, sqlx::Error> {
            let state: String = row.try_get("state")?;
            Ok(VersionRecord {
                key: VersionKey {
                    repo: row.try_get("repo")?,
                    package: row.try_get("package")?,
                    version: row.try_get("version")?,
                },
                seq: row.try_get("seq")?,
                state: state.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                etag: row.try_get("etag")?,
                content_digest: row.try_get("content_digest")?,
                manifest: row.try_get("manifest")?,
                files: Vec::new(),
                deprecation_reason: row.try_get("deprecation_reason")?,
                replacement: row.try_get("replacement")?,
                yank_reason: row.try_get("yank_reason")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                published_at: row.try_get("published_at")?,
            })
        }

        /// Takes the guard as a conditional write: bumps `updated_at` (and the etag when given)
        /// only if the version is in an allowed state with the expected etag. Returns its seq.
        async fn claim(
            conn: &mut Conn,
            guard: &Guard<'_>,
            new_etag: Option<&str>,
            at: i64,
        ) -> StoreResult<Option<i64>> {
            let sql = format!(
                "UPDATE versions SET updated_at = $1, etag = COALESCE($2, etag) \
                 WHERE repo = $3 AND package = $4 AND version = $5 AND state IN ({}) \
                 AND ($6 IS NULL OR etag = $6) RETURNING seq",
                states_sql(guard.states)
            );
            let row = sqlx::query(&sql)
                .bind(at)
                .bind(new_etag)
                .bind(&guard.key.repo)
                .bind(&guard.key.package)
                .bind(&guard.key.version)
                .bind(guard.etag)
                .fetch_optional(conn)
                .await
                .map_err(classify)?;
            row.map(|r| r.try_get::<i64, _>(0)).transpose().map_err(classify)
        }

        #[async_trait]
        impl VersionStore for $store {
            async fn create_version(
                &self,
                key: &VersionKey,
                etag: &str,
                at: i64,
                audit: &AuditRecord,
            ) -> StoreResult<VersionRecord> {
                let mut tx = self.begin_write().await?;
                let sql = format!(
                    "INSERT INTO versions (repo, package, version, state, etag, manifest, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'DRAFT', $4, '{{}}', $5, $5) RETURNING {VERSION_COLUMNS}"
                );
                let row = sqlx::query(&sql)
                    .bind(&key.repo)
                    .bind(&key.package)
                    .bind(&key.version)
                    .bind(etag)
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(classify)?;
                let record = version_from_row(&row).map_err(classify)?;
                write_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(classify)?;
                Ok(record)
            }

            async fn get_version(&self, key: &VersionKey) -> StoreResult<Option<VersionRecord>> {
                let sql = format!(
                    "SELECT {VERSION_COLUMNS} FROM versions WHERE repo = $1 AND package = $2 AND version = $3"
                );
                let Some(row) = sqlx::query(&sql)
                    .bind(&key.repo)
                    .bind(&key.package)
                    .bind(&key.version)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(classify)?
                else {
                    return Ok(None);
                };
                let mut record = version_from_row(&row).map_err(classify)?;
                let files = sqlx::query(
                    "SELECT path, digest, size, media_type FROM version_files \
                     WHERE version_seq = $1 ORDER BY path",
                )
                .bind(record.seq)
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
                record.files = files
                    .iter()
                    .map(|r| {
                        Ok(VersionFile {
                            path: r.try_get("path")?,
                            digest: r.try_get("digest")?,
                            size: r.try_get("size")?,
                            media_type: r.try_get("media_type")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(classify)?;
                Ok(Some(record))
            }

            async fn list_versions(
                &self,
                repo: &str,
                package: &str,
                after_seq: Option<i64>,
                limit: i64,
                include_drafts: bool,
            ) -> StoreResult<Vec<VersionRecord>> {
                let sql = format!(
                    "SELECT {VERSION_COLUMNS} FROM versions WHERE repo = $1 AND package = $2 \
                     AND ($3 IS NULL OR seq > $3) AND ($4 OR state <> 'DRAFT') ORDER BY seq LIMIT $5"
                );
                let rows = sqlx::query(&sql)
                    .bind(repo)
                    .bind(package)
                    .bind(after_seq)
                    .bind(include_drafts)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(classify)?;
                rows.iter().map(version_from_row).collect::<Result<_, _>>().map_err(classify)
            }

            async fn released_versions(
                &self,
                repo: &str,
                package: &str,
            ) -> StoreResult<Vec<VersionRecord>> {
                let sql = format!(
                    "SELECT {VERSION_COLUMNS} FROM versions WHERE repo = $1 AND package = $2 \
                     AND state <> 'DRAFT' ORDER BY seq"
                );
                let rows = sqlx::query(&sql)
                    .bind(repo)
                    .bind(package)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(classify)?;
                rows.iter().map(version_from_row).collect::<Result<_, _>>().map_err(classify)
            }

            async fn edit_draft(
                &self,
                guard: Guard<'_>,
                new_etag: &str,
                at: i64,
                edit: &DraftEdit,
                audit: &AuditRecord,
            ) -> StoreResult<Outcome> {
                let mut tx = self.begin_write().await?;
                let Some(seq) = claim(&mut tx, &guard, Some(new_etag), at).await? else {
                    return Ok(Outcome::GuardFailed);
                };
                let affected = match edit {
                    DraftEdit::PutFile(f) => sqlx::query(
                        "INSERT INTO version_files (version_seq, path, digest, size, media_type) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (version_seq, path) DO UPDATE \
                         SET digest = excluded.digest, size = excluded.size, media_type = excluded.media_type",
                    )
                    .bind(seq)
                    .bind(&f.path)
                    .bind(&f.digest)
                    .bind(f.size)
                    .bind(&f.media_type),
                    DraftEdit::DeleteFile(path) => {
                        sqlx::query("DELETE FROM version_files WHERE version_seq = $1 AND path = $2")
                            .bind(seq)
                            .bind(path)
                    }
                    DraftEdit::SetManifest(text) => {
                        sqlx::query("UPDATE versions SET manifest = $2 WHERE seq = $1")
                            .bind(seq)
                            .bind(text)
                    }
                }
                .execute(&mut *tx)
                .await
                .map_err(classify)?
                .rows_affected();
                finish_edit(tx, affected, audit).await
            }

            async fn transition_version(
                &self,
                guard: Guard<'_>,
                change: &Transition,
                audit: &AuditRecord,
                event: Option<&NewEvent>,
            ) -> StoreResult<Outcome> {
                let mut tx = self.begin_write().await?;
                let sql = format!(
                    "UPDATE versions SET state = $1, updated_at = $2, \
                     content_digest = COALESCE($3, content_digest), \
                     published_at = CASE WHEN $1 = 'PUBLISHED' AND published_at IS NULL THEN $2 ELSE published_at END, \
                     deprecation_reason = COALESCE($4, deprecation_reason), \
                     replacement = COALESCE($5, replacement), \
                     yank_reason = COALESCE($6, yank_reason) \
                     WHERE repo = $7 AND package = $8 AND version = $9 AND state IN ({}) \
                     AND ($10 IS NULL OR etag = $10)",
                    states_sql(guard.states)
                );
                let affected = sqlx::query(&sql)
                    .bind(change.to.as_str())
                    .bind(change.at)
                    .bind(change.content_digest.as_deref())
                    .bind(change.deprecation_reason.as_deref())
                    .bind(change.replacement.as_deref())
                    .bind(change.yank_reason.as_deref())
                    .bind(&guard.key.repo)
                    .bind(&guard.key.package)
                    .bind(&guard.key.version)
                    .bind(guard.etag)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?
                    .rows_affected();
                if affected == 0 {
                    return Ok(Outcome::GuardFailed);
                }
                write_audit(&mut tx, audit).await?;
                if let Some(event) = event {
                    write_event(&mut tx, change.at, event).await?;
                }
                tx.commit().await.map_err(classify)?;
                Ok(Outcome::Applied)
            }

            async fn delete_version(
                &self,
                guard: Guard<'_>,
                audit: &AuditRecord,
            ) -> StoreResult<Outcome> {
                let mut tx = self.begin_write().await?;
                let Some(seq) = claim(&mut tx, &guard, None, audit.at).await? else {
                    return Ok(Outcome::GuardFailed);
                };
                sqlx::query("DELETE FROM versions WHERE seq = $1")
                    .bind(seq)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                write_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(classify)?;
                Ok(Outcome::Applied)
            }

            async fn add_blob(
                &self,
                repo: &str,
                blob: &BlobInfo,
                at: i64,
                audit: &AuditRecord,
            ) -> StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (digest) DO NOTHING",
                )
                .bind(&blob.digest)
                .bind(blob.size)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                let added = sqlx::query(
                    "INSERT INTO repo_blobs (repo, digest, media_type, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (repo, digest) DO NOTHING",
                )
                .bind(repo)
                .bind(&blob.digest)
                .bind(&blob.media_type)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(classify)?
                .rows_affected()
                    == 1;
                if added {
                    write_audit(&mut tx, audit).await?;
                }
                tx.commit().await.map_err(classify)?;
                Ok(added)
            }

            async fn get_blob(&self, repo: &str, digest: &str) -> StoreResult<Option<BlobInfo>> {
                let row = sqlx::query(
                    "SELECT b.digest, b.size, rb.media_type FROM repo_blobs rb \
                     JOIN blobs b ON b.digest = rb.digest WHERE rb.repo = $1 AND rb.digest = $2",
                )
                .bind(repo)
                .bind(digest)
                .fetch_optional(&self.pool)
                .await
                .map_err(classify)?;
                row.map(|r| {
                    Ok(BlobInfo {
                        digest: r.try_get("digest")?,
                        size: r.try_get("size")?,
                        media_type: r.try_get("media_type")?,
                    })
                })
                .transpose()
                .map_err(classify)
            }
        }
        }
    };
}

pub(crate) use impl_version_store;
