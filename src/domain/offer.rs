//! What a channel offers: one rule for "the newest offered release" (latest answers, the
//! GitHub view and the browse pages), and the precomputed form "latest" reads it in.
//!
//! A channel's offer to an app version on a platform is a step function of the app version:
//! it changes only where some release's `min_app_version` or `max_app_version` lies. So each
//! channel change stores the steps ([`offer_steps`]): per platform group, the app-version key
//! each step starts at and what it offers there. "Latest" is then one ordered index lookup,
//! the last step starting at or below the client's key, whatever the channel's depth.

use std::collections::BTreeSet;

use super::release::{Compatibility, sort_key};

/// What a channel offers one app version on one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer<R> {
    /// The newest release that admits the app version.
    Release(R),
    /// No release admits it, but releases for newer apps exist; the lowest such minimum.
    AppUpdateRequired(String),
    /// The channel has releases, none for this app version or any newer one.
    Nothing,
}

impl<R> Offer<R> {
    /// Converts the offered release.
    pub fn map<T>(self, f: impl FnOnce(R) -> T) -> Offer<T> {
        match self {
            Self::Release(r) => Offer::Release(f(r)),
            Self::AppUpdateRequired(min) => Offer::AppUpdateRequired(min),
            Self::Nothing => Offer::Nothing,
        }
    }
}

/// Returns the newest offered item: the highest semver precedence among those `key` gives a
/// version for (`None`: not offered, e.g. deprecated), ties going to the higher `seq`.
pub fn newest_offered<T>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> Option<(semver::Version, i64)>,
) -> Option<T> {
    items
        .into_iter()
        .filter_map(|item| key(&item).map(|k| (k, item)))
        .max_by(|((a, sa), _), ((b, sb), _)| a.cmp_precedence(b).then(sa.cmp(sb)))
        .map(|(_, item)| item)
}

/// A published release as the offer rule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The release id.
    pub id: String,
    /// Insertion order, breaking ties between versions that differ only in build metadata.
    pub seq: i64,
    /// The release version's [`sort_key`].
    pub version_key: String,
    /// The lowest app version admitted (inclusive); `None` means no lower bound.
    pub min: Option<semver::Version>,
    /// The highest app version admitted (inclusive); `None` means no upper bound.
    pub max: Option<semver::Version>,
    /// The platforms admitted; empty means every platform.
    pub platforms: Vec<String>,
}

impl Candidate {
    /// Builds a candidate from a release's stored values (its bounds were parsed when the
    /// store read them: one that no longer parses is an error there, never "no bound").
    pub fn new(id: &str, seq: i64, version_key: &str, c: &Compatibility) -> Self {
        Self {
            id: id.to_owned(),
            seq,
            version_key: version_key.to_owned(),
            min: c.min.as_ref().map(|b| b.version().clone()),
            max: c.max.as_ref().map(|b| b.version().clone()),
            platforms: c.platforms.iter().map(|p| p.as_str().to_owned()).collect(),
        }
    }

    fn start_key(&self) -> String {
        self.min.as_ref().map(sort_key).unwrap_or_default()
    }

    /// The first key above `max`: byte 0x01 sorts below every character of a sort key, so
    /// every key above `max` is at or above this one, and `max` itself is below it.
    fn end_key(&self) -> Option<String> {
        self.max.as_ref().map(|m| sort_key(m) + "\u{1}")
    }
}

/// The platform group a client without a platform, or with one no release names, reads.
pub const ANY_PLATFORM: &str = "";

/// One step of a channel's offers: from `from_key` (an app-version [`sort_key`]; `""` is the
/// lowest) up to the next step's, clients of `platform` are offered `offer` (an index into the
/// candidates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferStep {
    /// The platform this step is for; [`ANY_PLATFORM`] for clients no release names.
    pub platform: String,
    /// The lowest app-version [`sort_key`] of the step (inclusive); `""` is the lowest of all.
    pub from_key: String,
    /// Where the next step of the same platform starts; `None` for the last.
    pub to_key: Option<String>,
    /// What clients in the step are offered: an index into the candidates, or nothing.
    pub offer: Offer<usize>,
}

