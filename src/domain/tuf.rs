//! A repo's signing metadata in TUF's format (issue 11, "proof against an outside
//! implementation"): the four top-level roles as JSON documents that a TUF client such as
//! python-tuf's `ngclient` verifies, and the names of the files and targets it asks for.
//!
//! - Signed bytes are canonical JSON as TUF implementations compute it (OLPC canonical JSON,
//!   securesystemslib's `encode_canonical`): keys sorted, no whitespace, integers only,
//!   strings escaping only `\` and `"`.
//! - Keys are Ed25519 (`keytype`/`scheme` `ed25519`, the public key in hex); a key's TUF key
//!   id is the hex SHA-256 of its canonical key object, as the specification defines it. It
//!   differs from relreg's key id (the SHA-256 of the raw key).
//! - Every role trusts every key of the repo's root, with the root's threshold.
//! - `consistent_snapshot` is false: metadata is read as `timestamp.json`, `snapshot.json`,
//!   `targets.json` and `{n}.root.json`, targets by their path.
//! - Target paths: `releases/{release id}.json` (a release document) and
//!   `packages/{package}/{version}/{file path}`, each segment of the file path percent-encoded
//!   so that a path is its own URL.

use std::{collections::BTreeMap, fmt::Write as _};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::{Error, FilePath, KeyPair, Name, ReleaseId, Result};

/// The TUF specification version the documents declare.
pub const SPEC_VERSION: &str = "1.0.31";

/// Writes `value` as canonical JSON. Floats cannot occur in the documents built here; one is
/// written as serde_json writes it.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => {
            out.extend_from_slice(value.to_string().as_bytes())
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_canonical(item, out);
            }
            out.push(b'}');
        }
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for b in s.bytes() {
        if matches!(b, b'"' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// The TUF key object of a raw Ed25519 public key.
fn key_object(public_key: &[u8; 32]) -> Value {
    json!({
        "keytype": "ed25519",
        "scheme": "ed25519",
        "keyval": { "public": hex::encode(public_key) },
    })
}

/// Returns the TUF key id of a raw Ed25519 public key: hex SHA-256 of its canonical key object.
pub fn key_id(public_key: &[u8; 32]) -> String {
    hex::encode(Sha256::digest(canonical_json(&key_object(public_key))))
}

/// Formats unix seconds as TUF's `expires`: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn expires(unix_secs: i64) -> String {
    prost_types::Timestamp {
        seconds: unix_secs,
        nanos: 0,
    }
    .to_string()
}

/// The `signed` part of a root: every role trusts `keys` (raw public keys) with `threshold`.
pub fn root(version: i64, expires_unix: i64, keys: &[[u8; 32]], threshold: u32) -> Value {
    let ids: Vec<String> = keys.iter().map(key_id).collect();
    let role = json!({ "keyids": ids, "threshold": threshold.max(1) });
    json!({
        "_type": "root",
        "spec_version": SPEC_VERSION,
        "version": version,
        "expires": expires(expires_unix),
        "consistent_snapshot": false,
        "keys": keys.iter().map(|k| (key_id(k), key_object(k))).collect::<serde_json::Map<_, _>>(),
        "roles": { "root": role, "targets": role, "snapshot": role, "timestamp": role },
    })
}

/// One target: its length and SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetFile {
    /// Its length in bytes.
    pub length: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
}

/// The `signed` part of the targets role, as canonical JSON. Written directly rather than
/// through a `Value`: a repo's targets are its largest document, re-signed on every publish.
pub fn targets(version: i64, expires_unix: i64, files: &BTreeMap<String, TargetFile>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + files.len() * 140);
    out.extend_from_slice(b"{\"_type\":\"targets\",\"expires\":");
    write_string(&expires(expires_unix), &mut out);
    out.extend_from_slice(b",\"spec_version\":");
    write_string(SPEC_VERSION, &mut out);
    out.extend_from_slice(b",\"targets\":{");
    // BTreeMap order is byte order, as canonical JSON sorts keys.
    for (i, (path, f)) in files.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(path, &mut out);
        out.extend_from_slice(b":{\"hashes\":{\"sha256\":");
        write_string(&f.sha256, &mut out);
        out.extend_from_slice(format!("}},\"length\":{}}}", f.length).as_bytes());
    }
    out.extend_from_slice(format!("}},\"version\":{version}}}").as_bytes());
    out
}

