//! Package versions: their records, the state machine's states, semver parsing, manifests,
//! the canonical `content_digest` and the file diff between two versions.

use std::{collections::BTreeMap, fmt, str::FromStr};

use sha2::{Digest as _, Sha256};

use super::{
    error::{Error, Result},
    ids::Etag,
    names::{Digest, FilePath, Name},
};

/// The lifecycle state of a package version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionState {
    /// Being assembled: files and manifest may change; only publishers see it.
    Draft,
    /// Frozen and offered to readers.
    Published,
    /// Still served, but marked as superseded.
    Deprecated,
    /// Withdrawn: never matched by resolve.
    Yanked,
    /// Removed by retention: a tombstone without files or manifest whose version string stays
    /// taken.
    Removed,
}

impl VersionState {
    /// Returns the state's name as stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::Published => "PUBLISHED",
            Self::Deprecated => "DEPRECATED",
            Self::Yanked => "YANKED",
            Self::Removed => "REMOVED",
        }
    }

    /// Tells whether the version was published (whatever happened after).
    pub fn is_released(self) -> bool {
        !matches!(self, Self::Draft)
    }
}

impl FromStr for VersionState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "DRAFT" => Ok(Self::Draft),
            "PUBLISHED" => Ok(Self::Published),
            "DEPRECATED" => Ok(Self::Deprecated),
            "YANKED" => Ok(Self::Yanked),
            "REMOVED" => Ok(Self::Removed),
            other => Err(Error::internal(format!("unknown version state {other:?}"))),
        }
    }
}

impl fmt::Display for VersionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a strict semver 2.0 version (no `v` prefix, no short forms).
pub fn parse_semver(field: &str, value: &str) -> Result<semver::Version> {
    if value.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    semver::Version::parse(value)
        .map_err(|e| Error::invalid(field, format!("{value:?} is not a semver version: {e}")))
}

/// Parses a semver requirement such as `^1.4` or `>=1.2, <2`.
pub fn parse_requirement(field: &str, value: &str) -> Result<semver::VersionReq> {
    if value.trim().is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    semver::VersionReq::parse(value)
        .map_err(|e| Error::invalid(field, format!("{value:?} is not a semver requirement: {e}")))
}

/// A version's JSON manifest: always a JSON object, keys kept sorted so that its text form is
/// canonical.
pub type Manifest = serde_json::Map<String, serde_json::Value>;

/// Parses stored or submitted manifest text, which must be a JSON object.
pub fn parse_manifest(field: &str, text: &str) -> Result<Manifest> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::invalid(field, "must be a JSON object")),
        Err(e) => Err(Error::invalid(field, format!("is not valid JSON: {e}"))),
    }
}

/// Returns `sha256:<hex>` over the canonical listing of files (sorted by path: path, digest,
/// size) and the canonical manifest text. Equal content gives equal digests on every backend.
pub fn content_digest(files: &[VersionFile], manifest: &Manifest) -> Digest {
    let mut sorted: Vec<&VersionFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut hasher = Sha256::new();
    hasher.update(b"relreg-content-v1\n");
    for f in sorted {
        hasher.update(format!("file\t{}\t{}\t{}\n", f.path, f.digest, f.size).as_bytes());
    }
    hasher.update(format!("manifest\t{}\n", canonical_json(manifest)).as_bytes());
    Digest::from_bytes(hasher.finalize().into())
}

/// Returns a manifest's canonical text: keys sorted at every level, no whitespace.
pub fn canonical_json(manifest: &Manifest) -> String {
    fn sorted(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let ordered: BTreeMap<&String, serde_json::Value> =
                    map.iter().map(|(k, v)| (k, sorted(v))).collect();
                serde_json::to_value(ordered).unwrap_or_default()
            }
            serde_json::Value::Array(items) => items.iter().map(sorted).collect(),
            other => other.clone(),
        }
    }
    // Serializing a BTreeMap writes keys in order whatever map type serde_json is built with.
    let ordered: BTreeMap<&String, serde_json::Value> =
        manifest.iter().map(|(k, v)| (k, sorted(v))).collect();
    serde_json::to_string(&ordered).unwrap_or_default()
}

/// The file-level difference between a base version and another version.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FileDiff<'a> {
    pub added: Vec<&'a VersionFile>,
    pub removed: Vec<&'a VersionFile>,
    pub changed: Vec<(&'a VersionFile, &'a VersionFile)>,
}

/// Compares two file listings by path; `changed` pairs are `(base, new)`.
pub fn diff_files<'a>(base: &'a [VersionFile], new: &'a [VersionFile]) -> FileDiff<'a> {
    let base_by_path: BTreeMap<&FilePath, &VersionFile> =
        base.iter().map(|f| (&f.path, f)).collect();
    let new_by_path: BTreeMap<&FilePath, &VersionFile> = new.iter().map(|f| (&f.path, f)).collect();
    let mut diff = FileDiff::default();
    for (path, file) in &new_by_path {
        match base_by_path.get(path) {
            None => diff.added.push(file),
            Some(old) if old.digest != file.digest || old.size != file.size => {
                diff.changed.push((old, file))
            }
            Some(_) => {}
        }
    }
    diff.removed = base_by_path
        .iter()
        .filter(|(p, _)| !new_by_path.contains_key(*p))
        .map(|(_, f)| *f)
        .collect();
    diff
}

