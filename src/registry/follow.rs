//! Keeps this process's cache in step with changes that other processes sharing the database
//! make (replicas behind one load balancer): every channel change writes an outbox event in
//! its own transaction, so following the outbox tells which cached channels went stale.
//!
//! Event ids are assigned when a transaction inserts, not when it commits, so on Postgres a
//! smaller id can become visible after a larger one. The follower therefore re-reads the events
//! of the last `WINDOW_MICROS` on every step, applying each id once, and only moves its floor
//! past events older than that.
//!
//! Between steps it waits on the store's outbox wake-ups (`store/wakeups.rs`: a commit in this
//! process, a PostgreSQL notification from any server) or `FOLLOW_EVERY`, whichever comes
//! first; `Registry::outbox_waiter` hands the same wake-ups to every other outbox reader.

use std::{collections::BTreeMap, time::Duration};

use super::{Registry, now_micros};
use crate::{
    domain::OutboxEvent,
    store::{OutboxWaiter, StoreResult},
};

/// How often the outbox is read when no wake-up comes.
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
        let mut waiter = self.outbox_waiter();
        loop {
            if let Err(e) = self.follow_step(&mut position).await {
                tracing::warn!(error = %e, "cannot read the outbox; cached channels may be stale");
            }
            waiter.changed_or(every).await;
        }
    }

    /// Returns a waiter for a loop that reads the outbox: `changed_or(every)` returns as soon
    /// as an event commits (on this server, or on any server sharing a PostgreSQL database),
    /// else after `every`. With `outbox_poll_only` set, it only times out.
    pub fn outbox_waiter(&self) -> OutboxWaiter {
        if self.settings.outbox_poll_only {
            OutboxWaiter::never()
        } else {
            self.store.outbox_wakeups().subscribe()
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

    /// Drops what an event made stale: the channel of a release or rollout event.
    fn forget_changed(&self, event: &OutboxEvent) {
        if !matches!(
            event.topic.as_str(),
            "release.published"
                | "release.deprecated"
                | "channel.rolled_back"
                | super::rollouts::ROLLOUT_TOPIC
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
