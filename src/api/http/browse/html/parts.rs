//! The shared pieces of every browse page: the style sheet, the layout and top bar, state
//! badges, and the file and release tables.

use std::fmt::Write as _;

use super::format::{esc, human_size, link, short_time};
use crate::api::http::browse::views::{FileView, ReleaseView};

const STYLE: &str = "\
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

pub(in crate::api::http::browse) fn layout(title: &str, body: &str) -> String {
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
