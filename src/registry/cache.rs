//! Published data never changes, so a warm server answers the hot path from memory: repos,
//! what each channel offered the app versions and platforms asked about (the answers of
//! "latest", each the offer the store looked up once, naming its release by key), the records
//! of offered releases, release manifests, and the tokens reads verified in the last
//! `TOKEN_REUSE`.
//!
//! Channel entries are dropped when a publish, deprecate or rollback changes the channel; an
//! epoch counting such changes keeps an answer that raced one from being cached. At most
//! `CHANNEL_LIMIT` channels, `ANSWERS_PER_CHANNEL` answers in each, `RECORD_LIMIT` records
//! and `MANIFEST_LIMIT` manifests are kept, so requests for made-up names and versions cannot
//! grow it without bound.

use std::{
    collections::HashMap,
    hash::{Hash as _, Hasher as _},
    sync::{
        Arc, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::{
    answers::{Answer, AppKey, StoredAnswer},
    manifest::ManifestView,
};
use crate::domain::{ChannelPlan, Name, ReleaseId, ReleaseRecord, Repo, Token};

/// How long a read may rely on a token verified earlier.
const TOKEN_REUSE: Duration = Duration::from_secs(10);
/// How many verified tokens are kept before starting over.
const TOKEN_LIMIT: usize = 10_000;
/// How many channels are kept; past it, an arbitrary one makes room.
const CHANNEL_LIMIT: usize = 100_000;
/// How many answers (platform and app version pairs) a channel keeps; past it, it starts over.
const ANSWERS_PER_CHANNEL: usize = 64;
/// How many manifests are kept; past it, an arbitrary one makes room.
const MANIFEST_LIMIT: usize = 10_000;
/// How many release records are kept; past it, an arbitrary one makes room.
const RECORD_LIMIT: usize = 10_000;
/// Channel loads that hash to the same stripe take turns.
const LOAD_STRIPES: usize = 64;

/// The in-memory cache of published data; every method is a no-op when disabled.
pub(super) struct Cache {
    enabled: bool,
    repos: RwLock<HashMap<Name, Repo>>,
    channels: RwLock<Channels>,
    /// Counts channel changes anywhere; changed only under the `channels` write lock.
    epoch: AtomicU64,
    /// Turns to load a channel, by a hash of its key.
    loads: Vec<tokio::sync::Mutex<()>>,
    manifests: RwLock<HashMap<ReleaseId, Arc<ManifestView>>>,
    /// The records of releases answers name (published releases never change, and a
    /// deprecated one is never named again).
    records: RwLock<HashMap<ReleaseId, Arc<ReleaseRecord>>>,
    /// By the hash of the secret: the token and when it was read from the database.
    tokens: RwLock<HashMap<String, (Token, Instant)>>,
}

/// The answers for one platform, sorted by app version: a sorted vector holds at most
/// `ANSWERS_PER_CHANNEL` entries with no empty buckets, 32 bytes each.
type ByAppVersion = Vec<(AppKey, StoredAnswer)>;

/// The answers of one channel, by platform, then app version; and its rollout plan.
#[derive(Default)]
struct ChannelAnswers(
    RwLock<HashMap<Box<str>, ByAppVersion>>,
    RwLock<Option<Arc<ChannelPlan>>>,
);

/// Channel answers by repo and channel.
#[derive(Default)]
struct Channels {
    by_repo: HashMap<String, HashMap<String, Arc<ChannelAnswers>>>,
    len: usize,
}

/// The epoch seen before loading a channel from the database.
pub(super) struct Ticket(u64);

impl Cache {
    pub(super) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            repos: RwLock::default(),
            channels: RwLock::default(),
            epoch: AtomicU64::new(0),
            loads: (0..LOAD_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            manifests: RwLock::default(),
            records: RwLock::default(),
            tokens: RwLock::default(),
        }
    }

    /// Returns a token read from the database within `TOKEN_REUSE`.
    pub(super) fn token(&self, hash: &str) -> Option<Token> {
        self.token_within(hash, TOKEN_REUSE)
    }

    /// Returns a token read from the database within `max_age` (a read during a database
    /// outage may rely on an older verification than `TOKEN_REUSE`, for a bounded time).
    pub(super) fn token_within(&self, hash: &str, max_age: Duration) -> Option<Token> {
        let tokens = self.tokens.read().ok()?;
        let found = tokens
            .get(hash)
            .filter(|(_, read_at)| self.enabled && read_at.elapsed() < max_age)
            .map(|(token, _)| token.clone());
        counted(self.enabled, "token", found)
    }

    pub(super) fn put_token(&self, hash: String, token: &Token) {
        if let (true, Ok(mut tokens)) = (self.enabled, self.tokens.write()) {
            if tokens.len() >= TOKEN_LIMIT {
                tokens.retain(|_, (_, read_at)| read_at.elapsed() < TOKEN_REUSE);
            }
            if tokens.len() < TOKEN_LIMIT {
                tokens.insert(hash, (token.clone(), Instant::now()));
            }
        }
    }

    /// Drops every verified token, after one was revoked.
    pub(super) fn forget_tokens(&self) {
        if let Ok(mut tokens) = self.tokens.write() {
            tokens.clear();
        }
    }

    pub(super) fn repo(&self, key: &str) -> Option<Repo> {
        let found = self
            .enabled
            .then(|| self.repos.read().ok()?.get(key).cloned())
            .flatten();
        counted(self.enabled, "repo", found)
    }

    pub(super) fn put_repo(&self, repo: &Repo) {
        if let (true, Ok(mut repos)) = (self.enabled, self.repos.write()) {
            repos.insert(repo.key.clone(), repo.clone());
        }
    }

    pub(super) fn forget_repo(&self, key: &str) {
        if let Ok(mut repos) = self.repos.write() {
            repos.remove(key);
        }
    }

    /// Returns what a channel offered `platform` at `app`, or a ticket to present when caching
    /// what the store answers instead.
    pub(super) fn answer(
        &self,
        repo: &str,
        channel: &str,
        platform: &str,
        app: &semver::Version,
    ) -> Result<Answer, Ticket> {
        let ticket = || Ticket(self.epoch.load(Ordering::Acquire));
        if !self.enabled {
            return Err(ticket());
        }
        let channels = self.channels.read().map_err(|_| ticket())?;
        let entry = channels.by_repo.get(repo).and_then(|c| c.get(channel));
        let answers = entry.and_then(|e| e.0.read().ok());
        let found = answers.and_then(|a| {
            let list = a.get(platform)?;
            let i = list.binary_search_by(|(k, _)| k.cmp_version(app)).ok()?;
            Some(Answer::from(&list[i].1))
        });
        counted(true, "answer", found).ok_or_else(ticket)
    }

    /// Caches what a channel offered `platform` at `app`, unless a channel changed since the
    /// ticket was issued.
    pub(super) fn put_answer(
        &self,
        (repo, channel): (&str, &str),
        (platform, app): (&str, &semver::Version),
        ticket: Ticket,
        answer: Answer,
    ) {
        let Some(entry) = self.entry_for(repo, channel, &ticket) else {
            return;
        };
        // A change after the check above drops the whole entry, so what goes in here is never
        // served after it.
        let Ok(mut answers) = entry.0.write() else {
            return;
        };
        if answers.values().map(Vec::len).sum::<usize>() >= ANSWERS_PER_CHANNEL {
            answers.clear();
        }
        let list = answers.entry(platform.into()).or_default();
        let answer = StoredAnswer::from(answer);
        match list.binary_search_by(|(k, _)| k.cmp_version(app)) {
            Ok(i) => list[i].1 = answer,
            Err(i) => list.insert(i, (AppKey::of(app), answer)),
        }
    }

    /// Returns a channel's entry to cache into, creating it, unless the cache is off or a
    /// channel changed since the ticket was issued.
    fn entry_for(&self, repo: &str, channel: &str, ticket: &Ticket) -> Option<Arc<ChannelAnswers>> {
        if !self.enabled {
            return None;
        }
        let mut channels = self.channels.write().ok()?;
        if self.epoch.load(Ordering::Acquire) != ticket.0 {
            return None;
        }
        let existing = channels
            .by_repo
            .get(repo)
            .and_then(|c| c.get(channel))
            .cloned();
        Some(match existing {
            Some(entry) => entry,
            None => {
                channels.make_room();
                let entry = Arc::new(ChannelAnswers::default());
                channels
                    .by_repo
                    .entry(repo.to_owned())
                    .or_default()
                    .insert(channel.to_owned(), entry.clone());
                channels.len += 1;
                entry
            }
        })
    }

    /// Returns a channel's rollout plan, or a ticket to present when caching the stored one.
    pub(super) fn plan(&self, repo: &str, channel: &str) -> Result<Arc<ChannelPlan>, Ticket> {
        let ticket = || Ticket(self.epoch.load(Ordering::Acquire));
        if !self.enabled {
            return Err(ticket());
        }
        let channels = self.channels.read().map_err(|_| ticket())?;
        let found = channels
            .by_repo
            .get(repo)
            .and_then(|c| c.get(channel))
            .and_then(|e| e.1.read().ok()?.clone());
        counted(true, "plan", found).ok_or_else(ticket)
    }

    /// Caches a channel's rollout plan, unless a channel changed since the ticket was issued.
    pub(super) fn put_plan(
        &self,
        repo: &str,
        channel: &str,
        ticket: Ticket,
        plan: Arc<ChannelPlan>,
    ) {
        if let Some(entry) = self.entry_for(repo, channel, &ticket)
            && let Ok(mut slot) = entry.1.write()
        {
            *slot = Some(plan);
        }
    }

    /// Returns the lock whose holder may load a channel: loads of one channel take turns.
    pub(super) fn load_turn(&self, repo: &str, channel: &str) -> &tokio::sync::Mutex<()> {
        let mut hasher = std::hash::DefaultHasher::new();
        (repo, channel).hash(&mut hasher);
        &self.loads[(hasher.finish() % LOAD_STRIPES as u64) as usize]
    }

    /// Returns a number that changes whenever a channel changes.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Drops a channel after it changed, and moves the epoch on.
    pub(super) fn forget_channel(&self, repo: &str, channel: &str) {
        // Never skipped, even after a panic elsewhere poisoned the lock.
        let mut channels = self
            .channels
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let removed = channels
            .by_repo
            .get_mut(repo)
            .and_then(|c| c.remove(channel));
        if removed.is_some() {
            channels.len -= 1;
        }
    }

    /// Returns the record of a release an answer names.
    pub(super) fn record(&self, key: &ReleaseId) -> Option<Arc<ReleaseRecord>> {
        let found = self
            .enabled
            .then(|| self.records.read().ok()?.get(key).cloned())
            .flatten();
        counted(self.enabled, "record", found)
    }

    pub(super) fn put_record(&self, key: ReleaseId, record: Arc<ReleaseRecord>) {
        if let (true, Ok(mut records)) = (self.enabled, self.records.write()) {
            if records.len() >= RECORD_LIMIT
                && let Some(old) = records.keys().next().cloned()
            {
                records.remove(&old);
            }
            records.insert(key, record);
        }
    }

    pub(super) fn manifest(&self, id: &ReleaseId) -> Option<Arc<ManifestView>> {
        let found = self
            .enabled
            .then(|| self.manifests.read().ok()?.get(id).cloned())
            .flatten();
        counted(self.enabled, "manifest", found)
    }

    pub(super) fn put_manifest(&self, manifest: Arc<ManifestView>) {
        if let (true, Ok(mut manifests)) = (self.enabled, self.manifests.write()) {
            if manifests.len() >= MANIFEST_LIMIT
                && let Some(key) = manifests.keys().next().cloned()
            {
                manifests.remove(&key);
            }
            manifests.insert(manifest.release.id, manifest);
        }
    }

    /// Drops a release's manifest (retention removed the release).
    pub(super) fn forget_manifest(&self, id: &ReleaseId) {
        if let Ok(mut manifests) = self.manifests.write() {
            manifests.remove(id);
        }
    }
}

/// Counts a lookup of an enabled cache as a hit or a miss (`relreg_cache_*_total{kind}`).
fn counted<T>(enabled: bool, kind: &'static str, found: Option<T>) -> Option<T> {
    if enabled {
        crate::metrics::record_cache(kind, found.is_some());
    }
    found
}

impl Channels {
    /// Drops an arbitrary channel when `CHANNEL_LIMIT` are kept.
    fn make_room(&mut self) {
        if self.len < CHANNEL_LIMIT {
            return;
        }
        if let Some(repo_channels) = self.by_repo.values_mut().find(|c| !c.is_empty())
            && let Some(key) = repo_channels.keys().next().cloned()
        {
            repo_channels.remove(&key);
            self.len -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::domain::Offer;

    const RELEASE: (&str, &str) = ("r", "stable");
    const APP: semver::Version = semver::Version::new(1, 0, 0);
    const KEY: (&str, &semver::Version) = ("", &APP);

    fn answer(cache: &Cache, channel: (&str, &str)) -> Result<Answer, Ticket> {
        cache.answer(channel.0, channel.1, KEY.0, KEY.1)
    }

    #[test]
    fn an_answer_that_raced_a_change_is_not_cached() {
        let cache = Cache::new(true);
        let Err(ticket) = answer(&cache, RELEASE) else {
            panic!("nothing is cached yet");
        };
        cache.forget_channel("r", "beta");
        cache.put_answer(RELEASE, KEY, ticket, Some(Offer::Nothing));
        assert!(answer(&cache, RELEASE).is_err(), "a change came between");

        let Err(ticket) = answer(&cache, RELEASE) else {
            panic!("still not cached");
        };
        let epoch = cache.epoch();
        cache.put_answer(RELEASE, KEY, ticket, Some(Offer::Nothing));
        assert_eq!(answer(&cache, RELEASE).ok(), Some(Some(Offer::Nothing)));
        cache.forget_channel("r", "stable");
        assert!(answer(&cache, RELEASE).is_err());
        assert_ne!(cache.epoch(), epoch, "answers derived from it are stale");
    }

    #[test]
    fn channels_and_answers_are_bounded() {
        let cache = Cache::new(true);
        for i in 0..CHANNEL_LIMIT + 10 {
            let channel = format!("made-up-{i}");
            let Err(ticket) = answer(&cache, ("r", &channel)) else {
                panic!("{channel} is new");
            };
            cache.put_answer(("r", &channel), KEY, ticket, None);
        }
        let channels = cache.channels.read().unwrap();
        let stored: usize = channels.by_repo.values().map(HashMap::len).sum();
        assert_eq!(stored, CHANNEL_LIMIT);
        assert_eq!(channels.len, CHANNEL_LIMIT);
        drop(channels);
        let last = format!("made-up-{}", CHANNEL_LIMIT + 9);
        assert!(answer(&cache, ("r", &last)).is_ok());

        for i in 0..ANSWERS_PER_CHANNEL + 5 {
            let app = semver::Version::new(i as u64, 0, 0);
            let ticket = Ticket(cache.epoch());
            cache.put_answer(RELEASE, ("ios", &app), ticket, Some(Offer::Nothing));
        }
        let channels = cache.channels.read().unwrap();
        let entry = channels.by_repo["r"]["stable"].0.read().unwrap();
        let kept: usize = entry.values().map(Vec::len).sum();
        assert!(kept <= ANSWERS_PER_CHANNEL, "{kept} answers kept");
    }

    #[test]
    fn records_are_bounded() {
        let cache = Cache::new(true);
        let record = |i: u64| {
            let mut r = crate::domain::ReleaseRecord {
                id: ReleaseId::from_text(&format!("rel_{i:016x}")).unwrap(),
                seq: 0,
                repo: crate::domain::Name::parse("repo", "r").unwrap(),
                channel: crate::domain::Name::parse("channel", "stable").unwrap(),
                version: semver::Version::new(1, 0, 0),
                state: crate::domain::ReleaseState::Published,
                etag: crate::domain::Etag::random(),
                compatibility: crate::domain::Compatibility::default(),
                notes: String::new(),
                mandatory: false,
                sequence: Some(1),
                deprecation_reason: None,
                replacement: None,
                artifacts: Vec::new(),
                created_at: 0,
                updated_at: 0,
                published_at: Some(0),
            };
            r.seq = i as i64;
            Arc::new(r)
        };
        for i in 0..RECORD_LIMIT as u64 + 10 {
            let r = record(i);
            cache.put_record(r.id, r);
        }
        assert_eq!(cache.records.read().unwrap().len(), RECORD_LIMIT);
        let last = record(RECORD_LIMIT as u64 + 9);
        let kept = cache.record(&last.id).expect("the newest is kept");
        assert_eq!(kept.seq, last.seq);
    }

    #[test]
    fn a_disabled_cache_keeps_nothing() {
        let cache = Cache::new(false);
        let Err(ticket) = answer(&cache, RELEASE) else {
            panic!("disabled");
        };
        cache.put_answer(RELEASE, KEY, ticket, None);
        assert!(answer(&cache, RELEASE).is_err());
    }
}
