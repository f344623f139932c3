//! The staged-rollout area's contract: rollouts (one per release, at most one open per
//! channel) and floors, each change a channel change (new sequence, rewritten offer steps,
//! audit record and outbox event in one transaction). `sql/rollouts.rs` implements it.

use async_trait::async_trait;

use super::{ChannelRecords, StoreResult};
use crate::domain::{ChannelPlan, Rollout, RolloutState};

/// What starting a rollout did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutStart {
    /// Started, at this channel sequence.
    Started(i64),
    /// The release is not a published release of the named channel.
    NotPublished,
    /// The release already has a rollout.
    Exists,
    /// Another rollout of the channel is active or paused.
    ChannelBusy,
}

/// A conditional change of a rollout: applied only if it is in one of `from` (and at
/// `expect_bps` when set) and `bps` is not below its share.
#[derive(Debug, Clone)]
pub struct RolloutChange<'a> {
    /// The release whose rollout changes.
    pub release_id: &'a str,
    /// The states it may be in.
    pub from: &'a [RolloutState],
    /// When set, the share it must be at (wave advances: two servers never both advance).
    pub expect_bps: Option<u32>,
    /// The state it moves to.
    pub state: RolloutState,
    /// The share it moves to (never below the current one).
    pub bps: u32,
    /// When, in unix microseconds.
    pub at: i64,
}

/// Rollouts and floors.
#[async_trait]
pub trait RolloutStore: Send + Sync {
    /// Starts a rollout of a published release (its repo and channel given in `rollout`).
    async fn start_rollout(
        &self,
        rollout: &Rollout,
        records: ChannelRecords<'_>,
    ) -> StoreResult<RolloutStart>;
    /// Applies a conditional change; returns the channel sequence, or `None` if the guard did
    /// not hold (nothing written).
    async fn change_rollout(
        &self,
        change: &RolloutChange<'_>,
        records: ChannelRecords<'_>,
    ) -> StoreResult<Option<i64>>;
    /// Returns a release's rollout.
    async fn get_rollout(&self, release_id: &str) -> StoreResult<Option<Rollout>>;
    /// Lists the active rollouts that have time waves (for the server to advance).
    async fn rollouts_with_waves(&self) -> StoreResult<Vec<Rollout>>;
    /// Marks (`on`) or unmarks a published release of its channel as a floor; `None` when it
    /// is not published or already so.
    async fn set_floor(
        &self,
        release_id: &str,
        on: bool,
        at: i64,
        records: ChannelRecords<'_>,
    ) -> StoreResult<Option<i64>>;
    /// Returns what a channel's rollouts and floors add to its base offer: index lookups of
    /// its rollouts and floors only, never a read of the whole channel.
    async fn channel_plan(&self, repo: &str, channel: &str) -> StoreResult<ChannelPlan>;
}
