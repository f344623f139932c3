//! Signing (issue 11): repos' roots of trust, release manifests signed once at publish, and
//! signed channel heads re-signed on every channel change and before they expire; and the
//! same metadata in TUF's format for outside TUF clients (`tuf.rs`).
//!
//! Canonical bytes: every signed document is the protobuf encoding of a message of
//! `proto/relreg/v1/trust.proto` (`TrustRoot`, `SignedManifest`, `ChannelHead`). None has a
//! map field, and prost writes fields in number order, so one document has one encoding. The
//! exact signed bytes are stored next to their signatures and served as they are, so a
//! verifier never depends on re-encoding.
//!
//! Hot path: nothing here signs while answering a read. Manifest signatures and heads are
//! read from memory (cached per release and per channel); signing happens when a channel
//! changes (right after the change commits), at startup (catch-up) and in the background
//! before a head expires.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, RwLock},
    time::Duration,
};

use prost::Message as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};

mod heads;
mod manifests;
mod tuf;

pub use tuf::TufTarget;

use super::{Caller, Registry, audit, now_micros, store_error};
use crate::{
    domain::{
        Envelope, Error, ErrorCode, KeyPair, Name, ReleaseId, ReleaseRecord, ReleaseState, Result,
        Role, VersionKey,
    },
    pb,
    store::{ChannelInputs, StoredHead},
};

/// How long a root document stays valid, in seconds.
const ROOT_LIFETIME_SECS: i64 = 365 * 24 * 3600;
/// How long an unsigned-manifest answer is remembered before the database is asked again.
const UNSIGNED_RECHECK_MICROS: i64 = 5_000_000;

/// A signed document with its decoded payload.
#[derive(Debug, Clone)]
pub struct SignedDoc<T> {
    /// The signed bytes and signatures.
    pub envelope: Envelope,
    /// The decoded payload.
    pub decoded: T,
}

/// A signed channel head.
type SignedHead = SignedDoc<pb::ChannelHead>;

/// What the signing area keeps in memory.
#[derive(Debug, Default)]
pub(super) struct TrustState {
    /// Signed heads by `(repo, channel)`.
    heads: RwLock<HashMap<(String, String), Arc<SignedHead>>>,
    /// Signed manifests by release id; `Err(at)`: none stored when last asked at `at`.
    manifests: RwLock<HashMap<ReleaseId, std::result::Result<Arc<Envelope>, i64>>>,
    /// Per repo, the TUF targets last built, so a re-signing reads only new manifests.
    tuf_targets: RwLock<HashMap<String, Arc<tuf::Targets>>>,
}

impl TrustState {
    /// Drops a channel's cached head (it changed, here or in another process).
    pub(super) fn forget_head(&self, repo: &str, channel: &str) {
        self.heads
            .write()
            .expect("heads lock")
            .remove(&(repo.to_owned(), channel.to_owned()));
    }
}

fn decode<T: prost::Message + Default>(envelope: &Envelope) -> Result<T> {
    T::decode(envelope.payload.as_slice())
        .map_err(|e| Error::new(ErrorCode::Internal, format!("stored signed document: {e}")))
}

fn now_secs() -> i64 {
    now_micros() / 1_000_000
}

