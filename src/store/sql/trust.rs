//! The signing area: the `trust_roots`, `release_signatures`, `channel_heads`, `tuf_roots` and
//! `tuf_metadata` tables, behind `TrustStore`. Envelopes are stored as base64 payload text and
//! a JSON signature list (`Envelope::stored_*`); TUF documents as the JSON text served.

use async_trait::async_trait;

use super::{Columns, Dialect, SqlStore, sql};
use crate::{
    domain::{AuditRecord, Envelope, ReleaseState},
    store::{ChannelInputs, StoreError, StoreResult, StoredHead, StoredTuf, TrustStore},
};

fn envelope(row: &impl Columns) -> StoreResult<Envelope> {
    Envelope::from_stored(&row.text("payload")?, &row.text("signatures")?)
        .map_err(StoreError::Internal)
}

#[async_trait]
impl<DB: Dialect> TrustStore for SqlStore<DB> {
    async fn trust_root(
        &self,
        repo: &str,
        version: Option<i64>,
    ) -> StoreResult<Option<(i64, Envelope)>> {
        let row = match version {
            Some(v) => {
                self.optional(
                    sql("SELECT version, payload, signatures FROM trust_roots \
                         WHERE repo = $1 AND version = $2")
                    .bind(repo)
                    .bind(v),
                )
                .await?
            }
            None => {
                self.optional(
                    sql("SELECT version, payload, signatures FROM trust_roots \
                         WHERE repo = $1 ORDER BY version DESC LIMIT 1")
                    .bind(repo),
                )
                .await?
            }
        };
        row.map(|r| Ok((r.int("version")?, envelope(&r)?)))
            .transpose()
    }

