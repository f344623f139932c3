//! The releases area: the `releases`, `release_artifacts` and `channels` tables, behind
//! `ReleaseStore` (draft releases and their artifacts, publishing, deprecation and rollback,
//! each taking the channel's next sequence, and the candidates for "latest").

use async_trait::async_trait;

use super::{
    Columns, Dialect, SqlStore, Tx,
    offers::{offer_from_row, offer_sql},
    sql,
};
use crate::{
    domain::{ANY_PLATFORM, Artifact, AuditRecord, Compatibility, Offer, ReleaseRecord},
    store::{
        ChannelRecords, Outcome, ReleaseEdit, ReleaseStore, Rollback, StoreError, StoreResult,
    },
};

pub(super) const RELEASE_COLUMNS: &str = "seq, id, repo, channel, version, sort_key, state, etag, \
     min_app_version, max_app_version, platforms, notes, mandatory, sequence, deprecation_reason, \
     replacement, created_at, updated_at, published_at";

pub(super) fn release_from_row(row: &impl Columns) -> StoreResult<ReleaseRecord> {
    let state = row.text("state")?;
    let platforms = row.text("platforms")?;
    Ok(ReleaseRecord {
        id: row.text("id")?,
        seq: row.int("seq")?,
        repo: row.text("repo")?,
        channel: row.text("channel")?,
        version: row.text("version")?,
        state: state
            .parse()
            .map_err(|e| StoreError::Internal(format!("stored release state: {e}")))?,
        etag: row.text("etag")?,
        compatibility: Compatibility {
            min_app_version: row.text("min_app_version")?,
            max_app_version: row.text("max_app_version")?,
            platforms: split_platforms(&platforms),
        },
        notes: row.text("notes")?,
        mandatory: row.flag("mandatory")?,
        sequence: row.opt_int("sequence")?,
        deprecation_reason: row.text("deprecation_reason")?,
        replacement: row.text("replacement")?,
        artifacts: Vec::new(),
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        published_at: row.opt_int("published_at")?,
    })
}

