//! The mobile hot path's first call: the "latest" decision for a client's app version and
//! platform. A warm server answers from memory; cold, it is one primary-key lookup of the
//! channel's stored offers (`ReleaseStore::offer`), whatever the channel's depth, the app
//! version or the platform.

use std::sync::Arc;

use super::{
    Caller, Registry,
    answers::{Answer, ReleaseKey},
    store_error,
};
use crate::domain::{Error, Offer, ReleaseRecord, Result, parse_app_version, parse_name, sort_key};

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
    pub async fn latest_release(
        &self,
        caller: &Caller,
        repo: &str,
        channel: &str,
        app_version: &str,
        platform: &str,
        current_release_id: &str,
    ) -> Result<Decision> {
        parse_name("repo", repo)?;
        parse_name("channel", channel)?;
        let app = parse_app_version("app_version", app_version)?;
        if !platform.is_empty() {
            parse_name("platform", platform)?;
        }
        self.readable_repo(caller, repo).await?;
        let offer = self
            .offer(repo, channel, platform, &app)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!("published release in channel {channel} of {repo}"))
            })?;
        Ok(match offer {
            Offer::Release(r) if r.id == current_release_id => Decision::UpToDate(Some(r)),
            Offer::Release(r) => Decision::Update(r),
            Offer::AppUpdateRequired(min) => Decision::AppUpdateRequired(min),
            Offer::Nothing => Decision::UpToDate(None),
        })
    }

    /// Returns what a channel offers a platform at an app version: from memory when cached;
    /// otherwise callers that miss a channel together (after a change, say) queue for its
    /// turn, and those behind the first find the answer cached.
    async fn offer(
        &self,
        repo: &str,
        channel: &str,
        platform: &str,
        app: &semver::Version,
    ) -> Result<Option<Offer<Arc<ReleaseRecord>>>> {
        if let Ok(answer) = self.cache.answer(repo, channel, platform, app) {
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
        let ticket = match self.cache.answer(repo, channel, platform, app) {
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
                let key = ReleaseKey::of(&record.id);
                self.cache.put_record(key.clone(), record);
                key
            })
        });
        self.cache
            .put_answer((repo, channel), (platform, app), ticket, answer);
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
                    let id = key.to_string();
                    let mut record = self
                        .store
                        .get_release(&id)
                        .await
                        .map_err(store_error)?
                        .ok_or_else(|| Error::not_found(format!("release {id}")))?;
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
