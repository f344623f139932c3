//! Release trees and the `current` pointer: `D/releases/<id>/<role>/<path>` materialized from
//! the object store by hardlink (copy when linking fails), and `D/current`, a symlink to
//! `releases/<id>` replaced by rename, so that at every instant it names a complete tree.

use std::path::{Path, PathBuf};

use super::{registry::InstalledRelease, store::Objects};
use crate::client::{
    download::sync_dir,
    error::{ClientError, ClientResult, Exit},
};
use crate::domain::Digest;

/// The name of the pointer to the running release inside the sync directory.
pub(crate) const CURRENT: &str = "current";
/// The directory of the release trees inside the sync directory.
pub(crate) const RELEASES: &str = "releases";

/// Refuses a release id that could not be a single, plain directory name.
pub(crate) fn check_id(id: &str) -> ClientResult<()> {
    let plain = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        Ok(())
    } else {
        Err(ClientError::new(
            Exit::Invalid,
            format!("the server sent an unusable release id {id:?}"),
        ))
    }
}

/// Returns the tree directory of a release.
pub(crate) fn tree(dir: &Path, id: &str) -> PathBuf {
    dir.join(RELEASES).join(id)
}

/// Returns the id of the release `current` points at, if any.
pub(crate) fn current_id(dir: &Path) -> ClientResult<Option<String>> {
    let link = dir.join(CURRENT);
    match std::fs::read_link(&link) {
        Ok(target) => Ok(target.file_name().map(|n| n.to_string_lossy().into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ClientError::local(
            &link,
            format!("{e} (expected a symlink made by relreg sync)"),
        )),
    }
}

/// Tells whether a release's tree holds every file with its size.
pub(crate) fn tree_complete(dir: &Path, release: &InstalledRelease) -> bool {
    let root = tree(dir, &release.id);
    release.files.iter().all(|f| {
        std::fs::metadata(root.join(&f.path)).is_ok_and(|m| m.is_file() && m.len() == f.size)
    })
}

/// Builds a release's tree from the object store (which must hold every file), beside the
/// final place first, then renamed into it.
pub(crate) fn build_tree(
    dir: &Path,
    objects: &Objects,
    release: &InstalledRelease,
) -> ClientResult<()> {
    let releases = dir.join(RELEASES);
    let tmp = releases.join(format!(".{}.tmp", release.id));
    let local = |p: &Path, e: std::io::Error| ClientError::local(p, e);
    remove_dir(&tmp)?;
    std::fs::create_dir_all(&tmp).map_err(|e| local(&tmp, e))?;
    let mut dirs = vec![tmp.clone()];
    for f in &release.files {
        let digest = Digest::parse("sha256", &format!("sha256:{}", f.sha256))
            .map_err(|e| ClientError::new(Exit::Local, e.message))?;
        let dest = tmp.join(&f.path);
        if let Some(parent) = dest.parent()
            && !parent.exists()
        {
            std::fs::create_dir_all(parent).map_err(|e| local(parent, e))?;
            dirs.push(parent.to_owned());
        }
        let src = objects.path(&digest);
        if std::fs::hard_link(&src, &dest).is_err() {
            // Another file system or no link support: a copy holds the same verified bytes.
            std::fs::copy(&src, &dest).map_err(|e| local(&dest, e))?;
            std::fs::File::open(&dest)
                .and_then(|f| f.sync_all())
                .map_err(|e| local(&dest, e))?;
        }
    }
    for d in &dirs {
        sync_dir(d)?;
    }
    let final_dir = tree(dir, &release.id);
    remove_dir(&final_dir)?;
    std::fs::rename(&tmp, &final_dir).map_err(|e| local(&final_dir, e))?;
    sync_dir(&releases)
}

/// Points `current` at a release's tree: a new symlink renamed over the old one.
pub(crate) fn point_current(dir: &Path, id: &str) -> ClientResult<()> {
    let tmp = dir.join(format!(".{CURRENT}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let target = Path::new(RELEASES).join(id);
    std::os::unix::fs::symlink(&target, &tmp).map_err(|e| ClientError::local(&tmp, e))?;
    let link = dir.join(CURRENT);
    std::fs::rename(&tmp, &link).map_err(|e| ClientError::local(&link, e))?;
    sync_dir(dir)
}

/// Removes a directory tree if it exists.
pub(crate) fn remove_dir(path: &Path) -> ClientResult<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ClientError::local(path, e)),
    }
}

/// Removes the trees under `releases/` that are not in `keep` (leftovers included).
pub(crate) fn prune_trees(dir: &Path, keep: &[&str]) -> ClientResult<()> {
    let releases = dir.join(RELEASES);
    let Ok(entries) = std::fs::read_dir(&releases) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !keep.contains(&name.to_string_lossy().as_ref()) {
            remove_dir(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_ids_are_plain_names() {
        assert!(check_id("rel_0123abcd").is_ok());
        for bad in ["", "..", "a/b", ".x", "a b"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn current_swaps_by_rename() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(current_id(dir.path()).unwrap(), None);
        point_current(dir.path(), "rel_a").unwrap();
        point_current(dir.path(), "rel_b").unwrap();
        assert_eq!(current_id(dir.path()).unwrap().as_deref(), Some("rel_b"));
    }
}
