//! The local object store: verified file contents by sha256 (`D/objects/sha256/<hex>`),
//! shared by every installed release, and the staging area of partial downloads
//! (`D/staging/<hex>.partial`) that a later run resumes.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
};

use futures::{StreamExt as _, TryStreamExt as _};

use crate::client::{
    conn::Connection,
    download::{self, Expected, sync_dir},
    error::{ClientError, ClientResult},
    retry::Backoff,
};
use crate::domain::Digest;

/// What fetching the missing objects of a release moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Fetched {
    /// Objects downloaded.
    pub(crate) objects: usize,
    /// Bytes received over the network.
    pub(crate) bytes: u64,
    /// Bytes taken over from partial files of earlier runs.
    pub(crate) resumed: u64,
}

/// The object store and staging area of one sync directory.
#[derive(Debug, Clone)]
pub(crate) struct Objects {
    root: PathBuf,
    staging: PathBuf,
}

impl Objects {
    /// Opens (creating) the store of sync directory `dir`.
    pub(crate) fn open(dir: &Path) -> ClientResult<Self> {
        let this = Self {
            root: dir.join("objects").join("sha256"),
            staging: dir.join("staging"),
        };
        for d in [&this.root, &this.staging] {
            std::fs::create_dir_all(d).map_err(|e| ClientError::local(d, e))?;
        }
        Ok(this)
    }

    /// Returns where the object of a digest lives.
    pub(crate) fn path(&self, digest: &Digest) -> PathBuf {
        self.root.join(digest.hex())
    }

    /// Tells whether the store holds the object (objects are verified before they enter).
    pub(crate) fn holds(&self, e: &Expected) -> bool {
        std::fs::metadata(self.path(&e.digest)).is_ok_and(|m| m.is_file() && m.len() == e.size)
    }

    /// Downloads the objects of `wanted` the store lacks, `jobs` at a time.
    pub(crate) async fn fetch(
        &self,
        conn: &Connection,
        repo: &str,
        wanted: Vec<Expected>,
        jobs: usize,
        backoff: Backoff,
    ) -> ClientResult<Fetched> {
        let transfers: Vec<download::Transfer> =
            futures::stream::iter(wanted.into_iter().map(|e| async move {
                let url = download::blob_url(conn, repo, &e.digest);
                let partial = self.staging.join(format!("{}.partial", e.digest.hex()));
                let dest = self.path(&e.digest);
                backoff
                    .run(&url, || download::download(conn, &url, e, &partial, &dest))
                    .await
            }))
            .buffer_unordered(jobs.max(1))
            .try_collect()
            .await?;
        sync_dir(&self.root)?;
        Ok(Fetched {
            objects: transfers.len(),
            bytes: transfers.iter().map(|t| t.bytes).sum(),
            resumed: transfers.iter().map(|t| t.resumed).sum(),
        })
    }

    /// Removes every object whose hex digest is not in `keep`; returns how many went.
    pub(crate) fn collect_garbage(&self, keep: &HashSet<&str>) -> ClientResult<usize> {
        let mut removed = 0;
        let entries =
            std::fs::read_dir(&self.root).map_err(|e| ClientError::local(&self.root, e))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !keep.contains(name.to_string_lossy().as_ref()) {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(|e| ClientError::local(&path, e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes the partial files of the staging area (once a release is complete).
    pub(crate) fn clear_staging(&self) {
        if let Ok(entries) = std::fs::read_dir(&self.staging) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}
