//! Escaping and formatting for people: HTML escaping, links, times and byte sizes.

use axum::http::StatusCode;

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A link: `href` and `text` are escaped here.
pub(super) fn link(href: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", esc(href), esc(text))
}

/// Shows an RFC 3339 time to the second, date and time joined by a no-break space.
pub(super) fn short_time(t: &str) -> String {
    match t.split_once('.') {
        Some((seconds, _)) => format!("{seconds}Z"),
        None => t.to_owned(),
    }
    .replacen('T', "\u{a0}", 1)
}

/// Formats a byte count for people: `1.5 MiB`.
pub(super) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Returns a status line for people, e.g. `404 Not Found`.
pub(in crate::api::http::browse) fn status_title(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::http::browse::views::rfc3339;

    #[test]
    fn escapes_html_and_attributes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(esc("plain 1.0.0"), "plain 1.0.0");
        assert_eq!(
            link("/ui/a?x=\"y\"", "<b>"),
            "<a href=\"/ui/a?x=&quot;y&quot;\">&lt;b&gt;</a>"
        );
    }

    #[test]
    fn times_and_sizes_read_well() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_500_000), "1970-01-01T00:00:01.500Z");
        assert_eq!(short_time(&rfc3339(1_500_000)), "1970-01-01\u{a0}00:00:01Z");
        assert_eq!(human_size(10), "10 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0 MiB");
    }
}
