//! Blob files as garbage collection, `relreg fsck` and `relreg backup` see them: listing the
//! files under `sha256/`, hashing one, removing one, and the guard that keeps a sweep's
//! deletes apart from uploads making a blob visible.
//!
//! The guard is an `flock` on `<blob_dir>/gc.lock`: an upload holds it shared from the moment
//! it checks that its blob's file is in place until its row is committed; a sweep holds it
//! exclusively while it deletes a blob's row and then its file. So an upload whose bytes were
//! already stored (and that therefore wrote nothing) never commits a row for a file a sweep
//! is about to delete, in this process or another one on the same directory. A remote store
//! (S3, memory) has no lock file: its guard is a read-write lock within the process, which
//! does not keep servers sharing a bucket apart (the grace period does; see the README).

use std::{
    fs::File,
    io::Read as _,
    path::{Path as FsPath, PathBuf},
    time::SystemTime,
};

use futures::TryStreamExt as _;
use sha2::{Digest as _, Sha256};

use super::{BlobStore, blocking, unavailable};
use crate::domain::{Digest, Result};

/// The lock file of the guard, under the blob directory.
const GUARD: &str = "gc.lock";
/// How many bytes a hashing read takes at once.
const HASH_CHUNK: usize = 1024 * 1024;

/// A held guard (shared or exclusive); released on drop.
#[derive(Debug)]
pub struct BlobGuard {
    _file: Option<File>,
    _read: Option<tokio::sync::OwnedRwLockReadGuard<()>>,
    _write: Option<tokio::sync::OwnedRwLockWriteGuard<()>>,
}

/// A file under `sha256/`.
#[derive(Debug, Clone)]
pub struct BlobFile {
    /// Its path under the blob directory.
    pub path: String,
    /// The digest its name spells, if it spells one at the right place.
    pub digest: Option<Digest>,
    /// Its length in bytes.
    pub size: u64,
    /// When it was last modified.
    pub modified: SystemTime,
}

/// What hashing a stored blob found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// No file.
    Missing,
    /// The file's digest and length.
    Found(Digest, u64),
}

impl BlobStore {
    /// Returns the blob directory, for a local store.
    pub fn root(&self) -> Option<&FsPath> {
        self.root.as_deref()
    }

    /// Returns the file a blob is stored in, for a local store.
    pub fn blob_path(&self, digest: &Digest) -> Option<PathBuf> {
        self.root
            .as_ref()
            .map(|root| root.join(Self::path(digest).as_ref()))
    }

    async fn guard(&self, exclusive: bool) -> Result<BlobGuard> {
        let Some(root) = self.root.clone() else {
            let lock = self.local.gc.clone();
            let (read, write) = if exclusive {
                (None, Some(lock.write_owned().await))
            } else {
                (Some(lock.read_owned().await), None)
            };
            return Ok(BlobGuard {
                _file: None,
                _read: read,
                _write: write,
            });
        };
        let file = blocking(move || {
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(root.join(GUARD))?;
            if exclusive {
                file.lock()?;
            } else {
                file.lock_shared()?;
            }
            Ok(file)
        })
        .await?;
        Ok(BlobGuard {
            _file: Some(file),
            _read: None,
            _write: None,
        })
    }

    /// Takes the guard shared, as an upload making its blob visible does.
    pub async fn upload_guard(&self) -> Result<BlobGuard> {
        self.guard(false).await
    }

    /// Takes the guard exclusively, as a sweep deleting a blob does.
    pub async fn sweep_guard(&self) -> Result<BlobGuard> {
        self.guard(true).await
    }

    /// Removes a blob's file; `false` when there was none.
    pub async fn remove_blob(&self, digest: &Digest) -> Result<bool> {
        let Some(path) = self.blob_path(digest) else {
            return match self.store.delete(&Self::path(digest)).await {
                Ok(()) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(unavailable(e)),
            };
        };
        blocking(move || match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        })
        .await
    }

    /// Removes a file under `sha256/` by the path `stored_files` gave.
    pub async fn remove_stored_file(&self, path: &str) -> Result<()> {
        if !path.starts_with("sha256/") || path.contains("..") {
            return Ok(());
        }
        let Some(root) = self.root.clone() else {
            return match self
                .store
                .delete(&object_store::path::Path::from(path))
                .await
            {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(unavailable(e)),
            };
        };
        let path = root.join(path);
        blocking(move || match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await
    }

    /// Lists every file (object) under `sha256/`.
    pub async fn stored_files(&self) -> Result<Vec<BlobFile>> {
        let Some(root) = self.root.clone() else {
            return self.stored_objects().await;
        };
        blocking(move || {
            let mut files = Vec::new();
            let top = root.join("sha256");
            let shards = match std::fs::read_dir(&top) {
                Ok(d) => d,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
                Err(e) => return Err(e),
            };
            for shard in shards {
                let shard = shard?;
                let shard_name = shard.file_name().to_string_lossy().into_owned();
                if !shard.file_type()?.is_dir() {
                    let meta = shard.metadata()?;
                    files.push(BlobFile {
                        path: format!("sha256/{shard_name}"),
                        digest: None,
                        size: meta.len(),
                        modified: meta.modified()?,
                    });
                    continue;
                }
                for entry in std::fs::read_dir(shard.path())? {
                    let entry = entry?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let meta = entry.metadata()?;
                    let digest = Digest::parse("file", &format!("sha256:{name}"))
                        .ok()
                        .filter(|_| name.get(..2) == Some(shard_name.as_str()));
                    files.push(BlobFile {
                        path: format!("sha256/{shard_name}/{name}"),
                        digest,
                        size: meta.len(),
                        modified: meta.modified()?,
                    });
                }
            }
            files.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(files)
        })
        .await
    }

    /// Hashes a stored blob's file.
    pub async fn check_blob(&self, digest: &Digest) -> Result<Checked> {
        let Some(path) = self.blob_path(digest) else {
            return self.check_object(digest).await;
        };
        blocking(move || {
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Checked::Missing),
                Err(e) => return Err(e),
            };
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
            Ok(Checked::Found(
                Digest::from_bytes(hasher.finalize().into()),
                size,
            ))
        })
        .await
    }

    /// Lists the objects under `sha256/` of a remote store.
    async fn stored_objects(&self) -> Result<Vec<BlobFile>> {
        let objects: Vec<_> = self
            .store
            .list(Some(&object_store::path::Path::from("sha256")))
            .try_collect()
            .await
            .map_err(unavailable)?;
        let mut files: Vec<BlobFile> = objects
            .into_iter()
            .map(|o| {
                let parts: Vec<String> =
                    o.location.parts().map(|p| p.as_ref().to_owned()).collect();
                let digest = match parts.as_slice() {
                    [_, shard, name] if name.get(..2) == Some(shard.as_str()) => {
                        Digest::parse("file", &format!("sha256:{name}")).ok()
                    }
                    _ => None,
                };
                BlobFile {
                    path: o.location.to_string(),
                    digest,
                    size: o.size,
                    modified: o.last_modified.into(),
                }
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// Hashes a blob of a remote store by reading it back.
    async fn check_object(&self, digest: &Digest) -> Result<Checked> {
        let found = match self.store.get(&Self::path(digest)).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => return Ok(Checked::Missing),
            Err(e) => return Err(unavailable(e)),
        };
        let mut bytes = found.into_stream();
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = bytes.try_next().await.map_err(unavailable)? {
            hasher.update(&chunk);
            size += chunk.len() as u64;
        }
        Ok(Checked::Found(
            Digest::from_bytes(hasher.finalize().into()),
            size,
        ))
    }
}
