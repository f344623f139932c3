//! Published data never changes, so a warm server answers the hot path from memory: repos,
//! the published releases of each channel (for "latest" decisions), release manifests, and
//! recently verified tokens (for reads, for `TOKEN_REUSE`).
//! Channel entries are dropped when a publish, deprecate or rollback changes the channel; a
//! generation number per channel keeps a load that raced such a change from being cached.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use crate::domain::{ReleaseRecord, Repo, Token};

/// How long a read may rely on a token verified earlier.
const TOKEN_REUSE: Duration = Duration::from_secs(10);
/// How many verified tokens are kept before starting over.
const TOKEN_LIMIT: usize = 10_000;

use super::latest::ManifestView;

/// The in-memory cache of published data; every method is a no-op when disabled.
pub(super) struct Cache {
    enabled: bool,
    repos: RwLock<HashMap<String, Repo>>,
    channels: RwLock<HashMap<(String, String), ChannelEntry>>,
    manifests: RwLock<HashMap<String, Arc<ManifestView>>>,
    /// By the hash of the secret: the token and when it was read from the database.
    tokens: RwLock<HashMap<String, (Token, Instant)>>,
}

#[derive(Default)]
struct ChannelEntry {
    generation: u64,
    releases: Option<Arc<Vec<ReleaseRecord>>>,
}

/// Generation of a channel as seen before loading it from the database.
pub(super) struct Ticket(u64);

impl Cache {
    pub(super) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            repos: RwLock::default(),
            channels: RwLock::default(),
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
        let channels = self.channels.read().map_err(|_| Ticket(u64::MAX))?;
        match channels.get(&(repo.to_owned(), channel.to_owned())) {
            Some(ChannelEntry {
                releases: Some(r), ..
            }) if self.enabled => Ok(r.clone()),
            Some(entry) => Err(Ticket(entry.generation)),
            None => Err(Ticket(0)),
        }
    }

    /// Caches a channel's releases unless the channel changed since the ticket was issued.
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
        let entry = channels
            .entry((repo.to_owned(), channel.to_owned()))
            .or_default();
        if entry.generation == ticket.0 {
            entry.releases = Some(releases);
        }
    }

    /// Returns how often a channel has changed since the process started.
    pub(super) fn channel_generation(&self, repo: &str, channel: &str) -> u64 {
        let channels = self.channels.read();
        channels
            .ok()
            .and_then(|c| {
                c.get(&(repo.to_owned(), channel.to_owned()))
                    .map(|e| e.generation)
            })
            .unwrap_or(0)
    }

    /// Drops a channel after it changed.
    pub(super) fn forget_channel(&self, repo: &str, channel: &str) {
        if let Ok(mut channels) = self.channels.write() {
            let entry = channels
                .entry((repo.to_owned(), channel.to_owned()))
                .or_default();
            entry.generation += 1;
            entry.releases = None;
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
