//! The signing area's contract (issue 11): repos' root documents, release manifest signatures
//! and signed channel heads. Private keys never pass through here. `sql/trust.rs` implements it.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{AuditRecord, Envelope};

/// A channel's stored head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHead {
    /// Grows on every re-signing.
    pub version: i64,
    /// The digest of the decision inputs it was signed over.
    pub inputs_digest: String,
    /// Unix seconds it expires at.
    pub expires_at: i64,
    /// The signed head.
    pub envelope: Envelope,
}

/// A repo's newest TUF targets, snapshot and timestamp, written together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTuf {
    /// The three roles' version; grows on every re-signing.
    pub version: i64,
    /// What they were computed from (the root version and the signed releases).
    pub inputs_digest: String,
    /// Unix seconds they expire at.
    pub expires_at: i64,
    /// `targets.json`, `snapshot.json` and `timestamp.json`, as served.
    pub targets: String,
    /// `snapshot.json`.
    pub snapshot: String,
    /// `timestamp.json`.
    pub timestamp: String,
}

/// What a channel's head is computed from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChannelInputs {
    /// The channel's last sequence (0 before its first publish).
    pub sequence: i64,
    /// `(release id, state, version, deprecation reason)` of its non-draft releases, by id.
    pub releases: Vec<(String, String, String, String)>,
}

/// Roots, manifest signatures and channel heads.
#[async_trait]
pub trait TrustStore: Send + Sync {
    /// Returns a repo's root document `version` (`None`: the newest) with its version.
    async fn trust_root(
        &self,
        repo: &str,
        version: Option<i64>,
    ) -> StoreResult<Option<(i64, Envelope)>>;
    /// Inserts root `version` of a repo with its audit record; `false` when that version
    /// exists already (a concurrent rotation won).
    async fn put_trust_root(
        &self,
        repo: &str,
        version: i64,
        root: &Envelope,
        at: i64,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;
    /// Returns a release's signed manifest.
    async fn release_signature(&self, release_id: &str) -> StoreResult<Option<Envelope>>;
    /// Stores a release's signed manifest unless one is stored (never re-signed); returns the
    /// stored one.
    async fn put_release_signature(
        &self,
        release_id: &str,
        manifest: &Envelope,
        at: i64,
    ) -> StoreResult<Envelope>;
    /// Returns ids of published or deprecated releases (not removed) without a signature, in
    /// repos with a root (at most `limit`).
    async fn unsigned_releases(&self, limit: i64) -> StoreResult<Vec<String>>;
    /// Returns a channel's stored head.
    async fn channel_head(&self, repo: &str, channel: &str) -> StoreResult<Option<StoredHead>>;
    /// Writes a channel's head if the stored one still has version `replaces` (`None`: no head
    /// stored yet); `false` when another writer got there first.
    async fn put_channel_head(
        &self,
        repo: &str,
        channel: &str,
        replaces: Option<i64>,
        head: &StoredHead,
    ) -> StoreResult<bool>;
    /// Returns what a channel's head is computed from.
    async fn channel_inputs(&self, repo: &str, channel: &str) -> StoreResult<ChannelInputs>;
    /// Returns every `(repo, channel)` with a published release in a repo that has a root.
    async fn signed_channels(&self) -> StoreResult<Vec<(String, String)>>;
    /// Returns the signed manifests of a repo's releases (removed ones left out) signed at or
    /// after `since` (unix microseconds; 0: all), as `(release id, signed at, manifest)`.
    async fn repo_signatures(
        &self,
        repo: &str,
        since: i64,
    ) -> StoreResult<Vec<(String, i64, Envelope)>>;
    /// Returns how many releases of a repo (removed ones left out) are signed and when the
    /// last was: a cheap summary that changes whenever that set does.
    async fn repo_signatures_summary(&self, repo: &str) -> StoreResult<(i64, i64)>;
    /// Returns a repo's TUF root `version` (`None`: the newest) with its version.
    async fn tuf_root(
        &self,
        repo: &str,
        version: Option<i64>,
    ) -> StoreResult<Option<(i64, String)>>;
    /// Inserts a repo's TUF root `version` unless it exists (it never changes).
    async fn put_tuf_root(&self, repo: &str, version: i64, document: &str) -> StoreResult<()>;
    /// Returns a repo's newest TUF targets, snapshot and timestamp.
    async fn tuf_metadata(&self, repo: &str) -> StoreResult<Option<StoredTuf>>;
    /// Writes a repo's TUF metadata if the stored set still has version `replaces` (`None`:
    /// none stored yet); `false` when another writer got there first.
    async fn put_tuf_metadata(
        &self,
        repo: &str,
        replaces: Option<i64>,
        metadata: &StoredTuf,
    ) -> StoreResult<bool>;
}