/// Returns the digest of what a channel's "latest" decision depends on. The rollout hook:
/// when rollouts exist, their state (percentage, paused, halted) joins these lines.
pub(crate) fn inputs_digest(inputs: &ChannelInputs) -> String {
    let mut h = Sha256::new();
    h.update(format!("sequence {}\n", inputs.sequence));
    for (id, state, version, reason) in &inputs.releases {
        h.update(format!("release {id} {state} {version} {reason:?}\n"));
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

impl Registry {
    /// The keys of a root this server holds.
    fn held_keys<'a>(&'a self, root: &pb::TrustRoot) -> Vec<&'a KeyPair> {
        root.keys
            .iter()
            .filter_map(|k| self.settings.keyring.get(&k.key_id))
            .collect()
    }

    async fn newest_root(&self, repo: &str) -> Result<Option<SignedDoc<pb::TrustRoot>>> {
        let Some((_, envelope)) = self
            .store
            .trust_root(repo, None)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let decoded = decode(&envelope)?;
        Ok(Some(SignedDoc { envelope, decoded }))
    }

    /// Returns a repo's root document (`version` 0: the newest).
    pub async fn trust_root(
        &self,
        caller: &Caller,
        repo: &Name,
        version: i64,
    ) -> Result<SignedDoc<pb::TrustRoot>> {
        self.readable_repo(caller, repo).await?;
        let repo = repo.as_str();
        let found = self
            .store
            .trust_root(repo, (version > 0).then_some(version))
            .await
            .map_err(store_error)?;
        let Some((_, envelope)) = found else {
            return Err(Error::not_found(if version > 0 {
                format!("root version {version} of repo {repo}")
            } else {
                format!("root of repo {repo} (it trusts no key yet)")
            }));
        };
        let decoded = decode(&envelope)?;
        Ok(SignedDoc { envelope, decoded })
    }

    /// Changes the keys a repo trusts by writing its next root, signed by the previous root's
    /// keys this server holds and by the new root's. Trusting needs the private key here
    /// (`--signing-key`). Admin only; audited with the root in one transaction.
    pub async fn set_repo_keys(
        &self,
        caller: &Caller,
        repo: &Name,
        trust: &[String],
        untrust: &[String],
    ) -> Result<SignedDoc<pb::TrustRoot>> {
        let (principal, _) = self.writable_repo(caller, repo, Role::Admin).await?;
        let repo = repo.as_str();
        for (i, id) in trust.iter().chain(untrust).enumerate() {
            if id.len() != 64 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                let field = if i < trust.len() {
                    format!("trust[{i}]")
                } else {
                    format!("untrust[{}]", i - trust.len())
                };
                return Err(Error::invalid(
                    field,
                    "must be a key id: 64 lowercase hex digits",
                ));
            }
        }
        for (i, id) in trust.iter().enumerate() {
            if self.settings.keyring.get(id).is_none() {
                let mut e = Error::new(
                    ErrorCode::FailedPrecondition,
                    format!("trust[{i}]: this server holds no signing key {id} (--signing-key)"),
                );
                e.violations = vec![crate::domain::Violation {
                    rule: "signing_key_held".into(),
                    subject: format!("trust[{i}]"),
                    description: "the server holds no such signing key".into(),
                }];
                return Err(e);
            }
        }
        let previous = self.newest_root(repo).await?;
        let mut ids: BTreeSet<String> = previous
            .as_ref()
            .map(|p| p.decoded.keys.iter().map(|k| k.key_id.clone()).collect())
            .unwrap_or_default();
        let old_keys: Vec<pb::TrustKey> = previous
            .as_ref()
            .map(|p| p.decoded.keys.clone())
            .unwrap_or_default();
        ids.extend(trust.iter().cloned());
        for id in untrust {
            ids.remove(id);
        }
        if let Some(p) = &previous
            && p.decoded.keys.iter().map(|k| &k.key_id).eq(ids.iter())
        {
            return Ok(p.clone());
        }
        if ids.is_empty() {
            return Err(Error::invalid(
                "untrust",
                "a repo's root must keep at least one key",
            ));
        }
        let keys: Vec<pb::TrustKey> = ids
            .iter()
            .map(|id| match self.settings.keyring.get(id) {
                Some(k) => pb::TrustKey {
                    key_id: id.clone(),
                    public_key: k.public_key().to_vec().into(),
                    algorithm: "ed25519".into(),
                },
                None => old_keys
                    .iter()
                    .find(|k| &k.key_id == id)
                    .cloned()
                    .expect("a kept key comes from the previous root"),
            })
            .collect();
        let version = previous.as_ref().map_or(1, |p| p.decoded.version + 1);
        let root = pb::TrustRoot {
            repo: repo.to_owned(),
            version,
            keys,
            threshold: 1,
            expires_unix: now_secs() + ROOT_LIFETIME_SECS,
        };
        let new_signers = self.held_keys(&root);
        if new_signers.is_empty() {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                "this server holds none of the keys the new root names; it cannot sign it",
            ));
        }
        let mut signers: Vec<&KeyPair> = Vec::new();
        if let Some(p) = &previous {
            signers = self.held_keys(&p.decoded);
            if signers.is_empty() {
                return Err(Error::new(
                    ErrorCode::FailedPrecondition,
                    format!(
                        "this server holds none of the keys root version {} trusts; \
                         it cannot sign the rotation",
                        p.decoded.version
                    ),
                ));
            }
        }
        for k in new_signers {
            if !signers.iter().any(|s| s.id() == k.id()) {
                signers.push(k);
            }
        }
        let envelope = Envelope::sign(root.encode_to_vec(), signers);
        let record = audit(
            &principal,
            caller,
            "repo.keys_set",
            repo,
            repo.to_owned(),
            json!({
                "root_version": version,
                "keys": ids.iter().collect::<Vec<_>>(),
                "trusted": trust, "untrusted": untrust,
            }),
        );
        let written = self
            .store
            .put_trust_root(repo, version, &envelope, now_micros(), &record)
            .await
            .map_err(store_error)?;
        if !written {
            return Err(Error::new(
                ErrorCode::Aborted,
                format!(
                    "root version {version} of repo {repo} was written concurrently; try again"
                ),
            ));
        }
        // Heads must now carry the new keys' signatures; unsigned releases get signed.
        self.sign_pending().await;
        if let Ok(channels) = self.store.signed_channels().await {
            for (r, channel) in channels.into_iter().filter(|(r, _)| r == repo) {
                if let Err(e) = self.refresh_head(&r, &channel, true).await {
                    tracing::warn!(error = %e, repo = %r, %channel, "re-signing a head failed");
                }
            }
        }
        if let Err(e) = self.refresh_tuf(repo, true).await {
            tracing::warn!(error = %e, %repo, "re-signing the TUF metadata failed");
        }
        Ok(SignedDoc {
            envelope,
            decoded: root,
        })
    }

    /// Keeps signatures current until the future is dropped: signs pending manifests and
    /// re-signs heads and TUF metadata whose inputs changed or that are past half their
    /// lifetime, now (catch-up at startup) and then every `every`.
    pub async fn keep_signatures(&self, every: Duration) {
        if self.settings.keyring.keys().is_empty() {
            return;
        }
        loop {
            self.sign_pending().await;
            match self.store.signed_channels().await {
                Ok(channels) => {
                    for (repo, channel) in &channels {
                        if let Err(e) = self.refresh_head(repo, channel, false).await {
                            tracing::warn!(error = %e, %repo, %channel, "re-signing a head failed");
                        }
                    }
                    let repos: BTreeSet<&String> = channels.iter().map(|(r, _)| r).collect();
                    for repo in repos {
                        if let Err(e) = self.refresh_tuf(repo, false).await {
                            tracing::warn!(error = %e, %repo, "re-signing the TUF metadata failed");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot list signed channels"),
            }
            tokio::time::sleep(every).await;
        }
    }
}
