//! The HTML of the browse pages: one function per page over its view, a shared layout, and
//! escaping and formatting for people.

use std::fmt::Write as _;

use axum::http::StatusCode;

use crate::domain::{Error, ErrorCode};

use super::views::{
    FileView, HomeView, PackagePageView, ReleasePageView, ReleaseView, RepoView, VersionPageView,
};

// ---------------------------------------------------------------------------------------------
// HTML.

pub(super) const STYLE: &str = "\
body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1f2328;background:#fff}\
header{background:#24292f;color:#fff;padding:.7rem 1.5rem}\
header a{color:#fff;text-decoration:none;font-weight:600}\
header .crumbs a{font-weight:400}\
header .sep{opacity:.6;margin:0 .4rem}\
main{max-width:72rem;margin:0 auto;padding:1rem 1.5rem 3rem}\
h1{font-size:1.5rem;margin:.8rem 0 .3rem}h2{font-size:1.15rem;margin:1.6rem 0 .4rem}\
a{color:#0969da}\
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem;font-size:14px}\
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #d0d7de;vertical-align:top}\
th{background:#f6f8fa;font-weight:600}\
td.num{text-align:right;white-space:nowrap}\
code,pre{font:13px ui-monospace,SFMono-Regular,Menlo,monospace}\
code.digest{word-break:break-all}\
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.8rem;overflow:auto}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1.2rem;margin:.6rem 0}\
dt{font-weight:600;color:#57606a}dd{margin:0}\
.muted{color:#57606a}\
.state{display:inline-block;padding:0 .5rem;border-radius:1rem;font-size:12px;font-weight:600;border:1px solid}\
.state-PUBLISHED{color:#1a7f37;border-color:#1a7f37}\
.state-DRAFT{color:#57606a;border-color:#8c959f}\
.state-DEPRECATED{color:#9a6700;border-color:#bf8700}\
.state-YANKED{color:#cf222e;border-color:#cf222e}\
.error{background:#ffebe9;border:1px solid #ff818266;border-radius:6px;padding:1rem}\
form input{font:inherit;padding:.3rem .5rem;border:1px solid #d0d7de;border-radius:6px}\
form button{font:inherit;padding:.3rem .8rem;border-radius:6px;border:1px solid #1f883d;background:#1f883d;color:#fff}";

pub(super) fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body>{body}</body></html>\n",
        esc(title)
    )
}

/// The top bar with breadcrumbs: `(href, text)` pairs, the last one the current page.
pub(super) fn header_html(crumbs: &[(&str, &str)]) -> String {
    let mut out = String::from("<header><a href=\"/ui\">relreg</a><span class=\"crumbs\">");
    for (href, text) in crumbs {
        out.push_str("<span class=\"sep\">/</span>");
        out.push_str(&link(href, text));
    }
    out.push_str("</span></header>");
    out
}

pub(super) fn state_badge(state: &str) -> String {
    format!("<span class=\"state state-{0}\">{0}</span>", esc(state))
}

pub(super) fn opt_time(t: Option<&String>) -> String {
    t.map_or_else(|| "—".to_owned(), |t| esc(&short_time(t)))
}

pub(super) fn dash(s: &str) -> String {
    if s.is_empty() {
        "—".to_owned()
    } else {
        esc(s)
    }
}

pub(super) fn compatibility(r: &ReleaseView) -> String {
    let min = if r.min_app_version.is_empty() {
        "any"
    } else {
        &r.min_app_version
    };
    let max = if r.max_app_version.is_empty() {
        "any"
    } else {
        &r.max_app_version
    };
    let mut out = format!("app {} … {}", esc(min), esc(max));
    if !r.platforms.is_empty() {
        let _ = write!(out, " on {}", esc(&r.platforms.join(", ")));
    }
    out
}

pub(super) fn files_table(files: &[FileView]) -> String {
    if files.is_empty() {
        return "<p class=\"muted\">No files.</p>".into();
    }
    let mut out = String::from(
        "<table><tr><th>Path</th><th>Size</th><th>Digest</th><th>Media type</th><th></th></tr>",
    );
    for f in files {
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td class=\"num\" title=\"{} bytes\">{}</td>\
             <td><code class=\"digest\">{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(&f.path),
            f.size,
            esc(&human_size(f.size)),
            esc(&f.digest),
            dash(&f.media_type),
            link(&f.download_href, "download"),
        );
    }
    out.push_str("</table>");
    out
}

