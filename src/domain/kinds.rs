//! Package kinds: each kind validates its versions' manifests. Adding a kind means adding one
//! validator here and naming it in `validator_for`.

use std::collections::{BTreeSet, HashSet};

use super::{
    error::{Error, Result},
    version::Manifest,
    version::VersionFile,
};

/// Checks manifests of one package kind.
pub trait KindValidator: Sync {
    /// Checks what the manifest says on its own; runs when the manifest is set.
    fn check_manifest(&self, manifest: &Manifest) -> Result<()>;

    /// Checks the manifest against the version's files; runs when the version is published.
    fn check_publish(&self, manifest: &Manifest, files: &[VersionFile]) -> Result<()> {
        let _ = (manifest, files);
        Ok(())
    }
}

/// Returns the validator of a kind, or INVALID_ARGUMENT for an unknown kind.
pub fn validator_for(kind: &str) -> Result<&'static dyn KindValidator> {
    match kind {
        "generic" => Ok(&Generic),
        "config" => Ok(&Config),
        other => Err(Error::invalid(
            "kind",
            format!("unknown kind {other:?} (known: generic, config)"),
        )),
    }
}

/// `generic`: any JSON object.
struct Generic;

impl KindValidator for Generic {
    fn check_manifest(&self, _manifest: &Manifest) -> Result<()> {
        Ok(())
    }
}

/// `config`: `{"columns": [{"name": …, "file": "<path of a file>", "ordinal": <int>}, …]}`;
/// every column names a file of the version, and ordinals are unique.
struct Config;

impl Config {
    fn columns(manifest: &Manifest) -> Result<Vec<(String, i64)>> {
        let columns = manifest
            .get("columns")
            .and_then(|c| c.as_array())
            .ok_or_else(|| Error::invalid("manifest.columns", "must be an array"))?;
        let mut ordinals = HashSet::new();
        let mut out = Vec::with_capacity(columns.len());
        for (i, column) in columns.iter().enumerate() {
            let field = format!("manifest.columns[{i}]");
            let file = column
                .get("file")
                .and_then(|f| f.as_str())
                .ok_or_else(|| Error::invalid(format!("{field}.file"), "must be a string"))?;
            let ordinal = column
                .get("ordinal")
                .and_then(|o| o.as_i64())
                .ok_or_else(|| Error::invalid(format!("{field}.ordinal"), "must be an integer"))?;
            if !ordinals.insert(ordinal) {
                return Err(Error::invalid(
                    format!("{field}.ordinal"),
                    format!("ordinal {ordinal} is used twice"),
                ));
            }
            out.push((file.to_owned(), ordinal));
        }
        Ok(out)
    }
}

impl KindValidator for Config {
    fn check_manifest(&self, manifest: &Manifest) -> Result<()> {
        Self::columns(manifest).map(|_| ())
    }

    fn check_publish(&self, manifest: &Manifest, files: &[VersionFile]) -> Result<()> {
        let paths: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        for (i, (file, _)) in Self::columns(manifest)?.iter().enumerate() {
            if !paths.contains(file.as_str()) {
                return Err(Error::invalid(
                    format!("manifest.columns[{i}].file"),
                    format!("{file:?} is not a file of this version"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_manifest;

    fn files(paths: &[&str]) -> Vec<VersionFile> {
        paths
            .iter()
            .map(|p| VersionFile {
                path: crate::domain::FilePath::parse("path", p).unwrap(),
                digest: crate::domain::Digest::from_bytes([0; 32]),
                size: 1,
                media_type: String::new(),
            })
            .collect()
    }

    #[test]
    fn config_checks_columns() {
        let v = validator_for("config").unwrap();
        let ok = parse_manifest(
            "m",
            r#"{"columns":[{"name":"a","file":"a.csv","ordinal":1},{"file":"b.csv","ordinal":2}]}"#,
        )
        .unwrap();
        v.check_manifest(&ok).unwrap();
        v.check_publish(&ok, &files(&["a.csv", "b.csv"])).unwrap();
        let missing = v.check_publish(&ok, &files(&["a.csv"])).unwrap_err();
        assert_eq!(missing.field.as_deref(), Some("manifest.columns[1].file"));
        let dup = parse_manifest(
            "m",
            r#"{"columns":[{"file":"a","ordinal":1},{"file":"b","ordinal":1}]}"#,
        )
        .unwrap();
        assert_eq!(
            v.check_manifest(&dup).unwrap_err().field.as_deref(),
            Some("manifest.columns[1].ordinal")
        );
        assert!(
            v.check_manifest(&parse_manifest("m", "{}").unwrap())
                .is_err()
        );
    }

    #[test]
    fn generic_accepts_objects_and_unknown_kinds_fail() {
        validator_for("generic")
            .unwrap()
            .check_manifest(&Manifest::new())
            .unwrap();
        assert!(validator_for("nope").is_err());
    }
}
