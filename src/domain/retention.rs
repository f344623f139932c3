//! Retention: the part of a repo's policy that says which old versions and releases may go,
//! and the pure planning rules that pick them. Removal itself (tombstones, the guards that
//! keep what is served) happens in the store, inside the transaction that removes.

use serde::{Deserialize, Serialize};

/// Microseconds in a second.
const MICROS: i64 = 1_000_000;

/// How long old versions and releases are kept. Zero in a field means "no such rule"; with no
/// rule at all for versions (or releases), none of them is ever removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Per package: the newest `keep_versions` published versions are kept.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub keep_versions: u32,
    /// Per package: versions published within this many seconds are kept.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub keep_versions_for_secs: u64,
    /// Per channel: the newest `keep_releases` published releases are kept.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub keep_releases: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

impl Retention {
    /// Tells whether no rule is set (nothing is ever removed).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Tells whether a version rule is set.
    pub fn removes_versions(&self) -> bool {
        self.keep_versions > 0 || self.keep_versions_for_secs > 0
    }

    /// Tells whether a release rule is set.
    pub fn removes_releases(&self) -> bool {
        self.keep_releases > 0
    }
}

/// What planning needs to know of a published version of one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionAge {
    /// The version's row id.
    pub seq: i64,
    /// When it was published (unix microseconds).
    pub published_at: i64,
    /// Whether a release names it (those stay).
    pub referenced: bool,
}

/// Returns the seqs of a package's versions that the retention removes at `now` (unix
/// microseconds): named by no release, neither among the newest `keep_versions` (by publish
/// time) nor published within `keep_versions_for_secs`. Published, deprecated and yanked
/// versions alike: a version outside both rules has expired.
/// `versions` are the package's published versions that are not removed yet, in any order.
pub fn versions_to_remove(rules: &Retention, versions: &[VersionAge], now: i64) -> Vec<i64> {
    if !rules.removes_versions() {
        return Vec::new();
    }
    let mut newest: Vec<&VersionAge> = versions.iter().collect();
    newest.sort_by_key(|v| std::cmp::Reverse((v.published_at, v.seq)));
    let age_limit = i64::try_from(rules.keep_versions_for_secs)
        .ok()
        .and_then(|s| s.checked_mul(MICROS));
    let mut gone: Vec<i64> = newest
        .iter()
        .enumerate()
        .filter(|(rank, v)| {
            let kept_by_count = rules.keep_versions > 0 && *rank < rules.keep_versions as usize;
            let kept_by_age = rules.keep_versions_for_secs > 0
                && age_limit.is_none_or(|limit| now.saturating_sub(v.published_at) < limit);
            !v.referenced && !kept_by_count && !kept_by_age
        })
        .map(|(_, v)| v.seq)
        .collect();
    gone.sort_unstable();
    gone
}

/// What planning needs to know of a published (or once published) release of one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseAge {
    /// The release's row id.
    pub seq: i64,
    /// Its channel sequence at publish (newer releases have higher ones).
    pub sequence: i64,
    /// Whether it is deprecated (only those may go).
    pub deprecated: bool,
    /// Whether the channel offers it to some client (those stay).
    pub offered: bool,
}

/// Returns the seqs of a channel's releases that the retention removes: deprecated, offered
/// to no client, and not among the newest `keep_releases` (by channel sequence). `releases`
/// are the channel's releases that were published and are not removed yet.
pub fn releases_to_remove(rules: &Retention, releases: &[ReleaseAge]) -> Vec<i64> {
    if !rules.removes_releases() {
        return Vec::new();
    }
    let mut newest: Vec<&ReleaseAge> = releases.iter().collect();
    newest.sort_by_key(|r| std::cmp::Reverse((r.sequence, r.seq)));
    let mut gone: Vec<i64> = newest
        .iter()
        .skip(rules.keep_releases as usize)
        .filter(|r| r.deprecated && !r.offered)
        .map(|r| r.seq)
        .collect();
    gone.sort_unstable();
    gone
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400 * MICROS;

    fn v(seq: i64, days_ago: i64, referenced: bool) -> VersionAge {
        VersionAge {
            seq,
            published_at: 100 * DAY - days_ago * DAY,
            referenced,
        }
    }

    #[test]
    fn retention_without_rules_removes_nothing() {
        let all = [v(1, 50, false), v(2, 40, false)];
        assert!(versions_to_remove(&Retention::default(), &all, 100 * DAY).is_empty());
        let r = ReleaseAge {
            seq: 1,
            sequence: 1,
            deprecated: true,
            offered: false,
        };
        assert!(releases_to_remove(&Retention::default(), &[r]).is_empty());
    }

    #[test]
    fn retention_keeps_the_newest_versions_and_the_young_ones() {
        let all = [
            v(1, 50, false),
            v(2, 40, true),
            v(3, 30, false),
            v(4, 20, false),
            v(5, 10, false),
            v(6, 1, false),
        ];
        let now = 100 * DAY;
        let count = Retention {
            keep_versions: 2,
            ..Retention::default()
        };
        // 1, 3 and 4 go (3 still published, but expired); 2 is named by a release.
        assert_eq!(versions_to_remove(&count, &all, now), [1, 3, 4]);
        let age = Retention {
            keep_versions_for_secs: 15 * 86_400,
            ..Retention::default()
        };
        assert_eq!(versions_to_remove(&age, &all, now), [1, 3, 4]);
        let either = Retention {
            keep_versions: 1,
            keep_versions_for_secs: 25 * 86_400,
            ..Retention::default()
        };
        // Kept: 6 (newest), 5 and 4 (young), 2 (named).
        assert_eq!(versions_to_remove(&either, &all, now), [1, 3]);
        let huge = Retention {
            keep_versions_for_secs: u64::MAX,
            ..Retention::default()
        };
        assert!(versions_to_remove(&huge, &all, now).is_empty());
    }

    #[test]
    fn retention_keeps_the_newest_releases_and_the_offered_ones() {
        let r = |seq, sequence, deprecated, offered| ReleaseAge {
            seq,
            sequence,
            deprecated,
            offered,
        };
        let all = [
            r(1, 1, true, false),
            r(2, 2, false, true),
            r(3, 3, true, true),
            r(4, 5, true, false),
            r(5, 4, true, false),
        ];
        let rules = Retention {
            keep_releases: 1,
            ..Retention::default()
        };
        // 4 is the newest by sequence; 2 is published, 3 is offered.
        assert_eq!(releases_to_remove(&rules, &all), [1, 5]);
    }

    #[test]
    fn retention_round_trips_as_json() {
        let rules = Retention {
            keep_versions: 3,
            keep_versions_for_secs: 60,
            keep_releases: 0,
        };
        let text = serde_json::to_string(&rules).unwrap();
        assert_eq!(text, r#"{"keep_versions":3,"keep_versions_for_secs":60}"#);
        assert_eq!(serde_json::from_str::<Retention>(&text).unwrap(), rules);
        assert_eq!(serde_json::to_string(&Retention::default()).unwrap(), "{}");
    }
}