pub(super) fn releases_table(releases: &[ReleaseView]) -> String {
    let mut out = String::from(
        "<table><tr><th>Release</th><th>Channel</th><th>State</th><th>Sequence</th>\
         <th>Compatibility</th><th>Published</th></tr>",
    );
    for r in releases {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            link(&r.href, &r.version),
            esc(&r.channel),
            state_badge(r.state),
            r.sequence.map_or_else(|| "—".into(), |s| s.to_string()),
            compatibility(r),
            opt_time(r.published_at.as_ref()),
        );
    }
    out.push_str("</table>");
    out
}

pub(super) fn home_html(v: &HomeView) -> String {
    let mut out = header_html(&[]);
    out.push_str(
        "<main><h1>relreg</h1>\
         <p>Browse a repo's packages, versions and releases. Public repos are open to everyone; \
         private repos answer only requests that carry <code>Authorization: Bearer &lt;token&gt;</code>.</p>",
    );
    out.push_str("<h2>Repos</h2>");
    if v.repos.is_empty() {
        out.push_str("<p class=\"muted\">No repos to show.</p>");
    } else {
        out.push_str("<ul>");
        for r in &v.repos {
            let visibility = if r.public { "public" } else { "private" };
            let _ = write!(
                out,
                "<li>{} <span class=\"muted\">{}</span></li>",
                link(&r.href, &r.key),
                visibility
            );
        }
        out.push_str("</ul>");
    }
    if let Some(next) = &v.next_repos_href {
        let _ = write!(out, "<p>{}</p>", link(next, "More repos →"));
    }
    out.push_str(
        "\
         <form action=\"/ui\" method=\"get\"><label>Repo <input name=\"repo\" required \
         pattern=\"[a-z0-9][a-z0-9._\\-]{0,63}\" placeholder=\"acme\"></label> \
         <button type=\"submit\">Open</button></form>\
         <p class=\"muted\">Every page answers JSON too: add <code>?format=json</code> or send \
         <code>Accept: application/json</code>.</p></main>",
    );
    out
}

pub(super) fn repo_html(v: &RepoView) -> String {
    let r = &v.repo;
    let mut out = header_html(&[(&r.href, &r.key)]);
    let _ = write!(
        out,
        "<main><h1>{}</h1><dl><dt>Repo</dt><dd><code>{}</code></dd><dt>Visibility</dt><dd>{}</dd>\
         <dt>Created</dt><dd>{}</dd></dl>",
        esc(if r.display_name.is_empty() {
            &r.key
        } else {
            &r.display_name
        }),
        esc(&r.key),
        if r.public { "public" } else { "private" },
        esc(&short_time(&v.created_at)),
    );

    out.push_str("<h2>Packages</h2>");
    if v.packages.is_empty() {
        out.push_str("<p class=\"muted\">No packages.</p>");
    } else {
        out.push_str(
            "<table><tr><th>Package</th><th>Kind</th><th>Description</th><th>Created</th></tr>",
        );
        for p in &v.packages {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                link(&p.href, &p.name),
                esc(&p.kind),
                dash(&p.description),
                esc(&short_time(&p.created_at)),
            );
        }
        out.push_str("</table>");
    }
    if let Some(next) = &v.next_packages_href {
        let _ = write!(out, "<p>{}</p>", link(next, "More packages →"));
    }

    out.push_str("<h2>Channels</h2>");
    if v.channels.is_empty() {
        out.push_str("<p class=\"muted\">No published releases.</p>");
    } else {
        out.push_str(
            "<table><tr><th>Channel</th><th>Latest release</th><th>Sequence</th>\
             <th>Compatibility</th><th>Published</th><th>Releases</th></tr>",
        );
        for c in &v.channels {
            match &c.latest {
                Some(l) => {
                    let _ = write!(
                        out,
                        "<tr><td>{}</td><td>{}{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                        esc(&c.channel),
                        link(&l.href, &l.version),
                        if l.mandatory {
                            " <span class=\"muted\">(mandatory)</span>"
                        } else {
                            ""
                        },
                        l.sequence.map_or_else(|| "—".into(), |s| s.to_string()),
                        compatibility(l),
                        opt_time(l.published_at.as_ref()),
                        c.releases,
                    );
                }
                None => {
                    let _ = write!(
                        out,
                        "<tr><td>{}</td><td class=\"muted\" colspan=\"4\">every release is deprecated</td><td class=\"num\">{}</td></tr>",
                        esc(&c.channel),
                        c.releases,
                    );
                }
            }
        }
        out.push_str("</table>");
        if v.releases_truncated {
            let _ = write!(
                out,
                "<p class=\"muted\">Channels of the first {} releases.</p>",
                v.releases_scanned
            );
        }
        out.push_str("<h2>Recent releases</h2>");
        out.push_str(&releases_table(&v.recent_releases));
    }
    out.push_str("</main>");
    out
}

