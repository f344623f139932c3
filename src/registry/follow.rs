//! Keeps this process's cache in step with changes that other processes sharing the database
//! make (replicas behind one load balancer): every channel change writes an outbox event in
//! its own transaction, so following the outbox tells which cached channels went stale.
//!
//! Event ids are assigned when a transaction inserts, not when it commits, so on Postgres a
//! smaller id can become visible after a larger one. The follower therefore re-reads the events
//! of the last `WINDOW_MICROS` on every step, applying each id once, and only moves its floor
//! past events older than that.

use std::{collections::BTreeMap, time::Duration};

use super::{Registry, now_micros};
use crate::{domain::OutboxEvent, store::StoreResult};

/// How often the outbox is read.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(1);
/// How long a transaction may take to commit after writing its event.
const WINDOW_MICROS: i64 = 10_000_000;
/// How many events before the newest at startup are read again, for transactions that were
/// still committing then.
const START_OVERLAP: i64 = 100;
/// Events read per query.
const PAGE: i64 = 1000;

/// Where the follower stands in the outbox.
struct Position {
    /// Every event up to this id has been applied (or given up on).
    floor: i64,
    /// Events above the floor already applied: id to time.
    applied: BTreeMap<i64, i64>,
}

impl Registry {
    /// Follows the outbox every `every`, dropping the cached channels other processes change,
    /// until the future is dropped. Does nothing when the cache is off.
    pub async fn follow_changes(&self, every: Duration) {
        if !self.settings.cache {
            return;
        }
        let mut position = None;
        loop {
            if let Err(e) = self.follow_step(&mut position).await {
                tracing::warn!(error = %e, "cannot read the outbox; cached channels may be stale");
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Applies the events not applied yet.
    async fn follow_step(&self, position: &mut Option<Position>) -> StoreResult<()> {
        let position = match position {
            Some(p) => p,
            None => {
                let newest = self.store.last_outbox_id().await?;
                position.insert(Position {
                    floor: (newest - START_OVERLAP).max(0),
                    applied: BTreeMap::new(),
                })
            }
        };
        let mut after = position.floor;
        loop {
            let events = self.store.list_outbox(Some(after), PAGE).await?;
            for event in &events {
                if position.applied.insert(event.id, event.at).is_none() {
                    self.forget_changed(event);
                }
            }
            match events.last() {
                Some(last) if events.len() as i64 == PAGE => after = last.id,
                _ => break,
            }
        }
        let horizon = now_micros() - WINDOW_MICROS;
        let settled = position
            .applied
            .iter()
            .filter(|(_, at)| **at < horizon)
            .map(|(id, _)| *id)
            .max();
        if let Some(floor) = settled {
            position.floor = floor;
            position.applied = position.applied.split_off(&(floor + 1));
        }
        Ok(())
    }

    /// Drops what an event made stale: the channel of a release event.
    fn forget_changed(&self, event: &OutboxEvent) {
        if !matches!(
            event.topic.as_str(),
            "release.published" | "release.deprecated" | "channel.rolled_back"
        ) {
            return;
        }
        let payload: serde_json::Value = serde_json::from_str(&event.payload).unwrap_or_default();
        if let Some(channel) = payload["channel"].as_str() {
            self.cache.forget_channel(&event.repo, channel);
            self.trust.forget_head(&event.repo, channel);
        }
    }
}
