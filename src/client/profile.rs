//! Named profiles (a server address and a token) that `relreg login` stores in the user's
//! config directory, one file per profile, readable by its owner only (mode 0600 from the
//! moment the file exists).

use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::{conn::Secret, error::ClientError, error::ClientResult};

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

/// A stored server address and token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The server's base URL.
    pub server: String,
    /// The bearer token, if one was given.
    pub token: Option<Secret>,
}

#[derive(Serialize, Deserialize)]
struct ProfileFile {
    server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

/// The directory holding profiles: `RELREG_CONFIG_DIR`, else `<config dir>/relreg`
/// (`$XDG_CONFIG_HOME/relreg` or `~/.config/relreg` on Linux).
pub fn config_dir() -> ClientResult<PathBuf> {
    if let Some(dir) = std::env::var_os("RELREG_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::config_dir()
        .map(|d| d.join("relreg"))
        .ok_or_else(|| ClientError::internal("no config directory (set HOME or RELREG_CONFIG_DIR)"))
}

/// Profiles stored in one directory.
#[derive(Debug, Clone)]
pub struct Profiles {
    dir: PathBuf,
}

impl Profiles {
    /// Returns the profiles of the user's config directory.
    pub fn user() -> ClientResult<Self> {
        Ok(Self::at(config_dir()?))
    }

    /// Returns the profiles stored under `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Returns the file a profile lives in.
    pub fn path(&self, name: &str) -> ClientResult<PathBuf> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && !name.starts_with('.');
        if !valid {
            return Err(ClientError::usage(format!(
                "profile name {name:?} must be letters, digits, '-', '_' or '.'"
            )));
        }
        Ok(self.dir.join("profiles").join(format!("{name}.json")))
    }

    /// Loads a profile; `None` when it does not exist.
    pub fn load(&self, name: &str) -> ClientResult<Option<Profile>> {
        let path = self.path(name)?;
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ClientError::local(&path, e)),
        };
        let file: ProfileFile = serde_json::from_slice(&text)
            .map_err(|e| ClientError::local(&path, format!("not a relreg profile: {e}")))?;
        Ok(Some(Profile {
            server: file.server,
            token: file.token.as_deref().map(Secret::new),
        }))
    }

    /// Stores a profile, replacing one of the same name. The file is written under a
    /// temporary name created with mode 0600, then renamed into place, so no reader ever
    /// sees it partly written or with wider permissions.
    pub fn save(&self, name: &str, profile: &Profile) -> ClientResult<PathBuf> {
        let path = self.path(name)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir)?;
        let body = serde_json::to_vec_pretty(&ProfileFile {
            server: profile.server.clone(),
            token: profile.token.as_ref().map(|t| t.expose().to_owned()),
        })
        .map_err(|e| ClientError::internal(e.to_string()))?;
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let written = (|| {
            let mut file = private_file(&tmp)?;
            file.write_all(&body)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(ClientError::local(&path, e));
        }
        Ok(path)
    }

    /// Removes a profile; tells whether there was one.
    pub fn remove(&self, name: &str) -> ClientResult<bool> {
        let path = self.path(name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(ClientError::local(&path, e)),
        }
    }
}

/// Creates a directory (and its parents) readable by its owner only.
pub(crate) fn create_private_dir(dir: &Path) -> ClientResult<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| ClientError::local(dir, e))
}

/// Creates a new file with mode 0600 (replacing a stale one of the same name).
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn profiles_round_trip_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let profiles = Profiles::at(dir.path());
        assert_eq!(profiles.load("ci").unwrap(), None);
        let profile = Profile {
            server: "http://127.0.0.1:9".into(),
            token: Some(Secret::new("rr_secret")),
        };
        let path = profiles.save("ci", &profile).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(profiles.load("ci").unwrap(), Some(profile));
        assert!(profiles.remove("ci").unwrap());
        assert!(!profiles.remove("ci").unwrap());
        assert!(profiles.path("../x").is_err());
    }
}
