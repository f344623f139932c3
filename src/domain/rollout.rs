//! Staged rollouts, as rules without I/O: a rollout's state and share (basis points), the
//! cohort a client id falls in, time waves, and the decision "latest" takes on top of a
//! channel's base offer (the offer without any release under rollout).
//!
//! Cohorts: `bucket = u64::from_be_bytes(sha256(salt || client_id)[..8]) % 10000`; a client
//! is in the cohort iff `bucket < bps`. The salt is per release (random when the rollout is
//! created), so widening keeps everyone in and different releases draw independent cohorts. A
//! client without an id is in no partial rollout (10000 bps is everyone, and a rollout that
//! reaches it is completed: the release joins the base offer).

use std::{fmt, str::FromStr};

use sha2::{Digest as _, Sha256};

use super::{Error, ReleaseRecord, Result};

/// The whole: 100 % in basis points.
pub const FULL_BPS: u32 = 10_000;

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RolloutState {
    /// Clients in the cohort are offered the release.
    Active,
    /// Nobody who does not run it yet is offered the release; resumable.
    Paused,
    /// Nobody who does not run it yet is offered it, for good (frees the channel).
    Halted,
    /// Reached 100 %: the release is offered like any other.
    Completed,
}

impl RolloutState {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Halted => "halted",
            Self::Completed => "completed",
        }
    }

    /// Whether the release is left out of the channel's base offer in this state.
    pub fn holds_back(self) -> bool {
        !matches!(self, Self::Completed)
    }
}

impl fmt::Display for RolloutState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RolloutState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "active" => Self::Active,
            "paused" => Self::Paused,
            "halted" => Self::Halted,
            "completed" => Self::Completed,
            other => return Err(Error::invalid("state", format!("unknown state {other:?}"))),
        })
    }
}

/// A percentage in basis points, checked to be at most [`FULL_BPS`].
pub fn parse_bps(field: &str, bps: u32) -> Result<u32> {
    if bps > FULL_BPS {
        return Err(Error::invalid(
            field,
            format!("{bps} basis points is above 10000 (100%)"),
        ));
    }
    Ok(bps)
}

/// Parses a percentage as an operator writes it: `10%`, `12.5%` or `0.5` (percent), to basis
/// points.
pub fn parse_percent(field: &str, text: &str) -> Result<u32> {
    let number = text.trim().trim_end_matches('%');
    let value: f64 = number
        .parse()
        .map_err(|_| Error::invalid(field, format!("{text:?} is not a percentage")))?;
    if !(0.0..=100.0).contains(&value) {
        return Err(Error::invalid(
            field,
            format!("{text:?} is not within 0-100%"),
        ));
    }
    Ok((value * 100.0).round() as u32)
}

/// A new random salt (16 bytes, hex).
pub fn new_salt() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The bucket (0..10000) a client id falls in for a salt.
pub fn bucket(salt: &str, client_id: &str) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(client_id.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % u64::from(FULL_BPS)) as u32
}

/// Whether a client is in the cohort of a rollout at `bps`: never without an id below 100 %.
pub fn in_cohort(salt: &str, bps: u32, client_id: &str) -> bool {
    if bps >= FULL_BPS {
        return true;
    }
    !client_id.is_empty() && bucket(salt, client_id) < bps
}

/// One time wave: from `after_secs` after the rollout started, at least `bps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wave {
    /// The share, in basis points.
    pub bps: u32,
    /// Seconds after the start.
    pub after_secs: u64,
}

/// Parses waves as `1%@0,10%@6h,100%@2d` (units s, m, h, d; none is seconds): shares and
/// times strictly increasing.
pub fn parse_waves(field: &str, text: &str) -> Result<Vec<Wave>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut waves: Vec<Wave> = Vec::new();
    for (i, part) in text.split(',').enumerate() {
        let field = format!("{field}[{i}]");
        let (share, after) = part
            .split_once('@')
            .ok_or_else(|| Error::invalid(&field, format!("{part:?} is not SHARE@TIME")))?;
        let bps = parse_percent(&field, share)?;
        let after = after.trim();
        let (number, unit) = after.split_at(after.trim_end_matches(char::is_alphabetic).len());
        let n: u64 = number
            .parse()
            .map_err(|_| Error::invalid(&field, format!("{after:?} is not a duration")))?;
        let scale = match unit {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => {
                return Err(Error::invalid(
                    &field,
                    format!("unit {unit:?}: use s, m, h or d"),
                ));
            }
        };
        let wave = Wave {
            bps,
            after_secs: n.saturating_mul(scale),
        };
        if let Some(last) = waves.last()
            && (wave.bps <= last.bps || wave.after_secs <= last.after_secs)
        {
            return Err(Error::invalid(
                &field,
                "waves must rise in share and in time",
            ));
        }
        waves.push(wave);
    }
    Ok(waves)
}

