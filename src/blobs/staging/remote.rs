//! Resumable upload sessions in a store without a local directory (S3-compatible, memory).
//!
//! Several servers behind one load balancer share the bucket, and a client resuming a session
//! may reach any of them, so a session lives in the store, not on the server that opened it:
//! `sessions/<id>/meta.json` records the repo and the creation time, and each accepted chunk
//! is one object `sessions/<id>/<first byte, 20 digits>` written by a multipart upload (so a
//! chunk never sits in memory whole). The offset to resume from is where the contiguous run of
//! chunks ends. Completing streams the chunks in order into `BlobStore::put`, which hashes,
//! checks and commits them like any streamed upload, then removes the session's objects.
//!
//! Within a process, one request at a time writes to a session (`RemoteLocks`); across
//! servers, two requests writing the same session at once are not kept apart (one client
//! writes one session, one chunk after the other; the digest check at completion catches
//! bytes that got mixed up). A session nobody wrote to for the TTL is removed by the sweep of
//! any server.

use std::{
    collections::{BTreeMap, HashSet},
    ops::RangeInclusive,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use futures::{StreamExt as _, TryStreamExt as _};
use object_store::{PutPayload, WriteMultipart, path::Path};
use serde::Deserialize;

use super::{Leftover, Meta, SESSIONS, StagedSession, not_found, valid_id};
use crate::{
    blobs::{BlobStore, ByteStream, Expected, PART_SIZE, Stored, unavailable},
    domain::{Error, ErrorCode, Result},
};

/// Where streamed uploads keep their temporary objects in a remote store.
const UPLOADS: &str = "uploads";
/// How old a temporary object must be to count as abandoned (its upload finished long ago).
const UPLOAD_AGE: Duration = Duration::from_secs(3600);
/// The most objects one sweep looks at.
const SCAN_LIMIT: usize = 10_000;

/// What a remote store keeps apart within this process.
#[derive(Debug, Default)]
pub(crate) struct RemoteLocks {
    /// Sessions a request of this process is writing to.
    writing: Mutex<HashSet<String>>,
    /// The GC guard: shared by uploads, exclusive for sweeps (`blobs/gc.rs`).
    pub(crate) gc: Arc<tokio::sync::RwLock<()>>,
}

/// A claim on a session, released on drop.
struct Writing<'a> {
    locks: &'a RemoteLocks,
    id: String,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        if let Ok(mut writing) = self.locks.writing.lock() {
            writing.remove(&self.id);
        }
    }
}

impl RemoteLocks {
    /// Claims a session for one request; `None` when another request holds it.
    fn claim(&self, id: &str) -> Option<Writing<'_>> {
        let mut writing = self.writing.lock().ok()?;
        writing.insert(id.to_owned()).then(|| Writing {
            locks: self,
            id: id.to_owned(),
        })
    }
}

/// A session's objects.
#[derive(Default)]
struct Listing {
    meta: bool,
    /// Chunks by first byte: (size, path).
    chunks: BTreeMap<u64, (u64, Path)>,
    /// Every object of the session.
    all: Vec<Path>,
}

impl Listing {
    /// Returns the contiguous run of chunks from byte 0 and the offset it ends at.
    fn run(&self) -> (Vec<Path>, u64) {
        let mut offset = 0;
        let mut run = Vec::new();
        for (start, (size, path)) in &self.chunks {
            if *start != offset {
                break;
            }
            offset += size;
            run.push(path.clone());
        }
        (run, offset)
    }
}

fn session_dir(id: &str) -> Path {
    Path::from(format!("{SESSIONS}/{id}"))
}

fn busy(code: ErrorCode) -> Error {
    Error::new(code, "another request is writing to this upload session")
}

