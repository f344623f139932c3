//! The releases area: the `releases`, `release_artifacts` and `channels` tables, behind
//! `ReleaseStore` (draft releases and their artifacts, publishing, deprecation and rollback,
//! each taking the channel's next sequence, and the candidates for "latest").
//! `impl_release_store!` instantiates it for one backend.

pub(crate) const RELEASE_COLUMNS: &str = "seq, id, repo, channel, version, sort_key, state, etag, \
     min_app_version, max_app_version, platforms, notes, mandatory, sequence, deprecation_reason, \
     replacement, created_at, updated_at, published_at";

/// The query behind `ReleaseStore::latest_candidates`: `$1` repo, `$2` channel, `$3` limit
/// and, when `paged`, `$4` the sort key to continue below. Two texts rather than
/// `($4 IS NULL OR sort_key < $4)`: only a plain bound lets the index range start at the page
/// key instead of rescanning from the top. Public so that the benchmark explains this exact text.
pub fn latest_candidates_sql(paged: bool) -> &'static str {
    static TEXTS: std::sync::LazyLock<[String; 2]> = std::sync::LazyLock::new(|| {
        [false, true].map(|paged| {
            let below = if paged { "AND sort_key < $4 " } else { "" };
            format!(
                "SELECT {RELEASE_COLUMNS} FROM releases WHERE repo = $1 AND channel = $2 \
                 AND state = 'PUBLISHED' {below}ORDER BY sort_key DESC LIMIT $3"
            )
        })
    });
    &TEXTS[usize::from(paged)]
}

