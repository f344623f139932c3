//! The mobile hot path's first call: the "latest" decision for a client's app version and
//! platform. A warm server answers from memory; cold, it is one primary-key lookup of the
//! channel's stored offers (`ReleaseStore::offer`), whatever the channel's depth, the app
//! version or the platform.

use std::sync::Arc;

use super::{Caller, Registry, answers::Answer, store_error};
use crate::domain::{ANY_PLATFORM, Error, Name, Offer, ReleaseRecord, Result, sort_key};

/// A "latest" question, parsed by the transport.
#[derive(Debug, Clone)]
pub struct LatestQuery {
    /// The repo of the channel.
    pub repo: Name,
    /// The channel asked about.
    pub channel: Name,
    /// The client's app version (short forms padded, see `domain::parse_app_version`).
    pub app_version: semver::Version,
    /// The client's platform, if it named one.
    pub platform: Option<Name>,
    /// The release the client runs, as it named it (empty: none).
    pub current_release_id: String,
    /// The client's stable id, which draws its rollout cohorts (empty: none, so in no
    /// partial rollout).
    pub client_id: String,
}

/// What a client should do, as `GetLatestRelease` answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Run this release.
    Update(Arc<ReleaseRecord>),
    /// The client runs the latest release it may have (if the server knows which).
    UpToDate(Option<Arc<ReleaseRecord>>),
    /// Only a newer app gets a release; the lowest `min_app_version` that would.
    AppUpdateRequired(String),
}

impl Registry {
    /// Tells whether published data may be served from memory (off with `--no-cache`).
    pub fn caches_published_data(&self) -> bool {
        self.settings.cache
    }

    /// Returns a number that changes whenever a publish, deprecate or rollback changes a
    /// channel, so that answers derived from channels can be cached and revalidated cheaply.
    pub fn channels_epoch(&self) -> u64 {
        self.cache.epoch()
    }

    /// Decides what a client on `app_version` and `platform`, running `current_release_id`,
    /// should do. A warm server answers from memory.
    pub async fn latest_release(&self, caller: &Caller, query: &LatestQuery) -> Result<Decision> {
        let (repo, channel) = (&query.repo, &query.channel);
        self.readable_repo(caller, repo).await?;
        let offer = self
            .offer(repo, channel, query.platform.as_ref(), &query.app_version)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!("published release in channel {channel} of {repo}"))
            })?;
        // Rollouts and floors decide on top of the base offer: a hash and comparisons on the
        // cached plan (`rollouts.rs`); a channel without them costs one cached lookup.
        let plan = self.channel_plan(repo, channel).await?;
        if plan.is_empty() {
            return Ok(decision_of(offer, &query.current_release_id));
        }
        self.decide_with_plan(&plan, offer, query).await
    }

    /// Returns what a channel offers a platform at an app version: from memory when cached;
    /// otherwise callers that miss a channel together (after a change, say) queue for its
    /// turn, and those behind the first find the answer cached.
    async fn offer(
        &self,
        repo: &Name,
        channel: &Name,
        platform: Option<&Name>,
        app: &semver::Version,
    ) -> Result<Option<Offer<Arc<ReleaseRecord>>>> {
        let platform_text = platform.map_or(ANY_PLATFORM, Name::as_str);
        if let Ok(answer) = self.cache.answer(repo, channel, platform_text, app) {
            return self.records_of(answer).await;
        }
        let turn = self
            .settings
            .cache
            .then(|| self.cache.load_turn(repo, channel).lock());
        let _turn = match turn {
            Some(turn) => Some(turn.await),
            None => None,
        };
        let ticket = match self.cache.answer(repo, channel, platform_text, app) {
            Ok(answer) => return self.records_of(answer).await,
            Err(ticket) => ticket,
        };
        let loaded = self
            .store
            .offer(repo, channel, platform, &sort_key(app))
            .await
            .map_err(store_error)?
            .map(|offer| offer.map(Arc::new));
        let answer = loaded.clone().map(|offer| {
            offer.map(|record| {
                let key = record.id;
                self.cache.put_record(key, record);
                key
            })
        });
        self.cache.put_answer(
            (repo.as_str(), channel.as_str()),
            (platform_text, app),
            ticket,
            answer,
        );
        Ok(loaded)
    }

    /// Turns a cached answer back into records: from memory, else by the release's key.
    async fn records_of(&self, answer: Answer) -> Result<Option<Offer<Arc<ReleaseRecord>>>> {
        let Some(offer) = answer else {
            return Ok(None);
        };
        Ok(Some(match offer {
            Offer::Release(key) => Offer::Release(match self.cache.record(&key) {
                Some(record) => record,
                None => {
                    let mut record = self
                        .store
                        .get_release(&key)
                        .await
                        .map_err(store_error)?
                        .ok_or_else(|| Error::not_found(format!("release {key}")))?;
                    // As the offer query reads it: without artifacts (the manifest has them).
                    record.artifacts.clear();
                    let record = Arc::new(record);
                    self.cache.put_record(key, record.clone());
                    record
                }
            }),
            Offer::AppUpdateRequired(min) => Offer::AppUpdateRequired(min),
            Offer::Nothing => Offer::Nothing,
        }))
    }
}

/// The decision of an offer for a client running `current` (an id as the client named it).
pub(super) fn decision_of(offer: Offer<Arc<ReleaseRecord>>, current: &str) -> Decision {
    match offer {
        Offer::Release(r) if r.id.is(current) => Decision::UpToDate(Some(r)),
        Offer::Release(r) => Decision::Update(r),
        Offer::AppUpdateRequired(min) => Decision::AppUpdateRequired(min),
        Offer::Nothing => Decision::UpToDate(None),
    }
}