/// The `signed` part of the snapshot role: the version of `targets.json`.
pub fn snapshot(version: i64, expires_unix: i64, targets_version: i64) -> Value {
    json!({
        "_type": "snapshot",
        "spec_version": SPEC_VERSION,
        "version": version,
        "expires": expires(expires_unix),
        "meta": { "targets.json": { "version": targets_version } },
    })
}

/// The `signed` part of the timestamp role: the version, length and hash of `snapshot.json`.
pub fn timestamp(version: i64, expires_unix: i64, snapshot_version: i64, snapshot: &[u8]) -> Value {
    json!({
        "_type": "timestamp",
        "spec_version": SPEC_VERSION,
        "version": version,
        "expires": expires(expires_unix),
        "meta": { "snapshot.json": {
            "version": snapshot_version,
            "length": snapshot.len(),
            "hashes": { "sha256": hex::encode(Sha256::digest(snapshot)) },
        } },
    })
}

/// Signs a `signed` part with every key given: the metadata file, as canonical JSON.
pub fn sign<'k>(signed: &Value, keys: impl IntoIterator<Item = &'k KeyPair>) -> Vec<u8> {
    sign_canonical(canonical_json(signed), keys)
}

/// Signs the canonical JSON of a `signed` part with every key given: the metadata file. The
/// signed bytes are placed as they are ("signatures" sorts before "signed").
pub fn sign_canonical<'k>(signed: Vec<u8>, keys: impl IntoIterator<Item = &'k KeyPair>) -> Vec<u8> {
    let mut signatures: Vec<Value> = keys
        .into_iter()
        .map(|k| {
            json!({
                "keyid": key_id(&k.public_key()),
                "sig": hex::encode(k.sign(&signed)),
            })
        })
        .collect();
    signatures.sort_by(|a, b| a["keyid"].as_str().cmp(&b["keyid"].as_str()));
    signatures.dedup();
    let mut out = b"{\"signatures\":".to_vec();
    out.extend(canonical_json(&Value::Array(signatures)));
    out.extend_from_slice(b",\"signed\":");
    out.extend(signed);
    out.push(b'}');
    out
}

/// A metadata file a TUF client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataFile {
    /// `{n}.root.json`, or `root.json` (`None`: the newest).
    Root(Option<i64>),
    /// `timestamp.json`.
    Timestamp,
    /// `snapshot.json`.
    Snapshot,
    /// `targets.json`.
    Targets,
}

impl MetadataFile {
    /// Parses a metadata file name.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "root.json" => Self::Root(None),
            "timestamp.json" => Self::Timestamp,
            "snapshot.json" => Self::Snapshot,
            "targets.json" => Self::Targets,
            _ => match name
                .strip_suffix(".root.json")
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| *n > 0)
            {
                Some(n) => Self::Root(Some(n)),
                None => return Err(Error::not_found(format!("TUF metadata file {name}"))),
            },
        })
    }

    /// Whether the file never changes behind its name.
    pub fn immutable(self) -> bool {
        matches!(self, Self::Root(Some(_)))
    }
}

/// A target a TUF client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetPath {
    /// `releases/{release id}.json`: a release document.
    Release(ReleaseId),
    /// `packages/{package}/{version}/{file path}`: a file of a package version.
    File {
        /// The package.
        package: Name,
        /// The version.
        version: semver::Version,
        /// The file's path in the version.
        path: FilePath,
    },
}

impl TargetPath {
    /// Parses a target path as a client's URL names it, after percent-decoding.
    pub fn parse(path: &str) -> Result<Self> {
        let unknown = || Error::not_found(format!("TUF target {path}"));
        if let Some(id) = path
            .strip_prefix("releases/")
            .and_then(|r| r.strip_suffix(".json"))
        {
            return ReleaseId::from_text(id)
                .map(Self::Release)
                .ok_or_else(unknown);
        }
        let mut parts = path
            .strip_prefix("packages/")
            .ok_or_else(unknown)?
            .splitn(3, '/');
        let (Some(package), Some(version), Some(file)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(unknown());
        };
        Ok(Self::File {
            package: Name::parse("package", package).map_err(|_| unknown())?,
            version: semver::Version::parse(version).map_err(|_| unknown())?,
            path: FilePath::parse("path", file).map_err(|_| unknown())?,
        })
    }
}

