//! Validated identifiers: repo and package names, file paths inside a version, and blob
//! digests. Constructors check the rules once so the rest of the code can trust the values.

use std::fmt;

use super::error::{Error, Result};

/// A repo or package name: `[a-z0-9][a-z0-9._-]{0,63}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

/// Parses a repo or package name, reporting failures against `field`.
pub fn parse_name(field: &str, value: &str) -> Result<Name> {
    check_name(field, value)?;
    Ok(Name(value.to_owned()))
}

/// Checks a name against the pattern, reporting failures against `field`.
fn check_name(field: &str, value: &str) -> Result<()> {
    let bytes = value.as_bytes();
    let valid_first = bytes
        .first()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let valid_rest = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
    if value.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    if !valid_first || !valid_rest || bytes.len() > 64 {
        return Err(Error::invalid(
            field,
            format!("{value:?} must match [a-z0-9][a-z0-9._-]{{0,63}}"),
        ));
    }
    Ok(())
}

impl Name {
    /// Parses a name the caller already owns (a request's field), keeping its text.
    pub fn parse_owned(field: &str, value: String) -> Result<Self> {
        check_name(field, &value)?;
        Ok(Name(value))
    }

    /// Parses an optional name the caller owns: empty (proto3's unset) is `None`.
    pub fn parse_owned_optional(field: &str, value: String) -> Result<Option<Self>> {
        (!value.is_empty())
            .then(|| Self::parse_owned(field, value))
            .transpose()
    }

    /// Parses a name, reporting failures against `field` (as [`parse_name`]).
    pub fn parse(field: &str, value: &str) -> Result<Self> {
        parse_name(field, value)
    }

    /// Parses an optional name: empty (proto3's unset) is `None`.
    pub fn parse_optional(field: &str, value: &str) -> Result<Option<Self>> {
        (!value.is_empty())
            .then(|| parse_name(field, value))
            .transpose()
    }

    /// Returns the name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the name's text.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::ops::Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A relative file path inside a version: no `..`, `.` or empty segments, no leading `/`,
/// no backslashes or NUL, at most 512 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FilePath(String);

impl FilePath {
    /// Parses a path, reporting failures against `field`.
    pub fn parse(field: &str, value: &str) -> Result<Self> {
        let problem = if value.is_empty() {
            Some("is required")
        } else if value.len() > 512 {
            Some("must be at most 512 bytes")
        } else if value.contains('\0') {
            Some("must not contain NUL")
        } else if value.contains('\\') {
            Some("must not contain backslashes")
        } else if value.starts_with('/') {
            Some("must be relative")
        } else if value.split('/').any(|s| s == "..") {
            Some("must not contain '..'")
        } else if value.split('/').any(|s| s.is_empty() || s == ".") {
            Some("must not contain empty or '.' segments")
        } else if value.chars().any(char::is_control) {
            Some("must not contain control characters")
        } else {
            None
        };
        match problem {
            Some(p) => Err(Error::invalid(field, p)),
            None => Ok(Self(value.to_owned())),
        }
    }

    /// Returns the path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for FilePath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl fmt::Display for FilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A blob digest: `sha256:` followed by 64 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// Parses `sha256:<hex>`, reporting failures against `field`.
    pub fn parse(field: &str, value: &str) -> Result<Self> {
        let hex_part = value
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .ok_or_else(|| {
                Error::invalid(
                    field,
                    format!("{value:?} must be sha256: followed by 64 lowercase hex digits"),
                )
            })?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut bytes)
            .map_err(|e| Error::invalid(field, e.to_string()))?;
        Ok(Self(bytes))
    }

    /// Wraps raw sha256 output.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Returns the 64 lowercase hex digits, without the `sha256:` prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl From<&Name> for String {
    fn from(name: &Name) -> Self {
        name.0.clone()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_pattern() {
        for ok in ["a", "acme-mobile", "iqrah", "a.b_c-d", "0", &"a".repeat(64)] {
            assert!(parse_name("repo", ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", ".a", "A", "a b", "a/b", "ä", &"a".repeat(65)] {
            let err = parse_name("repo", bad).unwrap_err();
            assert_eq!(err.field.as_deref(), Some("repo"), "{bad}");
        }
    }

    #[test]
    fn paths_reject_escapes() {
        for ok in ["a", "dir/file.json", "a/b/c.d", "x..y"] {
            assert!(FilePath::parse("path", ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(513);
        for bad in [
            "", "/abs", "../x", "a/../b", "a\\b", "a\0b", "a//b", "./a", "a/", &long,
        ] {
            assert!(FilePath::parse("path", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn digests_are_strict() {
        let good = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(Digest::parse("d", &good).unwrap().to_string(), good);
        for bad in [
            "".to_owned(),
            "ab".repeat(32),
            format!("sha256:{}", "AB".repeat(32)),
            format!("sha256:{}", "ab".repeat(31)),
            format!("sha512:{}", "ab".repeat(32)),
            format!("sha256:{}g", "a".repeat(63)),
        ] {
            assert!(Digest::parse("d", &bad).is_err(), "{bad}");
        }
    }
}