/// Implements `ReleaseStore` for `$store` inside a backend's `impl_sql_store!` module.
macro_rules! impl_release_store {
    ($store:ident) => {
        mod releases {
        use async_trait::async_trait;
        use sqlx::Row as _;

        use super::$store;
        use super::{
            Conn, DbRow, Tx,
            audit::{write_audit, write_event},
            finish_edit,
        };
        use crate::domain::{Artifact, AuditRecord, Compatibility, ReleaseRecord};
        use crate::store::{
            ChannelRecords, Outcome, ReleaseEdit, ReleaseStore, Rollback, StoreResult,
            sql::{
                classify,
                releases::{RELEASE_COLUMNS, latest_candidates_sql},
            },
        };

        fn release_from_row(row: &DbRow) -> Result<ReleaseRecord, sqlx::Error> {
            let state: String = row.try_get("state")?;
            let platforms: String = row.try_get("platforms")?;
            Ok(ReleaseRecord {
                id: row.try_get("id")?,
                seq: row.try_get("seq")?,
                repo: row.try_get("repo")?,
                channel: row.try_get("channel")?,
                version: row.try_get("version")?,
                state: state.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                etag: row.try_get("etag")?,
                compatibility: Compatibility {
                    min_app_version: row.try_get("min_app_version")?,
                    max_app_version: row.try_get("max_app_version")?,
                    platforms: platforms.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
                },
                notes: row.try_get("notes")?,
                mandatory: row.try_get("mandatory")?,
                sequence: row.try_get("sequence")?,
                deprecation_reason: row.try_get("deprecation_reason")?,
                replacement: row.try_get("replacement")?,
                artifacts: Vec::new(),
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                published_at: row.try_get("published_at")?,
            })
        }

        /// Takes the channel's next sequence (creating the channel at 1).
        async fn next_sequence(conn: &mut Conn, repo: &str, channel: &str) -> StoreResult<i64> {
            let row = sqlx::query(
                "INSERT INTO channels (repo, channel, last_sequence) VALUES ($1, $2, 1) \
                 ON CONFLICT (repo, channel) DO UPDATE SET last_sequence = channels.last_sequence + 1 \
                 RETURNING last_sequence",
            )
            .bind(repo)
            .bind(channel)
            .fetch_one(conn)
            .await
            .map_err(classify)?;
            row.try_get::<i64, _>(0).map_err(classify)
        }

        /// Finishes a change of a channel: takes its next sequence (stamping it on a just
        /// published release), writes the audit record and outbox event, commits.
        async fn commit_channel_change(
            mut tx: Tx,
            (repo, channel): (&str, &str),
            published: Option<&str>,
            at: i64,
            records: ChannelRecords<'_>,
        ) -> StoreResult<i64> {
            let sequence = next_sequence(&mut tx, repo, channel).await?;
            if let Some(id) = published {
                sqlx::query("UPDATE releases SET sequence = $1 WHERE id = $2")
                    .bind(sequence)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
            }
            let (audit, event) = records(sequence);
            write_audit(&mut tx, &audit).await?;
            write_event(&mut tx, at, &event).await?;
            tx.commit().await.map_err(classify)?;
            Ok(sequence)
        }

        /// Reads the `repo` and `channel` a statement returned.
        fn channel_of(row: &DbRow) -> StoreResult<(String, String)> {
            Ok((row.try_get("repo").map_err(classify)?, row.try_get("channel").map_err(classify)?))
        }

        #[async_trait]
        impl ReleaseStore for $store {
            async fn create_release(&self, r: &ReleaseRecord, audit: &AuditRecord) -> StoreResult<ReleaseRecord> {
                let mut tx = self.begin_write().await?;
                let version = semver::Version::parse(&r.version)
                    .map_err(|e| crate::store::StoreError::Internal(e.to_string()))?;
                let sql = format!(
                    "INSERT INTO releases (id, repo, channel, version, sort_key, state, etag, min_app_version, \
                     max_app_version, platforms, notes, mandatory, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, 'DRAFT', $6, $7, $8, $9, $10, $11, $12, $12) RETURNING {RELEASE_COLUMNS}"
                );
                let row = sqlx::query(&sql)
                    .bind(&r.id)
                    .bind(&r.repo)
                    .bind(&r.channel)
                    .bind(&r.version)
                    .bind(crate::domain::sort_key(&version))
                    .bind(&r.etag)
                    .bind(&r.compatibility.min_app_version)
                    .bind(&r.compatibility.max_app_version)
                    .bind(r.compatibility.platforms.join(","))
                    .bind(&r.notes)
                    .bind(r.mandatory)
                    .bind(r.created_at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(classify)?;
                let record = release_from_row(&row).map_err(classify)?;
                write_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(classify)?;
                Ok(record)
            }

            async fn get_release(&self, id: &str) -> StoreResult<Option<ReleaseRecord>> {
                let sql = format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE id = $1");
                let Some(row) = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await.map_err(classify)? else {
                    return Ok(None);
                };
                let mut record = release_from_row(&row).map_err(classify)?;
                let rows = sqlx::query(
                    "SELECT role, package, version FROM release_artifacts WHERE release_seq = $1 ORDER BY role",
                )
                .bind(record.seq)
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
                record.artifacts = rows
                    .iter()
                    .map(|r| Ok(Artifact { role: r.try_get("role")?, package: r.try_get("package")?, version: r.try_get("version")? }))
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(classify)?;
                Ok(Some(record))
            }

            async fn list_releases(
                &self,
                repo: &str,
                channel: Option<&str>,
                include_drafts: bool,
                after_seq: Option<i64>,
                limit: i64,
            ) -> StoreResult<Vec<ReleaseRecord>> {
                let sql = format!(
                    "SELECT {RELEASE_COLUMNS} FROM releases WHERE repo = $1 AND ($2 IS NULL OR channel = $2) \
                     AND ($3 OR state <> 'DRAFT') AND ($4 IS NULL OR seq > $4) ORDER BY seq LIMIT $5"
                );
                let rows = sqlx::query(&sql)
                    .bind(repo)
                    .bind(channel)
                    .bind(include_drafts)
                    .bind(after_seq)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(classify)?;
                rows.iter().map(release_from_row).collect::<Result<_, _>>().map_err(classify)
            }

            async fn edit_release(
                &self,
                id: &str,
                etag: Option<&str>,
                new_etag: &str,
                at: i64,
                edit: &ReleaseEdit,
                audit: &AuditRecord,
            ) -> StoreResult<Outcome> {
                let mut tx = self.begin_write().await?;
                let claimed = sqlx::query(
                    "UPDATE releases SET etag = $1, updated_at = $2 WHERE id = $3 AND state = 'DRAFT' \
                     AND ($4 IS NULL OR etag = $4) RETURNING seq",
                )
                .bind(new_etag)
                .bind(at)
                .bind(id)
                .bind(etag)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
                let Some(row) = claimed else {
                    return Ok(Outcome::GuardFailed);
                };
                let seq: i64 = row.try_get(0).map_err(classify)?;
                let affected = match edit {
                    ReleaseEdit::Attach(a) => sqlx::query(
                        "INSERT INTO release_artifacts (release_seq, role, package, version) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (release_seq, role) DO UPDATE SET package = excluded.package, version = excluded.version",
                    )
                    .bind(seq)
                    .bind(&a.role)
                    .bind(&a.package)
                    .bind(&a.version),
                    ReleaseEdit::Detach(role) => {
                        sqlx::query("DELETE FROM release_artifacts WHERE release_seq = $1 AND role = $2").bind(seq).bind(role)
                    }
                }
                .execute(&mut *tx)
                .await
                .map_err(classify)?
                .rows_affected();
                finish_edit(tx, affected, audit).await
            }

            async fn publish_release(
                &self,
                id: &str,
                etag: &str,
                at: i64,
                records: ChannelRecords<'_>,
            ) -> StoreResult<Option<i64>> {
                let mut tx = self.begin_write().await?;
                // Validation's artifact rule again, inside the flip: no attached version may be
                // missing, a draft or yanked at the moment of publishing.
                let flipped = sqlx::query(
                    "UPDATE releases SET state = 'PUBLISHED', published_at = $1, updated_at = $1 \
                     WHERE id = $2 AND state = 'DRAFT' AND etag = $3 AND NOT EXISTS ( \
                       SELECT 1 FROM release_artifacts a LEFT JOIN versions v \
                         ON v.repo = releases.repo AND v.package = a.package AND v.version = a.version \
                       WHERE a.release_seq = releases.seq \
                         AND (v.state IS NULL OR v.state NOT IN ('PUBLISHED', 'DEPRECATED'))) \
                     RETURNING repo, channel",
                )
                .bind(at)
                .bind(id)
                .bind(etag)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
                let Some(row) = flipped else {
                    return Ok(None);
                };
                let (repo, channel) = channel_of(&row)?;
                let sequence = commit_channel_change(tx, (&repo, &channel), Some(id), at, records).await?;
                Ok(Some(sequence))
            }

            async fn deprecate_release(
                &self,
                id: &str,
                reason: &str,
                replacement: &str,
                at: i64,
                records: ChannelRecords<'_>,
            ) -> StoreResult<Option<i64>> {
                let mut tx = self.begin_write().await?;
                let changed = sqlx::query(
                    "UPDATE releases SET state = 'DEPRECATED', deprecation_reason = $1, replacement = $2, \
                     updated_at = $3 WHERE id = $4 AND state = 'PUBLISHED' RETURNING repo, channel",
                )
                .bind(reason)
                .bind(replacement)
                .bind(at)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
                let Some(row) = changed else {
                    return Ok(None);
                };
                let (repo, channel) = channel_of(&row)?;
                let sequence = commit_channel_change(tx, (&repo, &channel), None, at, records).await?;
                Ok(Some(sequence))
            }

            async fn rollback_channel(
                &self,
                target: &ReleaseRecord,
                reason: &str,
                at: i64,
                records: ChannelRecords<'_>,
            ) -> StoreResult<Option<Rollback>> {
                let mut tx = self.begin_write().await?;
                // Locks the target and proves it is still published.
                let held = sqlx::query("UPDATE releases SET updated_at = updated_at WHERE id = $1 AND state = 'PUBLISHED'")
                    .bind(&target.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?
                    .rows_affected();
                if held == 0 {
                    return Ok(None);
                }
                let rows = sqlx::query(
                    "UPDATE releases SET state = 'DEPRECATED', deprecation_reason = $1, replacement = $2, updated_at = $3 \
                     WHERE repo = $4 AND channel = $5 AND state = 'PUBLISHED' \
                     AND sort_key > (SELECT sort_key FROM releases WHERE id = $2) RETURNING id",
                )
                .bind(reason)
                .bind(&target.id)
                .bind(at)
                .bind(&target.repo)
                .bind(&target.channel)
                .fetch_all(&mut *tx)
                .await
                .map_err(classify)?;
                let mut deprecated = rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<Result<Vec<_>, _>>().map_err(classify)?;
                deprecated.sort();
                if deprecated.is_empty() {
                    tx.rollback().await.map_err(classify)?;
                    return Ok(Some(Rollback { sequence: None, deprecated }));
                }
                let channel = (target.repo.as_str(), target.channel.as_str());
                let sequence = commit_channel_change(tx, channel, None, at, records).await?;
                Ok(Some(Rollback { sequence: Some(sequence), deprecated }))
            }

            async fn latest_candidates(
                &self,
                repo: &str,
                channel: &str,
                before_key: Option<&str>,
                limit: i64,
            ) -> StoreResult<Vec<(String, ReleaseRecord)>> {
                let sql = latest_candidates_sql(before_key.is_some());
                let mut query = sqlx::query(sql).bind(repo).bind(channel).bind(limit);
                if let Some(key) = before_key {
                    query = query.bind(key);
                }
                let rows = query.fetch_all(&self.pool).await.map_err(classify)?;
                rows.iter()
                    .map(|r| Ok((r.try_get::<String, _>("sort_key")?, release_from_row(r)?)))
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(classify)
            }
        }
        }
    };
}

pub(crate) use impl_release_store;
