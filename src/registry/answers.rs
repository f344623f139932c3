//! The compact form a warm cache keeps "latest" answers in: a release named by a key, not a
//! record. Every release id relreg makes is `rel_` and 16 hex digits, kept as one `u64`; any
//! other id is kept as text. The records themselves live in a bounded cache of their own.

use std::{fmt, sync::Arc};

use crate::domain::Offer;

/// A release as a cached answer names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum ReleaseKey {
    /// `rel_` and 16 lowercase hex digits.
    Packed(u64),
    /// Any other id.
    Text(Arc<str>),
}

impl ReleaseKey {
    /// Returns the key of a release id.
    pub(super) fn of(id: &str) -> Self {
        id.strip_prefix("rel_")
            .filter(|hex| {
                hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            })
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .map_or_else(|| Self::Text(id.into()), Self::Packed)
    }
}

impl fmt::Display for ReleaseKey {
    /// Writes the release id back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Packed(n) => write!(f, "rel_{n:016x}"),
            Self::Text(id) => f.write_str(id),
        }
    }
}

/// What a channel offered one platform and app version; `None` when the channel has no
/// published release.
pub(super) type Answer = Option<Offer<ReleaseKey>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_give_the_id_back() {
        for id in [
            "rel_0123456789abcdef",
            "rel_0000000000000000",
            "rel_ffffffffffffffff",
        ] {
            let key = ReleaseKey::of(id);
            assert!(matches!(key, ReleaseKey::Packed(_)), "{id}");
            assert_eq!(key.to_string(), id);
        }
        for id in [
            "rel_0123456789ABCDEF",
            "rel_123",
            "other",
            "rel_0123456789abcdefg",
        ] {
            let key = ReleaseKey::of(id);
            assert!(matches!(key, ReleaseKey::Text(_)), "{id}");
            assert_eq!(key.to_string(), id);
        }
    }
}