/// The stored form of waves: `bps@secs,...`.
pub fn waves_text(waves: &[Wave]) -> String {
    waves
        .iter()
        .map(|w| format!("{}@{}", w.bps, w.after_secs))
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads the stored form back.
pub fn waves_from_text(text: &str) -> Vec<Wave> {
    text.split(',')
        .filter_map(|p| {
            let (bps, secs) = p.split_once('@')?;
            Some(Wave {
                bps: bps.parse().ok()?,
                after_secs: secs.parse().ok()?,
            })
        })
        .collect()
}

/// The share the waves call for `elapsed_secs` after the start (`None`: no wave yet).
pub fn wave_target(waves: &[Wave], elapsed_secs: u64) -> Option<u32> {
    waves
        .iter()
        .rev()
        .find(|w| w.after_secs <= elapsed_secs)
        .map(|w| w.bps)
}

/// A stored rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    /// The release rolled out.
    pub release_id: String,
    /// Its repo.
    pub repo: String,
    /// Its channel.
    pub channel: String,
    /// Where it stands.
    pub state: RolloutState,
    /// The share, in basis points.
    pub bps: u32,
    /// The cohort salt.
    pub salt: String,
    /// Time waves (empty: none).
    pub waves: Vec<Wave>,
    /// When it started (unix microseconds).
    pub started_at: i64,
    /// When it last changed.
    pub updated_at: i64,
}

/// What a channel's rollouts and floors add to its base offer, as "latest" keeps it in memory.
#[derive(Debug, Clone, Default)]
pub struct ChannelPlan {
    /// The active or paused rollout, with its release.
    pub open: Option<(Rollout, std::sync::Arc<ReleaseRecord>)>,
    /// Published releases held back from the base offer (under an open or halted rollout).
    pub held: Vec<std::sync::Arc<ReleaseRecord>>,
    /// Published releases marked as floors, ascending by version.
    pub floors: Vec<std::sync::Arc<ReleaseRecord>>,
}

impl ChannelPlan {
    /// Whether the plan changes nothing: no rollout and no floor.
    pub fn is_empty(&self) -> bool {
        self.open.is_none() && self.held.is_empty() && self.floors.is_empty()
    }
}

/// Orders two releases as the offer rule does: semver precedence, then insertion order.
pub fn newer(a: &ReleaseRecord, b: &ReleaseRecord) -> bool {
    a.version
        .cmp_precedence(&b.version)
        .then(a.seq.cmp(&b.seq))
        .is_gt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_cohorts_nest() {
        assert_eq!(bucket("s", "client"), bucket("s", "client"));
        let ids: Vec<String> = (0..10_000).map(|i| format!("client-{i}")).collect();
        let share = |bps| ids.iter().filter(|id| in_cohort("salt", bps, id)).count();
        for bps in [100, 1000, 5000] {
            let n = share(bps) as i64;
            assert!((n - i64::from(bps)).abs() <= 150, "{bps}: {n}");
        }
        for id in &ids {
            if in_cohort("salt", 1000, id) {
                assert!(in_cohort("salt", 5000, id));
            }
        }
        assert!(!in_cohort("salt", 9999, ""));
        assert!(in_cohort("salt", FULL_BPS, ""));
        let both = ids
            .iter()
            .filter(|id| in_cohort("a", 5000, id) && in_cohort("b", 5000, id))
            .count();
        assert!((2000..3000).contains(&both), "independent salts: {both}");
    }

    #[test]
    fn waves_parse_and_step() {
        let waves = parse_waves("waves", "1%@0,10%@6h,100%@2d").unwrap();
        assert_eq!(
            waves,
            vec![
                Wave {
                    bps: 100,
                    after_secs: 0
                },
                Wave {
                    bps: 1000,
                    after_secs: 21_600
                },
                Wave {
                    bps: 10_000,
                    after_secs: 172_800
                },
            ]
        );
        assert_eq!(waves_from_text(&waves_text(&waves)), waves);
        assert_eq!(wave_target(&waves, 10), Some(100));
        assert_eq!(wave_target(&waves, 21_600), Some(1000));
        assert_eq!(wave_target(&waves, 1_000_000), Some(10_000));
        for bad in ["10%@1h,5%@2h", "1%@2h,5%@1h", "1%", "200%@0", "1%@3w"] {
            assert!(parse_waves("waves", bad).is_err(), "{bad}");
        }
        assert_eq!(parse_percent("p", "12.5%").unwrap(), 1250);
        assert!(parse_bps("bps", 10_001).is_err());
    }
}
