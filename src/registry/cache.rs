//! Published data never changes, so a warm server answers the hot path from memory: repos,
//! the published releases of each channel (for "latest" decisions), release manifests, and
//! the tokens reads verified in the last `TOKEN_REUSE`.
//!
//! Channel entries are dropped when a publish, deprecate or rollback changes the channel; an
//! epoch counting such changes keeps a load that raced one from being cached. At most
//! `CHANNEL_LIMIT` channels are kept, so requests for made-up channel names cannot grow it
//! without bound.

use std::{
    collections::HashMap,
    hash::{Hash as _, Hasher as _},
    sync::{
        Arc, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::latest::ManifestView;
use crate::domain::{ReleaseRecord, Repo, Token};

/// How long a read may rely on a token verified earlier.
const TOKEN_REUSE: Duration = Duration::from_secs(10);
/// How many verified tokens are kept before starting over.
const TOKEN_LIMIT: usize = 10_000;
/// How many channels are kept; past it, an arbitrary one makes room.
const CHANNEL_LIMIT: usize = 100_000;
/// Channel loads that hash to the same stripe take turns.
const LOAD_STRIPES: usize = 64;

/// The in-memory cache of published data; every method is a no-op when disabled.
pub(super) struct Cache {
    enabled: bool,
    repos: RwLock<HashMap<String, Repo>>,
    channels: RwLock<Channels>,
    /// Counts channel changes anywhere; changed only under the `channels` write lock.
    epoch: AtomicU64,
    /// Turns to load a channel, by a hash of its key.
    loads: Vec<tokio::sync::Mutex<()>>,
    manifests: RwLock<HashMap<String, Arc<ManifestView>>>,
    /// By the hash of the secret: the token and when it was read from the database.
    tokens: RwLock<HashMap<String, (Token, Instant)>>,
}

/// Published releases, highest semver first, by repo and channel.
#[derive(Default)]
struct Channels {
    by_repo: HashMap<String, HashMap<String, Arc<Vec<ReleaseRecord>>>>,
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
            tokens: RwLock::default(),
        }
    }

    /// Returns a token read from the database within `TOKEN_REUSE`.
    pub(super) fn token(&self, hash: &str) -> Option<Token> {
        let tokens = self.tokens.read().ok()?;
        let (token, read_at) = tokens.get(hash)?;
        (self.enabled && read_at.elapsed() < TOKEN_REUSE).then(|| token.clone())
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
        self.enabled
            .then(|| self.repos.read().ok()?.get(key).cloned())
            .flatten()
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

    /// Returns the cached published releases of a channel (highest semver first), or a ticket
    /// to present when caching what was loaded instead.
    pub(super) fn channel(
        &self,
        repo: &str,
        channel: &str,
    ) -> Result<Arc<Vec<ReleaseRecord>>, Ticket> {
        let ticket = || Ticket(self.epoch.load(Ordering::Acquire));
        let channels = self.channels.read().map_err(|_| ticket())?;
        match channels.by_repo.get(repo).and_then(|c| c.get(channel)) {
            Some(releases) if self.enabled => Ok(releases.clone()),
            _ => Err(ticket()),
        }
    }

    /// Caches a channel's releases unless a channel changed since the ticket was issued.
    pub(super) fn put_channel(
        &self,
        repo: &str,
        channel: &str,
        ticket: Ticket,
        releases: Arc<Vec<ReleaseRecord>>,
    ) {
        let (true, Ok(mut channels)) = (self.enabled, self.channels.write()) else {
            return;
        };
        if self.epoch.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        if channels.len >= CHANNEL_LIMIT {
            let Channels { by_repo, len } = &mut *channels;
            if let Some(repo_channels) = by_repo.values_mut().find(|c| !c.is_empty())
                && let Some(key) = repo_channels.keys().next().cloned()
            {
                repo_channels.remove(&key);
                *len -= 1;
            }
        }
        let replaced = channels
            .by_repo
            .entry(repo.to_owned())
            .or_default()
            .insert(channel.to_owned(), releases);
        if replaced.is_none() {
            channels.len += 1;
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

    pub(super) fn manifest(&self, id: &str) -> Option<Arc<ManifestView>> {
        self.enabled
            .then(|| self.manifests.read().ok()?.get(id).cloned())
            .flatten()
    }

    pub(super) fn put_manifest(&self, manifest: Arc<ManifestView>) {
        if let (true, Ok(mut manifests)) = (self.enabled, self.manifests.write()) {
            manifests.insert(manifest.release.id.clone(), manifest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn releases() -> Arc<Vec<ReleaseRecord>> {
        Arc::new(Vec::new())
    }

    #[test]
    fn a_load_that_raced_a_change_is_not_cached() {
        let cache = Cache::new(true);
        let Err(ticket) = cache.channel("r", "stable") else {
            panic!("nothing is cached yet");
        };
        cache.forget_channel("r", "beta");
        cache.put_channel("r", "stable", ticket, releases());
        assert!(
            cache.channel("r", "stable").is_err(),
            "a change came between"
        );

        let Err(ticket) = cache.channel("r", "stable") else {
            panic!("still not cached");
        };
        let epoch = cache.epoch();
        cache.put_channel("r", "stable", ticket, releases());
        assert!(cache.channel("r", "stable").is_ok());
        cache.forget_channel("r", "stable");
        assert!(cache.channel("r", "stable").is_err());
        assert_ne!(cache.epoch(), epoch, "answers derived from it are stale");
    }

    #[test]
    fn channels_are_bounded() {
        let cache = Cache::new(true);
        for i in 0..CHANNEL_LIMIT + 10 {
            let channel = format!("made-up-{i}");
            let Err(ticket) = cache.channel("r", &channel) else {
                panic!("{channel} is new");
            };
            cache.put_channel("r", &channel, ticket, releases());
        }
        let channels = cache.channels.read().unwrap();
        let stored: usize = channels.by_repo.values().map(HashMap::len).sum();
        assert_eq!(stored, CHANNEL_LIMIT);
        assert_eq!(channels.len, CHANNEL_LIMIT);
        drop(channels);
        assert!(
            cache
                .channel("r", &format!("made-up-{}", CHANNEL_LIMIT + 9))
                .is_ok()
        );
    }

    #[test]
    fn a_disabled_cache_keeps_nothing() {
        let cache = Cache::new(false);
        let Err(ticket) = cache.channel("r", "stable") else {
            panic!("disabled");
        };
        cache.put_channel("r", "stable", ticket, releases());
        assert!(cache.channel("r", "stable").is_err());
    }
}
