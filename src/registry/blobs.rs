//! Blob uploads and downloads: bytes go to the blob store, visibility per repo to the store.

use futures::StreamExt as _;
use serde_json::json;

use super::{Caller, Principal, Registry, audit, now_micros, store_error};
use crate::{
    blobs::{ByteStream, Expected, Stored},
    domain::{BlobInfo, Digest, Error, ErrorCode, Name, Result, Role},
};

/// The header of an upload.
#[derive(Debug, Clone)]
pub struct UploadHeader {
    /// The repo the blob is uploaded into.
    pub repo: Name,
    /// The digest the client announces; `None` means the server computes it.
    pub expected_digest: Option<Digest>,
    /// The byte count the client announces; `None` means unknown.
    pub expected_size: Option<u64>,
    /// The media type to record; empty means unknown.
    pub media_type: String,
}

/// A download: the blob and a stream of the requested bytes.
pub struct BlobDownload {
    /// The blob as its repo sees it.
    pub blob: BlobInfo,
    /// The first byte the stream carries.
    pub offset: u64,
    /// The requested bytes, from `offset` on.
    pub bytes: ByteStream,
}

impl Registry {
    /// Streams an upload into the blob store and makes it visible to the header's repo.
    pub async fn upload_blob(
        &self,
        caller: &Caller,
        header: UploadHeader,
        chunks: ByteStream,
    ) -> Result<BlobInfo> {
        let (digest, size) = (header.expected_digest, header.expected_size);
        if size.is_some_and(|s| s > self.settings.max_blob_size) {
            return Err(Error::new(
                ErrorCode::BlobTooLarge,
                format!(
                    "blob exceeds the limit of {} bytes",
                    self.settings.max_blob_size
                ),
            ));
        }
        let (principal, repo) = self
            .writable_repo(caller, &header.repo, Role::Publisher)
            .await?;
        let stored = self
            .blobs
            .put(
                chunks,
                Expected { digest, size },
                self.settings.max_blob_size,
            )
            .await?;
        let details = json!({});
        self.record_upload(
            &principal,
            caller,
            &repo.key,
            stored,
            header.media_type,
            details,
        )
        .await
    }

    /// Makes a stored upload visible to a repo with its `blob.uploaded` audit record; `details`
    /// (a JSON object) adds to the recorded size and media type.
    pub(super) async fn record_upload(
        &self,
        principal: &Principal,
        caller: &Caller,
        repo: &Name,
        stored: Stored,
        media_type: String,
        mut details: serde_json::Value,
    ) -> Result<BlobInfo> {
        crate::metrics::record_uploaded(stored.size);
        let blob = BlobInfo {
            digest: stored.digest,
            size: stored.size,
            media_type,
        };
        if let Some(map) = details.as_object_mut() {
            map.insert("size".into(), json!(blob.size));
            map.insert("media_type".into(), json!(blob.media_type));
        }
        let record = audit(
            principal,
            caller,
            "blob.uploaded",
            repo,
            blob.digest.to_string(),
            details,
        );
        // Under the GC guard, the file is still there (a blob stored before may have been
        // collected since) and the row commits before any sweep can delete the file.
        let guard = self.gc_guard(false).await?;
        self.gc_check_stored(&stored).await?;
        self.store
            .add_blob(repo, &blob, now_micros(), &record)
            .await
            .map_err(store_error)?;
        guard.release().await;
        Ok(blob)
    }

    /// Returns a blob visible to a repo the caller may read.
    pub async fn blob_info(
        &self,
        caller: &Caller,
        repo: &Name,
        digest: &Digest,
    ) -> Result<BlobInfo> {
        self.readable_repo(caller, repo).await?;
        self.store
            .get_blob(repo, digest)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found(format!("blob {digest} in repo {repo}")))
    }

    /// Opens a blob's bytes from `start` to `end` (exclusive; `None`: to the end).
    pub async fn download_blob(
        &self,
        caller: &Caller,
        repo: &Name,
        digest: &Digest,
        start: u64,
        end: Option<u64>,
    ) -> Result<BlobDownload> {
        let blob = self.blob_info(caller, repo, digest).await?;
        self.open_blob(blob, start, end).await
    }

    /// Opens the bytes of a blob already authorized.
    pub async fn open_blob(
        &self,
        blob: BlobInfo,
        start: u64,
        end: Option<u64>,
    ) -> Result<BlobDownload> {
        let size = blob.size;
        let end = end.unwrap_or(size).min(size);
        if start > size || start > end {
            return Err(Error::new(
                ErrorCode::RangeNotSatisfiable,
                format!("offset {start} is outside blob of {size} bytes"),
            ));
        }
        let bytes = self
            .blobs
            .read(&blob.digest, start..end)
            .await?
            .inspect(|chunk| {
                if let Ok(chunk) = chunk {
                    crate::metrics::record_downloaded(chunk.len() as u64);
                }
            });
        let bytes: crate::blobs::ByteStream = Box::pin(bytes);
        Ok(BlobDownload {
            blob,
            offset: start,
            bytes,
        })
    }
}
