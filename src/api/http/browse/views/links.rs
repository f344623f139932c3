//! The links between browse pages, and the percent-encoding and time format they use.

use std::fmt::Write as _;

pub(in crate::api::http::browse) fn repo_href(repo: &str) -> String {
    format!("/ui/{}", seg(repo))
}

pub(in crate::api::http::browse) fn package_href(repo: &str, package: &str) -> String {
    format!("/ui/{}/{}", seg(repo), seg(package))
}

pub(in crate::api::http::browse) fn version_href(
    repo: &str,
    package: &str,
    version: &str,
) -> String {
    format!("/ui/{}/{}/{}", seg(repo), seg(package), seg(version))
}

pub(in crate::api::http::browse) fn release_href(repo: &str, id: &str) -> String {
    format!("/ui/{}/releases/{}", seg(repo), seg(id))
}

/// Percent-encodes a path segment (or query value): everything but RFC 3986 unreserved
/// characters and `:` (digests read `sha256:…`).
pub(in crate::api::http::browse) fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Formats unix microseconds as RFC 3339 UTC.
pub(in crate::api::http::browse) fn rfc3339(micros: i64) -> String {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    }
    .to_string()
}
