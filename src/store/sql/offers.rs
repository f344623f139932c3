//! The `channel_offers` table: what each channel offers, as the steps `domain::offer_steps`
//! computes from its published releases. Every channel change rewrites its steps in the same
//! transaction (`Tx::rewrite_offers`); "latest" reads one step by primary key
//! (`ReleaseStore::offer`, in `releases.rs`).

use super::{Columns, Dialect, SqlStore, Tx, sql};
use crate::{
    domain::{Candidate, Offer, ReleaseState, offer_steps},
    store::StoreResult,
};

/// Steps written per `INSERT` statement (7 arguments each).
const STEPS_PER_INSERT: usize = 200;

/// The query behind `ReleaseStore::offer`: `$1` repo, `$2` channel, `$3` platform, `$4` the
/// client's app-version key; the step at or below the key, with the release it offers.
/// Public so that the benchmark explains this exact text.
pub fn offer_sql() -> &'static str {
    static TEXT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let columns: Vec<String> = super::releases::RELEASE_COLUMNS
            .split(',')
            .map(|c| format!("r.{}", c.trim()))
            .collect();
        format!(
            "SELECT o.release_id AS offered, o.app_update_to, {} FROM channel_offers o \
             LEFT JOIN releases r ON r.id = o.release_id \
             WHERE o.repo = $1 AND o.channel = $2 AND o.platform = $3 AND o.from_key <= $4 \
             ORDER BY o.from_key DESC LIMIT 1",
            columns.join(", ")
        )
    });
    &TEXT
}

/// Reads the offer of a row of `offer_sql`.
pub(super) fn offer_from_row(
    row: &impl Columns,
) -> StoreResult<Offer<crate::domain::ReleaseRecord>> {
    if row.opt_text("offered")?.is_some() {
        return super::releases::release_from_row(row).map(Offer::Release);
    }
    Ok(row
        .opt_text("app_update_to")?
        .map_or(Offer::Nothing, Offer::AppUpdateRequired))
}

impl<DB: Dialect> Tx<DB> {
    /// Replaces a channel's offer steps with those of its published releases, as they are in
    /// this transaction.
    pub(crate) async fn rewrite_offers(&mut self, repo: &str, channel: &str) -> StoreResult<()> {
        let rows = self
            .all(
                sql(
                    "SELECT id, seq, sort_key, min_app_version, max_app_version, platforms, \
                     (SELECT COUNT(*) FROM rollouts o WHERE o.release_id = releases.id \
                       AND o.state IN ('active', 'paused', 'halted')) AS held \
                     FROM releases WHERE repo = $1 AND channel = $2 AND state = $3",
                )
                .bind(repo)
                .bind(channel)
                .bind(ReleaseState::OFFERED.as_str()),
            )
            .await?;
        // Releases under an open or halted rollout are not in the base offer: the rollout
        // decides on top of it (`registry/rollouts.rs`).
        let mut held = false;
        let mut offered = Vec::with_capacity(rows.len());
        for row in rows {
            if row.int("held")? > 0 {
                held = true;
            } else {
                offered.push(row);
            }
        }
        let candidates = offered
            .iter()
            .map(|r| {
                let id = r.text("id")?;
                let compatibility =
                    super::releases::compatibility_from_row(r, &format_args!("release {id}"))?;
                Ok(Candidate::new(
                    &id,
                    r.int("seq")?,
                    &r.text("sort_key")?,
                    &compatibility,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let mut steps = offer_steps(&candidates);
        if steps.is_empty() && held {
            // Every published release is held back: the base offers nothing (the channel has
            // published releases, so "latest" is not "not found").
            steps.push(crate::domain::OfferStep {
                platform: crate::domain::ANY_PLATFORM.to_owned(),
                from_key: String::new(),
                to_key: None,
                offer: Offer::Nothing,
            });
        }
        self.execute(
            sql("DELETE FROM channel_offers WHERE repo = $1 AND channel = $2")
                .bind(repo)
                .bind(channel),
        )
        .await?;
        for chunk in steps.chunks(STEPS_PER_INSERT) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let n = i * 7;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5,
                        n + 6,
                        n + 7
                    )
                })
                .collect();
            let text = format!(
                "INSERT INTO channel_offers (repo, channel, platform, from_key, to_key, \
                 release_id, app_update_to) VALUES {}",
                values.join(", ")
            );
            let mut stmt = sql(&text);
            for step in chunk {
                let (release, update_to) = match &step.offer {
                    Offer::Release(i) => (Some(candidates[*i].id.as_str()), None),
                    Offer::AppUpdateRequired(min) => (None, Some(min.as_str())),
                    Offer::Nothing => (None, None),
                };
                stmt = stmt
                    .bind(repo)
                    .bind(channel)
                    .bind(step.platform.as_str())
                    .bind(step.from_key.as_str())
                    .bind(step.to_key.as_deref())
                    .bind(release)
                    .bind(update_to);
            }
            self.execute(stmt).await?;
        }
        Ok(())
    }
}

// Crate-private methods: the bound names a crate-private trait on purpose.
#[allow(private_bounds)]
impl<DB: Dialect> SqlStore<DB> {
    /// Writes the offer steps of every channel that has published releases but no steps yet
    /// (published before the `channel_offers` table existed). Runs at start, after migrations.
    pub(crate) async fn fill_missing_offers(&self) -> StoreResult<()> {
        let rows = self
            // One row per channel ever published to (not a scan of every release), each
            // checked by index prefixes, so later starts cost little.
            .all(
                sql(
                    "SELECT repo, channel FROM channels c WHERE NOT EXISTS (SELECT 1 \
                   FROM channel_offers o WHERE o.repo = c.repo AND o.channel = c.channel) \
                 AND EXISTS (SELECT 1 FROM releases r WHERE r.repo = c.repo \
                   AND r.channel = c.channel AND r.state = $1)",
                )
                .bind(ReleaseState::OFFERED.as_str()),
            )
            .await?;
        for row in rows {
            let (repo, channel) = (row.text("repo")?, row.text("channel")?);
            let mut tx = self.begin_write().await?;
            tx.rewrite_offers(&repo, &channel).await?;
            tx.commit().await?;
        }
        Ok(())
    }
}
