//! Release rules: states, app-version compatibility, the byte-wise semver sort key that lets
//! the database order releases by precedence, and validation findings.

use std::{fmt, str::FromStr};

use super::{
    error::{Error, Result},
    ids::{Etag, ReleaseId},
    names::Name,
    version::VersionState,
};

/// The lifecycle state of a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseState {
    /// Being assembled: artifacts may be attached and detached; only publishers see it.
    Draft,
    /// Offered on its channel to the app versions it admits.
    Published,
    /// Withdrawn from offers (deprecated or rolled back); still readable.
    Deprecated,
}

impl ReleaseState {
    /// Returns the state's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::Published => "PUBLISHED",
            Self::Deprecated => "DEPRECATED",
        }
    }
}

impl FromStr for ReleaseState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "DRAFT" => Ok(Self::Draft),
            "PUBLISHED" => Ok(Self::Published),
            "DEPRECATED" => Ok(Self::Deprecated),
            other => Err(Error::internal(format!("unknown release state {other:?}"))),
        }
    }
}

impl fmt::Display for ReleaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role bound to a package version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The part the artifact plays in the release (e.g. `app`), unique in it.
    pub role: Name,
    /// The package the artifact comes from.
    pub package: Name,
    /// The semver version of that package.
    pub version: semver::Version,
}

/// An app-version bound as the publisher wrote it (`2.0`), with the version it stands for
/// (`2.0.0`, see [`parse_app_version`]). Answers echo the text; decisions use the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppVersion {
    text: String,
    version: semver::Version,
}

impl AppVersion {
    /// Parses a bound, reporting failures against `field`.
    pub fn parse(field: &str, value: &str) -> Result<Self> {
        Ok(Self {
            version: parse_app_version(field, value)?,
            text: value.to_owned(),
        })
    }

    /// Parses an optional bound: empty (proto3's unset) is `None`.
    pub fn parse_optional(field: &str, value: &str) -> Result<Option<Self>> {
        (!value.is_empty())
            .then(|| Self::parse(field, value))
            .transpose()
    }

    /// Returns the bound as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Returns the bound's text as written.
    pub fn into_string(self) -> String {
        self.text
    }

    /// Returns the version the bound stands for.
    pub fn version(&self) -> &semver::Version {
        &self.version
    }
}

impl fmt::Display for AppVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Which app versions and platforms a release is for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Compatibility {
    /// The lowest app version admitted (inclusive); `None`: no lower bound (validation warns).
    pub min: Option<AppVersion>,
    /// The highest app version admitted (inclusive); `None`: no upper bound.
    pub max: Option<AppVersion>,
    /// Empty: every platform.
    pub platforms: Vec<Name>,
}

impl Compatibility {
    /// Tells whether an app version on a platform may run this release. Bounds are inclusive.
    pub fn admits(&self, app: &semver::Version, platform: &str) -> bool {
        let above_min = self.min.as_ref().is_none_or(|min| *app >= min.version);
        let below_max = self.max.as_ref().is_none_or(|max| *app <= max.version);
        let platform_ok =
            self.platforms.is_empty() || self.platforms.iter().any(|p| p.as_str() == platform);
        above_min && below_max && platform_ok
    }
}

/// A stored release; `artifacts` is empty in listings.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseRecord {
    /// The release's id (`rel_` and 16 hex digits), assigned at creation.
    pub id: ReleaseId,
    /// Insertion order, used for stable paging and tie-breaks.
    pub seq: i64,
    /// The key of the repo that owns the release.
    pub repo: Name,
    /// The channel it is offered on.
    pub channel: Name,
    /// The release's semver version, unique in its channel.
    pub version: semver::Version,
    /// Where it is in its lifecycle.
    pub state: ReleaseState,
    /// Changes on every write; callers send it back to guard edits.
    pub etag: Etag,
    /// Which app versions and platforms it is for.
    pub compatibility: Compatibility,
    /// Release notes for people; may be empty.
    pub notes: String,
    /// Whether clients it admits must install it before going on.
    pub mandatory: bool,
    /// The channel sequence assigned when published.
    pub sequence: Option<i64>,
    /// Why it was deprecated; `None` unless deprecated.
    pub deprecation_reason: Option<String>,
    /// The release clients should move to instead, if one was named.
    pub replacement: Option<ReleaseId>,
    /// The package versions the release is made of, by role.
    pub artifacts: Vec<Artifact>,
    /// When it was created, in unix microseconds.
    pub created_at: i64,
    /// When it last changed, in unix microseconds.
    pub updated_at: i64,
    /// When it was published, in unix microseconds; `None` for drafts.
    pub published_at: Option<i64>,
}