/// Computes a channel's offer steps from its published releases: one group for
/// [`ANY_PLATFORM`] and one per platform a release names, each starting at `""`. Empty for a
/// channel without releases.
pub fn offer_steps(candidates: &[Candidate]) -> Vec<OfferStep> {
    if candidates.is_empty() {
        return Vec::new();
    }
    let named: BTreeSet<&str> = candidates
        .iter()
        .flat_map(|c| c.platforms.iter().map(String::as_str))
        .collect();
    let mut steps = Vec::new();
    for platform in std::iter::once(ANY_PLATFORM).chain(named) {
        let applies = |c: &Candidate| {
            c.platforms.is_empty()
                || (platform != ANY_PLATFORM && c.platforms.iter().any(|p| p == platform))
        };
        let group: Vec<usize> = (0..candidates.len())
            .filter(|&i| applies(&candidates[i]))
            .collect();
        steps.extend(group_steps(platform, candidates, &group));
    }
    steps
}

/// Sweeps the app-version keys of one platform group in ascending order, keeping the set of
/// releases that admit the current key ordered by precedence.
fn group_steps(platform: &str, candidates: &[Candidate], group: &[usize]) -> Vec<OfferStep> {
    // (key, is_start, candidate): ends before starts at the same key, so that a release whose
    // range ends where another's begins hands over cleanly.
    let mut events: Vec<(String, bool, usize)> = Vec::with_capacity(group.len() * 2);
    for &i in group {
        let (start, end) = (candidates[i].start_key(), candidates[i].end_key());
        // Bounds the wrong way round (validation refuses them) admit no app version.
        if end.as_ref().is_some_and(|end| *end <= start) {
            continue;
        }
        events.push((start, true, i));
        if let Some(end) = end {
            events.push((end, false, i));
        }
    }
    events.sort();
    let mut starts: Vec<(String, usize)> = group
        .iter()
        .map(|&i| (candidates[i].start_key(), i))
        .collect();
    starts.sort();
    let rank = |i: usize| (candidates[i].version_key.clone(), candidates[i].seq, i);
    let mut active: BTreeSet<(String, i64, usize)> = BTreeSet::new();
    let mut steps: Vec<OfferStep> = Vec::new();
    // Every minimum is a step (it may change "app update required"), every event too.
    let mut keys: Vec<&str> = std::iter::once("")
        .chain(events.iter().map(|(k, _, _)| k.as_str()))
        .chain(starts.iter().map(|(k, _)| k.as_str()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let mut next_event = 0;
    for key in keys {
        while next_event < events.len() && events[next_event].0.as_str() <= key {
            let (_, start, i) = &events[next_event];
            if *start {
                active.insert(rank(*i));
            } else {
                active.remove(&rank(*i));
            }
            next_event += 1;
        }
        let offer = match active.last() {
            Some((_, _, i)) => Offer::Release(*i),
            None => starts
                .iter()
                .find(|(k, _)| k.as_str() > key)
                .and_then(|(_, i)| candidates[*i].min.as_ref())
                .map_or(Offer::Nothing, |min| {
                    Offer::AppUpdateRequired(min.to_string())
                }),
        };
        if steps.last().is_some_and(|s| s.offer == offer) {
            continue;
        }
        if let Some(last) = steps.last_mut() {
            last.to_key = Some(key.to_owned());
        }
        steps.push(OfferStep {
            platform: platform.to_owned(),
            from_key: key.to_owned(),
            to_key: None,
            offer,
        });
    }
    steps
}

/// Returns the offer of `steps` (one platform group, ascending) at an app-version key.
pub fn offer_at<'a>(steps: &'a [OfferStep], app_key: &str) -> Option<&'a OfferStep> {
    let after = steps.partition_point(|s| s.from_key.as_str() <= app_key);
    after.checked_sub(1).map(|i| &steps[i])
}

#[cfg(test)]
mod tests;
