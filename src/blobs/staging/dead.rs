//! Dead staged bytes: what no live upload will ever finish, found and removed at startup, by
//! the periodic sweep and by `relreg fsck --repair`.
//!
//! Streamed uploads (`BlobStore::put`) write their temporary objects under
//! `<blob_dir>/uploads/<instance>/`, one directory per process, whose owner holds an exclusive
//! `flock` on `uploads/<instance>.lock` for as long as it lives (the lock file is locked under
//! a temporary name and then renamed, so a `.lock` file is never seen unlocked while its owner
//! lives). A process killed with `kill -9` loses its lock with its life: whoever can take the
//! lock next knows the directory is dead and removes it. Resumable sessions
//! (`staging/mod.rs`) survive their server: one is dead only once nobody wrote to it for the
//! session TTL (and nobody holds its write lock), or when half of it is gone.

use std::{
    fs::{File, TryLockError},
    io::ErrorKind,
    path::{Path as FsPath, PathBuf},
    sync::Mutex,
    time::{Duration, SystemTime},
};

use serde::Serialize;

use super::{SESSIONS, blocking, valid_id};
use crate::{
    blobs::{BlobStore, unavailable},
    domain::Result,
};

/// The directory of streamed uploads' temporary objects, under the blob directory.
const UPLOADS: &str = "uploads";
/// How old a half-created entry must be before it counts as debris rather than in progress.
const DEBRIS_AGE: Duration = Duration::from_secs(60);
/// How old a temporary object written by an older release (directly under `uploads/`, with
/// no owner lock) must be to count as dead.
const UNOWNED_AGE: Duration = Duration::from_secs(3600);

/// This process's directory of temporary uploads, created (and locked) on first use.
#[derive(Debug, Default)]
pub(crate) struct Instance {
    /// The instance id and its locked `.lock` file, once created.
    held: Mutex<Option<(String, File)>>,
}

impl Instance {
    fn id(&self) -> Option<String> {
        self.held
            .lock()
            .ok()
            .and_then(|h| h.as_ref().map(|(id, _)| id.clone()))
    }
}

/// Staged bytes that no live upload will finish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leftover {
    /// The path under the blob directory (`uploads/…` or `sessions/…`).
    pub path: String,
    /// How many bytes it holds.
    pub bytes: u64,
    /// Why it is dead.
    pub why: &'static str,
}

impl BlobStore {
    /// Returns this process's directory for temporary uploads (relative to the store's root),
    /// creating and locking it on first use.
    pub(crate) fn upload_dir(&self) -> Result<String> {
        let Some(root) = &self.root else {
            return Ok(UPLOADS.to_owned());
        };
        let mut held = self.instance.held.lock().map_err(unavailable)?;
        if let Some((id, _)) = held.as_ref() {
            return Ok(format!("{UPLOADS}/{id}"));
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = root.join(UPLOADS);
        let file = (|| -> std::io::Result<File> {
            std::fs::create_dir_all(&dir)?;
            let pending = dir.join(format!("{id}.lock.tmp"));
            let file = File::create_new(&pending)?;
            file.try_lock().map_err(std::io::Error::other)?;
            std::fs::rename(&pending, dir.join(format!("{id}.lock")))?;
            Ok(file)
        })()
        .map_err(unavailable)?;
        *held = Some((id.clone(), file));
        Ok(format!("{UPLOADS}/{id}"))
    }

    /// Lists the staged bytes no live upload will finish: temporary uploads of processes that
    /// are gone, sessions nobody wrote to for `session_ttl`, and half-removed sessions. With
    /// `remove`, removes each as it is found.
    pub async fn staging_leftovers(
        &self,
        session_ttl: Duration,
        remove: bool,
    ) -> Result<Vec<Leftover>> {
        let Some(root) = self.root.clone() else {
            return self.remote_leftovers(session_ttl, remove).await;
        };
        let own = self.instance.id();
        blocking(move || {
            let now = SystemTime::now();
            let mut found = dead_uploads(&root, own.as_deref(), now, remove)?;
            found.extend(dead_sessions(&root, session_ttl, now, remove)?);
            Ok(found)
        })
        .await
    }
}

/// Whether `path` was last modified more than `age` before `now` (`None`: it is gone).
fn older(path: &FsPath, age: Duration, now: SystemTime) -> std::io::Result<Option<bool>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(
            now.duration_since(m.modified()?).unwrap_or_default() > age,
        )),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Returns whether nobody holds a lock on the file (`false` as well when it is gone).
fn unlocked(path: &FsPath) -> std::io::Result<bool> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// The bytes a file or directory tree holds.
fn size_of(path: &FsPath) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| size_of(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}

