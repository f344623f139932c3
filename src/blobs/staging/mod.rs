//! Staging for resumable uploads. This file is the local blob directory's; stores without one
//! (S3-compatible, memory) keep their sessions in the store (`remote.rs`).
//!
//! A session is two files in `<blob_dir>/sessions/`: `<id>` holds the bytes received so far
//! (its length is the offset to resume from, its mtime the time of the last write) and
//! `<id>.json` records the repo and the creation time. Writers hold an exclusive `flock` on
//! the data file, so chunks of one session never interleave and a session being written is
//! never swept. Completing a session hashes the staged file, checks the declared digest, and
//! hands the file to the same atomic commit (`fsync`, then rename to the digest path) that
//! `BlobStore::put` uses: the bytes are written once and never copied.

use std::{
    io::Read as _,
    ops::RangeInclusive,
    path::{Path as FsPath, PathBuf},
    time::{Duration, SystemTime},
};

use futures::StreamExt as _;
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use super::{BlobStore, ByteStream, Expected, Stored, blocking, unavailable};

mod dead;
mod remote;

use crate::domain::{Digest, Error, ErrorCode, Result};
pub(crate) use dead::Instance;
pub use dead::Leftover;
pub(crate) use remote::RemoteLocks;

/// The directory of sessions, under the blob directory.
const SESSIONS: &str = "sessions";
/// How many bytes a hashing read takes at once.
const HASH_CHUNK: usize = 1024 * 1024;
/// The most directory entries one sweep looks at, so that opening a session stays cheap.
const SWEEP_SCAN_LIMIT: usize = 10_000;

/// A staged upload session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StagedSession {
    pub(crate) id: String,
    /// The repo the session was opened for.
    pub(crate) repo: String,
    /// Unix microseconds.
    pub(crate) created_at: i64,
    /// How many bytes are staged: the offset the next chunk starts at.
    pub(crate) offset: u64,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    repo: String,
    created_at: i64,
}

/// A session whose data file is open for appending under an exclusive lock.
struct Locked {
    file: tokio::fs::File,
    data: PathBuf,
    meta: PathBuf,
    offset: u64,
}

fn not_found(id: &str) -> Error {
    Error::not_found(format!("upload session {id}"))
}