/// Identifies one version of one package.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionKey {
    /// The key of the repo that owns the package.
    pub repo: Name,
    /// The package's name.
    pub package: Name,
    /// The version (its text is what is stored and shown).
    pub version: semver::Version,
}

impl VersionKey {
    /// Parses the three parts of a version's identity as a request names them, reporting
    /// failures against the fields `repo`, `package` and `version`.
    pub fn parse(repo: &str, package: &str, version: &str) -> Result<Self> {
        Ok(Self {
            repo: Name::parse("repo", repo)?,
            package: Name::parse("package", package)?,
            version: parse_semver("version", version)?,
        })
    }

    /// The same package at another version.
    pub fn at(&self, version: semver::Version) -> Self {
        Self {
            repo: self.repo.clone(),
            package: self.package.clone(),
            version,
        }
    }
}

impl fmt::Display for VersionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}@{}", self.repo, self.package, self.version)
    }
}

/// A path of a version bound to a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionFile {
    /// The file's path inside the version, `/`-separated, relative.
    pub path: FilePath,
    /// The digest of the blob the path is bound to.
    pub digest: Digest,
    /// The blob's length in bytes.
    pub size: u64,
    /// The media type it is served with.
    pub media_type: String,
}

/// A stored version; `files` is empty in listings.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    /// Which version this is.
    pub key: VersionKey,
    /// Insertion order, used for stable paging.
    pub seq: i64,
    /// Where it is in its lifecycle.
    pub state: VersionState,
    /// Changes on every write; callers send it back to guard edits.
    pub etag: Etag,
    /// Set when published; drafts compute theirs on demand.
    pub content_digest: Option<Digest>,
    /// Canonical JSON object text.
    pub manifest: String,
    /// The files of the version, sorted by path.
    pub files: Vec<VersionFile>,
    /// Why it was deprecated; `None` unless deprecated.
    pub deprecation_reason: Option<String>,
    /// The version readers should move to instead, if one was named.
    pub replacement: Option<semver::Version>,
    /// Why it was yanked; `None` unless yanked with a reason.
    pub yank_reason: Option<String>,
    /// When it was created, in unix microseconds.
    pub created_at: i64,
    /// When it last changed, in unix microseconds.
    pub updated_at: i64,
    /// When it was published, in unix microseconds; `None` for drafts.
    pub published_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, digest_byte: char, size: u64) -> VersionFile {
        VersionFile {
            path: FilePath::parse("path", path).unwrap(),
            digest: Digest::parse(
                "digest",
                &format!("sha256:{}", digest_byte.to_string().repeat(64)),
            )
            .unwrap(),
            size,
            media_type: String::new(),
        }
    }

    #[test]
    fn content_digest_ignores_order_and_key_order() {
        let a = vec![file("a", '1', 1), file("b", '2', 2)];
        let b = vec![file("b", '2', 2), file("a", '1', 1)];
        let m1 = parse_manifest("m", r#"{"x":1,"y":[1,2]}"#).unwrap();
        let m2 = parse_manifest("m", r#"{"y":[1,2],"x":1}"#).unwrap();
        assert_eq!(content_digest(&a, &m1), content_digest(&b, &m2));
        let m3 = parse_manifest("m", r#"{"x":2,"y":[1,2]}"#).unwrap();
        assert_ne!(content_digest(&a, &m1), content_digest(&a, &m3));
        assert_ne!(content_digest(&a, &m1), content_digest(&a[..1], &m1));
        // Pinned so that a change of the canonical form is noticed.
        assert_eq!(
            content_digest(&[], &Manifest::new()).to_string(),
            format!(
                "sha256:{}",
                hex::encode(Sha256::digest(b"relreg-content-v1\nmanifest\t{}\n"))
            )
        );
    }

    #[test]
    fn diff_reports_added_removed_changed() {
        let base = vec![
            file("keep", '1', 1),
            file("gone", '2', 2),
            file("edit", '3', 3),
        ];
        let new = vec![
            file("keep", '1', 1),
            file("edit", '4', 3),
            file("new", '5', 5),
        ];
        let d = diff_files(&base, &new);
        assert_eq!(
            d.added.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["new"]
        );
        assert_eq!(
            d.removed
                .iter()
                .map(|f| f.path.as_str())
                .collect::<Vec<_>>(),
            ["gone"]
        );
        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.changed[0].1.path.as_str(), "edit");
    }

    #[test]
    fn semver_is_strict() {
        assert!(parse_semver("v", "1.2.3-rc.1+build.5").is_ok());
        for bad in ["", "1", "1.2", "v1.2.3", "01.2.3", "1.2.3-", "latest"] {
            assert!(parse_semver("v", bad).is_err(), "{bad}");
        }
        assert!(parse_requirement("r", "^1.4").is_ok());
        assert!(parse_requirement("r", "nope").is_err());
    }

    #[test]
    fn manifests_must_be_objects() {
        assert!(parse_manifest("m", "{}").is_ok());
        for bad in ["[]", "1", "\"x\"", "null", "{", ""] {
            assert!(parse_manifest("m", bad).is_err(), "{bad}");
        }
    }
}