fn remove_path(path: &FsPath) -> std::io::Result<()> {
    let result = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn dead_uploads(
    root: &FsPath,
    own: Option<&str>,
    now: SystemTime,
    remove: bool,
) -> std::io::Result<Vec<Leftover>> {
    let dir = root.join(UPLOADS);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    let mut note = |paths: Vec<PathBuf>, shown: &FsPath, why: &'static str| {
        let bytes = paths.iter().map(|p| size_of(p)).sum();
        found.push(Leftover {
            path: format!("{UPLOADS}/{}", shown.display()),
            bytes,
            why,
        });
        if remove {
            // The directory before its lock file: a crash in between leaves a lock whose
            // directory is gone, which the next sweep removes.
            for path in &paths {
                remove_path(path)?;
            }
        }
        std::io::Result::Ok(())
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if let Some(id) = name.strip_suffix(".lock.tmp") {
            if Some(id) != own && older(&path, DEBRIS_AGE, now)? == Some(true) && unlocked(&path)? {
                note(
                    vec![path.clone()],
                    FsPath::new(name),
                    "lock of a process that never started uploading",
                )?;
            }
        } else if let Some(id) = name.strip_suffix(".lock") {
            if Some(id) != own && unlocked(&path)? {
                note(
                    vec![dir.join(id), path.clone()],
                    FsPath::new(id),
                    "temporary upload of a stopped process",
                )?;
            }
        } else if entry.file_type()?.is_dir() {
            if Some(name) != own
                && !dir.join(format!("{name}.lock")).try_exists()?
                && older(&path, DEBRIS_AGE, now)? == Some(true)
            {
                note(
                    vec![path.clone()],
                    FsPath::new(name),
                    "temporary upload without an owner",
                )?;
            }
        } else if older(&path, UNOWNED_AGE, now)? == Some(true) {
            note(
                vec![path.clone()],
                FsPath::new(name),
                "temporary upload without an owner",
            )?;
        }
    }
    Ok(found)
}

fn dead_sessions(
    root: &FsPath,
    ttl: Duration,
    now: SystemTime,
    remove: bool,
) -> std::io::Result<Vec<Leftover>> {
    let dir = root.join(SESSIONS);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
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
        let why = if is_meta {
            if data.try_exists()? || older(&meta, DEBRIS_AGE, now)? != Some(true) {
                continue;
            }
            "upload session metadata without its bytes"
        } else {
            let why = if !meta.try_exists()? {
                "upload session bytes without metadata"
            } else if older(&data, ttl, now)? == Some(true) {
                "upload session nobody wrote to within the session TTL"
            } else {
                continue;
            };
            // A request writing to it holds its lock: then it is alive, whatever its age.
            if !unlocked(&data)? {
                continue;
            }
            why
        };
        let target = if is_meta { &meta } else { &data };
        found.push(Leftover {
            path: format!("{SESSIONS}/{name}"),
            bytes: size_of(target) + if is_meta { 0 } else { size_of(&meta) },
            why,
        });
        if remove {
            remove_path(&meta)?;
            if !is_meta {
                remove_path(&data)?;
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::{ByteStream, Expected};

    fn set_age(path: &FsPath, age: Duration) {
        let file = File::options().append(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
    }

    #[tokio::test]
    async fn dead_uploads_and_expired_sessions_are_found_and_removed_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path()).unwrap();
        // A live process's upload directory (this store's) and a dead one's.
        let own = store.upload_dir().unwrap();
        std::fs::create_dir_all(dir.path().join(&own)).unwrap();
        std::fs::write(dir.path().join(&own).join("x#1"), b"in flight").unwrap();
        let dead = dir.path().join("uploads/0123456789abcdef0123456789abcdef");
        std::fs::create_dir_all(&dead).unwrap();
        std::fs::write(dead.join("y#1"), vec![7u8; 1000]).unwrap();
        std::fs::write(
            dir.path()
                .join("uploads/0123456789abcdef0123456789abcdef.lock"),
            b"",
        )
        .unwrap();
        // Sessions: a live one, an expired one, and half-removed ones.
        let live = store.open_session("acme", 1).await.unwrap();
        let expired = store.open_session("acme", 1).await.unwrap();
        let bytes: ByteStream = Box::pin(futures::stream::iter([Ok(bytes::Bytes::from_static(
            b"abc",
        ))]));
        store
            .append_session(&expired.id, None, bytes, 100)
            .await
            .unwrap();
        let sessions = dir.path().join(SESSIONS);
        set_age(&sessions.join(&expired.id), Duration::from_secs(7200));
        let orphan_data = "fedcba9876543210fedcba9876543210";
        std::fs::write(sessions.join(orphan_data), b"zz").unwrap();

        let listed = store
            .staging_leftovers(Duration::from_secs(3600), false)
            .await
            .unwrap();
        let mut paths: Vec<&str> = listed.iter().map(|l| l.path.as_str()).collect();
        paths.sort();
        let expired_path = format!("sessions/{}", expired.id);
        let mut want = vec![
            "uploads/0123456789abcdef0123456789abcdef",
            expired_path.as_str(),
            "sessions/fedcba9876543210fedcba9876543210",
        ];
        want.sort();
        assert_eq!(paths, want);
        assert_eq!(
            listed
                .iter()
                .find(|l| l.path.starts_with("uploads/"))
                .unwrap()
                .bytes,
            1000
        );
        // Listing removed nothing; removing removes exactly those.
        assert!(dead.exists());
        let removed = store
            .staging_leftovers(Duration::from_secs(3600), true)
            .await
            .unwrap();
        assert_eq!(removed.len(), 3);
        assert!(!dead.exists());
        assert!(!sessions.join(&expired.id).exists());
        assert!(!sessions.join(orphan_data).exists());
        assert!(dir.path().join(&own).join("x#1").exists());
        assert!(store.session(&live.id).await.unwrap().is_some());
        assert!(
            store
                .staging_leftovers(Duration::from_secs(3600), false)
                .await
                .unwrap()
                .is_empty()
        );
        // The live session still completes.
        let rest: ByteStream = Box::pin(futures::stream::iter([Ok(bytes::Bytes::from_static(
            b"ok",
        ))]));
        let stored = store
            .complete_session(&live.id, Some((None, rest)), Expected::default(), 100)
            .await
            .unwrap();
        assert_eq!(stored.size, 2);
    }
}