/// Session ids are 32 lowercase hex digits; anything else names no session (and no path).
fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl BlobStore {
    fn sessions_dir(&self) -> Result<PathBuf> {
        match &self.root {
            Some(root) => Ok(root.join(SESSIONS)),
            None => Err(unavailable(
                "resumable upload sessions need a local blob directory",
            )),
        }
    }

    /// Returns the data and metadata paths of a session, or NOT_FOUND for a malformed id.
    fn session_paths(&self, id: &str) -> Result<(PathBuf, PathBuf)> {
        if !valid_id(id) {
            return Err(not_found(id));
        }
        let dir = self.sessions_dir()?;
        Ok((dir.join(id), dir.join(format!("{id}.json"))))
    }

    /// Opens an empty session for a repo.
    pub(crate) async fn open_session(&self, repo: &str, created_at: i64) -> Result<StagedSession> {
        if self.root.is_none() {
            return self.remote_open_session(repo, created_at).await;
        }
        let dir = self.sessions_dir()?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (data, meta) = (dir.join(&id), dir.join(format!("{id}.json")));
        let body = serde_json::to_vec(&Meta {
            repo: repo.to_owned(),
            created_at,
        })
        .map_err(Error::internal)?;
        blocking(move || {
            std::fs::create_dir_all(&dir)?;
            // The metadata first: a data file without one is swept as debris.
            std::fs::write(&meta, body)?;
            std::fs::File::create_new(&data)?;
            Ok(())
        })
        .await?;
        Ok(StagedSession {
            id,
            repo: repo.to_owned(),
            created_at,
            offset: 0,
        })
    }

    /// Returns a session and how many bytes it holds, or `None` if there is no such session.
    pub(crate) async fn session(&self, id: &str) -> Result<Option<StagedSession>> {
        if self.root.is_none() {
            return self.remote_session(id).await;
        }
        let Ok((data, meta)) = self.session_paths(id) else {
            return Ok(None);
        };
        let found = blocking(move || {
            let meta = match std::fs::read(&meta) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            match std::fs::metadata(&data) {
                Ok(m) => Ok(Some((meta, m.len()))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;
        let Some((meta, offset)) = found else {
            return Ok(None);
        };
        let meta: Meta = serde_json::from_slice(&meta).map_err(Error::internal)?;
        Ok(Some(StagedSession {
            id: id.to_owned(),
            repo: meta.repo,
            created_at: meta.created_at,
            offset,
        }))
    }

    /// Takes a session's write lock; `busy` is the error when another request holds it.
    async fn lock_session(&self, id: &str, busy: Error) -> Result<Locked> {
        let (data, meta) = self.session_paths(id)?;
        let path = data.clone();
        let opened = tokio::task::spawn_blocking(move || -> std::io::Result<Option<_>> {
            let file = match std::fs::OpenOptions::new()
                .read(true)
                .append(true)
                .open(&path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => return Ok(Some(Err(()))),
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
            }
            // Removed (completed, cancelled, swept) between the open and the lock?
            if !path.try_exists()? {
                return Ok(None);
            }
            let offset = file.metadata()?.len();
            Ok(Some(Ok((file, offset))))
        })
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
        match opened {
            None => Err(not_found(id)),
            Some(Err(())) => Err(busy),
            Some(Ok((file, offset))) => Ok(Locked {
                file: tokio::fs::File::from_std(file),
                data,
                meta,
                offset,
            }),
        }
    }

    /// Appends a chunk to a session, which must start at the current offset. With `range`
    /// (first and last byte, inclusive) the body must carry exactly those bytes; without it,
    /// the body is appended at the current offset. Returns the new offset.
    ///
    /// A chunk that would not start at the offset, breaks `max_size`, or disagrees with its
    /// range leaves the session as it was. When the body breaks off (a dropped connection),
    /// the bytes that arrived are kept: the client asks for the offset and resumes from it.
    pub(crate) async fn append_session(
        &self,
        id: &str,
        range: Option<RangeInclusive<u64>>,
        chunks: ByteStream,
        max_size: u64,
    ) -> Result<u64> {
        if self.root.is_none() {
            return self.remote_append(id, range, chunks, max_size).await;
        }
        let busy = Error::new(
            ErrorCode::RangeNotSatisfiable,
            "another request is writing to this upload session",
        );
        let mut locked = self.lock_session(id, busy).await?;
        append(&mut locked, range, chunks, max_size).await
    }

    /// Completes a session: appends an optional last chunk (as `append_session`), hashes the
    /// staged bytes, checks them against `expected`, and makes the blob visible atomically.
    /// On a digest or size mismatch the session and its bytes are removed.
    pub(crate) async fn complete_session(
        &self,
        id: &str,
        last: Option<(Option<RangeInclusive<u64>>, ByteStream)>,
        expected: Expected,
        max_size: u64,
    ) -> Result<Stored> {
        if self.root.is_none() {
            return self.remote_complete(id, last, expected, max_size).await;
        }
        let busy = Error::new(
            ErrorCode::FailedPrecondition,
            "another request is writing to this upload session",
        );
        let mut locked = self.lock_session(id, busy).await?;
        if let Some((range, chunks)) = last {
            append(&mut locked, range, chunks, max_size).await?;
        }
        locked.file.flush().await.map_err(unavailable)?;
        let path = locked.data.clone();
        let (digest, size) = blocking(move || {
            let mut file = std::fs::File::open(&path)?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; HASH_CHUNK];
            let mut size = 0u64;
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Ok((Digest::from_bytes(hasher.finalize().into()), size))
        })
        .await?;
        if let Err(e) = expected.check(digest, size) {
            remove_files(&locked).await?;
            return Err(e);
        }
        // The data file sits under the store's root, so the commit of `put` applies as is.
        self.commit(&Path::from(format!("{SESSIONS}/{id}")), &digest)
            .await?;
        remove_files(&locked).await?;
        Ok(Stored { digest, size })
    }

    /// Removes a session and its bytes; `false` if there was no such session.
    pub(crate) async fn remove_session(&self, id: &str) -> Result<bool> {
        if self.root.is_none() {
            return self.remote_remove(id).await;
        }
        let busy = Error::new(
            ErrorCode::FailedPrecondition,
            "another request is writing to this upload session",
        );
        match self.lock_session(id, busy).await {
            Ok(locked) => remove_files(&locked).await.map(|()| true),
            Err(e) if e.code == ErrorCode::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes every session not written to for `ttl` (unless a request holds it) and any
    /// half-created debris; looks at no more than `SWEEP_SCAN_LIMIT` entries. Returns how
    /// many sessions it removed.
    pub(crate) async fn sweep_sessions(&self, ttl: Duration) -> Result<usize> {
        if self.root.is_none() {
            let dead = self.remote_leftovers(ttl, true).await?;
            return Ok(dead.iter().filter(|l| l.path.starts_with(SESSIONS)).count());
        }
        let dir = self.sessions_dir()?;
        blocking(move || sweep(&dir, ttl, SystemTime::now())).await
    }
}

/// Checks a chunk's declared range against the session's offset and `max_size`; returns the
/// declared length, if any.
fn declared_length(
    start: u64,
    range: Option<&RangeInclusive<u64>>,
    max_size: u64,
) -> Result<Option<u64>> {
    let Some(r) = range else {
        return Ok(None);
    };
    if *r.start() != start {
        return Err(Error::new(
            ErrorCode::RangeNotSatisfiable,
            format!(
                "chunk starts at byte {}, but the session holds {start} bytes",
                r.start()
            ),
        ));
    }
    let n = r.end() - r.start() + 1;
    if start.saturating_add(n) > max_size {
        return Err(Error::new(
            ErrorCode::BlobTooLarge,
            format!("blob exceeds the limit of {max_size} bytes"),
        ));
    }
    Ok(Some(n))
}

/// Streams a chunk onto a locked session; see `BlobStore::append_session`.
async fn append(
    locked: &mut Locked,
    range: Option<RangeInclusive<u64>>,
    mut chunks: ByteStream,
    max_size: u64,
) -> Result<u64> {
    let start = locked.offset;
    let declared = declared_length(start, range.as_ref(), max_size)?;
    let too_large = || {
        Error::new(
            ErrorCode::BlobTooLarge,
            format!("blob exceeds the limit of {max_size} bytes"),
        )
    };
    let mut written = 0u64;
    // Whether the body itself failed (a dropped connection), as opposed to a refusal here.
    let mut broke_off = false;
    let outcome: Result<()> = async {
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.inspect_err(|_| broke_off = true)?;
            let len = chunk.len() as u64;
            if start + written + len > max_size {
                return Err(too_large());
            }
            if declared.is_some_and(|n| written + len > n) {
                return Err(Error::invalid(
                    "content-range",
                    "the body is longer than the declared range",
                ));
            }
            locked.file.write_all(&chunk).await.map_err(unavailable)?;
            written += len;
        }
        match declared {
            Some(n) if n != written => Err(Error::invalid(
                "content-range",
                format!("the range declares {n} bytes, the body carried {written}"),
            )),
            _ => Ok(()),
        }
    }
    .await;
    // A refused chunk leaves the session as it was; a broken-off one keeps what arrived, so
    // that the client can resume right after it.
    let keep = outcome.is_ok() || broke_off;
    locked.file.flush().await.map_err(unavailable)?;
    if !keep {
        locked.file.set_len(start).await.map_err(unavailable)?;
        written = 0;
    }
    locked.file.sync_data().await.map_err(unavailable)?;
    locked.offset = start + written;
    outcome.map(|()| locked.offset)
}

async fn remove_files(locked: &Locked) -> Result<()> {
    let (data, meta) = (locked.data.clone(), locked.meta.clone());
    blocking(move || {
        for path in [&meta, &data] {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })
    .await
}

/// Removes the expired sessions in `dir`; see `BlobStore::sweep_sessions`.
fn sweep(dir: &FsPath, ttl: Duration, now: SystemTime) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let expired = |path: &FsPath| -> std::io::Result<Option<bool>> {
        match std::fs::metadata(path) {
            Ok(m) => Ok(Some(
                now.duration_since(m.modified()?).unwrap_or_default() > ttl,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    };
    let mut removed = 0;
    for entry in entries.take(SWEEP_SCAN_LIMIT) {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let (id, is_meta) = match name.strip_suffix(".json") {
            Some(id) => (id, true),
            None => (name, false),
        };
        if !valid_id(id) {
            continue;
        }
        let data = dir.join(id);
        let meta = dir.join(format!("{id}.json"));
        if is_meta {
            // Metadata whose data file is gone (a crash mid-removal) once it is old enough.
            if !data.try_exists()? && expired(&meta)? == Some(true) {
                let _ = std::fs::remove_file(&meta);
            }
            continue;
        }
        if expired(&data)? != Some(true) {
            continue;
        }
        let Ok(file) = std::fs::OpenOptions::new().read(true).open(&data) else {
            continue;
        };
        if file.try_lock().is_err() {
            continue; // a request is writing to it right now
        }
        // Checked again under the lock: a chunk may have landed since.
        if expired(&data)? != Some(true) {
            continue;
        }
        let _ = std::fs::remove_file(&meta);
        std::fs::remove_file(&data)?;
        removed += 1;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests;