/// The target path of a package version's file: `packages/{package}/{version}/{path}`, each
/// path segment percent-encoded (every byte but `A-Z a-z 0-9 - . _ ~`).
pub fn file_target(package: &str, version: &str, path: &str) -> String {
    let mut out = format!("packages/{package}/{version}");
    for segment in path.split('/') {
        out.push('/');
        for b in segment.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(b as char);
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// The target path of a release document.
pub fn release_target(id: &str) -> String {
    format!("releases/{id}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_escapes_only_quote_and_backslash() {
        let v = json!({ "b": [1, true, null], "a": "x\"y\\z\né", "_": {} });
        assert_eq!(
            String::from_utf8(canonical_json(&v)).unwrap(),
            "{\"_\":{},\"a\":\"x\\\"y\\\\z\né\",\"b\":[1,true,null]}"
        );
    }

    #[test]
    fn signed_files_are_canonical_json_of_signatures_and_signed() {
        let key = KeyPair::generate();
        let signed = root(1, 0, &[key.public_key()], 1);
        let file = sign(&signed, [&key, &key]);
        let parsed: Value = serde_json::from_slice(&file).unwrap();
        assert_eq!(canonical_json(&parsed), file);
        assert_eq!(parsed["signed"], signed);
        assert_eq!(parsed["signatures"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn targets_are_written_as_canonical_json() {
        let mut files = BTreeMap::new();
        for (path, length) in [("b/é x", 7), ("a\"q", 0), ("releases/r.json", 123)] {
            let sha256 = "0f".repeat(32);
            files.insert(path.to_owned(), TargetFile { length, sha256 });
        }
        let bytes = targets(3, 86_400, &files);
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(canonical_json(&parsed), bytes);
        assert_eq!(parsed["_type"], "targets");
        assert_eq!(parsed["version"], 3);
        assert_eq!(parsed["expires"], "1970-01-02T00:00:00Z");
        assert_eq!(parsed["spec_version"], SPEC_VERSION);
        assert_eq!(parsed["targets"]["b/é x"]["length"], 7);
        assert_eq!(
            parsed["targets"]["a\"q"]["hashes"]["sha256"],
            "0f".repeat(32)
        );
        assert_eq!(parsed["targets"].as_object().unwrap().len(), 3);
    }

    #[test]
    fn key_ids_follow_the_specification() {
        // sha256 of {"keytype":"ed25519","keyval":{"public":"00…00"},"scheme":"ed25519"}
        let canonical = format!(
            "{{\"keytype\":\"ed25519\",\"keyval\":{{\"public\":\"{}\"}},\"scheme\":\"ed25519\"}}",
            "00".repeat(32)
        );
        assert_eq!(
            key_id(&[0; 32]),
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
    }

    #[test]
    fn names_parse_and_paths_encode() {
        assert_eq!(
            MetadataFile::parse("12.root.json").unwrap(),
            MetadataFile::Root(Some(12))
        );
        for bad in ["0.root.json", "x.root.json", ".root.json", "delegated.json"] {
            assert!(MetadataFile::parse(bad).is_err(), "{bad}");
        }
        let target = file_target("app", "1.0.0+b.1", "dir/a b#%.txt");
        assert_eq!(target, "packages/app/1.0.0+b.1/dir/a%20b%23%25.txt");
        let decoded = "packages/app/1.0.0+b.1/dir/a b#%.txt";
        assert_eq!(
            TargetPath::parse(decoded).unwrap(),
            TargetPath::File {
                package: Name::parse("p", "app").unwrap(),
                version: semver::Version::parse("1.0.0+b.1").unwrap(),
                path: FilePath::parse("p", "dir/a b#%.txt").unwrap(),
            }
        );
        assert!(TargetPath::parse("releases/rel_00000000000000ff.json").is_ok());
        for bad in [
            "releases/x.json",
            "packages/app/1.0.0",
            "other/x",
            "packages/app/v1/f",
        ] {
            assert!(TargetPath::parse(bad).is_err(), "{bad}");
        }
    }
}
