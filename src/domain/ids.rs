//! Identifiers the server assigns: release ids (`rel_` and 16 hex digits, kept as one `u64`)
//! and etags (opaque text that changes on every write).

use std::{fmt, ops::Deref};

use super::error::{Error, Result};

/// A release's id: `rel_` and 16 lowercase hex digits, kept as the number they spell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReleaseId(u64);

impl ReleaseId {
    /// Makes a fresh random id.
    pub fn random() -> Self {
        let bytes = uuid::Uuid::new_v4().into_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(&bytes[..8]);
        Self(u64::from_be_bytes(first))
    }

    /// Reads `rel_` and 16 lowercase hex digits; `None` for any other text.
    pub fn from_text(value: &str) -> Option<Self> {
        value
            .strip_prefix("rel_")
            .filter(|hex| {
                hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            })
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .map(Self)
    }

    /// Parses the id a caller names in `field`: empty is INVALID_ARGUMENT ("is required");
    /// any text that is not an id names no release, so it is NOT_FOUND as an unknown id is.
    pub fn named(field: &str, value: &str) -> Result<Self> {
        if value.is_empty() {
            return Err(Error::invalid(field, "is required"));
        }
        Self::from_text(value).ok_or_else(|| Error::not_found(format!("release {value}")))
    }

    /// Tells whether `text` spells this id, without allocating or parsing: the id's digits are
    /// written to the stack and compared.
    pub fn is(&self, text: &str) -> bool {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut spelled = *b"rel_0000000000000000";
        for (i, digit) in spelled[4..].iter_mut().enumerate() {
            *digit = HEX[((self.0 >> (60 - 4 * i)) & 0xf) as usize];
        }
        text.as_bytes() == spelled
    }
}

impl fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rel_{:016x}", self.0)
    }
}

impl serde::Serialize for ReleaseId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An entity tag: changes on every write; callers send it back to guard edits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Etag(String);

impl Etag {
    /// Makes a fresh random etag: 16 hex digits in quotes, as HTTP writes entity tags.
    pub fn random() -> Self {
        Self(format!(
            "\"{}\"",
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        ))
    }

    /// Reads an etag a caller sent or the store kept; empty (proto3's unset) is `None`.
    pub fn from_text(value: impl Into<String>) -> Option<Self> {
        let value = value.into();
        (!value.is_empty()).then_some(Self(value))
    }

    /// Returns the etag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the etag's text.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl PartialEq<str> for Etag {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Etag {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl Deref for Etag {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Etag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_ids_round_trip() {
        for id in [
            "rel_0123456789abcdef",
            "rel_0000000000000000",
            "rel_ffffffffffffffff",
        ] {
            let parsed = ReleaseId::from_text(id).unwrap();
            assert_eq!(parsed.to_string(), id);
            assert!(parsed.is(id));
        }
        for bad in [
            "rel_0123456789ABCDEF",
            "rel_123",
            "other",
            "rel_0123456789abcdefg",
        ] {
            assert_eq!(ReleaseId::from_text(bad), None, "{bad}");
        }
        let fresh = ReleaseId::random();
        assert_eq!(ReleaseId::from_text(&fresh.to_string()), Some(fresh));
        assert_eq!(
            ReleaseId::named("release_id", "").unwrap_err().code,
            crate::domain::ErrorCode::InvalidArgument
        );
        assert_eq!(
            ReleaseId::named("release_id", "nope").unwrap_err().code,
            crate::domain::ErrorCode::NotFound
        );
    }

    #[test]
    fn empty_etags_are_none() {
        assert_eq!(Etag::from_text(""), None);
        assert_eq!(Etag::from_text("e1").unwrap().as_str(), "e1");
    }
}
