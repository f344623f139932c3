//! Sending one file of a push: hashed first and skipped when the draft or the repo already
//! has its bytes (small files, and large ones this client hashed before), or hashed while it
//! uploads (large files seen for the first time), so that a first push of a large file
//! costs one pass over the network rather than a hashing pass before it.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{
    conn::Connection,
    error::{ClientError, ClientResult},
    publish::{FileAction, FileReport, Push, PushFile, PushObserver},
    upload::{self, LocalFile, SessionStore, UploadKey, UploadProgress, Uploaded},
};
use crate::pb;

/// One file to send, with what it is sent for.
pub(crate) struct FileSend<'a> {
    pub(crate) conn: &'a Connection,
    pub(crate) sessions: &'a SessionStore,
    pub(crate) repo: &'a str,
    pub(crate) file: &'a PushFile,
    /// Its size when the push began.
    pub(crate) size: u64,
    /// The draft's files as they were bound before this file.
    pub(crate) bound: &'a [pb::VersionFile],
    pub(crate) request: &'a Push,
    pub(crate) observer: &'a dyn PushObserver,
}

/// Passes progress on and counts the bytes sent.
struct Counting<'a> {
    inner: &'a dyn UploadProgress,
    sent: AtomicU64,
}

impl UploadProgress for Counting<'_> {
    fn started(&self, offset: u64, size: u64) {
        self.inner.started(offset, size);
    }
    fn sent(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Relaxed);
        self.inner.sent(n);
    }
    fn rewound(&self, offset: u64) {
        self.inner.rewound(offset);
    }
}

impl FileSend<'_> {
    fn report(&self, local: &LocalFile, action: FileAction) -> FileReport {
        FileReport {
            path: self.file.path.clone(),
            digest: local.digest.clone(),
            size: local.size,
            action,
            resumed_from: 0,
            bytes_sent: 0,
        }
    }

    /// Tells what needs no upload: the path already bound to these bytes, or a blob the
    /// repo already holds.
    async fn already_there(&self, local: &LocalFile) -> ClientResult<Option<FileAction>> {
        let bound = self
            .bound
            .iter()
            .any(|f| f.path == self.file.path && f.digest == local.digest);
        if bound {
            return Ok(Some(FileAction::Unchanged));
        }
        if upload::blob_exists(self.conn, self.repo, &local.digest).await? {
            return Ok(Some(FileAction::Skipped));
        }
        Ok(None)
    }

    /// Refuses a file that changed since the push looked at it.
    fn unchanged_size(&self, local: &LocalFile) -> ClientResult<()> {
        if local.size == self.size {
            Ok(())
        } else {
            Err(ClientError::local(
                &self.file.local,
                format!(
                    "changed while pushed ({} bytes, then {})",
                    self.size, local.size
                ),
            ))
        }
    }

    /// Hashes, asks, then uploads if needed (resuming a session of the same digest).
    pub(crate) async fn sequential(&self) -> ClientResult<FileReport> {
        let local = LocalFile::hash(&self.file.local).await?;
        self.unchanged_size(&local)?;
        if let Some(action) = self.already_there(&local).await? {
            return Ok(self.report(&local, action));
        }
        let progress = self.observer.uploading(&self.file.path, local.size);
        let Uploaded {
            resumed_from,
            bytes_sent,
        } = upload::upload_file(
            self.conn,
            self.sessions,
            self.repo,
            &local,
            &self.request.media_type,
            self.request.chunk_size,
            progress.as_ref(),
        )
        .await?;
        Ok(FileReport {
            resumed_from,
            bytes_sent,
            ..self.report(&local, FileAction::Uploaded)
        })
    }

    /// Uploads while hashing on another thread. The session is filed under the file
    /// (path, size, modification time) at once and under the digest once known, so a rerun
    /// resumes it. When the digest shows the bytes are already there, the upload stops and
    /// its session is cancelled.
    pub(crate) async fn overlapped(&self) -> ClientResult<FileReport> {
        let server = self.conn.base_url();
        let by_file = UploadKey::file(server, self.repo, &self.file.local)?;
        let path = self.file.local.clone();
        let mut hashing = tokio::task::spawn_blocking(move || LocalFile::hash_blocking(path));
        let session = upload::session_for(
            self.conn,
            self.sessions,
            self.repo,
            std::slice::from_ref(&by_file),
            self.size,
        )
        .await?;
        let progress = self.observer.uploading(&self.file.path, self.size);
        let counting = Counting {
            inner: progress.as_ref(),
            sent: AtomicU64::new(0),
        };
        counting.started(session.offset, self.size);
        let mut sending = Box::pin(upload::send_rest(
            self.conn,
            &session,
            &self.file.local,
            self.size,
            self.request.chunk_size,
            &counting,
        ));
        let first = tokio::select! {
            hashed = &mut hashing => First::Hashed(hashed),
            sent = &mut sending => First::Sent(sent),
        };
        let local = match first {
            First::Hashed(hashed) => {
                let local = joined(hashed)?;
                self.unchanged_size(&local)?;
                self.sessions.put(&by_file.seen(), &local.digest)?;
                if let Some(action) = self.already_there(&local).await? {
                    drop(sending);
                    upload::abandon(self.conn, self.sessions, &session, &[by_file]).await;
                    return Ok(FileReport {
                        bytes_sent: counting.sent.load(Ordering::Relaxed),
                        ..self.report(&local, action)
                    });
                }
                let by_digest = UploadKey::digest(server, self.repo, &local.digest);
                self.sessions.put(&by_digest, &session.location)?;
                sending.await?;
                local
            }
            First::Sent(sent) => {
                sent?;
                drop(sending);
                let local = joined(hashing.await)?;
                self.unchanged_size(&local)?;
                self.sessions.put(&by_file.seen(), &local.digest)?;
                local
            }
        };
        let keys = [by_file, UploadKey::digest(server, self.repo, &local.digest)];
        upload::finish(
            self.conn,
            self.sessions,
            &session,
            &local.digest,
            &self.request.media_type,
            &keys,
        )
        .await?;
        Ok(FileReport {
            resumed_from: session.offset,
            bytes_sent: counting.sent.load(Ordering::Relaxed),
            ..self.report(&local, FileAction::Uploaded)
        })
    }
}

/// Which of hashing and sending ended first.
enum First {
    Hashed(Result<ClientResult<LocalFile>, tokio::task::JoinError>),
    Sent(ClientResult<u64>),
}

fn joined(
    hashed: Result<ClientResult<LocalFile>, tokio::task::JoinError>,
) -> ClientResult<LocalFile> {
    hashed.map_err(|e| ClientError::internal(format!("hashing: {e}")))?
}
