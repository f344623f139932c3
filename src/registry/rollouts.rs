//! Staged rollouts and floors: the admin use cases (set, pause, resume, halt, show a rollout;
//! mark a floor), the server's wave advancer, and the decision "latest" takes on top of a
//! channel's base offer.
//!
//! The rules, precisely:
//! - A rollout is started (or widened) on a published release with `SetRollout`; its share only
//!   rises. Reaching 100 % completes it: the release joins the channel's base offer, and the
//!   channel is free for another rollout. One active or paused rollout per channel.
//! - While a rollout is open or halted its release is left out of the base offer (the offer
//!   steps); clients in the cohort of an active rollout are offered it when it admits their
//!   app version and platform and is newer than their base offer.
//! - Paused or halted: nobody who does not run the release yet is offered it (clients outside
//!   get the base offer, i.e. the previous release). Halting is final and deprecates nothing.
//! - Never a downgrade: a client that names (`current_release_id`) a held-back release that is
//!   still published and admits it, and that would be offered something older (or nothing),
//!   is told it is up to date with its release. Deprecating the release (or rolling the
//!   channel back) is the explicit way to move such clients back.
//! - Floors: a client whose current release is older than a published floor that admits it is
//!   offered that floor (the lowest such) instead of anything newer. A client naming no
//!   current release (a fresh install) has nothing to step over and gets the newest.

use std::{sync::Arc, time::Duration};

use serde_json::json;

use super::{Caller, Registry, audit, latest::Decision, now_micros, store_error};
use crate::{
    domain::{
        AuditRecord, ChannelPlan, Error, ErrorCode, FULL_BPS, Name, Offer, ReleaseId,
        ReleaseRecord, ReleaseState, Result, Role, Rollout, RolloutState, Wave, in_cohort,
        new_salt, newer, wave_target,
    },
    store::{ChannelRecords, NewEvent, RolloutChange, RolloutStart},
};

/// How often the server looks for waves due.
pub const WAVES_EVERY: Duration = Duration::from_secs(1);

/// The outbox topic of every rollout and floor change.
pub const ROLLOUT_TOPIC: &str = "rollout.changed";

/// A change an operator asks for.
#[derive(Debug, Clone)]
pub enum RolloutAction {
    /// Start a rollout, or widen an active one, to this share (basis points), optionally with
    /// time waves (only when starting).
    Set {
        /// The share.
        bps: u32,
        /// Time waves.
        waves: Vec<Wave>,
    },
    /// Stop offering it to anyone new, for now.
    Pause,
    /// Resume a paused rollout.
    Resume,
    /// Stop offering it to anyone new, for good.
    Halt,
}

impl RolloutAction {
    fn name(&self) -> &'static str {
        match self {
            Self::Set { .. } => "set",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Halt => "halt",
        }
    }
}

/// The event of a rollout change.
fn rollout_event(r: &Rollout, action: &str, sequence: i64) -> NewEvent {
    NewEvent {
        topic: ROLLOUT_TOPIC.into(),
        repo: r.repo.clone(),
        payload: json!({
            "repo": r.repo, "channel": r.channel, "release_id": r.release_id,
            "state": r.state.as_str(), "bps": r.bps, "action": action, "sequence": sequence,
        })
        .to_string(),
    }
}

impl Registry {
    /// Returns a release's rollout (`None`: it has none).
    pub async fn get_rollout(&self, caller: &Caller, id: &ReleaseId) -> Result<Option<Rollout>> {
        self.readable_release(caller, id).await?;
        self.store
            .get_rollout(&id.to_string())
            .await
            .map_err(store_error)
    }