pub(super) fn package_html(v: &PackagePageView) -> String {
    let (r, p) = (&v.repo, &v.package);
    let mut out = header_html(&[(&r.href, &r.key), (&p.href, &p.name)]);
    let _ = write!(
        out,
        "<main><h1>{}</h1><dl><dt>Kind</dt><dd>{}</dd><dt>Description</dt><dd>{}</dd>\
         <dt>Created</dt><dd>{}</dd></dl><h2>Versions</h2>",
        esc(&p.name),
        esc(&p.kind),
        dash(&p.description),
        esc(&short_time(&p.created_at)),
    );
    if v.versions.is_empty() {
        out.push_str("<p class=\"muted\">No versions.</p>");
    } else {
        out.push_str(
            "<table><tr><th>Version</th><th>State</th><th>Published</th>\
             <th>Deprecation reason</th><th>Replacement</th><th>Content digest</th></tr>",
        );
        for ver in &v.versions {
            let reason = if ver.yank_reason.is_empty() {
                dash(&ver.deprecation_reason)
            } else if ver.deprecation_reason.is_empty() {
                format!("yanked: {}", esc(&ver.yank_reason))
            } else {
                format!(
                    "{}; yanked: {}",
                    esc(&ver.deprecation_reason),
                    esc(&ver.yank_reason)
                )
            };
            let replacement = match &ver.replacement_href {
                Some(href) => link(href, &ver.replacement),
                None => "—".into(),
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code class=\"digest\">{}</code></td></tr>",
                link(&ver.href, &ver.version),
                state_badge(ver.state),
                opt_time(ver.published_at.as_ref()),
                reason,
                replacement,
                ver.content_digest
                    .as_deref()
                    .map_or_else(|| "—".into(), esc),
            );
        }
        out.push_str("</table>");
    }
    if let Some(next) = &v.next_versions_href {
        let _ = write!(out, "<p>{}</p>", link(next, "More versions →"));
    }
    out.push_str("</main>");
    out
}

pub(super) fn version_html(v: &VersionPageView) -> String {
    let (r, p, ver) = (&v.repo, &v.package, &v.version);
    let mut out = header_html(&[
        (&r.href, &r.key),
        (&p.href, &p.name),
        (&ver.href, &ver.version),
    ]);
    let _ = write!(
        out,
        "<main><h1>{} {}</h1><dl><dt>State</dt><dd>{}</dd><dt>Kind</dt><dd>{}</dd>\
         <dt>Content digest</dt><dd><code class=\"digest\">{}</code></dd>\
         <dt>Created</dt><dd>{}</dd><dt>Published</dt><dd>{}</dd>",
        esc(&p.name),
        esc(&ver.version),
        state_badge(ver.state),
        esc(&p.kind),
        ver.content_digest
            .as_deref()
            .map_or_else(|| "—".into(), esc),
        esc(&short_time(&ver.created_at)),
        opt_time(ver.published_at.as_ref()),
    );
    if !ver.deprecation_reason.is_empty() {
        let _ = write!(
            out,
            "<dt>Deprecated</dt><dd>{}</dd>",
            esc(&ver.deprecation_reason)
        );
    }
    if let Some(href) = &ver.replacement_href {
        let _ = write!(
            out,
            "<dt>Replacement</dt><dd>{}</dd>",
            link(href, &ver.replacement)
        );
    }
    if !ver.yank_reason.is_empty() {
        let _ = write!(out, "<dt>Yanked</dt><dd>{}</dd>", esc(&ver.yank_reason));
    }
    let _ = write!(
        out,
        "</dl><h2>Files <span class=\"muted\">({}, {})</span></h2>{}<h2>Manifest</h2><pre>{}</pre></main>",
        v.files.len(),
        esc(&human_size(v.total_size)),
        files_table(&v.files),
        esc(&serde_json::to_string_pretty(&v.manifest).unwrap_or_default()),
    );
    out
}

