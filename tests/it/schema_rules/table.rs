//! The table of values per kind of field, and what the domain parsers (the authority) say
//! about each.

use relreg::{
    domain::{
        self, FilePath, parse_app_version, parse_name, parse_requirement, parse_semver,
        validator_for,
    },
    registry::Page,
};

/// What a field holds, and so which parser decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Name,
    Digest,
    Path,
    Semver,
    AppVersion,
    Requirement,
    PageSize,
    /// A release id: the registry only asks for one (an unknown id is NOT_FOUND).
    ReleaseId,
    /// A download offset: the gRPC layer refuses negative ones.
    Offset,
    /// A package kind: one of the kinds that have a manifest validator.
    PackageType,
    /// A deprecation reason: the registry refuses one that is empty once trimmed.
    Reason,
}

/// Whether the server reads an empty value as "not given" (a filter, an optional bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Presence {
    Required,
    Optional,
}

use Kind::*;
use Presence::*;

/// A value to check: text, or a number for page sizes and offsets.
#[derive(Debug, Clone)]
pub(super) enum Input {
    Text(String),
    Number(i64),
}

/// Returns the table of values for a kind: the interesting valid and invalid ones.
pub(super) fn values(kind: Kind) -> Vec<Input> {
    let text = |v: &[&str]| v.iter().map(|s| Input::Text((*s).to_owned())).collect();
    let hex = "ab".repeat(32);
    let mut out: Vec<Input> = match kind {
        Name => text(&[
            "a",
            "0",
            "acme-mobile",
            "a.b_c-d",
            "9lives",
            "a-",
            "a.",
            "",
            "A",
            "aB",
            "Ñ",
            "ä",
            "-a",
            ".a",
            "_a",
            "a b",
            " a",
            "a/b",
            "a\n",
            "a\0",
            "a%2F",
        ]),
        Digest => text(&[
            "",
            "sha256:",
            "SHA256:",
            "sha512:",
            "ab",
            "sha256:ABCD",
            "sha256:abcd",
            &format!("sha256:{hex}"),
            &format!("sha256:{}", "0".repeat(64)),
            &format!("sha256:{}", hex.to_uppercase()),
            &format!("sha256:{}", &hex[1..]),
            &format!("sha256:{hex}a"),
            &format!("sha256:{}g", &hex[1..]),
            &format!("sha512:{hex}"),
            &format!("sha256:{hex}\n"),
            &format!(" sha256:{hex}"),
            &hex,
        ]),
        Path => text(&[
            "a",
            "dir/file.json",
            "a/b/c.d",
            "x..y",
            ".hidden",
            "..a",
            "...",
            "a/.b",
            "ü/ö.txt",
            "a b",
            "",
            "/abs",
            "../x",
            "a/../b",
            "..",
            ".",
            "a/.",
            "a\\b",
            "a\0b",
            "a//b",
            "./a",
            "a/",
            "a\tb",
            "a\nb",
            "a\u{7f}",
            "a\u{85}b",
            "a\u{a0}b",
            &"a".repeat(512),
            &"a".repeat(513),
            &"é".repeat(256),
            &"é".repeat(257),
        ]),
        Semver => text(&[
            "1.0.0",
            "0.0.0",
            "1.2.3-alpha.1",
            "1.2.3-0.a",
            "1.0.0-01a",
            "1.0.0+build.01",
            "1.0.0-x-y",
            "1.0.0-a--b+c",
            "9999999999999999999.0.0",
            "1.0.0-99999999999999999999999",
            "",
            "1",
            "1.0",
            "v1.0.0",
            "1.0.0-",
            "1.0.0+",
            "01.0.0",
            "1.00.0",
            "1.0.0-01",
            "1.0.0-a..b",
            "1.0.0+a..b",
            " 1.0.0",
            "1.0.0 ",
            "1.0.0.0",
            "1.0.0-ä",
            "18446744073709551616.0.0",
            "18446744073709551615.0.0",
        ]),
        AppVersion => text(&[
            "1",
            "0",
            "2.0",
            "1.2.3",
            "1-beta",
            "1.2-rc.1+b",
            "1.2.3+x",
            "",
            "v1",
            "1.",
            ".1",
            "1.2.3.4",
            "1..2",
            "01",
            "1-",
            "a",
            "1.2.3-01",
            "-beta",
            " 1.2 ",
        ]),
        Requirement => text(&["^1.4", ">=1.2, <2", "*", "1", "", " ", "not a requirement"]),
        ReleaseId => text(&["rel_0123456789abcdef", "x", "Ñ", ""]),
        PackageType => text(&["generic", "config", "", "Generic", "dataset", " generic"]),
        Reason => text(&["superseded", "x", "", " ", "\t"]),
        PageSize | Offset => [
            i64::from(i32::MIN),
            -1,
            0,
            1,
            50,
            1000,
            1001,
            i64::from(i32::MAX),
        ]
        .into_iter()
        .map(Input::Number)
        .collect(),
    };
    if kind == Name {
        out.push(Input::Text("a".repeat(64)));
        out.push(Input::Text("a".repeat(65)));
    }
    out
}

/// Returns the server's verdict: what the domain parser (or, where noted, the layer that
/// reads the field) says about a value.
pub(super) fn parser_admits(kind: Kind, presence: Presence, input: &Input) -> bool {
    match input {
        Input::Text(v) if v.is_empty() && presence == Optional => true,
        Input::Text(v) => match kind {
            Name => parse_name("f", v).is_ok(),
            Digest => domain::Digest::parse("f", v).is_ok(),
            Path => FilePath::parse("f", v).is_ok(),
            Semver => parse_semver("f", v).is_ok(),
            AppVersion => parse_app_version("f", v).is_ok(),
            Requirement => parse_requirement("f", v).is_ok(),
            ReleaseId => !v.is_empty(),
            Reason => !v.trim().is_empty(),
            PackageType => validator_for(v).is_ok(),
            PageSize | Offset => unreachable!("{kind:?} takes numbers"),
        },
        Input::Number(n) => match kind {
            PageSize => i32::try_from(*n).is_ok_and(|n| Page::parse(n, "").is_ok()),
            Offset => u64::try_from(*n).is_ok(),
            _ => unreachable!("{kind:?} takes text"),
        },
    }
}

/// Returns why the declared rule and the parser knowingly disagree on a value, if they do.
/// The tests fail when one of these stops disagreeing, so the list stays true.
pub(super) fn known_divergence(kind: Kind, input: &Input) -> Option<&'static str> {
    let Input::Text(v) = input else { return None };
    match (kind, v.as_str()) {
        // Numbers are u64 in the semver crate; the pattern allows at most 19 digits, as one
        // RE2/ECMA pattern for "at most 18446744073709551615" would be ~400 characters.
        (Semver, "18446744073709551615.0.0") => Some("u64::MAX is a valid major version"),
        // parse_app_version trims Unicode white space; the pattern has no portable class for it.
        (AppVersion, " 1.2 ") => Some("surrounding white space is trimmed"),
        // The semver requirement grammar is not stated; the proto only says it is required.
        (Requirement, " " | "not a requirement") => Some("requirement grammar not expressed"),
        // The registry trims a reason; the proto only says it is required.
        (Reason, " " | "\t") => Some("a blank reason is refused after trimming"),
        _ => None,
    }
}
