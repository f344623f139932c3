//! Offer steps agree with the rule they precompute, checked against a direct evaluation on
//! many generated channels.

use super::*;
use crate::domain::{AppVersion, Name, parse_app_version};

fn v(s: &str) -> semver::Version {
    parse_app_version("v", s).unwrap()
}

fn candidate(id: &str, version: &str, min: &str, max: &str, platforms: &[&str]) -> Candidate {
    let compatibility = Compatibility {
        min: AppVersion::parse_optional("min", min).unwrap(),
        max: AppVersion::parse_optional("max", max).unwrap(),
        platforms: platforms
            .iter()
            .map(|p| Name::parse("platform", p).unwrap())
            .collect(),
    };
    Candidate::new(id, 0, &sort_key(&v(version)), &compatibility)
}

/// The rule itself: the newest release admitting the app version on the platform; else the
/// lowest minimum above it among the platform's releases; else nothing.
fn direct(candidates: &[Candidate], app: &semver::Version, platform: &str) -> Offer<usize> {
    let for_platform =
        |c: &Candidate| c.platforms.is_empty() || c.platforms.iter().any(|p| p == platform);
    let admits = |c: &Candidate| {
        for_platform(c)
            && c.min.as_ref().is_none_or(|m| m.cmp_precedence(app).is_le())
            && c.max.as_ref().is_none_or(|m| m.cmp_precedence(app).is_ge())
    };
    let best = (0..candidates.len())
        .filter(|&i| admits(&candidates[i]))
        .max_by(|&a, &b| {
            let (a, b) = (&candidates[a], &candidates[b]);
            (&a.version_key, a.seq).cmp(&(&b.version_key, b.seq))
        });
    if let Some(i) = best {
        return Offer::Release(i);
    }
    candidates
        .iter()
        .filter(|c| for_platform(c))
        .filter_map(|c| c.min.clone())
        .filter(|m| m.cmp_precedence(app).is_gt())
        .min_by(|a, b| a.cmp_precedence(b))
        .map_or(Offer::Nothing, |m| Offer::AppUpdateRequired(m.to_string()))
}

/// Looks an app version up in the steps the way the store does: the platform's group when a
/// release names it, else the group for any platform.
fn stepped(steps: &[OfferStep], app: &semver::Version, platform: &str) -> Offer<usize> {
    let group =
        |p: &str| -> Vec<OfferStep> { steps.iter().filter(|s| s.platform == p).cloned().collect() };
    let mut own = group(platform);
    if own.is_empty() || platform.is_empty() {
        own = group(ANY_PLATFORM);
    }
    let step = offer_at(&own, &sort_key(app)).expect("every group starts at the lowest key");
    if let Some(next) = own.iter().find(|s| s.from_key > step.from_key) {
        assert_eq!(step.to_key.as_deref(), Some(next.from_key.as_str()));
    } else {
        assert_eq!(step.to_key, None);
    }
    step.offer.clone()
}

#[test]
fn steps_answer_like_the_rule() {
    let c = vec![
        candidate("r4", "4.0.0", "5.0", "", &[]),
        candidate("r3", "3.0.0", "2.0", "", &["ios"]),
        candidate("r2", "2.0.0", "2.0", "4.9", &[]),
        candidate("r1", "1.0.0", "1.0", "1.9", &[]),
    ];
    let steps = offer_steps(&c);
    let id = |o: Offer<usize>| match o {
        Offer::Release(i) => c[i].id.clone(),
        Offer::AppUpdateRequired(m) => format!("app_update_required {m}"),
        Offer::Nothing => "nothing".into(),
    };
    for (app, platform, want) in [
        ("2.5", "ios", "r3"),
        ("2.5", "android", "r2"),
        ("2.5", "", "r2"),
        ("1.5", "android", "r1"),
        ("1.9.0", "android", "r1"),
        ("1.9.1", "android", "app_update_required 2.0.0"),
        ("5.0", "android", "r4"),
        ("0.9", "android", "app_update_required 1.0.0"),
        ("4.9.5", "android", "app_update_required 5.0.0"),
        ("5.0.0-beta.1", "android", "app_update_required 5.0.0"),
    ] {
        assert_eq!(
            id(stepped(&steps, &v(app), platform)),
            want,
            "{app} on {platform:?}"
        );
        assert_eq!(
            id(direct(&c, &v(app), platform)),
            want,
            "{app} on {platform:?}"
        );
    }
    let capped = [candidate("x", "1.0.0", "1", "1", &[])];
    assert_eq!(stepped(&offer_steps(&capped), &v("2"), ""), Offer::Nothing);
    assert!(offer_steps(&[]).is_empty());
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Gen(u64);

impl Gen {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn steps_agree_with_the_rule_on_generated_channels() {
    const APPS: [&str; 12] = [
        "0.9",
        "1.0.0-rc.1",
        "1.0",
        "1.0.1",
        "1.5",
        "2.0.0-alpha",
        "2.0",
        "2.0.0+build.7",
        "2.1",
        "3.0",
        "3.0.1",
        "9.0",
    ];
    const PLATFORMS: [&str; 3] = ["ios", "android", "web"];
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    for round in 0..400 {
        let n = 1 + g.next(12);
        let candidates: Vec<Candidate> = (0..n)
            .map(|i| {
                let min = if g.next(4) == 0 {
                    ""
                } else {
                    APPS[g.next(APPS.len())]
                };
                let max = if g.next(3) == 0 {
                    APPS[g.next(APPS.len())]
                } else {
                    ""
                };
                let platforms: Vec<&str> = match g.next(4) {
                    0 => vec![PLATFORMS[g.next(3)]],
                    1 => vec!["ios", "android"],
                    _ => vec![],
                };
                let mut c = candidate(
                    &format!("r{i}"),
                    &format!("{}.{}.0", g.next(4), g.next(3)),
                    min,
                    max,
                    &platforms,
                );
                c.seq = i as i64;
                c
            })
            .collect();
        let steps = offer_steps(&candidates);
        for app in APPS.iter().chain(["0.1", "1.9.9", "2.0.1", "100"].iter()) {
            for platform in ["", "ios", "android", "web", "tv"] {
                assert_eq!(
                    stepped(&steps, &v(app), platform),
                    direct(&candidates, &v(app), platform),
                    "round {round}: {app} on {platform:?} with {candidates:#?}"
                );
            }
        }
    }
}

#[test]
fn newest_offered_follows_precedence_then_seq() {
    let items = [
        ("1.0.0", 1, true),
        ("1.10.0", 2, true),
        ("2.0.0", 3, false),
        ("1.10.0+b", 4, true),
    ];
    let newest = newest_offered(items, |(version, seq, offered)| {
        offered.then(|| (semver::Version::parse(version).unwrap(), *seq))
    });
    assert_eq!(newest.map(|(v, _, _)| v), Some("1.10.0+b"));
}