impl BlobStore {
    async fn list_session(&self, id: &str) -> Result<Listing> {
        let objects: Vec<_> = self
            .store
            .list(Some(&session_dir(id)))
            .try_collect()
            .await
            .map_err(unavailable)?;
        let mut listing = Listing::default();
        for object in objects {
            let name = object.location.filename().unwrap_or_default().to_owned();
            if name == "meta.json" {
                listing.meta = true;
            } else if let Ok(start) = name.parse::<u64>() {
                listing
                    .chunks
                    .insert(start, (object.size, object.location.clone()));
            }
            listing.all.push(object.location);
        }
        Ok(listing)
    }

    async fn remove_objects(&self, paths: Vec<Path>) -> Result<()> {
        for path in paths {
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        Ok(())
    }

    pub(super) async fn remote_open_session(
        &self,
        repo: &str,
        created_at: i64,
    ) -> Result<StagedSession> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let body = serde_json::to_vec(&Meta {
            repo: repo.to_owned(),
            created_at,
        })
        .map_err(Error::internal)?;
        let meta = Path::from(format!("{SESSIONS}/{id}/meta.json"));
        self.store
            .put(&meta, PutPayload::from(body))
            .await
            .map_err(unavailable)?;
        Ok(StagedSession {
            id,
            repo: repo.to_owned(),
            created_at,
            offset: 0,
        })
    }

    pub(super) async fn remote_session(&self, id: &str) -> Result<Option<StagedSession>> {
        if !valid_id(id) {
            return Ok(None);
        }
        let listing = self.list_session(id).await?;
        if !listing.meta {
            return Ok(None);
        }
        let meta = Path::from(format!("{SESSIONS}/{id}/meta.json"));
        let body = match self.store.get(&meta).await {
            Ok(found) => found.bytes().await.map_err(unavailable)?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(unavailable(e)),
        };
        #[derive(Deserialize)]
        struct Read {
            repo: String,
            created_at: i64,
        }
        let meta: Read = serde_json::from_slice(&body).map_err(Error::internal)?;
        Ok(Some(StagedSession {
            id: id.to_owned(),
            repo: meta.repo,
            created_at: meta.created_at,
            offset: listing.run().1,
        }))
    }

    pub(super) async fn remote_append(
        &self,
        id: &str,
        range: Option<RangeInclusive<u64>>,
        chunks: ByteStream,
        max_size: u64,
    ) -> Result<u64> {
        if !valid_id(id) {
            return Err(not_found(id));
        }
        let _claim = self
            .local
            .claim(id)
            .ok_or_else(|| busy(ErrorCode::RangeNotSatisfiable))?;
        let listing = self.list_session(id).await?;
        if !listing.meta {
            return Err(not_found(id));
        }
        self.write_chunk(id, listing.run().1, range, chunks, max_size)
            .await
    }

    /// Streams one chunk into its own object; see `BlobStore::append_session`.
    async fn write_chunk(
        &self,
        id: &str,
        start: u64,
        range: Option<RangeInclusive<u64>>,
        mut chunks: ByteStream,
        max_size: u64,
    ) -> Result<u64> {
        let declared = super::declared_length(start, range.as_ref(), max_size)?;
        let too_large = || {
            Error::new(
                ErrorCode::BlobTooLarge,
                format!("blob exceeds the limit of {max_size} bytes"),
            )
        };
        let path = Path::from(format!("{SESSIONS}/{id}/{start:020}"));
        let upload = self.store.put_multipart(&path).await.map_err(unavailable)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut written = 0u64;
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
                writer.wait_for_capacity(2).await.map_err(unavailable)?;
                writer.put(chunk);
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
        // As on disk: a refused chunk leaves the session as it was; a broken-off one keeps
        // what arrived.
        if (outcome.is_ok() || broke_off) && written > 0 {
            writer.finish().await.map_err(unavailable)?;
        } else {
            let _ = writer.abort().await;
            written = 0;
        }
        outcome.map(|()| start + written)
    }

