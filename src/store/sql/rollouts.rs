//! The rollouts area: the `rollouts` and `release_floors` tables behind `RolloutStore`. Every
//! change is a channel change (`Tx::commit_channel_change`: next sequence, rewritten offer
//! steps without the held-back releases, audit record, outbox event), and races are settled
//! by the database: the partial unique index `rollouts_one_open` admits one active or paused
//! rollout per channel, and changes are conditional updates.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Columns, Dialect, SqlStore, sql};
use crate::{
    domain::{ChannelPlan, ReleaseState, Rollout, RolloutState, waves_from_text, waves_text},
    store::{ChannelRecords, RolloutChange, RolloutStart, RolloutStore, StoreError, StoreResult},
};

const ROLLOUT_COLUMNS: &str =
    "release_id, repo, channel, state, bps, salt, waves, started_at, updated_at";

/// The states whose release is held back from the channel's base offer.
pub(super) const HELD_STATES: &str = "('active', 'paused', 'halted')";

fn rollout_from_row(row: &impl Columns) -> StoreResult<Rollout> {
    let state = row.text("state")?;
    Ok(Rollout {
        release_id: row.text("release_id")?,
        repo: row.text("repo")?,
        channel: row.text("channel")?,
        state: state
            .parse()
            .map_err(|_| StoreError::Internal(format!("stored rollout state {state:?}")))?,
        bps: u32::try_from(row.int("bps")?)
            .map_err(|_| StoreError::Internal("stored rollout share".into()))?,
        salt: row.text("salt")?,
        waves: waves_from_text(&row.text("waves")?),
        started_at: row.int("started_at")?,
        updated_at: row.int("updated_at")?,
    })
}