    /// Applies an operator's change to a release's rollout; returns the rollout as it stands.
    pub async fn change_rollout(
        &self,
        caller: &Caller,
        id: &ReleaseId,
        action: RolloutAction,
    ) -> Result<Rollout> {
        let release = self.release(id).await?;
        let (principal, _) = self
            .writable_repo(caller, &release.repo, Role::Publisher)
            .await?;
        let key = id.to_string();
        let existing = self.store.get_rollout(&key).await.map_err(store_error)?;
        let now = now_micros();
        let (target, from): (Rollout, &[RolloutState]) = match (&action, existing) {
            (RolloutAction::Set { bps, waves }, None) => {
                if release.state != ReleaseState::Published {
                    return Err(Error::new(
                        ErrorCode::FailedPrecondition,
                        format!(
                            "release {id} is {}: only published releases are rolled out",
                            release.state
                        ),
                    ));
                }
                let bps = (*bps).max(wave_target(waves, 0).unwrap_or(0));
                let rollout = Rollout {
                    release_id: key.clone(),
                    repo: release.repo.to_string(),
                    channel: release.channel.to_string(),
                    state: if bps >= FULL_BPS {
                        RolloutState::Completed
                    } else {
                        RolloutState::Active
                    },
                    bps,
                    salt: new_salt(),
                    waves: waves.clone(),
                    started_at: now,
                    updated_at: now,
                };
                let records = self.rollout_records(&principal, caller, &rollout, "start");
                let started = self
                    .store
                    .start_rollout(&rollout, &records)
                    .await
                    .map_err(store_error)?;
                return match started {
                    RolloutStart::Started(_) => {
                        self.cache.forget_channel(&rollout.repo, &rollout.channel);
                        Ok(rollout.clone())
                    }
                    RolloutStart::NotPublished => Err(Error::new(
                        ErrorCode::FailedPrecondition,
                        format!(
                            "release {id} is not published: only published releases are rolled out"
                        ),
                    )),
                    RolloutStart::Exists => Err(Error::new(
                        ErrorCode::Aborted,
                        format!("release {id} got a rollout meanwhile; try again"),
                    )),
                    RolloutStart::ChannelBusy => Err(Error::new(
                        ErrorCode::FailedPrecondition,
                        format!(
                            "channel {} of {} already has an active or paused rollout: \
                             complete or halt it first",
                            release.channel, release.repo
                        ),
                    )),
                };
            }
            (_, None) => {
                return Err(Error::new(
                    ErrorCode::FailedPrecondition,
                    format!("release {id} has no rollout"),
                ));
            }
            (_, Some(current)) => {
                let mut target = current.clone();
                target.updated_at = now;
                let from: &[RolloutState] = match &action {
                    RolloutAction::Set { bps, waves } => {
                        if !waves.is_empty() {
                            return Err(Error::invalid(
                                "waves",
                                "waves are set when a rollout starts",
                            ));
                        }
                        if current.state != RolloutState::Active {
                            return Err(Error::new(
                                ErrorCode::FailedPrecondition,
                                format!(
                                    "the rollout of {id} is {}: only an active rollout widens",
                                    current.state
                                ),
                            ));
                        }
                        if *bps < current.bps {
                            return Err(Error::invalid(
                                "bps",
                                format!(
                                    "{bps} is below the current {}: a rollout only widens \
                                     (halt it to stop)",
                                    current.bps
                                ),
                            ));
                        }
                        if *bps == current.bps {
                            return Ok(current);
                        }
                        target.bps = *bps;
                        if *bps >= FULL_BPS {
                            target.state = RolloutState::Completed;
                        }
                        &[RolloutState::Active]
                    }
                    RolloutAction::Pause => {
                        target.state = RolloutState::Paused;
                        &[RolloutState::Active]
                    }
                    RolloutAction::Resume => {
                        target.state = RolloutState::Active;
                        &[RolloutState::Paused]
                    }
                    RolloutAction::Halt => {
                        target.state = RolloutState::Halted;
                        &[RolloutState::Active, RolloutState::Paused]
                    }
                };
                if !from.contains(&current.state) {
                    if current.state == target.state {
                        return Ok(current);
                    }
                    return Err(Error::new(
                        ErrorCode::FailedPrecondition,
                        format!(
                            "the rollout of {id} is {}: cannot {} it",
                            current.state,
                            action.name()
                        ),
                    ));
                }
                (target, from)
            }
        };
        let records = self.rollout_records(&principal, caller, &target, action.name());
        let change = RolloutChange {
            release_id: &key,
            from,
            expect_bps: None,
            state: target.state,
            bps: target.bps,
            at: now,
        };
        let changed = self
            .store
            .change_rollout(&change, &records)
            .await
            .map_err(store_error)?;
        match changed {
            Some(_) => {
                self.cache.forget_channel(&target.repo, &target.channel);
                Ok(target.clone())
            }
            None => Err(Error::new(
                ErrorCode::Aborted,
                format!("the rollout of {id} changed meanwhile; look again"),
            )),
        }
    }

