//! Persistence: the store traits and their two implementations, SQLite (the embedded default)
//! and PostgreSQL. Stores persist and retrieve domain records; every rule lives in the
//! registry. Each mutating method is one transaction that also writes the audit record (and,
//! where given, the outbox event) it is handed, so a change and its record commit together.
//!
//! This file owns the contract: `Store` (a connection: `ping`, `close`) over one trait per
//! area, `RepoStore`, `VersionStore`, `ReleaseStore`, `TokenStore` and `AuditStore`, with the
//! types their methods take; `GcStore` (blob garbage collection) lives in `gc.rs`, and the
//! SQLite online backup in `backup.rs`. `sql/` holds the queries, one file per area;
//! `sqlite.rs` and `postgres.rs` connect, migrate and instantiate them.

use async_trait::async_trait;

use crate::domain::{
    Artifact, AuditEvent, AuditFilter, AuditRecord, BlobInfo, Digest, Etag, FilePath, Name, Offer,
    OutboxEvent, Package, Policy, ReleaseId, ReleaseRecord, Repo, Token, VersionFile, VersionKey,
    VersionRecord, VersionStep,
};

mod backup;
mod events;
mod gc;
mod health;
mod postgres;
mod retention;
mod rollouts;
mod sql;
mod sqlite;
mod trust;
mod wakeups;

pub use events::{Attempt, DueDelivery, EventStore, RelayLease, Relayed};
pub use gc::{DanglingFile, GcStore, HeldGuard, Marked, StoredBlob};

pub use postgres::PgStore;
pub use retention::{Lease, PackageDeletion, Removal, RemovalRecords, RetentionStore};
pub use rollouts::{RolloutChange, RolloutStart, RolloutStore};
pub use sql::{SqlStore, offer_sql};
pub use sqlite::SqliteStore;
pub use trust::{ChannelInputs, StoredHead, StoredTuf, TrustStore};
pub use wakeups::{OUTBOX_CHANNEL, OutboxWaiter, Wakeups};

/// Why a store call failed; never a driver error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row that the call needs does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule refused the write.
    #[error("conflict")]
    Conflict,
    /// The database is not answering.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the text is for logs only.
    #[error("database error: {0}")]
    Internal(String),
}

/// The result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// A change to a draft version.
#[derive(Debug, Clone)]
pub enum DraftEdit {
    /// Binds a path to a blob, replacing any previous binding.
    PutFile(VersionFile),
    /// Removes the file with this path.
    DeleteFile(FilePath),
    /// Replaces the manifest with this canonical JSON text.
    SetManifest(String),
}

/// The guard a conditional write of a version must pass.
#[derive(Debug, Clone)]
pub struct Guard<'a> {
    /// The version the write is about.
    pub key: &'a VersionKey,
    /// The step the write takes: the version must be in one of the step's `from` states
    /// (`domain::VERSION_STEPS`), and a transition moves it to the step's `to` state.
    pub step: VersionStep,
    /// When set, the version's etag must equal it.
    pub etag: Option<&'a Etag>,
}

/// What a conditional write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The write happened (with its audit record and event).
    Applied,
    /// The guard did not hold; nothing was written.
    GuardFailed,
    /// The guard held but the thing the edit names is missing; nothing was written.
    Missing,
}

/// What a state change of a version records (the state it moves to is its guard's step's).
#[derive(Debug, Clone)]
pub struct Transition {
    /// When it moves, in unix microseconds.
    pub at: i64,
    /// What the step writes besides the state.
    pub records: Recorded,
}

/// The fields a version's state change writes, one variant per step that changes state.
#[derive(Debug, Clone)]
pub enum Recorded {
    /// Publish: the content digest the version is frozen with.
    Publish {
        /// The digest over its files and manifest.
        content_digest: Digest,
    },
    /// Deprecate: why, and what to move to instead (clearing an earlier replacement).
    Deprecate {
        /// Why it is deprecated.
        reason: String,
        /// The version readers should move to, if one is named.
        replacement: Option<semver::Version>,
    },
    /// Yank: why.
    Yank {
        /// Why it is withdrawn; may be empty.
        reason: String,
    },
}

/// A change to a draft release.
#[derive(Debug, Clone)]
pub enum ReleaseEdit {
    /// Attaches a package version under its role.
    Attach(Artifact),
    /// Detaches the artifact with this role.
    Detach(Name),
}

/// Builds the audit record and outbox event of a channel change once its new sequence is known.
pub type ChannelRecords<'a> = &'a (dyn Fn(i64) -> (AuditRecord, NewEvent) + Send + Sync);

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback {
    /// The channel sequence of the rollback; `None` when nothing was newer than the target.
    pub sequence: Option<i64>,
    /// The ids of the releases it deprecated, in order.
    pub deprecated: Vec<ReleaseId>,
}

