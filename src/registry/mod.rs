//! Use cases: every rule of relreg lives here. Each public method authenticates the caller,
//! checks its role, validates input into domain types, decides what changes, and hands the
//! store one atomic write with its audit record and outbox event.

mod access;
mod answers;
mod audit;
mod blobs;
mod cache;
mod events;
mod follow;
mod gc;
mod github;
mod latest;
mod manifest;
mod paging;
mod releases;
mod repos;
mod retention;
mod rollouts;
mod tokens;
mod trust;
mod uploads;
mod versions;
mod webhooks;

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

pub use access::{Caller, Principal};
pub use blobs::{BlobDownload, UploadHeader};
pub use events::{EventSettings, EventsConfig, NatsSettings, Watched, envelope};
pub use follow::FOLLOW_EVERY;
pub use gc::GcReport;
pub use github::{GithubAsset, GithubDownload, GithubRelease, GithubReleasePage, GithubRepository};
pub use latest::{Decision, LatestQuery};
pub use manifest::ManifestView;
pub use paging::{Listed, Page};
pub use releases::{ArtifactEdit, NewRelease, Published, ReleaseDeprecation, Rollback, RolledBack};
pub use rollouts::{ROLLOUT_TOPIC, RolloutAction, WAVES_EVERY};
pub use tokens::NewToken;
pub use trust::{SignedDoc, TufTarget};
pub(crate) use uploads::Chunk;
pub use versions::{DiffResult, Edit, VersionDeprecation};

use cache::Cache;

use crate::{
    blobs::BlobStore,
    domain::{AuditRecord, Error, ErrorCode},
    store::{Store, StoreError},
};

/// How many times publish re-validates a draft (version or release) that changed under it.
const PUBLISH_ATTEMPTS: usize = 3;

/// Settings the use cases need.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The largest blob an upload may carry, in bytes.
    pub max_blob_size: u64,
    /// The base URL clients reach the server at, for download links (no trailing slash).
    pub public_url: String,
    /// Whether published data ("latest" decisions, manifests, repos) is served from memory.
    pub cache: bool,
    /// Whether outbox readers only poll, ignoring wake-ups (for measurements).
    pub outbox_poll_only: bool,
    /// The signing keys this server holds (loaded from files, never from the database).
    pub keyring: crate::domain::Keyring,
    /// How long a signed channel head stays valid, in seconds.
    pub head_expiry_secs: u64,
}

/// The use-case layer: one instance per server, shared by every transport.
#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn Store>,
    blobs: BlobStore,
    settings: Settings,
    cache: Arc<Cache>,
    trust: Arc<trust::TrustState>,
    events: Arc<events::Hub>,
}

impl Registry {
    /// Returns a registry over a store and a blob store.
    pub fn new(store: Arc<dyn Store>, blobs: BlobStore, settings: Settings) -> Self {
        let cache = Arc::new(Cache::new(settings.cache));
        Self {
            store,
            blobs,
            settings,
            cache,
            trust: Arc::default(),
            events: Arc::new(events::Hub::new(EventSettings::default())),
        }
    }

    /// Checks that the database and the blob store answer.
    pub async fn ready(&self) -> Result<(), Error> {
        self.store.ping().await.map_err(store_error)?;
        self.blobs.ping().await
    }

    /// Closes the database pool.
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// Returns the store, for the offline commands and tests.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

/// Returns the current time in unix microseconds.
/// Now, in unix microseconds.
pub fn now() -> i64 {
    now_micros()
}

pub(crate) fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Maps a store failure the registry did not expect to a domain error.
fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::NotFound => Error::new(ErrorCode::NotFound, "not found"),
        StoreError::Conflict => Error::new(ErrorCode::AlreadyExists, "already exists"),
        StoreError::Unavailable(cause) => {
            tracing::error!(error = %cause, "database unavailable");
            Error::new(ErrorCode::Unavailable, "database unavailable")
        }
        StoreError::Internal(cause) => Error::internal(cause),
    }
}

/// Builds the audit record of an action by a principal.
fn audit(
    principal: &Principal,
    caller: &Caller,
    action: &str,
    repo: &str,
    target: impl Into<String>,
    details: serde_json::Value,
) -> AuditRecord {
    AuditRecord {
        at: now_micros(),
        actor: principal.actor(),
        action: action.to_owned(),
        repo: repo.to_owned(),
        target: target.into(),
        details: details.to_string(),
        request_id: caller.request_id.clone(),
    }
}