pub(super) fn release_html(v: &ReleasePageView) -> String {
    let (r, rel) = (&v.repo, &v.release);
    let title = format!("{} {}", rel.channel, rel.version);
    let mut out = header_html(&[(&r.href, &r.key), (&rel.href, &title)]);
    let _ = write!(
        out,
        "<main><h1>Release {} <span class=\"muted\">in {}</span></h1><dl>\
         <dt>Id</dt><dd><code>{}</code></dd><dt>State</dt><dd>{}</dd>\
         <dt>Sequence</dt><dd>{}</dd><dt>Compatibility</dt><dd>{}</dd>\
         <dt>Mandatory</dt><dd>{}</dd><dt>Created</dt><dd>{}</dd><dt>Published</dt><dd>{}</dd>",
        esc(&rel.version),
        esc(&rel.channel),
        esc(&rel.id),
        state_badge(rel.state),
        rel.sequence.map_or_else(|| "—".into(), |s| s.to_string()),
        compatibility(rel),
        if rel.mandatory { "yes" } else { "no" },
        esc(&short_time(&rel.created_at)),
        opt_time(rel.published_at.as_ref()),
    );
    if !rel.deprecation_reason.is_empty() {
        let _ = write!(
            out,
            "<dt>Deprecated</dt><dd>{}</dd>",
            esc(&rel.deprecation_reason)
        );
    }
    if let Some(href) = &rel.replacement_href {
        let _ = write!(
            out,
            "<dt>Replacement</dt><dd>{}</dd>",
            link(href, &rel.replacement)
        );
    }
    if !v.notes.is_empty() {
        let _ = write!(out, "<dt>Notes</dt><dd>{}</dd>", esc(&v.notes));
    }
    out.push_str("</dl><h2>Artifacts</h2>");
    if v.artifacts.is_empty() {
        out.push_str("<p class=\"muted\">No artifacts.</p>");
    }
    for a in &v.artifacts {
        let _ = write!(
            out,
            "<h3>{} <span class=\"muted\">→</span> {} {} {} <span class=\"muted\">({})</span></h3>\
             <p class=\"muted\">Content digest <code class=\"digest\">{}</code></p>{}",
            esc(&a.role),
            link(&a.package_href, &a.package),
            link(&a.version_href, &a.version),
            state_badge(a.version_state),
            esc(&a.kind),
            a.content_digest.as_deref().map_or_else(|| "—".into(), esc),
            files_table(&a.files),
        );
    }
    out.push_str("</main>");
    out
}

pub(super) fn error_html(status: StatusCode, e: &Error) -> String {
    let hint = match e.code {
        ErrorCode::Unauthenticated => {
            "<p>This repo is private: send <code>Authorization: Bearer &lt;token&gt;</code> \
             with a reader token.</p>"
        }
        ErrorCode::PermissionDenied => "<p>The token does not allow reading this repo.</p>",
        _ => "",
    };
    format!(
        "{}<main><h1>{}</h1><div class=\"error\"><p>{}</p>{hint}</div><p>{}</p></main>",
        header_html(&[]),
        esc(&status_title(status)),
        esc(&e.message),
        link("/ui", "Back to relreg"),
    )
}

// ---------------------------------------------------------------------------------------------
// Escaping and formatting.

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
pub(super) fn human_size(bytes: i64) -> String {
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

pub(super) fn status_title(status: StatusCode) -> String {
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
