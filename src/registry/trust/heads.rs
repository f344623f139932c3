//! Signed channel heads: re-signed after every channel change, when past half their
//! lifetime, and served from memory.

use super::*;

impl Registry {
    /// After a channel change committed: signs the release's manifest (a publish), re-signs
    /// the channel's head and, after a publish, the repo's TUF metadata. Failures are logged;
    /// the background keeper retries.
    pub(crate) async fn after_channel_change(
        &self,
        repo: &str,
        channel: &str,
        published: Option<&ReleaseRecord>,
    ) {
        if let Some(release) = published
            && let Err(e) = self.sign_manifest(release).await
        {
            tracing::warn!(error = %e, release = %release.id, "signing a manifest failed");
        }
        if let Err(e) = self.refresh_head(repo, channel, false).await {
            tracing::warn!(error = %e, %repo, %channel, "re-signing a channel head failed");
        }
        if published.is_some()
            && let Err(e) = self.refresh_tuf(repo, false).await
        {
            tracing::warn!(error = %e, %repo, "re-signing the TUF metadata failed");
        }
    }

    /// Re-signs a channel's head when its inputs changed, when it is past half its lifetime,
    /// or when `force`d (the root changed). The new head's version is one above the stored
    /// one, written only if the stored one is still that version (the database decides).
    pub(crate) async fn refresh_head(&self, repo: &str, channel: &str, force: bool) -> Result<()> {
        let expiry = self.settings.head_expiry_secs.max(1) as i64;
        for _ in 0..5 {
            let Some(root) = self.newest_root(repo).await? else {
                return Ok(());
            };
            let signers = self.held_keys(&root.decoded);
            if signers.is_empty() {
                return Ok(());
            }
            let inputs = self
                .store
                .channel_inputs(repo, channel)
                .await
                .map_err(store_error)?;
            if inputs.sequence == 0 && inputs.releases.is_empty() {
                // A channel nothing was ever published to: no head (reads never write rows
                // for made-up channel names).
                return Ok(());
            }
            let digest = inputs_digest(&inputs);
            let stored = self
                .store
                .channel_head(repo, channel)
                .await
                .map_err(store_error)?;
            let now = now_secs();
            if let Some(s) = &stored
                && !force
                && s.inputs_digest == digest
                && s.expires_at - now > expiry / 2
            {
                return Ok(());
            }
            let mut releases = Vec::new();
            for (id, state, _, _) in &inputs.releases {
                if state != ReleaseState::Published.as_str() {
                    continue;
                }
                let rid = ReleaseId::named("release_id", id)?;
                let mut signed = self.manifest_signature(&rid).await?;
                if signed.is_none() {
                    signed = self.sign_manifest(&self.release(&rid).await?).await?;
                }
                let manifest_digest = signed
                    .map(|s| format!("sha256:{}", hex::encode(Sha256::digest(&s.payload))))
                    .unwrap_or_default();
                releases.push(pb::HeadRelease {
                    release_id: id.clone(),
                    manifest_digest,
                });
            }
            let version = stored.as_ref().map_or(1, |s| s.version + 1);
            let head = pb::ChannelHead {
                repo: repo.to_owned(),
                channel: channel.to_owned(),
                sequence: inputs.sequence,
                version,
                inputs_digest: digest.clone(),
                releases,
                signed_unix: now,
                expires_unix: now + expiry,
            };
            let envelope = Envelope::sign(head.encode_to_vec(), signers);
            let new = StoredHead {
                version,
                inputs_digest: digest,
                expires_at: head.expires_unix,
                envelope,
            };
            let written = self
                .store
                .put_channel_head(repo, channel, stored.map(|s| s.version), &new)
                .await
                .map_err(store_error)?;
            if written {
                self.trust.forget_head(repo, channel);
                return Ok(());
            }
            // Another server re-signed meanwhile: look again.
        }
        Err(Error::new(
            ErrorCode::Aborted,
            format!("the head of {repo}/{channel} kept changing while re-signing"),
        ))
    }

    /// Returns a channel's signed head, from memory on the warm path. Reads the database
    /// when nothing is cached or the cached head is past half its lifetime (the keeper has
    /// re-signed it by then); signs only when no head exists yet.
    pub async fn channel_head(
        &self,
        caller: &Caller,
        repo: &Name,
        channel: &Name,
    ) -> Result<Arc<SignedDoc<pb::ChannelHead>>> {
        self.readable_repo(caller, repo).await?;
        let (repo, channel) = (repo.as_str(), channel.as_str());
        let key = (repo.to_owned(), channel.to_owned());
        let half = (self.settings.head_expiry_secs.max(1) / 2) as i64;
        if let Some(head) = self.trust.heads.read().expect("heads lock").get(&key)
            && head.decoded.expires_unix - now_secs() > half
        {
            return Ok(head.clone());
        }
        let mut stored = self
            .store
            .channel_head(repo, channel)
            .await
            .map_err(store_error)?;
        if stored.is_none() {
            self.refresh_head(repo, channel, false).await?;
            stored = self
                .store
                .channel_head(repo, channel)
                .await
                .map_err(store_error)?;
        }
        let Some(stored) = stored else {
            return Err(Error::not_found(format!(
                "signed head of {repo}/{channel} (the repo trusts no key this server holds)"
            )));
        };
        let decoded: pb::ChannelHead = decode(&stored.envelope)?;
        let head = Arc::new(SignedDoc {
            envelope: stored.envelope,
            decoded,
        });
        if self.settings.cache {
            self.trust
                .heads
                .write()
                .expect("heads lock")
                .insert(key, head.clone());
        }
        Ok(head)
    }
}
