//! The local registry: `D/registry.json`, the releases installed on this device (id, sequence,
//! version, files and digests) in the order they were activated, and where they came from.
//! Written atomically: a temporary file, fsync, rename, fsync of the directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::client::{
    download::sync_dir,
    error::{ClientError, ClientResult, Exit},
};

/// The registry file's name inside the sync directory.
pub(crate) const FILE: &str = "registry.json";

/// One file of an installed release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalFile {
    /// Its path inside the release tree: `<role>/<path in the package version>`.
    pub path: String,
    /// 64 lowercase hex digits.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A release installed on this device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledRelease {
    /// The server's release id.
    pub id: String,
    /// The channel sequence it was published with.
    pub sequence: i64,
    /// Its semver.
    pub version: String,
    /// The repo it belongs to.
    pub repo: String,
    /// The channel it was published in.
    pub channel: String,
    /// When it was installed (unix seconds).
    pub installed_at: u64,
    /// Every file of its tree.
    pub files: Vec<LocalFile>,
}

/// What `sync` last asked the server, so that `status` can ask again without flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The repo key.
    pub repo: String,
    /// The channel.
    pub channel: String,
    /// The app version sent.
    pub app_version: String,
    /// The platform sent, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

/// The content of `registry.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalRegistry {
    /// Where the releases come from, once a sync ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// The installed releases, oldest activation first.
    #[serde(default)]
    pub releases: Vec<InstalledRelease>,
    /// What `--trust` verified last (root and head versions), against rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<super::TrustMemory>,
}

impl LocalRegistry {
    /// Reads the registry of a sync directory; an absent file is an empty registry.
    pub(crate) fn load(dir: &Path) -> ClientResult<Self> {
        let path = dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                ClientError::new(Exit::Local, format!("{}: unreadable: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(ClientError::local(&path, e)),
        }
    }

    /// Writes the registry atomically.
    pub(crate) fn save(&self, dir: &Path) -> ClientResult<()> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| ClientError::internal(format!("encoding the registry: {e}")))?;
        write_atomic(&dir.join(FILE), &bytes)
    }

    /// Returns an installed release by id.
    pub fn get(&self, id: &str) -> Option<&InstalledRelease> {
        self.releases.iter().find(|r| r.id == id)
    }

    /// Records `release` as the latest activation (moving it last if it was installed).
    pub(crate) fn push(&mut self, release: InstalledRelease) {
        self.releases.retain(|r| r.id != release.id);
        self.releases.push(release);
    }

    /// Returns the release activated before `current`, if it is still installed.
    pub fn previous(&self, current: &str) -> Option<&InstalledRelease> {
        let at = self.releases.iter().position(|r| r.id == current)?;
        at.checked_sub(1).map(|i| &self.releases[i])
    }
}

/// Writes `bytes` to `path` through a temporary file, fsync and rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> ClientResult<()> {
    use std::io::Write as _;
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    write().map_err(|e| ClientError::local(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| ClientError::local(path, e))?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(id: &str) -> InstalledRelease {
        InstalledRelease {
            id: id.into(),
            sequence: 1,
            version: "1.0.0".into(),
            repo: "acme".into(),
            channel: "stable".into(),
            installed_at: 0,
            files: vec![],
        }
    }

    #[test]
    fn activations_order_the_releases() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = LocalRegistry::load(dir.path()).unwrap();
        reg.push(rel("a"));
        reg.push(rel("b"));
        reg.push(rel("a"));
        assert_eq!(reg.previous("a").unwrap().id, "b");
        assert!(reg.previous("b").is_none());
        reg.save(dir.path()).unwrap();
        assert_eq!(LocalRegistry::load(dir.path()).unwrap(), reg);
    }
}
