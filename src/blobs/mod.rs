//! Content-addressed blob storage over `object_store` (a local directory by default, memory
//! for tests). Uploads stream: the sha256 is computed while the bytes are written to a
//! temporary object, checked against what the client declared, made durable, and only then
//! renamed to its digest path, so a half-written or wrong blob is never visible. A blob is
//! stored once however often it is uploaded. Temporary objects live in a directory of the
//! process that writes them (`staging/dead.rs` removes those of processes that are gone);
//! `gc.rs` lists, hashes and removes stored blobs for GC, fsck and backups. A remote store
//! (S3-compatible, `s3.rs`, or memory) keeps its temporary objects and resumable sessions in
//! the store itself (`staging/remote.rs`), so servers sharing a bucket share them too.

use std::{ops::Range, path::PathBuf, pin::Pin, sync::Arc};

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt, stream::BoxStream};
use object_store::{
    GetOptions, GetRange, ObjectStore, WriteMultipart, local::LocalFileSystem, memory::InMemory,
    path::Path,
};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::domain::{Digest, Error, ErrorCode, Result};

mod gc;
mod s3;
mod staging;

pub use gc::{BlobFile, BlobGuard, Checked};
pub use s3::BlobUrlConfig;
pub use staging::Leftover;

/// How many bytes a multipart part holds; two parts in flight bound an upload's memory.
/// S3 refuses parts under 5 MiB (but the last).
const PART_SIZE: usize = 5 * 1024 * 1024;
/// How many bytes a download chunk holds.
const READ_CHUNK: usize = 256 * 1024;

/// What the client declared about an upload.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expected {
    /// The digest the client announced; `None` when it announced none.
    pub digest: Option<Digest>,
    /// The byte count the client announced; `None` when it announced none.
    pub size: Option<u64>,
}

impl Expected {
    /// Checks the bytes received against what was declared: DIGEST_MISMATCH otherwise.
    pub(crate) fn check(&self, digest: Digest, size: u64) -> Result<()> {
        let mismatch = match *self {
            Expected { size: Some(s), .. } if s != size => {
                format!("expected {s} bytes, received {size}")
            }
            Expected {
                digest: Some(d), ..
            } if d != digest => format!("expected {d}, received bytes hash to {digest}"),
            _ => return Ok(()),
        };
        Err(Error::new(ErrorCode::DigestMismatch, mismatch))
    }
}

/// A blob that was written and made visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// The SHA-256 digest of the bytes, which is also the blob's address.
    pub digest: Digest,
    /// The blob's length in bytes.
    pub size: u64,
}

/// A stream of byte chunks, as uploads arrive and downloads leave.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// The blob store.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// Set for the local filesystem: used to fsync and to read files directly.
    root: Option<PathBuf>,
    /// This process's directory of temporary uploads (`staging/dead.rs`).
    instance: Arc<staging::Instance>,
    /// Remote stores: the sessions a request of this process is writing to, and the GC guard
    /// within this process (`gc.rs`).
    local: Arc<staging::RemoteLocks>,
}

/// Runs file-system work off the async threads; its failures read as UNAVAILABLE.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(unavailable)?
        .map_err(unavailable)
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    tracing::error!(error = %e, "blob store failure");
    Error::new(ErrorCode::Unavailable, "blob store unavailable")
}

impl BlobStore {
    /// Opens a blob store in a local directory, creating it if needed.
    pub fn local(dir: impl Into<PathBuf>) -> Result<Self> {
        let root = dir.into();
        std::fs::create_dir_all(&root).map_err(unavailable)?;
        let root = root.canonicalize().map_err(unavailable)?;
        let store = LocalFileSystem::new_with_prefix(&root).map_err(unavailable)?;
        Ok(Self {
            store: Arc::new(store),
            root: Some(root),
            instance: Arc::default(),
            local: Arc::default(),
        })
    }

    /// Returns a blob store that keeps everything in memory.
    pub fn memory() -> Self {
        Self::remote(Arc::new(InMemory::new()))
    }

