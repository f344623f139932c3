//! The compact form a warm cache keeps "latest" answers in: a release named by its id (a
//! `ReleaseId` is one `u64`), not a record, keyed by the app version packed in a `u64`. The
//! records themselves live in a bounded cache of their own.

use std::cmp::Ordering;

use semver::{BuildMetadata, Prerelease, Version};

use crate::domain::{Offer, ReleaseId};

/// What a channel offered one platform and app version; `None` when the channel has no
/// published release.
pub(super) type Answer = Option<Offer<ReleaseId>>;

/// Bits per number in a packed app version.
const NUMBER_BITS: u32 = 21;

/// An app version as the warm cache keys answers by, in 16 bytes: `major.minor.patch` packed
/// in one `u64` when there is no pre-release or build and each number is below 2^21, which
/// is every app version seen in practice; any other boxed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AppKey {
    /// `major << 42 | minor << 21 | patch`.
    Packed(u64),
    /// Any other version.
    Full(Box<Version>),
}

impl AppKey {
    /// Returns the key of an app version.
    pub(super) fn of(v: &Version) -> Self {
        let fits = |n: u64| n < 1 << NUMBER_BITS;
        if v.pre.is_empty() && v.build.is_empty() && fits(v.major) && fits(v.minor) && fits(v.patch)
        {
            Self::Packed(v.major << (2 * NUMBER_BITS) | v.minor << NUMBER_BITS | v.patch)
        } else {
            Self::Full(Box::new(v.clone()))
        }
    }

    /// Orders the key against a version exactly as `Version`'s own order would order the
    /// version the key was made of (build metadata included, so equal means identical).
    pub(super) fn cmp_version(&self, v: &Version) -> Ordering {
        match self {
            Self::Full(k) => k.as_ref().cmp(v),
            Self::Packed(p) => {
                let mask = (1 << NUMBER_BITS) - 1;
                let numbers = (p >> (2 * NUMBER_BITS), p >> NUMBER_BITS & mask, p & mask);
                numbers
                    .cmp(&(v.major, v.minor, v.patch))
                    .then_with(|| Prerelease::EMPTY.cmp(&v.pre))
                    .then_with(|| BuildMetadata::EMPTY.cmp(&v.build))
            }
        }
    }
}

/// An [`Answer`] in 16 bytes: the common ones (no release, nothing offered, a release) inline,
/// an app update required (which carries text) boxed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StoredAnswer {
    /// The channel has no published release.
    NoChannel,
    /// [`Offer::Nothing`].
    Nothing,
    /// [`Offer::Release`].
    Release(ReleaseId),
    /// Anything else.
    Boxed(Box<Answer>),
}

impl From<Answer> for StoredAnswer {
    fn from(answer: Answer) -> Self {
        match answer {
            None => Self::NoChannel,
            Some(Offer::Nothing) => Self::Nothing,
            Some(Offer::Release(id)) => Self::Release(id),
            other => Self::Boxed(Box::new(other)),
        }
    }
}

impl From<&StoredAnswer> for Answer {
    fn from(stored: &StoredAnswer) -> Self {
        match stored {
            StoredAnswer::NoChannel => None,
            StoredAnswer::Nothing => Some(Offer::Nothing),
            StoredAnswer::Release(id) => Some(Offer::Release(*id)),
            StoredAnswer::Boxed(answer) => answer.as_ref().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_forms_are_small() {
        assert_eq!(std::mem::size_of::<AppKey>(), 16);
        assert_eq!(std::mem::size_of::<StoredAnswer>(), 16);
    }

    #[test]
    fn app_keys_order_as_versions_do() {
        let versions = [
            "0.0.0",
            "1.2.3-alpha.1",
            "1.2.3-alpha.1+b",
            "1.2.3",
            "1.2.3+build.5",
            "1.2.4",
            "1.10.0",
            "2097151.2097151.2097151",
            "2097152.0.0",
            "2097152.0.0+x",
        ];
        let versions: Vec<Version> = versions
            .iter()
            .map(|v| Version::parse(v).unwrap())
            .collect();
        for a in &versions {
            let key = AppKey::of(a);
            let packed = a.pre.is_empty() && a.build.is_empty() && a.major < 1 << 21;
            assert_eq!(matches!(key, AppKey::Packed(_)), packed, "{a}");
            for b in &versions {
                assert_eq!(key.cmp_version(b), a.cmp(b), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn stored_answers_give_the_answer_back() {
        let id = ReleaseId::named("release_id", "rel_0123456789abcdef").unwrap();
        let answers: [Answer; 4] = [
            None,
            Some(Offer::Nothing),
            Some(Offer::Release(id)),
            Some(Offer::AppUpdateRequired("2.0".into())),
        ];
        for answer in answers {
            assert_eq!(Answer::from(&StoredAnswer::from(answer.clone())), answer);
        }
    }
}
