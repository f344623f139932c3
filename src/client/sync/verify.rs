//! `relreg sync --trust KEYFILE` (issue 11): verifies what the server signs before anything is
//! installed. From the pinned key it follows the repo's root chain (each root signed by a key
//! of the previous one and by one of its own), then checks the channel head (signed by a
//! trusted key, not expired: freeze; version not below the last one seen, kept in
//! `registry.json`: rollback) and the manifest (signed by a trusted key, listed by the head
//! with the same digest: mix-and-match; every file of the manifest as signed). Any refusal is
//! `Exit::Invalid` with a message naming the check, and leaves `current` untouched.

use std::collections::HashSet;

use prost::Message as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::registry::Origin;
use crate::{
    client::{
        conn::Connection,
        error::{ClientError, ClientResult, Exit},
    },
    domain::PublicKey,
    pb,
};

/// What a trusting sync remembers between rounds (in `registry.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustMemory {
    /// The newest root version verified.
    pub root_version: i64,
    /// The newest head version verified.
    pub head_version: i64,
}

fn refuse(message: impl Into<String>) -> ClientError {
    ClientError::new(Exit::Invalid, format!("refused: {}", message.into()))
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn signed_by_any(envelope: &pb::SignedEnvelope, keys: &[PublicKey]) -> bool {
    envelope.signatures.iter().any(|s| {
        keys.iter()
            .any(|k| k.id() == s.key_id && k.verify(&envelope.payload, &s.signature).is_ok())
    })
}

/// The keys a verified root chain ends at, and the head it verified.
#[derive(Debug)]
pub(super) struct Verified {
    keys: Vec<PublicKey>,
    /// The verified head.
    pub(super) head: pb::ChannelHead,
    /// What to remember once the round succeeds.
    pub(super) memory: TrustMemory,
}

async fn root(conn: &Connection, repo: &str, version: i64) -> ClientResult<pb::SignedEnvelope> {
    conn.catalog()
        .get_trust_root(pb::GetTrustRootRequest {
            repo: repo.to_owned(),
            root_version: version,
        })
        .await?
        .into_inner()
        .root
        .ok_or_else(|| refuse("the server sent no root"))
}

/// Follows the root chain from the pinned key and verifies the channel head.
pub(super) async fn verify_head(
    conn: &Connection,
    origin: &Origin,
    pinned: &PublicKey,
    memory: &TrustMemory,
) -> ClientResult<Verified> {
    let newest = root(conn, &origin.repo, 0).await?;
    let newest_version = pb::TrustRoot::decode(newest.payload.as_ref())
        .map_err(|e| refuse(format!("undecodable root: {e}")))?
        .version;
    if newest_version < memory.root_version {
        return Err(refuse(format!(
            "root version {newest_version} is older than version {} seen before (rollback)",
            memory.root_version
        )));
    }
    let mut keys = vec![pinned.clone()];
    let mut last = None;
    for version in 1..=newest_version {
        let envelope = if version == newest_version {
            newest.clone()
        } else {
            root(conn, &origin.repo, version).await?
        };
        if !signed_by_any(&envelope, &keys) {
            return Err(refuse(format!(
                "root version {version} of {} is not signed by a key trusted before it",
                origin.repo
            )));
        }
        let decoded = pb::TrustRoot::decode(envelope.payload.as_ref())
            .map_err(|e| refuse(format!("undecodable root {version}: {e}")))?;
        if decoded.version != version || decoded.repo != origin.repo {
            return Err(refuse(format!(
                "root {version} names another repo or version"
            )));
        }
        let next = decoded
            .keys
            .iter()
            .map(|k| PublicKey::from_raw(&k.public_key))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| refuse(format!("root {version}: {}", e.message)))?;
        if !signed_by_any(&envelope, &next) {
            return Err(refuse(format!(
                "root version {version} is not signed by its own keys"
            )));
        }
        keys = next;
        last = Some(decoded);
    }
    let root = last.ok_or_else(|| refuse(format!("repo {} has no root of trust", origin.repo)))?;
    if root.expires_unix <= now_unix() {
        return Err(refuse(format!("root version {} expired", root.version)));
    }
    let answer = conn
        .catalog()
        .get_channel_head(pb::GetChannelHeadRequest {
            repo: origin.repo.clone(),
            channel: origin.channel.clone(),
        })
        .await?
        .into_inner();
    let envelope = answer
        .head
        .ok_or_else(|| refuse("the server sent no channel head"))?;
    if !signed_by_any(&envelope, &keys) {
        return Err(refuse("the channel head is not signed by a trusted key"));
    }
    let head = pb::ChannelHead::decode(envelope.payload.as_ref())
        .map_err(|e| refuse(format!("undecodable channel head: {e}")))?;
    if head.repo != origin.repo || head.channel != origin.channel {
        return Err(refuse(format!(
            "the head is of {}/{}, not {}/{}",
            head.repo, head.channel, origin.repo, origin.channel
        )));
    }
    let now = now_unix();
    if head.expires_unix <= now {
        return Err(refuse(format!(
            "the channel head (version {}) expired {} s ago (freeze attack or stalled server)",
            head.version,
            now - head.expires_unix
        )));
    }
    if head.version < memory.head_version {
        return Err(refuse(format!(
            "channel head version {} is lower than version {} seen before (rollback attack)",
            head.version, memory.head_version
        )));
    }
    Ok(Verified {
        keys,
        memory: TrustMemory {
            root_version: newest_version,
            head_version: head.version,
        },
        head,
    })
}

impl Verified {
    /// Checks a release's signed manifest against the head and the manifest to install.
    pub(super) fn check_manifest(
        &self,
        signed: Option<&pb::SignedEnvelope>,
        manifest: &pb::ReleaseManifest,
    ) -> ClientResult<()> {
        let id = &manifest.release_id;
        let signed =
            signed.ok_or_else(|| refuse(format!("release {id} has no signed manifest")))?;
        if !signed_by_any(signed, &self.keys) {
            return Err(refuse(format!(
                "the manifest of {id} is not signed by a trusted key"
            )));
        }
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&signed.payload)));
        let listed = self.head.releases.iter().find(|r| &r.release_id == id);
        match listed {
            None => {
                return Err(refuse(format!(
                    "the channel head (version {}) does not offer release {id} (mix-and-match)",
                    self.head.version
                )));
            }
            Some(r) if r.manifest_digest != digest => {
                return Err(refuse(format!(
                    "the manifest of {id} is not the one the channel head lists (mix-and-match)"
                )));
            }
            Some(_) => {}
        }
        let m = pb::SignedManifest::decode(signed.payload.as_ref())
            .map_err(|e| refuse(format!("undecodable signed manifest: {e}")))?;
        if &m.release_id != id || m.repo != manifest.repo || m.channel != manifest.channel {
            return Err(refuse(format!(
                "the signed manifest is of another release than {id}"
            )));
        }
        let signed_files: HashSet<(String, String, String, i64)> = m
            .artifacts
            .iter()
            .flat_map(|a| {
                a.files
                    .iter()
                    .map(|f| (a.role.clone(), f.path.clone(), f.digest.clone(), f.size))
            })
            .collect();
        let served: HashSet<(String, String, String, i64)> = manifest
            .artifacts
            .iter()
            .flat_map(|a| {
                a.files.iter().map(|f| {
                    (
                        a.role.clone(),
                        f.path.clone(),
                        format!("sha256:{}", f.sha256),
                        f.size,
                    )
                })
            })
            .collect();
        if signed_files != served {
            return Err(refuse(format!(
                "the files of release {id} differ from those its signed manifest lists"
            )));
        }
        Ok(())
    }
}
