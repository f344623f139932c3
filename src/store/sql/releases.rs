//! The releases area: the `releases`, `release_artifacts` and `channels` tables, behind
//! `ReleaseStore` (draft releases and their artifacts, publishing, deprecation and rollback,
//! each taking the channel's next sequence, and the candidates for "latest").

use async_trait::async_trait;

use super::{
    Columns, Dialect, SqlStore, Tx, names,
    offers::{offer_from_row, offer_sql},
    parsed, placeholders, sql,
};
use crate::{
    domain::{
        ANY_PLATFORM, AppVersion, Artifact, AuditRecord, Compatibility, Etag, Name, Offer,
        ReleaseId, ReleaseRecord, ReleaseState, ReleaseStep, VersionState, parse_semver,
    },
    store::{
        ChannelRecords, Outcome, ReleaseEdit, ReleaseStore, Rollback, StoreError, StoreResult,
    },
};

pub(super) const RELEASE_COLUMNS: &str = "seq, id, repo, channel, version, sort_key, state, etag, \
     min_app_version, max_app_version, platforms, notes, mandatory, sequence, deprecation_reason, \
     replacement, created_at, updated_at, published_at";

/// Reads a stored release id; one that no longer parses is an error naming the row.
fn id_of(what: &dyn std::fmt::Display, column: &str, text: &str) -> StoreResult<ReleaseId> {
    parsed(what, column, text, |t| {
        ReleaseId::from_text(t)
            .ok_or_else(|| crate::domain::Error::internal("not a release id".to_owned()))
    })
}

/// Reads a release row into its record: every column parsed into its domain type here, once
/// for the whole area (offers read their candidates' bounds through [`compatibility_from_row`]).
pub(super) fn release_from_row(row: &impl Columns) -> StoreResult<ReleaseRecord> {
    let seq = row.int("seq")?;
    let text = row.text("id")?;
    let id = id_of(&format_args!("release #{seq}"), "id", &text)?;
    let what = format!("release {id}");
    let what = &what as &dyn std::fmt::Display;
    let etag = row.text("etag")?;
    let deprecation_reason = row.text("deprecation_reason")?;
    let replacement = row.text("replacement")?;
    Ok(ReleaseRecord {
        id,
        seq,
        repo: parsed(what, "repo", &row.text("repo")?, |t| Name::parse("repo", t))?,
        channel: parsed(what, "channel", &row.text("channel")?, |t| {
            Name::parse("channel", t)
        })?,
        version: parsed(what, "version", &row.text("version")?, |t| {
            parse_semver("version", t)
        })?,
        state: parsed(what, "state", &row.text("state")?, str::parse)?,
        etag: Etag::from_text(etag)
            .ok_or_else(|| StoreError::Internal(format!("stored etag of {what} is empty")))?,
        compatibility: compatibility_from_row(row, what)?,
        notes: row.text("notes")?,
        mandatory: row.flag("mandatory")?,
        sequence: row.opt_int("sequence")?,
        deprecation_reason: (!deprecation_reason.is_empty()).then_some(deprecation_reason),
        replacement: match replacement.as_str() {
            "" => None,
            text => Some(id_of(what, "replacement", text)?),
        },
        artifacts: Vec::new(),
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        published_at: row.opt_int("published_at")?,
    })
}

/// Reads a release's stored compatibility: empty bounds are "no bound", and a bound or
/// platform that no longer parses is an error naming the row (`what`).
pub(super) fn compatibility_from_row(
    row: &impl Columns,
    what: &dyn std::fmt::Display,
) -> StoreResult<Compatibility> {
    let bound = |column: &str| -> StoreResult<Option<AppVersion>> {
        let text = row.text(column)?;
        parsed(what, column, &text, |t| {
            AppVersion::parse_optional(column, t)
        })
    };
    let platforms = row.text("platforms")?;
    Ok(Compatibility {
        min: bound("min_app_version")?,
        max: bound("max_app_version")?,
        platforms: platforms
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| parsed(what, "platforms", p, |t| Name::parse("platforms", t)))
            .collect::<StoreResult<_>>()?,
    })
}

/// Writes a release's compatibility as stored: `(min, max, platforms)`, empty for none.
fn compatibility_columns(c: &Compatibility) -> (&str, &str, String) {
    let platforms: Vec<&str> = c.platforms.iter().map(Name::as_str).collect();
    (
        c.min.as_ref().map_or("", AppVersion::as_str),
        c.max.as_ref().map_or("", AppVersion::as_str),
        platforms.join(","),
    )
}