    async fn put_trust_root(
        &self,
        repo: &str,
        version: i64,
        root: &Envelope,
        at: i64,
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let (payload, signatures) = (root.stored_payload(), root.stored_signatures());
        let inserted = tx
            .execute(
                sql(
                    "INSERT INTO trust_roots (repo, version, payload, signatures, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(repo)
                .bind(version)
                .bind(&payload)
                .bind(&signatures)
                .bind(at),
            )
            .await?;
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.write_audit(audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn release_signature(&self, release_id: &str) -> StoreResult<Option<Envelope>> {
        let row = self
            .optional(
                sql("SELECT payload, signatures FROM release_signatures WHERE release_id = $1")
                    .bind(release_id),
            )
            .await?;
        row.map(|r| envelope(&r)).transpose()
    }

    async fn put_release_signature(
        &self,
        release_id: &str,
        manifest: &Envelope,
        at: i64,
    ) -> StoreResult<Envelope> {
        let mut tx = self.begin_write().await?;
        let (payload, signatures) = (manifest.stored_payload(), manifest.stored_signatures());
        tx.execute(
            sql(
                "INSERT INTO release_signatures (release_id, payload, signatures, signed_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(release_id)
            .bind(&payload)
            .bind(&signatures)
            .bind(at),
        )
        .await?;
        let row = tx
            .one(
                sql("SELECT payload, signatures FROM release_signatures WHERE release_id = $1")
                    .bind(release_id),
            )
            .await?;
        let stored = envelope(&row)?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn unsigned_releases(&self, limit: i64) -> StoreResult<Vec<String>> {
        let rows = self
            .all(
                sql("SELECT r.id FROM releases r \
                     WHERE r.state <> $2 AND r.removed_at IS NULL \
                     AND EXISTS (SELECT 1 FROM trust_roots t WHERE t.repo = r.repo) \
                     AND NOT EXISTS (SELECT 1 FROM release_signatures s WHERE s.release_id = r.id) \
                     ORDER BY r.seq LIMIT $1")
                .bind(limit)
                .bind(ReleaseState::Draft.as_str()),
            )
            .await?;
        rows.iter().map(|r| r.text("id")).collect()
    }

    async fn channel_head(&self, repo: &str, channel: &str) -> StoreResult<Option<StoredHead>> {
        let row = self
            .optional(
                sql(
                    "SELECT version, inputs_digest, expires_at, payload, signatures \
                     FROM channel_heads WHERE repo = $1 AND channel = $2",
                )
                .bind(repo)
                .bind(channel),
            )
            .await?;
        row.map(|r| {
            Ok(StoredHead {
                version: r.int("version")?,
                inputs_digest: r.text("inputs_digest")?,
                expires_at: r.int("expires_at")?,
                envelope: envelope(&r)?,
            })
        })
        .transpose()
    }

    async fn put_channel_head(
        &self,
        repo: &str,
        channel: &str,
        replaces: Option<i64>,
        head: &StoredHead,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let (payload, signatures) = (
            head.envelope.stored_payload(),
            head.envelope.stored_signatures(),
        );
        let changed = match replaces {
            None => {
                tx.execute(
                    sql("INSERT INTO channel_heads \
                         (repo, channel, version, inputs_digest, expires_at, payload, signatures) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING")
                    .bind(repo)
                    .bind(channel)
                    .bind(head.version)
                    .bind(&head.inputs_digest)
                    .bind(head.expires_at)
                    .bind(&payload)
                    .bind(&signatures),
                )
                .await?
            }
            Some(old) => {
                tx.execute(
                    sql(
                        "UPDATE channel_heads SET version = $1, inputs_digest = $2, \
                         expires_at = $3, payload = $4, signatures = $5 \
                         WHERE repo = $6 AND channel = $7 AND version = $8 AND $1 > version",
                    )
                    .bind(head.version)
                    .bind(&head.inputs_digest)
                    .bind(head.expires_at)
                    .bind(&payload)
                    .bind(&signatures)
                    .bind(repo)
                    .bind(channel)
                    .bind(old),
                )
                .await?
            }
        };
        tx.commit().await?;
        Ok(changed == 1)
    }

    async fn channel_inputs(&self, repo: &str, channel: &str) -> StoreResult<ChannelInputs> {
        let sequence = self
            .optional(
                sql("SELECT last_sequence FROM channels WHERE repo = $1 AND channel = $2")
                    .bind(repo)
                    .bind(channel),
            )
            .await?
            .map(|r| r.int("last_sequence"))
            .transpose()?
            .unwrap_or(0);
        let rows = self
            .all(
                sql(
                    "SELECT id, state, version, deprecation_reason FROM releases \
                     WHERE repo = $1 AND channel = $2 AND state <> $3",
                )
                .bind(repo)
                .bind(channel)
                .bind(ReleaseState::Draft.as_str()),
            )
            .await?;
        let mut releases = rows
            .iter()
            .map(|r| {
                Ok((
                    r.text("id")?,
                    r.text("state")?,
                    r.text("version")?,
                    r.text("deprecation_reason")?,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        releases.sort();
        Ok(ChannelInputs { sequence, releases })
    }

    async fn signed_channels(&self) -> StoreResult<Vec<(String, String)>> {
        let rows = self
            .all(
                sql(
                    "SELECT DISTINCT r.repo, r.channel FROM releases r WHERE r.state <> $1 \
                     AND EXISTS (SELECT 1 FROM trust_roots t WHERE t.repo = r.repo)",
                )
                .bind(ReleaseState::Draft.as_str()),
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.text("repo")?, r.text("channel")?)))
            .collect()
    }

    async fn repo_signatures(
        &self,
        repo: &str,
        since: i64,
    ) -> StoreResult<Vec<(String, i64, Envelope)>> {
        let rows = self
            .all(
                sql("SELECT s.release_id, s.signed_at, s.payload, s.signatures \
                     FROM release_signatures s JOIN releases r ON r.id = s.release_id \
                     WHERE r.repo = $1 AND r.removed_at IS NULL AND s.signed_at >= $2 \
                     ORDER BY s.release_id")
                .bind(repo)
                .bind(since),
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.text("release_id")?, r.int("signed_at")?, envelope(r)?)))
            .collect()
    }

    async fn repo_signatures_summary(&self, repo: &str) -> StoreResult<(i64, i64)> {
        let row = self
            .one(
                sql(
                    "SELECT COUNT(*) AS n, COALESCE(MAX(s.signed_at), 0) AS last \
                     FROM release_signatures s JOIN releases r ON r.id = s.release_id \
                     WHERE r.repo = $1 AND r.removed_at IS NULL",
                )
                .bind(repo),
            )
            .await?;
        Ok((row.int("n")?, row.int("last")?))
    }

    async fn tuf_root(
        &self,
        repo: &str,
        version: Option<i64>,
    ) -> StoreResult<Option<(i64, String)>> {
        let row = match version {
            Some(v) => {
                self.optional(
                    sql("SELECT version, document FROM tuf_roots WHERE repo = $1 AND version = $2")
                        .bind(repo)
                        .bind(v),
                )
                .await?
            }
            None => {
                self.optional(
                    sql("SELECT version, document FROM tuf_roots \
                         WHERE repo = $1 ORDER BY version DESC LIMIT 1")
                    .bind(repo),
                )
                .await?
            }
        };
        row.map(|r| Ok((r.int("version")?, r.text("document")?)))
            .transpose()
    }

    async fn put_tuf_root(&self, repo: &str, version: i64, document: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        tx.execute(
            sql(
                "INSERT INTO tuf_roots (repo, version, document) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(repo)
            .bind(version)
            .bind(document),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn tuf_metadata(&self, repo: &str) -> StoreResult<Option<StoredTuf>> {
        let row = self
            .optional(
                sql(
                    "SELECT version, inputs_digest, expires_at, targets_json, snapshot_json, \
                     timestamp_json FROM tuf_metadata WHERE repo = $1",
                )
                .bind(repo),
            )
            .await?;
        row.map(|r| {
            Ok(StoredTuf {
                version: r.int("version")?,
                inputs_digest: r.text("inputs_digest")?,
                expires_at: r.int("expires_at")?,
                targets: r.text("targets_json")?,
                snapshot: r.text("snapshot_json")?,
                timestamp: r.text("timestamp_json")?,
            })
        })
        .transpose()
    }

    async fn put_tuf_metadata(
        &self,
        repo: &str,
        replaces: Option<i64>,
        m: &StoredTuf,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let changed = match replaces {
            None => {
                tx.execute(
                    sql(
                        "INSERT INTO tuf_metadata (repo, version, inputs_digest, expires_at, \
                         targets_json, snapshot_json, timestamp_json) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                    )
                    .bind(repo)
                    .bind(m.version)
                    .bind(&m.inputs_digest)
                    .bind(m.expires_at)
                    .bind(&m.targets)
                    .bind(&m.snapshot)
                    .bind(&m.timestamp),
                )
                .await?
            }
            Some(old) => {
                tx.execute(
                    sql("UPDATE tuf_metadata SET version = $1, inputs_digest = $2, \
                         expires_at = $3, targets_json = $4, snapshot_json = $5, \
                         timestamp_json = $6 WHERE repo = $7 AND version = $8 AND $1 > version")
                    .bind(m.version)
                    .bind(&m.inputs_digest)
                    .bind(m.expires_at)
                    .bind(&m.targets)
                    .bind(&m.snapshot)
                    .bind(&m.timestamp)
                    .bind(repo)
                    .bind(old),
                )
                .await?
            }
        };
        tx.commit().await?;
        Ok(changed == 1)
    }
}