/// An outbox event to write with a change.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// What happened, e.g. `version.published`.
    pub topic: String,
    /// The repo it happened in.
    pub repo: String,
    /// The event body, as JSON object text.
    pub payload: String,
}

/// Persistence for everything relreg stores: every area's trait, plus the connection itself.
/// Callers hold an `Arc<dyn Store>` and call every area's methods on it without importing the
/// area traits (a trait object's supertrait methods resolve like its own).
#[async_trait]
pub trait Store:
    RepoStore
    + VersionStore
    + ReleaseStore
    + TokenStore
    + AuditStore
    + RetentionStore
    + GcStore
    + RolloutStore
    + OutboxWakeups
    + TrustStore
    + EventStore
    + Send
    + Sync
    + 'static
{
    /// Checks that the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// Closes the connection pool.
    async fn close(&self);
    /// Returns the connection pool's state, for `/metrics`.
    fn pool_stats(&self) -> crate::metrics::PoolStats;
}

/// Wake-ups for loops that read the outbox (`wakeups.rs`).
pub trait OutboxWakeups {
    /// Returns the store's outbox wake-ups.
    fn outbox_wakeups(&self) -> &Wakeups;
}

/// Repos, their policy, and the packages in them.
#[async_trait]
pub trait RepoStore: Send + Sync {
    /// Inserts a repo; `Conflict` when the key is taken.
    async fn create_repo(&self, repo: &Repo, audit: &AuditRecord) -> StoreResult<()>;
    /// Returns a repo.
    async fn get_repo(&self, key: &Name) -> StoreResult<Option<Repo>>;
    /// Lists repos by key after `after`: every repo when `all`, otherwise the public ones and
    /// `also` (a private repo the caller may read).
    async fn list_repos(
        &self,
        all: bool,
        also: Option<&Name>,
        after: Option<&Name>,
        limit: i64,
    ) -> StoreResult<Vec<Repo>>;
    /// Replaces a repo's policy; `NotFound` without the repo.
    async fn set_repo_policy(
        &self,
        repo: &Name,
        policy: &Policy,
        audit: &AuditRecord,
    ) -> StoreResult<()>;

    /// Inserts a package; `Conflict` when the name is taken in the repo, `NotFound` without repo.
    async fn create_package(&self, package: &Package, audit: &AuditRecord) -> StoreResult<()>;
    /// Returns a package.
    async fn get_package(&self, repo: &Name, name: &Name) -> StoreResult<Option<Package>>;
    /// Lists packages by name, after `after`.
    async fn list_packages(
        &self,
        repo: &Name,
        after: Option<&Name>,
        limit: i64,
    ) -> StoreResult<Vec<Package>>;
}

