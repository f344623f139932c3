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
    /// Returns ids of published or deprecated releases without a signature, in repos with a
    /// root (at most `limit`).
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
}
