//! The client's memory of upload sessions between runs: one small file per key (the
//! session URL, or the digest of a file hashed before) in a private state directory, written
//! whole and renamed into place.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::{
    error::{ClientError, ClientResult},
    profile::create_private_dir,
};

/// What a remembered session is filed under: the (server, repo, digest) of its bytes, or,
/// while the digest is still being computed, the (server, repo, file) it is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadKey(String);

impl UploadKey {
    /// The key of a blob's upload to a repo of a server.
    pub fn digest(server: &str, repo: &str, digest: &str) -> Self {
        Self(format!("{server}\n{repo}\n{digest}"))
    }

    /// The key of a file's upload to a repo of a server: its canonical path, size and
    /// modification time, so that a changed file never resumes an old session.
    pub fn file(server: &str, repo: &str, path: &Path) -> ClientResult<Self> {
        let canonical = std::fs::canonicalize(path).map_err(|e| ClientError::local(path, e))?;
        let meta = std::fs::metadata(&canonical).map_err(|e| ClientError::local(path, e))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Ok(Self(format!(
            "{server}\n{repo}\nfile:{}\n{}\n{mtime}",
            canonical.display(),
            meta.len()
        )))
    }
}

impl UploadKey {
    /// The key that marks a file as hashed before (its digest is filed under it): a file
    /// seen before is hashed first again, since its bytes are likely on the server already.
    pub fn seen(&self) -> Self {
        Self(format!("seen\n{}", self.0))
    }
}

/// Where upload session URLs are remembered between runs: one small file per key under
/// `RELREG_STATE_DIR`, else `<cache dir>/relreg/uploads`.
#[derive(Debug, Clone)]
pub struct SessionStore {
    dir: PathBuf,
}

impl SessionStore {
    /// Returns the user's store.
    pub fn user() -> ClientResult<Self> {
        let base = match std::env::var_os("RELREG_STATE_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => dirs::cache_dir().map(|d| d.join("relreg")).ok_or_else(|| {
                ClientError::internal("no cache directory (set HOME or RELREG_STATE_DIR)")
            })?,
        };
        Ok(Self::at(base.join("uploads")))
    }

    /// Returns a store in `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn file(&self, key: &UploadKey) -> PathBuf {
        self.dir.join(hex::encode(Sha256::digest(key.0.as_bytes())))
    }

    /// Returns the remembered session URL filed under a key.
    pub fn get(&self, key: &UploadKey) -> Option<String> {
        let text = std::fs::read_to_string(self.file(key)).ok()?;
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }

    /// Remembers a session URL under a key (written whole, then renamed into place).
    pub fn put(&self, key: &UploadKey, session: &str) -> ClientResult<()> {
        create_private_dir(&self.dir)?;
        let path = self.file(key);
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        std::fs::write(&tmp, session)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| ClientError::local(&path, e))
    }

    /// Forgets what is filed under a key.
    pub fn remove(&self, key: &UploadKey) {
        let _ = std::fs::remove_file(self.file(key));
    }
}