/// Versions with their files: drafts, edits, state transitions; and the blobs they point at.
#[async_trait]
pub trait VersionStore: Send + Sync {
    /// Inserts a draft version; `Conflict` when the version string exists in the package.
    async fn create_version(
        &self,
        key: &VersionKey,
        etag: &Etag,
        at: i64,
        audit: &AuditRecord,
    ) -> StoreResult<VersionRecord>;
    /// Returns a version with its files.
    async fn get_version(&self, key: &VersionKey) -> StoreResult<Option<VersionRecord>>;
    /// Lists versions (without files) in insertion order after `after_seq`.
    async fn list_versions(
        &self,
        repo: &Name,
        package: &Name,
        after_seq: Option<i64>,
        limit: i64,
        include_drafts: bool,
    ) -> StoreResult<Vec<VersionRecord>>;
    /// Lists every version of a package that was ever published (without files).
    async fn released_versions(
        &self,
        repo: &Name,
        package: &Name,
    ) -> StoreResult<Vec<VersionRecord>>;
    /// Applies an edit to a draft and sets its new etag, if the guard holds.
    async fn edit_draft(
        &self,
        guard: Guard<'_>,
        new_etag: &Etag,
        at: i64,
        edit: &DraftEdit,
        audit: &AuditRecord,
    ) -> StoreResult<Outcome>;
    /// Changes a version's state, if the guard holds, writing the audit record and event.
    async fn transition_version(
        &self,
        guard: Guard<'_>,
        change: &Transition,
        audit: &AuditRecord,
        event: Option<&NewEvent>,
    ) -> StoreResult<Outcome>;
    /// Deletes a version with its files, if the guard holds.
    async fn delete_version(&self, guard: Guard<'_>, audit: &AuditRecord) -> StoreResult<Outcome>;

    /// Makes a stored blob visible to a repo; returns whether it was new to the repo (the audit
    /// record is written only then).
    async fn add_blob(
        &self,
        repo: &Name,
        blob: &BlobInfo,
        at: i64,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;
    /// Returns a blob if it is visible to the repo.
    async fn get_blob(&self, repo: &Name, digest: &Digest) -> StoreResult<Option<BlobInfo>>;
}

/// Releases, the channels they are published to, and the candidates for "latest".
#[async_trait]
pub trait ReleaseStore: Send + Sync {
    /// Inserts a draft release; `Conflict` when its version exists in the channel.
    async fn create_release(
        &self,
        release: &ReleaseRecord,
        audit: &AuditRecord,
    ) -> StoreResult<ReleaseRecord>;
    /// Returns a release with its artifacts.
    async fn get_release(&self, id: &ReleaseId) -> StoreResult<Option<ReleaseRecord>>;
    /// Lists releases (without artifacts) in creation order after `after_seq`.
    async fn list_releases(
        &self,
        repo: &Name,
        channel: Option<&Name>,
        include_drafts: bool,
        after_seq: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<ReleaseRecord>>;
    /// Applies an edit to a draft release and sets its new etag, if it is a draft with the
    /// expected etag (`None`: any).
    async fn edit_release(
        &self,
        id: &ReleaseId,
        etag: Option<&Etag>,
        new_etag: &Etag,
        at: i64,
        edit: &ReleaseEdit,
        audit: &AuditRecord,
    ) -> StoreResult<Outcome>;
    /// Publishes a draft release with this etag whose attached versions are all published or
    /// deprecated, assigning the channel's next sequence; returns it, or `None` if the guard
    /// did not hold.
    async fn publish_release(
        &self,
        id: &ReleaseId,
        etag: &Etag,
        at: i64,
        records: ChannelRecords<'_>,
    ) -> StoreResult<Option<i64>>;
    /// Deprecates a published release, taking the channel's next sequence; `None` if it was
    /// not published.
    async fn deprecate_release(
        &self,
        id: &ReleaseId,
        reason: &str,
        replacement: Option<&ReleaseId>,
        at: i64,
        records: ChannelRecords<'_>,
    ) -> StoreResult<Option<i64>>;
    /// Deprecates every published release of the target's channel that sorts above it;
    /// `None` if the target is not published.
    async fn rollback_channel(
        &self,
        target: &ReleaseRecord,
        reason: &str,
        at: i64,
        records: ChannelRecords<'_>,
    ) -> StoreResult<Option<Rollback>>;
    /// Returns what a channel offers clients of `platform` (`None`: none given) at an
    /// app-version key (`domain::sort_key`): from the platform's own steps when a release of
    /// the channel names it, else from the steps for any platform; `None` when the channel has
    /// no published release. One primary-key lookup (two for an unnamed platform).
    async fn offer(
        &self,
        repo: &Name,
        channel: &Name,
        platform: Option<&Name>,
        app_key: &str,
    ) -> StoreResult<Option<Offer<ReleaseRecord>>>;
}

/// Access tokens.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Inserts a token with the hash of its secret.
    async fn create_token(
        &self,
        token: &Token,
        secret_hash: &str,
        audit: &AuditRecord,
    ) -> StoreResult<()>;
    /// Returns the token whose secret has this hash.
    async fn token_by_hash(&self, secret_hash: &str) -> StoreResult<Option<Token>>;
    /// Returns a token by id.
    async fn get_token(&self, id: &str) -> StoreResult<Option<Token>>;
    /// Lists tokens by id after `after`, optionally only those scoped to one repo.
    async fn list_tokens(
        &self,
        repo: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<Token>>;
    /// Marks a token revoked; returns whether it changed (the audit record is written only then).
    async fn revoke_token(&self, id: &str, at: i64, audit: &AuditRecord) -> StoreResult<bool>;
}

/// The audit log and the outbox, which every mutating call of the other areas writes to.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Lists audit events in id order after `after_id`.
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        after_id: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEvent>>;
    /// Lists outbox events in id order after `after_id`.
    async fn list_outbox(&self, after_id: Option<i64>, limit: i64)
    -> StoreResult<Vec<OutboxEvent>>;
    /// Returns the id of the newest outbox event (0 when there is none).
    async fn last_outbox_id(&self) -> StoreResult<i64>;
}

/// Opens the store a URL names: `sqlite://…` or `postgres://…` (migrations applied).
pub async fn open(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(PgStore::connect(url).await?))
    } else {
        Err(StoreError::Internal(format!(
            "unsupported database url {url:?}: use sqlite:// or postgres://"
        )))
    }
}