    /// Builds the audit record and event of a rollout change by an operator.
    fn rollout_records<'a>(
        &'a self,
        principal: &'a super::Principal,
        caller: &'a Caller,
        rollout: &'a Rollout,
        action: &'a str,
    ) -> impl Fn(i64) -> (AuditRecord, NewEvent) + Send + Sync + 'a {
        move |sequence| {
            let details = json!({
                "channel": rollout.channel, "state": rollout.state.as_str(),
                "bps": rollout.bps, "sequence": sequence,
                "waves": crate::domain::waves_text(&rollout.waves),
            });
            (
                audit(
                    principal,
                    caller,
                    &format!("rollout.{action}"),
                    &rollout.repo,
                    rollout.release_id.clone(),
                    details,
                ),
                rollout_event(rollout, action, sequence),
            )
        }
    }

    /// Marks a published release as a floor (a required stepping stone), or unmarks it.
    pub async fn set_floor(&self, caller: &Caller, id: &ReleaseId, on: bool) -> Result<()> {
        let release = self.release(id).await?;
        let (principal, _) = self
            .writable_repo(caller, &release.repo, Role::Publisher)
            .await?;
        if release.state != ReleaseState::Published {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "release {id} is {}: only a published release is a floor",
                    release.state
                ),
            ));
        }
        let records = |sequence: i64| {
            let details = json!({"channel": release.channel, "floor": on, "sequence": sequence});
            let action = if on { "floor.set" } else { "floor.unset" };
            let event = NewEvent {
                topic: ROLLOUT_TOPIC.into(),
                repo: release.repo.to_string(),
                payload: json!({
                    "repo": release.repo, "channel": release.channel,
                    "release_id": id.to_string(), "floor": on, "sequence": sequence,
                })
                .to_string(),
            };
            (
                audit(
                    &principal,
                    caller,
                    action,
                    &release.repo,
                    id.to_string(),
                    details,
                ),
                event,
            )
        };
        let changed = self
            .store
            .set_floor(&id.to_string(), on, now_micros(), &records)
            .await
            .map_err(store_error)?;
        if changed.is_some() {
            self.cache.forget_channel(&release.repo, &release.channel);
        }
        Ok(())
    }

    /// Advances every active rollout whose next wave is due; each advance is a conditional
    /// update (at the share read), so servers sharing the database never both apply it.
    /// Returns how many this call advanced.
    pub async fn advance_waves(&self) -> Result<usize> {
        let due = self
            .store
            .rollouts_with_waves()
            .await
            .map_err(store_error)?;
        let now = now_micros();
        let mut advanced = 0;
        for r in due {
            let elapsed = u64::try_from((now - r.started_at) / 1_000_000).unwrap_or(0);
            let Some(bps) = wave_target(&r.waves, elapsed).filter(|b| *b > r.bps) else {
                continue;
            };
            let mut target = r.clone();
            target.bps = bps;
            target.updated_at = now;
            if bps >= FULL_BPS {
                target.state = RolloutState::Completed;
            }
            let records = |sequence: i64| {
                let record = AuditRecord {
                    at: now,
                    actor: "system:rollout-waves".into(),
                    action: "rollout.wave".into(),
                    repo: target.repo.clone(),
                    target: target.release_id.clone(),
                    details: json!({
                        "channel": target.channel, "state": target.state.as_str(),
                        "bps": target.bps, "from_bps": r.bps, "sequence": sequence,
                    })
                    .to_string(),
                    request_id: String::new(),
                };
                (record, rollout_event(&target, "wave", sequence))
            };
            let change = RolloutChange {
                release_id: &r.release_id,
                from: &[RolloutState::Active],
                expect_bps: Some(r.bps),
                state: target.state,
                bps,
                at: now,
            };
            let records: ChannelRecords<'_> = &records;
            if self
                .store
                .change_rollout(&change, records)
                .await
                .map_err(store_error)?
                .is_some()
            {
                self.cache.forget_channel(&r.repo, &r.channel);
                advanced += 1;
            }
        }
        Ok(advanced)
    }

    /// Advances waves every `every`, until the future is dropped.
    pub async fn advance_waves_every(&self, every: Duration) {
        loop {
            if let Err(e) = self.advance_waves().await {
                tracing::warn!(error = %e, "cannot advance rollout waves");
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Returns a channel's plan: from memory when cached.
    pub(super) async fn channel_plan(
        &self,
        repo: &Name,
        channel: &Name,
    ) -> Result<Arc<ChannelPlan>> {
        let ticket = match self.cache.plan(repo, channel) {
            Ok(plan) => return Ok(plan),
            Err(ticket) => ticket,
        };
        let plan = Arc::new(
            self.store
                .channel_plan(repo, channel)
                .await
                .map_err(store_error)?,
        );
        self.cache.put_plan(repo, channel, ticket, plan.clone());
        Ok(plan)
    }

    /// Decides on top of a base offer with a channel's plan (see the module's rules).
    pub(super) async fn decide_with_plan(
        &self,
        plan: &ChannelPlan,
        base: Offer<Arc<ReleaseRecord>>,
        query: &super::LatestQuery,
    ) -> Result<Decision> {
        let platform = query.platform.as_ref().map_or("", Name::as_str);
        let app = &query.app_version;
        let mut offer = base;
        if let Some((rollout, release)) = &plan.open
            && rollout.state == RolloutState::Active
            && in_cohort(&rollout.salt, rollout.bps, &query.client_id)
            && release.compatibility.admits(app, platform)
            && match &offer {
                Offer::Release(base) => newer(release, base),
                _ => true,
            }
        {
            offer = Offer::Release(release.clone());
        }
        let current_id = query.current_release_id.as_str();
        if !plan.floors.is_empty()
            && !current_id.is_empty()
            && let Offer::Release(offered) = &offer
            && !offered.id.is(current_id)
            && let Some(current) = self.current_record(current_id).await?
            && current.repo == query.repo
            && current.channel == query.channel
            && let Some(floor) = plan.floors.iter().find(|f| {
                newer(f, &current) && newer(offered, f) && f.compatibility.admits(app, platform)
            })
        {
            offer = Offer::Release(floor.clone());
        }
        if !current_id.is_empty()
            && let Some(held) = plan.held.iter().find(|h| h.id.is(current_id))
            && held.compatibility.admits(app, platform)
            && match &offer {
                Offer::Release(o) => newer(held, o),
                _ => true,
            }
        {
            return Ok(Decision::UpToDate(Some(held.clone())));
        }
        Ok(super::latest::decision_of(offer, current_id))
    }

    /// The record of the release a client names as its current one (`None`: unknown).
    async fn current_record(&self, text: &str) -> Result<Option<Arc<ReleaseRecord>>> {
        let Some(id) = ReleaseId::from_text(text) else {
            return Ok(None);
        };
        if let Some(record) = self.cache.record(&id) {
            return Ok(Some(record));
        }
        let Some(mut record) = self.store.get_release(&id).await.map_err(store_error)? else {
            return Ok(None);
        };
        record.artifacts.clear();
        let record = Arc::new(record);
        self.cache.put_record(id, record.clone());
        Ok(Some(record))
    }
}