/// Parses a client's app version: `1` and `2.0` read as `1.0.0` and `2.0.0`; otherwise strict
/// semver. An empty text is an error the caller may treat as "no bound".
pub fn parse_app_version(field: &str, value: &str) -> Result<semver::Version> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    let (core, rest) = match value.find(['-', '+']) {
        Some(i) => value.split_at(i),
        None => (value, ""),
    };
    let parts = core.split('.').count();
    let padded = match parts {
        1 => format!("{core}.0.0{rest}"),
        2 => format!("{core}.0{rest}"),
        _ => value.to_owned(),
    };
    semver::Version::parse(&padded)
        .map_err(|e| Error::invalid(field, format!("{value:?} is not an app version: {e}")))
}

/// Returns a key whose byte-wise order is semver precedence: zero-padded numbers, then `~`
/// for a release or `-` and the encoded pre-release (numeric identifiers sort before
/// alphanumeric ones; a shorter identifier list sorts first). Build metadata is ignored.
pub fn sort_key(v: &semver::Version) -> String {
    let mut key = format!("{:020}.{:020}.{:020}", v.major, v.minor, v.patch);
    if v.pre.is_empty() {
        key.push('~');
        return key;
    }
    key.push('-');
    for (i, ident) in v.pre.as_str().split('.').enumerate() {
        if i > 0 {
            // Lower than every identifier character, so `a` < `a.b` < `a-b`.
            key.push(' ');
        }
        match ident.parse::<u64>() {
            Ok(n) if ident.bytes().all(|b| b.is_ascii_digit()) => {
                key.push_str(&format!("0{n:020}"))
            }
            _ => {
                key.push('1');
                key.push_str(ident);
            }
        }
    }
    key
}

/// How serious a validation finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Blocks publishing.
    Error,
    /// Reported, does not block.
    Warning,
}

/// One validation finding about a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Whether the finding blocks publishing.
    pub severity: Severity,
    /// The rule that produced it, e.g. `required_roles`.
    pub rule: &'static str,
    /// The path of the field it is about, e.g. `artifacts`.
    pub field: String,
    /// What is wrong, for people.
    pub message: String,
}

/// What validation needs to know about an attached package version.
#[derive(Debug, Clone)]
pub struct AttachedVersion {
    /// The attachment as the release names it.
    pub artifact: Artifact,
    /// `None` when the version does not exist (any more).
    pub state: Option<VersionState>,
}