/// Release columns prefixed for a join.
fn release_columns(prefix: &str) -> String {
    super::releases::RELEASE_COLUMNS
        .split(',')
        .map(|c| format!("{prefix}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait]
impl<DB: Dialect> RolloutStore for SqlStore<DB> {
    async fn start_rollout(
        &self,
        r: &Rollout,
        records: ChannelRecords<'_>,
    ) -> StoreResult<RolloutStart> {
        let waves = waves_text(&r.waves);
        let mut tx = self.begin_write().await?;
        // Locks the release and proves it is a published release of the channel.
        let held = tx
            .execute(
                sql("UPDATE releases SET updated_at = updated_at \
                     WHERE id = $1 AND repo = $2 AND channel = $3 AND state = $4")
                .bind(r.release_id.as_str())
                .bind(r.repo.as_str())
                .bind(r.channel.as_str())
                .bind(ReleaseState::OFFERED.as_str()),
            )
            .await?;
        if held == 0 {
            tx.rollback().await?;
            return Ok(RolloutStart::NotPublished);
        }
        let exists = tx
            .optional(
                sql("SELECT 1 AS one FROM rollouts WHERE release_id = $1")
                    .bind(r.release_id.as_str()),
            )
            .await?;
        if exists.is_some() {
            tx.rollback().await?;
            return Ok(RolloutStart::Exists);
        }
        // An open rollout whose release is no longer published (deprecated, or rolled back)
        // ended with it: it no longer holds the channel.
        tx.execute(
            sql("UPDATE rollouts SET state = 'halted', updated_at = $3 \
                 WHERE repo = $1 AND channel = $2 AND state IN ('active', 'paused') \
                 AND NOT EXISTS (SELECT 1 FROM releases r \
                   WHERE r.id = rollouts.release_id AND r.state = $4)")
            .bind(r.repo.as_str())
            .bind(r.channel.as_str())
            .bind(r.started_at)
            .bind(ReleaseState::OFFERED.as_str()),
        )
        .await?;
        let text = format!(
            "INSERT INTO rollouts ({ROLLOUT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        let inserted = tx
            .execute(
                sql(&text)
                    .bind(r.release_id.as_str())
                    .bind(r.repo.as_str())
                    .bind(r.channel.as_str())
                    .bind(r.state.as_str())
                    .bind(i64::from(r.bps))
                    .bind(r.salt.as_str())
                    .bind(&waves)
                    .bind(r.started_at)
                    .bind(r.updated_at),
            )
            .await;
        match inserted {
            Ok(_) => {}
            // The release's own row was checked above, under the release's lock: a unique
            // violation here is the channel's open rollout.
            Err(StoreError::Conflict) => return Ok(RolloutStart::ChannelBusy),
            Err(e) => return Err(e),
        }
        let sequence = tx
            .commit_channel_change((&r.repo, &r.channel), None, r.started_at, records)
            .await?;
        Ok(RolloutStart::Started(sequence))
    }

    async fn change_rollout(
        &self,
        c: &RolloutChange<'_>,
        records: ChannelRecords<'_>,
    ) -> StoreResult<Option<i64>> {
        let states: Vec<&str> = c.from.iter().map(|s| s.as_str()).collect();
        let mut text = format!(
            "UPDATE rollouts SET state = $1, bps = $2, updated_at = $3 \
             WHERE release_id = $4 AND bps <= $5 AND state IN ({})",
            super::placeholders(6, states.len())
        );
        if c.expect_bps.is_some() {
            text.push_str(&format!(" AND bps = ${}", 6 + states.len()));
        }
        text.push_str(" RETURNING repo, channel");
        let mut stmt = sql(&text)
            .bind(c.state.as_str())
            .bind(i64::from(c.bps))
            .bind(c.at)
            .bind(c.release_id)
            .bind(i64::from(c.bps))
            .bind_all(states.iter().copied());
        if let Some(bps) = c.expect_bps {
            stmt = stmt.bind(i64::from(bps));
        }
        let mut tx = self.begin_write().await?;
        let Some(row) = tx.optional(stmt).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let (repo, channel) = (row.text("repo")?, row.text("channel")?);
        let sequence = tx
            .commit_channel_change((&repo, &channel), None, c.at, records)
            .await?;
        Ok(Some(sequence))
    }

    async fn get_rollout(&self, release_id: &str) -> StoreResult<Option<Rollout>> {
        let text = format!("SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE release_id = $1");
        self.optional(sql(&text).bind(release_id))
            .await?
            .as_ref()
            .map(rollout_from_row)
            .transpose()
    }

    async fn rollouts_with_waves(&self) -> StoreResult<Vec<Rollout>> {
        let text = format!(
            "SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE state = 'active' AND waves <> '' \
             AND EXISTS (SELECT 1 FROM releases r WHERE r.id = rollouts.release_id \
               AND r.state = $1) ORDER BY release_id"
        );
        self.all(sql(&text).bind(ReleaseState::OFFERED.as_str()))
            .await?
            .iter()
            .map(rollout_from_row)
            .collect()
    }

    async fn set_floor(
        &self,
        release_id: &str,
        on: bool,
        at: i64,
        records: ChannelRecords<'_>,
    ) -> StoreResult<Option<i64>> {
        let mut tx = self.begin_write().await?;
        let release = tx
            .optional(
                sql(
                    "UPDATE releases SET updated_at = updated_at WHERE id = $1 AND state = $2 \
                     RETURNING repo, channel",
                )
                .bind(release_id)
                .bind(ReleaseState::OFFERED.as_str()),
            )
            .await?;
        let Some(row) = release else {
            tx.rollback().await?;
            return Ok(None);
        };
        let (repo, channel) = (row.text("repo")?, row.text("channel")?);
        let changed = if on {
            tx.execute(
                sql(
                    "INSERT INTO release_floors (release_id, repo, channel, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (release_id) DO NOTHING",
                )
                .bind(release_id)
                .bind(repo.as_str())
                .bind(channel.as_str())
                .bind(at),
            )
            .await?
        } else {
            tx.execute(sql("DELETE FROM release_floors WHERE release_id = $1").bind(release_id))
                .await?
        };
        if changed == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let sequence = tx
            .commit_channel_change((&repo, &channel), None, at, records)
            .await?;
        Ok(Some(sequence))
    }

    async fn channel_plan(&self, repo: &str, channel: &str) -> StoreResult<ChannelPlan> {
        let text = format!(
            "SELECT o.state AS rollout_state, o.bps, o.salt, o.waves, o.started_at, \
             o.updated_at AS rollout_updated_at, {} FROM rollouts o \
             JOIN releases r ON r.id = o.release_id \
             WHERE o.repo = $1 AND o.channel = $2 AND o.state IN {HELD_STATES} AND r.state = $3",
            release_columns("r")
        );
        let rows = self
            .all(
                sql(&text)
                    .bind(repo)
                    .bind(channel)
                    .bind(ReleaseState::OFFERED.as_str()),
            )
            .await?;
        let mut plan = ChannelPlan::default();
        for row in &rows {
            let mut record = super::releases::release_from_row(row)?;
            record.artifacts.clear();
            let record = Arc::new(record);
            let state = row.text("rollout_state")?;
            let rollout = Rollout {
                release_id: record.id.to_string(),
                repo: repo.to_owned(),
                channel: channel.to_owned(),
                state: state
                    .parse()
                    .map_err(|_| StoreError::Internal(format!("stored rollout state {state:?}")))?,
                bps: u32::try_from(row.int("bps")?)
                    .map_err(|_| StoreError::Internal("stored rollout share".into()))?,
                salt: row.text("salt")?,
                waves: waves_from_text(&row.text("waves")?),
                started_at: row.int("started_at")?,
                updated_at: row.int("rollout_updated_at")?,
            };
            if matches!(rollout.state, RolloutState::Active | RolloutState::Paused) {
                plan.open = Some((rollout, record.clone()));
            }
            plan.held.push(record);
        }
        let text = format!(
            "SELECT {} FROM release_floors f JOIN releases r ON r.id = f.release_id \
             WHERE f.repo = $1 AND f.channel = $2 AND r.state = $3",
            release_columns("r")
        );
        let rows = self
            .all(
                sql(&text)
                    .bind(repo)
                    .bind(channel)
                    .bind(ReleaseState::OFFERED.as_str()),
            )
            .await?;
        for row in &rows {
            plan.floors
                .push(Arc::new(super::releases::release_from_row(row)?));
        }
        plan.floors
            .sort_by(|a, b| a.version.cmp_precedence(&b.version).then(a.seq.cmp(&b.seq)));
        Ok(plan)
    }
}
