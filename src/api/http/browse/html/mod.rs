//! The HTML of the browse pages: one function per page over its view; the shared layout
//! and tables are in `parts`, escaping and formatting in `format`.

mod format;
mod parts;

pub(super) use format::status_title;
pub(super) use parts::layout;

use std::fmt::Write as _;

use axum::http::StatusCode;

use crate::domain::{Error, ErrorCode};

use format::{esc, human_size, link, short_time};
use parts::{compatibility, dash, files_table, header_html, opt_time, releases_table, state_badge};

use super::views::{HomeView, PackagePageView, ReleasePageView, RepoView, VersionPageView};

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