/// Validates a release against its channel's required roles and its attached versions.
pub fn validate_release(
    release: &ReleaseRecord,
    required_roles: &[String],
    attached: &[AttachedVersion],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut push = |severity, rule, field: String, message: String| {
        findings.push(Finding {
            severity,
            rule,
            field,
            message,
        })
    };
    for role in required_roles {
        if !release.artifacts.iter().any(|a| a.role.as_str() == role) {
            push(
                Severity::Error,
                "required_roles",
                "artifacts".into(),
                format!(
                    "channel {} requires an artifact with role {role:?}",
                    release.channel
                ),
            );
        }
    }
    for a in attached {
        let field = format!("artifacts[{}]", a.artifact.role);
        let name = format!("{}@{}", a.artifact.package, a.artifact.version);
        match a.state {
            None => push(
                Severity::Error,
                "artifact_published",
                field.clone(),
                format!("{name} does not exist"),
            ),
            Some(VersionState::Draft) => push(
                Severity::Error,
                "artifact_published",
                field.clone(),
                format!("{name} is a draft"),
            ),
            Some(VersionState::Yanked) => push(
                Severity::Error,
                "artifact_published",
                field.clone(),
                format!("{name} is yanked"),
            ),
            Some(VersionState::Removed) => push(
                Severity::Error,
                "artifact_published",
                field.clone(),
                format!("{name} was removed by retention"),
            ),
            Some(VersionState::Deprecated) => push(
                Severity::Warning,
                "artifact_deprecated",
                field.clone(),
                format!("{name} is deprecated"),
            ),
            Some(VersionState::Published) => {}
        }
    }
    let c = &release.compatibility;
    if let (Some(lo), Some(hi)) = (&c.min, &c.max)
        && lo.version > hi.version
    {
        push(
            Severity::Error,
            "app_version_bounds",
            "max_app_version".into(),
            format!(
                "max_app_version {} is below min_app_version {}",
                hi.version, lo.version
            ),
        );
    }
    if c.min.is_none() {
        push(
            Severity::Warning,
            "min_app_version",
            "min_app_version".into(),
            "no min_app_version: every app version will be offered this release".into(),
        );
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> semver::Version {
        semver::Version::parse(s).unwrap()
    }

    fn name(s: &str) -> Name {
        Name::parse("name", s).unwrap()
    }

    #[test]
    fn sort_keys_follow_semver_precedence() {
        // The order given by the semver 2.0 specification, plus numeric width cases.
        let ordered = [
            "0.9.0",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-alpha-b",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.2.0",
            "1.10.0",
            "2.0.0",
        ];
        for pair in ordered.windows(2) {
            let (a, b) = (v(pair[0]), v(pair[1]));
            assert!(a < b, "semver itself: {a} < {b}");
            assert!(sort_key(&a) < sort_key(&b), "{a} must sort before {b}");
        }
        assert_eq!(sort_key(&v("1.0.0+build.1")), sort_key(&v("1.0.0")));
    }

    #[test]
    fn app_versions_accept_short_forms() {
        assert_eq!(parse_app_version("a", "1").unwrap(), v("1.0.0"));
        assert_eq!(parse_app_version("a", "2.0").unwrap(), v("2.0.0"));
        assert_eq!(
            parse_app_version("a", "2.1-beta.1").unwrap(),
            v("2.1.0-beta.1")
        );
        assert_eq!(parse_app_version("a", "3.4.5").unwrap(), v("3.4.5"));
        for bad in ["", "x", "1.2.3.4", "v1", "1..2", "-1"] {
            assert!(parse_app_version("a", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn compatibility_bounds_are_inclusive_and_platforms_filter() {
        let c = Compatibility {
            min: AppVersion::parse_optional("min", "2.0").unwrap(),
            max: AppVersion::parse_optional("max", "3").unwrap(),
            platforms: vec![Name::parse("platform", "ios").unwrap()],
        };
        assert_eq!(c.min.as_ref().unwrap().as_str(), "2.0", "the text is kept");
        assert!(c.admits(&v("2.0.0"), "ios"));
        assert!(c.admits(&v("3.0.0"), "ios"));
        assert!(!c.admits(&v("3.0.1"), "ios"));
        assert!(
            !c.admits(&v("2.0.0-rc.1"), "ios"),
            "a pre-release is below its release"
        );
        assert!(!c.admits(&v("2.5.0"), "android"));
        assert!(!c.admits(&v("2.5.0"), ""));
        assert!(Compatibility::default().admits(&v("0.0.1"), ""));
    }

    fn draft(artifacts: &[&str], min: &str, max: &str) -> ReleaseRecord {
        ReleaseRecord {
            id: ReleaseId::random(),
            seq: 1,
            repo: name("r"),
            channel: name("stable"),
            version: v("1.0.0"),
            state: ReleaseState::Draft,
            etag: Etag::random(),
            compatibility: Compatibility {
                min: AppVersion::parse_optional("min", min).unwrap(),
                max: AppVersion::parse_optional("max", max).unwrap(),
                platforms: vec![],
            },
            notes: String::new(),
            mandatory: false,
            sequence: None,
            deprecation_reason: None,
            replacement: None,
            artifacts: artifacts
                .iter()
                .map(|r| Artifact {
                    role: name(r),
                    package: name("p"),
                    version: v("1.0.0"),
                })
                .collect(),
            created_at: 0,
            updated_at: 0,
            published_at: None,
        }
    }

    fn attached(role: &str, state: Option<VersionState>) -> AttachedVersion {
        AttachedVersion {
            artifact: Artifact {
                role: name(role),
                package: name("p"),
                version: v("1.0.0"),
            },
            state,
        }
    }

    fn rules(findings: &[Finding]) -> Vec<(Severity, &'static str)> {
        findings.iter().map(|f| (f.severity, f.rule)).collect()
    }

    #[test]
    fn each_rule_fails_and_passes() {
        let good = attached("text", Some(VersionState::Published));
        let roles = vec!["text".to_owned()];
        // Everything in order: no finding at all.
        assert!(
            validate_release(
                &draft(&["text"], "1.0", "2.0"),
                &roles,
                std::slice::from_ref(&good)
            )
            .is_empty()
        );
        // required_roles
        let f = validate_release(&draft(&[], "1.0", ""), &roles, &[]);
        assert_eq!(rules(&f), [(Severity::Error, "required_roles")]);
        // artifact_published: missing, draft, yanked are errors; deprecated warns
        for (state, want) in [
            (None, (Severity::Error, "artifact_published")),
            (
                Some(VersionState::Draft),
                (Severity::Error, "artifact_published"),
            ),
            (
                Some(VersionState::Yanked),
                (Severity::Error, "artifact_published"),
            ),
            (
                Some(VersionState::Deprecated),
                (Severity::Warning, "artifact_deprecated"),
            ),
        ] {
            let f = validate_release(
                &draft(&["text"], "1.0", ""),
                &roles,
                &[attached("text", state)],
            );
            assert_eq!(rules(&f), [want], "{state:?}");
        }
        // app_version_bounds: inverted (unparsable bounds never get this far)
        for (min, max) in [("2.0", "1.0"), ("3", "2.9.9")] {
            let f = validate_release(
                &draft(&["text"], min, max),
                &roles,
                std::slice::from_ref(&good),
            );
            assert_eq!(
                rules(&f),
                [(Severity::Error, "app_version_bounds")],
                "{min} {max}"
            );
        }
        // min_app_version missing only warns
        let f = validate_release(
            &draft(&["text"], "", "3"),
            &roles,
            std::slice::from_ref(&good),
        );
        assert_eq!(rules(&f), [(Severity::Warning, "min_app_version")]);
    }
}