    pub(super) async fn remote_complete(
        &self,
        id: &str,
        last: Option<(Option<RangeInclusive<u64>>, ByteStream)>,
        expected: Expected,
        max_size: u64,
    ) -> Result<Stored> {
        if !valid_id(id) {
            return Err(not_found(id));
        }
        let _claim = self
            .local
            .claim(id)
            .ok_or_else(|| busy(ErrorCode::FailedPrecondition))?;
        let mut listing = self.list_session(id).await?;
        if !listing.meta {
            return Err(not_found(id));
        }
        if let Some((range, chunks)) = last {
            self.write_chunk(id, listing.run().1, range, chunks, max_size)
                .await?;
            listing = self.list_session(id).await?;
        }
        let (run, _) = listing.run();
        let store = self.store.clone();
        let bytes = futures::stream::iter(run)
            .then(move |path| {
                let store = store.clone();
                async move { Ok::<_, object_store::Error>(store.get(&path).await?.into_stream()) }
            })
            .try_flatten()
            .map_err(unavailable);
        match self.put(Box::pin(bytes), expected, max_size).await {
            Ok(stored) => {
                self.remove_objects(listing.all).await?;
                Ok(stored)
            }
            Err(e) if e.code == ErrorCode::DigestMismatch => {
                self.remove_objects(listing.all).await?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    pub(super) async fn remote_remove(&self, id: &str) -> Result<bool> {
        if !valid_id(id) {
            return Ok(false);
        }
        let _claim = self
            .local
            .claim(id)
            .ok_or_else(|| busy(ErrorCode::FailedPrecondition))?;
        let listing = self.list_session(id).await?;
        if listing.all.is_empty() {
            return Ok(false);
        }
        self.remove_objects(listing.all).await?;
        Ok(listing.meta)
    }

    /// Lists (and with `remove`, removes) sessions nobody wrote to for `ttl` and temporary
    /// upload objects older than an hour.
    pub(super) async fn remote_leftovers(
        &self,
        ttl: Duration,
        remove: bool,
    ) -> Result<Vec<Leftover>> {
        let now = SystemTime::now();
        let age = |modified: SystemTime| now.duration_since(modified).unwrap_or_default();
        let mut found = Vec::new();
        // Sessions: id -> (newest write, bytes, objects).
        let mut sessions: BTreeMap<String, (SystemTime, u64, Vec<Path>)> = BTreeMap::new();
        let mut listed = self
            .store
            .list(Some(&Path::from(SESSIONS)))
            .take(SCAN_LIMIT);
        while let Some(object) = listed.next().await {
            let object = object.map_err(unavailable)?;
            let Some(id) = object.location.parts().nth(1) else {
                continue;
            };
            let entry = sessions.entry(id.as_ref().to_owned()).or_insert((
                SystemTime::UNIX_EPOCH,
                0,
                Vec::new(),
            ));
            entry.0 = entry.0.max(object.last_modified.into());
            entry.1 += object.size;
            entry.2.push(object.location);
        }
        drop(listed);
        for (id, (newest, bytes, paths)) in sessions {
            if age(newest) <= ttl {
                continue;
            }
            let Some(_claim) = self.local.claim(&id) else {
                continue;
            };
            if remove {
                self.remove_objects(paths).await?;
            }
            found.push(Leftover {
                path: format!("{SESSIONS}/{id}"),
                bytes,
                why: "session expired",
            });
        }
        let uploads: Vec<_> = self
            .store
            .list(Some(&Path::from(UPLOADS)))
            .take(SCAN_LIMIT)
            .try_collect()
            .await
            .map_err(unavailable)?;
        for object in uploads {
            if age(object.last_modified.into()) <= UPLOAD_AGE {
                continue;
            }
            if remove {
                self.remove_objects(vec![object.location.clone()]).await?;
            }
            found.push(Leftover {
                path: object.location.to_string(),
                bytes: object.size,
                why: "temporary upload left by a failed commit",
            });
        }
        Ok(found)
    }
}