/// Reads the stored comma-separated platform list.
pub(super) fn split_platforms(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Reads the `repo` and `channel` a statement returned.
fn channel_of(row: &impl Columns) -> StoreResult<(String, String)> {
    Ok((row.text("repo")?, row.text("channel")?))
}

impl<DB: Dialect> Tx<DB> {
    /// Finishes a change of a channel: takes its next sequence (creating the channel at 1, and
    /// stamping it on a just published release), rewrites what the channel offers, writes the
    /// audit record and outbox event, commits.
    async fn commit_channel_change(
        mut self,
        (repo, channel): (&str, &str),
        published: Option<&str>,
        at: i64,
        records: ChannelRecords<'_>,
    ) -> StoreResult<i64> {
        let sequence = self
            .one(
                sql(
                    "INSERT INTO channels (repo, channel, last_sequence) VALUES ($1, $2, 1) \
                     ON CONFLICT (repo, channel) DO UPDATE \
                     SET last_sequence = channels.last_sequence + 1 RETURNING last_sequence",
                )
                .bind(repo)
                .bind(channel),
            )
            .await?
            .int("last_sequence")?;
        if let Some(id) = published {
            self.execute(
                sql("UPDATE releases SET sequence = $1 WHERE id = $2")
                    .bind(sequence)
                    .bind(id),
            )
            .await?;
        }
        self.rewrite_offers(repo, channel).await?;
        let (audit, event) = records(sequence);
        self.write_audit(&audit).await?;
        self.write_event(at, &event).await?;
        self.commit().await?;
        Ok(sequence)
    }
}

#[async_trait]
impl<DB: Dialect> ReleaseStore for SqlStore<DB> {
    async fn create_release(
        &self,
        r: &ReleaseRecord,
        audit: &AuditRecord,
    ) -> StoreResult<ReleaseRecord> {
        let version = semver::Version::parse(&r.version)
            .map_err(|e| StoreError::Internal(format!("release version: {e}")))?;
        let sort_key = crate::domain::sort_key(&version);
        let platforms = r.compatibility.platforms.join(",");
        let text = format!(
            "INSERT INTO releases (id, repo, channel, version, sort_key, state, etag, \
             min_app_version, max_app_version, platforms, notes, mandatory, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, 'DRAFT', $6, $7, $8, $9, $10, $11, $12, $12) \
             RETURNING {RELEASE_COLUMNS}"
        );
        let mut tx = self.begin_write().await?;
        let row = tx
            .one(
                sql(&text)
                    .bind(&r.id)
                    .bind(&r.repo)
                    .bind(&r.channel)
                    .bind(&r.version)
                    .bind(&sort_key)
                    .bind(&r.etag)
                    .bind(&r.compatibility.min_app_version)
                    .bind(&r.compatibility.max_app_version)
                    .bind(&platforms)
                    .bind(&r.notes)
                    .bind(r.mandatory)
                    .bind(r.created_at),
            )
            .await?;
        let record = release_from_row(&row)?;
        tx.write_audit(audit).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn get_release(&self, id: &str) -> StoreResult<Option<ReleaseRecord>> {
        let text =
            format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE id = $1 AND removed_at IS NULL");
        let Some(row) = self.optional(sql(&text).bind(id)).await? else {
            return Ok(None);
        };
        let mut record = release_from_row(&row)?;
        let rows = self
            .all(
                sql("SELECT role, package, version FROM release_artifacts \
                     WHERE release_seq = $1 ORDER BY role")
                .bind(record.seq),
            )
            .await?;
        record.artifacts = rows
            .iter()
            .map(|r| {
                Ok(Artifact {
                    role: r.text("role")?,
                    package: r.text("package")?,
                    version: r.text("version")?,
                })
            })
            .collect::<StoreResult<_>>()?;
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
        let text = format!(
            "SELECT {RELEASE_COLUMNS} FROM releases WHERE repo = $1 \
             AND ($2 IS NULL OR channel = $2) AND ($3 OR state <> 'DRAFT') \
             AND ($4 IS NULL OR seq > $4) AND removed_at IS NULL ORDER BY seq LIMIT $5"
        );
        let rows = self
            .all(
                sql(&text)
                    .bind(repo)
                    .bind(channel)
                    .bind(include_drafts)
                    .bind(after_seq)
                    .bind(limit),
            )
            .await?;
        rows.iter().map(release_from_row).collect()
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
        let claimed = tx
            .optional(
                sql("UPDATE releases SET etag = $1, updated_at = $2 \
                     WHERE id = $3 AND state = 'DRAFT' AND ($4 IS NULL OR etag = $4) RETURNING seq")
                .bind(new_etag)
                .bind(at)
                .bind(id)
                .bind(etag),
            )
            .await?;
        let Some(row) = claimed else {
            return Ok(Outcome::GuardFailed);
        };
        let seq = row.int("seq")?;
        if let ReleaseEdit::Attach(a) = edit {
            // Holds the version's row until commit: retention locks the same row before it
            // decides, so it cannot remove what this attaches; a removed one is refused.
            let held = tx
                .optional(
                    sql("UPDATE versions SET updated_at = updated_at WHERE repo = \
                         (SELECT repo FROM releases WHERE seq = $1) AND package = $2 \
                         AND version = $3 RETURNING removed_at")
                    .bind(seq)
                    .bind(&a.package)
                    .bind(&a.version),
                )
                .await?;
            if let Some(row) = held
                && row.opt_int("removed_at")?.is_some()
            {
                tx.rollback().await?;
                return Ok(Outcome::Missing);
            }
        }
        let stmt = match edit {
            ReleaseEdit::Attach(a) => sql(
                "INSERT INTO release_artifacts (release_seq, role, package, version) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (release_seq, role) DO UPDATE \
                 SET package = excluded.package, version = excluded.version",
            )
            .bind(seq)
            .bind(&a.role)
            .bind(&a.package)
            .bind(&a.version),
            ReleaseEdit::Detach(role) => {
                sql("DELETE FROM release_artifacts WHERE release_seq = $1 AND role = $2")
                    .bind(seq)
                    .bind(role)
            }
        };
        let affected = tx.execute(stmt).await?;
        tx.finish_edit(affected, audit).await
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
        let flipped = tx
            .optional(
                sql(
                    "UPDATE releases SET state = 'PUBLISHED', published_at = $1, updated_at = $1 \
                     WHERE id = $2 AND state = 'DRAFT' AND etag = $3 AND NOT EXISTS ( \
                       SELECT 1 FROM release_artifacts a LEFT JOIN versions v \
                         ON v.repo = releases.repo AND v.package = a.package \
                         AND v.version = a.version \
                       WHERE a.release_seq = releases.seq \
                         AND (v.state IS NULL OR v.state NOT IN ('PUBLISHED', 'DEPRECATED'))) \
                     RETURNING repo, channel",
                )
                .bind(at)
                .bind(id)
                .bind(etag),
            )
            .await?;
        let Some(row) = flipped else {
            return Ok(None);
        };
        let (repo, channel) = channel_of(&row)?;
        let sequence = tx
            .commit_channel_change((&repo, &channel), Some(id), at, records)
            .await?;
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
        let changed = tx
            .optional(
                sql(
                    "UPDATE releases SET state = 'DEPRECATED', deprecation_reason = $1, \
                     replacement = $2, updated_at = $3 WHERE id = $4 AND state = 'PUBLISHED' \
                     RETURNING repo, channel",
                )
                .bind(reason)
                .bind(replacement)
                .bind(at)
                .bind(id),
            )
            .await?;
        let Some(row) = changed else {
            return Ok(None);
        };
        let (repo, channel) = channel_of(&row)?;
        let sequence = tx
            .commit_channel_change((&repo, &channel), None, at, records)
            .await?;
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
        let held = tx
            .execute(
                sql("UPDATE releases SET updated_at = updated_at \
                     WHERE id = $1 AND state = 'PUBLISHED'")
                .bind(&target.id),
            )
            .await?;
        if held == 0 {
            return Ok(None);
        }
        let rows = tx
            .all(
                sql(
                    "UPDATE releases SET state = 'DEPRECATED', deprecation_reason = $1, \
                     replacement = $2, updated_at = $3 \
                     WHERE repo = $4 AND channel = $5 AND state = 'PUBLISHED' \
                     AND sort_key > (SELECT sort_key FROM releases WHERE id = $2) RETURNING id",
                )
                .bind(reason)
                .bind(&target.id)
                .bind(at)
                .bind(&target.repo)
                .bind(&target.channel),
            )
            .await?;
        let mut deprecated = rows
            .iter()
            .map(|r| r.text("id"))
            .collect::<StoreResult<Vec<_>>>()?;
        deprecated.sort();
        if deprecated.is_empty() {
            tx.rollback().await?;
            return Ok(Some(Rollback {
                sequence: None,
                deprecated,
            }));
        }
        let channel = (target.repo.as_str(), target.channel.as_str());
        let sequence = tx.commit_channel_change(channel, None, at, records).await?;
        Ok(Some(Rollback {
            sequence: Some(sequence),
            deprecated,
        }))
    }

    async fn offer(
        &self,
        repo: &str,
        channel: &str,
        platform: &str,
        app_key: &str,
    ) -> StoreResult<Option<Offer<ReleaseRecord>>> {
        let step = |platform| {
            self.optional(
                sql(offer_sql())
                    .bind(repo)
                    .bind(channel)
                    .bind(platform)
                    .bind(app_key),
            )
        };
        // Every platform a release names has steps from the lowest key, so no row means the
        // platform is not named: clients of it read the steps for any platform.
        let mut row = None;
        if platform != ANY_PLATFORM {
            row = step(platform).await?;
        }
        if row.is_none() {
            row = step(ANY_PLATFORM).await?;
        }
        row.as_ref().map(offer_from_row).transpose()
    }
}