    /// Returns a blob store over an object store with no local directory.
    fn remote(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            store,
            root: None,
            instance: Arc::default(),
            local: Arc::default(),
        }
    }

    /// Returns whether blobs live in a local directory (not in S3 or memory).
    pub fn is_local(&self) -> bool {
        self.root.is_some()
    }

    fn path(digest: &Digest) -> Path {
        let hex = digest.hex();
        Path::from(format!("sha256/{}/{}", &hex[..2], hex))
    }

    /// Checks that the store answers.
    pub async fn ping(&self) -> Result<()> {
        self.store
            .list_with_delimiter(Some(&Path::from("sha256")))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Streams an upload into the store, verifying it against `expected` and `max_size`.
    /// On any failure nothing is left behind.
    pub async fn put(
        &self,
        mut chunks: ByteStream,
        expected: Expected,
        max_size: u64,
    ) -> Result<Stored> {
        let tmp = Path::from(format!("{}/{}", self.upload_dir()?, uuid::Uuid::new_v4()));
        let upload = self.store.put_multipart(&tmp).await.map_err(unavailable)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let limit = expected.size.map_or(max_size, |s| s.min(max_size));
        let streamed: Result<()> = async {
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(if size > max_size {
                        Error::new(
                            ErrorCode::BlobTooLarge,
                            format!("blob exceeds the limit of {max_size} bytes"),
                        )
                    } else {
                        Error::new(
                            ErrorCode::DigestMismatch,
                            "more bytes arrived than expected_size",
                        )
                    });
                }
                hasher.update(&chunk);
                writer.wait_for_capacity(2).await.map_err(unavailable)?;
                writer.put(chunk);
            }
            Ok(())
        }
        .await;
        if let Err(e) = streamed {
            let _ = writer.abort().await;
            return Err(e);
        }
        let digest = Digest::from_bytes(hasher.finalize().into());
        if let Err(e) = expected.check(digest, size) {
            let _ = writer.abort().await;
            return Err(e);
        }
        writer.finish().await.map_err(unavailable)?;
        self.commit(&tmp, &digest).await?;
        Ok(Stored { digest, size })
    }

    /// Makes a finished temporary object durable and visible under its digest.
    async fn commit(&self, tmp: &Path, digest: &Digest) -> Result<()> {
        if let Some(root) = &self.root {
            sync_file(root.join(tmp.as_ref())).await?;
        }
        let target = Self::path(digest);
        if self.root.is_none() {
            // Object stores have no atomic rename (S3 has no conditional copy by default):
            // a server-side copy makes the blob visible at once, and overwriting one that is
            // already there writes the same bytes (the address is their digest).
            let copied = self.store.copy(tmp, &target).await;
            let _ = self.store.delete(tmp).await;
            return copied.map_err(unavailable);
        }
        match self.store.rename_if_not_exists(tmp, &target).await {
            Ok(()) => {
                if let Some(root) = &self.root {
                    let dir = root.join(target.as_ref());
                    if let Some(parent) = dir.parent() {
                        sync_file(parent.to_path_buf()).await?;
                    }
                }
                Ok(())
            }
            Err(object_store::Error::AlreadyExists { .. }) => {
                let _ = self.store.delete(tmp).await;
                Ok(())
            }
            Err(e) => {
                let _ = self.store.delete(tmp).await;
                Err(unavailable(e))
            }
        }
    }

    /// Returns a blob's size, or `None` if it is not stored.
    pub async fn size(&self, digest: &Digest) -> Result<Option<u64>> {
        match self.store.head(&Self::path(digest)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Streams a byte range of a stored blob.
    pub async fn read(&self, digest: &Digest, range: Range<u64>) -> Result<ByteStream> {
        let len = range.end.saturating_sub(range.start);
        if len == 0 {
            return Ok(Box::pin(futures::stream::empty()));
        }
        if let Some(root) = &self.root {
            // Direct reads with large chunks: the local fast path for downloads.
            let path = root.join(Self::path(digest).as_ref());
            let mut file = tokio::fs::File::open(&path).await.map_err(unavailable)?;
            file.seek(std::io::SeekFrom::Start(range.start))
                .await
                .map_err(unavailable)?;
            let reader = file.take(len);
            let stream = tokio_util_stream(reader);
            return Ok(stream);
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..Default::default()
        };
        let result = self
            .store
            .get_opts(&Self::path(digest), options)
            .await
            .map_err(unavailable)?;
        Ok(Box::pin(result.into_stream().map_err(unavailable)) as BoxStream<'static, _>)
    }
}

/// Reads a file in `READ_CHUNK` pieces.
fn tokio_util_stream(reader: tokio::io::Take<tokio::fs::File>) -> ByteStream {
    Box::pin(futures::stream::try_unfold(
        reader,
        |mut reader| async move {
            let mut buf = bytes::BytesMut::with_capacity(READ_CHUNK);
            let n = reader.read_buf(&mut buf).await.map_err(unavailable)?;
            Ok((n > 0).then(|| (buf.freeze(), reader)))
        },
    ))
}

/// fsyncs a file or directory.
async fn sync_file(path: PathBuf) -> Result<()> {
    tokio::task::spawn_blocking(move || std::fs::File::open(&path)?.sync_all())
        .await
        .map_err(unavailable)?
        .map_err(unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        let items: Vec<Result<Bytes>> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Box::pin(futures::stream::iter(items))
    }

    async fn read_all(store: &BlobStore, digest: &Digest, range: Range<u64>) -> Vec<u8> {
        let parts: Vec<Bytes> = store
            .read(digest, range)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        parts.concat()
    }

    fn digest_of(data: &[u8]) -> Digest {
        Digest::from_bytes(Sha256::digest(data).into())
    }

    async fn check_store(store: BlobStore) {
        let stored = store
            .put(chunks(&[b"hello ", b"world"]), Expected::default(), 1024)
            .await
            .unwrap();
        assert_eq!(stored.size, 11);
        assert_eq!(stored.digest, digest_of(b"hello world"));
        assert_eq!(
            read_all(&store, &stored.digest, 0..11).await,
            b"hello world"
        );
        assert_eq!(read_all(&store, &stored.digest, 6..11).await, b"world");
        // Stored once: a second upload of the same bytes succeeds.
        let again = Expected {
            digest: Some(stored.digest),
            size: Some(11),
        };
        assert_eq!(
            store
                .put(chunks(&[b"hello world"]), again, 1024)
                .await
                .unwrap(),
            stored
        );

        let wrong = Expected {
            digest: Some(digest_of(b"other")),
            size: None,
        };
        let err = store.put(chunks(&[b"abc"]), wrong, 1024).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::DigestMismatch);
        assert_eq!(store.size(&digest_of(b"abc")).await.unwrap(), None);

        let short = Expected {
            digest: None,
            size: Some(5),
        };
        assert_eq!(
            store
                .put(chunks(&[b"abc"]), short, 1024)
                .await
                .unwrap_err()
                .code,
            ErrorCode::DigestMismatch
        );
        let long = Expected {
            digest: None,
            size: Some(2),
        };
        assert_eq!(
            store
                .put(chunks(&[b"abc"]), long, 1024)
                .await
                .unwrap_err()
                .code,
            ErrorCode::DigestMismatch
        );
        let err = store
            .put(chunks(&[b"abcd", b"efgh"]), Expected::default(), 6)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::BlobTooLarge);
        assert_eq!(store.size(&digest_of(b"abcdefgh")).await.unwrap(), None);
    }

    #[tokio::test]
    async fn memory_store_round_trips() {
        check_store(BlobStore::memory()).await;
    }

    #[tokio::test]
    async fn local_store_round_trips_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        check_store(BlobStore::local(dir.path()).unwrap()).await;
        // This process's upload directory (beside its lock file) holds nothing.
        let store = BlobStore::local(dir.path()).unwrap();
        let own = dir.path().join(store.upload_dir().unwrap());
        let leftovers = std::fs::read_dir(dir.path().join("uploads"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .map(|p| std::fs::read_dir(p).unwrap().count())
            .sum::<usize>();
        assert!(own.parent().unwrap().exists());
        assert_eq!(leftovers, 0, "temporary uploads left behind");
    }
}
