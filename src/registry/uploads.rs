//! Resumable upload sessions: bytes staged per session, completed into the blob store.
//!
//! OCI-style: open a session, append chunks in order (a chunk that does not start at the
//! session's offset is refused with RANGE_NOT_SATISFIABLE), ask for the offset to resume
//! from, then complete with the digest: the staged bytes are hashed, checked, and made
//! visible to the repo atomically with the same `blob.uploaded` audit event as a streamed
//! upload. Every call needs the publisher role on the repo; a session is visible only
//! through the repo it was opened for. Sessions nobody wrote to for `SESSION_TTL` are removed
//! with their bytes by a sweep that runs whenever a session is opened, at startup and with
//! every garbage collection (`gc.rs`).

use std::{ops::RangeInclusive, time::Duration};

use serde_json::json;

use super::{Caller, Registry, now_micros};
use crate::{
    blobs::{ByteStream, Expected},
    domain::{BlobInfo, Digest, Error, Name, Result, Role},
};

/// How long a session may go without a write before the sweep removes it.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(24 * 3600);

/// A chunk of an upload: its bytes, and the first and last byte they are declared to be, if
/// the client declared them.
pub(crate) struct Chunk {
    /// The declared range (inclusive), if any.
    pub(crate) range: Option<RangeInclusive<u64>>,
    /// The bytes.
    pub(crate) bytes: ByteStream,
}

/// An open upload session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UploadSession {
    pub(crate) repo: String,
    pub(crate) id: String,
    /// How many bytes the session holds: where the next chunk starts.
    pub(crate) offset: u64,
}

impl Registry {
    /// Opens an upload session in a repo, sweeping expired sessions first.
    pub(crate) async fn start_upload(&self, caller: &Caller, repo: &Name) -> Result<UploadSession> {
        let (_, repo) = self.writable_repo(caller, repo, Role::Publisher).await?;
        match self.blobs.sweep_sessions(SESSION_TTL).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired upload sessions removed"),
            Err(e) => tracing::warn!(error = %e, "sweeping upload sessions failed"),
        }
        let staged = self.blobs.open_session(&repo.key, now_micros()).await?;
        Ok(UploadSession {
            repo: staged.repo,
            id: staged.id,
            offset: staged.offset,
        })
    }

    /// Returns a session of a repo with its offset.
    pub(crate) async fn upload_status(
        &self,
        caller: &Caller,
        repo: &Name,
        session: &str,
    ) -> Result<UploadSession> {
        self.writable_repo(caller, repo, Role::Publisher).await?;
        self.session_of(repo, session).await
    }

    /// Appends a chunk to a session; returns the session with its new offset.
    pub(crate) async fn append_upload(
        &self,
        caller: &Caller,
        repo: &Name,
        session: &str,
        Chunk { range, bytes }: Chunk,
    ) -> Result<UploadSession> {
        self.writable_repo(caller, repo, Role::Publisher).await?;
        let mut found = self.session_of(repo, session).await?;
        found.offset = self
            .blobs
            .append_session(session, range, bytes, self.settings.max_blob_size)
            .await?;
        Ok(found)
    }

    /// Completes a session after appending a last chunk (an empty body appends nothing):
    /// checks the staged bytes against `digest`, makes the blob visible to the repo and records
    /// `blob.uploaded`. A mismatch removes the session and its bytes.
    pub(crate) async fn complete_upload(
        &self,
        caller: &Caller,
        repo: &Name,
        session: &str,
        digest: Digest,
        media_type: String,
        Chunk { range, bytes }: Chunk,
    ) -> Result<BlobInfo> {
        let (principal, repo) = self.writable_repo(caller, repo, Role::Publisher).await?;
        self.session_of(&repo.key, session).await?;
        let stored = self
            .blobs
            .complete_session(
                session,
                Some((range, bytes)),
                Expected {
                    digest: Some(digest),
                    size: None,
                },
                self.settings.max_blob_size,
            )
            .await?;
        let details = json!({ "session": session });
        self.record_upload(&principal, caller, &repo.key, stored, media_type, details)
            .await
    }

    /// Cancels a session and removes its bytes.
    pub(crate) async fn cancel_upload(
        &self,
        caller: &Caller,
        repo: &Name,
        session: &str,
    ) -> Result<()> {
        self.writable_repo(caller, repo, Role::Publisher).await?;
        self.session_of(repo, session).await?;
        if self.blobs.remove_session(session).await? {
            Ok(())
        } else {
            Err(session_not_found(session))
        }
    }

    /// Loads a session opened for `repo`; one of another repo is NOT_FOUND here.
    async fn session_of(&self, repo: &str, session: &str) -> Result<UploadSession> {
        match self.blobs.session(session).await? {
            Some(s) if s.repo == repo => Ok(UploadSession {
                repo: s.repo,
                id: s.id,
                offset: s.offset,
            }),
            _ => Err(session_not_found(session)),
        }
    }
}

fn session_not_found(session: &str) -> Error {
    Error::not_found(format!("upload session {session}"))
}