/// Reads the `repo` and `channel` a statement returned (written as they are, not parsed:
/// they only go back into the channel's own statements).
pub(super) fn channel_of(row: &impl Columns) -> StoreResult<(String, String)> {
    Ok((row.text("repo")?, row.text("channel")?))
}

impl<DB: Dialect> Tx<DB> {
    /// Finishes a change of a channel: takes its next sequence (creating the channel at 1, and
    /// stamping it on a just published release), rewrites what the channel offers, writes the
    /// audit record and outbox event, commits.
    pub(super) async fn commit_channel_change(
        mut self,
        (repo, channel): (&str, &str),
        published: Option<&ReleaseId>,
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
            let id = id.to_string();
            self.execute(
                sql("UPDATE releases SET sequence = $1 WHERE id = $2")
                    .bind(sequence)
                    .bind(&id),
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
        let sort_key = crate::domain::sort_key(&r.version);
        let (id, version) = (r.id.to_string(), r.version.to_string());
        let (min, max, platforms) = compatibility_columns(&r.compatibility);
        let text = format!(
            "INSERT INTO releases (id, repo, channel, version, sort_key, state, etag, \
             min_app_version, max_app_version, platforms, notes, mandatory, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $13, $6, $7, $8, $9, $10, $11, $12, $12) \
             RETURNING {RELEASE_COLUMNS}"
        );
        let mut tx = self.begin_write().await?;
        let row = tx
            .one(
                sql(&text)
                    .bind(&id)
                    .bind(&r.repo)
                    .bind(&r.channel)
                    .bind(&version)
                    .bind(&sort_key)
                    .bind(&r.etag)
                    .bind(min)
                    .bind(max)
                    .bind(&platforms)
                    .bind(&r.notes)
                    .bind(r.mandatory)
                    .bind(r.created_at)
                    .bind(ReleaseState::Draft.as_str()),
            )
            .await?;
        let record = release_from_row(&row)?;
        tx.write_audit(audit).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn get_release(&self, id: &ReleaseId) -> StoreResult<Option<ReleaseRecord>> {
        let text =
            format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE id = $1 AND removed_at IS NULL");
        let id = id.to_string();
        let Some(row) = self.optional(sql(&text).bind(&id)).await? else {
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
        let what = format!("artifact of release {id}");
        let what = &what as &dyn std::fmt::Display;
        record.artifacts = rows
            .iter()
            .map(|r| {
                Ok(Artifact {
                    role: parsed(what, "role", &r.text("role")?, |t| Name::parse("role", t))?,
                    package: parsed(what, "package", &r.text("package")?, |t| {
                        Name::parse("package", t)
                    })?,
                    version: parsed(what, "version", &r.text("version")?, |t| {
                        parse_semver("version", t)
                    })?,
                })
            })
            .collect::<StoreResult<_>>()?;
        Ok(Some(record))
    }

    async fn list_releases(
        &self,
        repo: &Name,
        channel: Option<&Name>,
        include_drafts: bool,
        after_seq: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<ReleaseRecord>> {
        let text = format!(
            "SELECT {RELEASE_COLUMNS} FROM releases WHERE repo = $1 \
             AND ($2 IS NULL OR channel = $2) AND ($3 OR state <> $6) \
             AND ($4 IS NULL OR seq > $4) AND removed_at IS NULL ORDER BY seq LIMIT $5"
        );
        let rows = self
            .all(
                sql(&text)
                    .bind(repo)
                    .bind(channel)
                    .bind(include_drafts)
                    .bind(after_seq)
                    .bind(limit)
                    .bind(ReleaseState::Draft.as_str()),
            )
            .await?;
        rows.iter().map(release_from_row).collect()
    }

    async fn edit_release(
        &self,
        id: &ReleaseId,
        etag: Option<&Etag>,
        new_etag: &Etag,
        at: i64,
        edit: &ReleaseEdit,
        audit: &AuditRecord,
    ) -> StoreResult<Outcome> {
        let from = ReleaseStep::Edit.from();
        let text = format!(
            "UPDATE releases SET etag = $1, updated_at = $2 \
             WHERE id = $3 AND ($4 IS NULL OR etag = $4) AND state IN ({}) RETURNING seq",
            placeholders(5, from.len())
        );
        let id = id.to_string();
        let mut tx = self.begin_write().await?;
        let claimed = tx
            .optional(
                sql(&text)
                    .bind(new_etag)
                    .bind(at)
                    .bind(&id)
                    .bind(etag)
                    .bind_all(names(from)),
            )
            .await?;
        let Some(row) = claimed else {
            return Ok(Outcome::GuardFailed);
        };
        let seq = row.int("seq")?;
        let version = match edit {
            ReleaseEdit::Attach(a) => a.version.to_string(),
            ReleaseEdit::Detach(_) => String::new(),
        };
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
                    .bind(&version),
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
            .bind(&version),
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
        id: &ReleaseId,
        etag: &Etag,
        at: i64,
        records: ChannelRecords<'_>,
    ) -> StoreResult<Option<i64>> {
        let text_id = id.to_string();
        let step = ReleaseStep::Publish;
        let (from, attachable) = (step.from(), VersionState::ATTACHABLE);
        // Validation's artifact rule again, inside the flip: every attached version must exist
        // and be attachable (not a draft, not yanked) at the moment of publishing.
        let text = format!(
            "UPDATE releases SET state = $4, published_at = $1, updated_at = $1 \
             WHERE id = $2 AND etag = $3 AND state IN ({}) AND NOT EXISTS ( \
               SELECT 1 FROM release_artifacts a LEFT JOIN versions v \
                 ON v.repo = releases.repo AND v.package = a.package \
                 AND v.version = a.version \
               WHERE a.release_seq = releases.seq \
                 AND (v.state IS NULL OR v.state NOT IN ({}))) \
             RETURNING repo, channel",
            placeholders(5, from.len()),
            placeholders(5 + from.len(), attachable.len())
        );
        let mut tx = self.begin_write().await?;
        let flipped = tx
            .optional(
                sql(&text)
                    .bind(at)
                    .bind(&text_id)
                    .bind(etag)
                    .bind(step.to().as_str())
                    .bind_all(names(from))
                    .bind_all(names(attachable)),
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
        id: &ReleaseId,
        reason: &str,
        replacement: Option<&ReleaseId>,
        at: i64,
        records: ChannelRecords<'_>,
    ) -> StoreResult<Option<i64>> {
        let step = ReleaseStep::Deprecate;
        let text = format!(
            "UPDATE releases SET state = $5, deprecation_reason = $1, \
             replacement = $2, updated_at = $3 WHERE id = $4 AND state IN ({}) \
             RETURNING repo, channel",
            placeholders(6, step.from().len())
        );
        let (text_id, replacement) = (
            id.to_string(),
            replacement.map(ToString::to_string).unwrap_or_default(),
        );
        let mut tx = self.begin_write().await?;
        let changed = tx
            .optional(
                sql(&text)
                    .bind(reason)
                    .bind(&replacement)
                    .bind(at)
                    .bind(&text_id)
                    .bind(step.to().as_str())
                    .bind_all(names(step.from())),
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
        let target_id = target.id.to_string();
        let mut tx = self.begin_write().await?;
        // Locks the target and proves it is still offered.
        let held = tx
            .execute(
                sql("UPDATE releases SET updated_at = updated_at WHERE id = $1 AND state = $2")
                    .bind(&target_id)
                    .bind(ReleaseState::OFFERED.as_str()),
            )
            .await?;
        if held == 0 {
            return Ok(None);
        }
        let step = ReleaseStep::RollBack;
        let text = format!(
            "UPDATE releases SET state = $6, deprecation_reason = $1, \
             replacement = $2, updated_at = $3 \
             WHERE repo = $4 AND channel = $5 AND state IN ({}) \
             AND sort_key > (SELECT sort_key FROM releases WHERE id = $2) RETURNING id",
            placeholders(7, step.from().len())
        );
        let rows = tx
            .all(
                sql(&text)
                    .bind(reason)
                    .bind(&target_id)
                    .bind(at)
                    .bind(&target.repo)
                    .bind(&target.channel)
                    .bind(step.to().as_str())
                    .bind_all(names(step.from())),
            )
            .await?;
        let mut deprecated = rows
            .iter()
            .map(|r| id_of(&"a rolled back release", "id", &r.text("id")?))
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
        repo: &Name,
        channel: &Name,
        platform: Option<&Name>,
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
        if let Some(platform) = platform {
            row = step(platform.as_str()).await?;
        }
        if row.is_none() {
            row = step(ANY_PLATFORM).await?;
        }
        row.as_ref().map(offer_from_row).transpose()
    }
}
