//! The HTML browser of repos, packages, versions and releases, under `/ui`. Every page is
//! rendered on the server from one serializable view, and the same URL answers that view as
//! JSON for `Accept: application/json` or `?format=json`.
//!
//! - `/ui`: the repos the caller may read, and a form (`?repo=x` redirects);
//! - `/ui/{repo}`: packages, channels with their newest published release, recent releases;
//! - `/ui/{repo}/{package}`: versions with state, deprecation reason and replacement;
//! - `/ui/{repo}/{package}/{version}`: files with sizes, digests and download links, manifest;
//! - `/ui/{repo}/releases/{release_id}`: artifacts with their files, compatibility, sequence.
//!
//! Private repos need `Authorization: Bearer <token>` like every other read: without it the
//! page answers 401 (tokens in query strings would end up in logs and browser history).

use std::{collections::BTreeMap, fmt::Write as _};

use axum::{
    Json, Router,
    extract::{FromRequestParts, Path, Query, State},
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::{Deserialize, Serialize};

use crate::{
    api::{error::json_error, grpc::caller_from},
    domain::{
        Error, ErrorCode, Package, ReleaseRecord, ReleaseState, Repo, VersionFile, VersionRecord,
    },
    registry::{Caller, Page, Registry},
};

/// Rows per page of packages and of versions.
const PAGE_SIZE: i32 = 100;
/// How many releases the repo page reads to find its channels (1000 per call).
const MAX_RELEASES_SCANNED: usize = 10_000;
/// How many of the newest releases the repo page lists.
const RECENT_RELEASES: usize = 50;

/// Returns the routes of this module.
pub(super) fn routes() -> Router<Registry> {
    Router::new()
        .route("/ui", get(home))
        .route("/ui/", get(home))
        .route("/ui/{repo}", get(repo_page))
        .route("/ui/{repo}/releases/{release}", get(release_page))
        .route("/ui/{repo}/{package}", get(package_page))
        .route("/ui/{repo}/{package}/{version}", get(version_page))
}

/// The query parameters a page understands.
#[derive(Debug, Default, Deserialize)]
struct UiQuery {
    /// `json` or `html`; otherwise the `Accept` header decides.
    format: Option<String>,
    /// The page token of a paged listing.
    page: Option<String>,
    /// On the landing page: the repo to go to.
    repo: Option<String>,
}

/// How a request wants its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Html,
    Json,
}

/// What every handler needs to know about the request; extracted from its headers and query.
struct Ctx {
    caller: Caller,
    format: Format,
    query: UiQuery,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    /// An unknown `?format=` is answered by a 400 page.
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        let get = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let caller = caller_from(get("authorization"), get("x-request-id"));
        let query = Query::<UiQuery>::try_from_uri(&parts.uri)
            .map(|q| q.0)
            .unwrap_or_default();
        let mut ctx = Self {
            caller,
            format: accepted(get("accept")),
            query,
        };
        match ctx.query.format.as_deref() {
            None => {}
            Some("json") => ctx.format = Format::Json,
            Some("html") => ctx.format = Format::Html,
            Some(_) => return Err(ctx.error(Error::invalid("format", "must be json or html"))),
        }
        Ok(ctx)
    }
}

impl Ctx {
    /// Returns the page token of a paged listing.
    fn page(&self) -> Option<&str> {
        self.query.page.as_deref()
    }

    /// Answers a view as HTML or JSON.
    fn answer<T: Serialize>(
        &self,
        view: &T,
        title: &str,
        html: impl FnOnce(&T) -> String,
    ) -> Response {
        match self.format {
            Format::Json => with_common_headers(Json(view).into_response()),
            Format::Html => html_response(StatusCode::OK, &layout(title, &html(view))),
        }
    }

    /// Answers an error as HTML or as the JSON error body of every HTTP route.
    fn error(&self, e: Error) -> Response {
        let (status, body) = json_error(&e);
        let mut response = match self.format {
            Format::Json => with_common_headers((status, Json(body)).into_response()),
            Format::Html => html_response(
                status,
                &layout(&status_title(status), &error_html(status, &e)),
            ),
        };
        if e.code == ErrorCode::Unauthenticated {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"relreg\""),
            );
        }
        response
    }
}

/// Picks JSON when `Accept` names `application/json` before (or without) `text/html`.
fn accepted(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::Html;
    };
    for range in accept.split(',') {
        let media = range.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/json") {
            return Format::Json;
        }
        if media.eq_ignore_ascii_case("text/html") {
            return Format::Html;
        }
    }
    Format::Html
}

fn with_common_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Authorization"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn html_response(status: StatusCode, body: &str) -> Response {
    let mut response = (status, body.to_owned()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
             form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    with_common_headers(response)
}

// ---------------------------------------------------------------------------------------------
// Views: what a page shows, serialized as is for JSON.

/// A link back to a repo.
#[derive(Debug, Serialize)]
struct RepoRef {
    key: String,
    display_name: String,
    public: bool,
    href: String,
}

impl RepoRef {
    fn new(repo: &Repo) -> Self {
        Self {
            key: repo.key.clone(),
            display_name: repo.display_name.clone(),
            public: repo.public,
            href: repo_href(&repo.key),
        }
    }
}

#[derive(Debug, Serialize)]
struct PackageView {
    name: String,
    kind: String,
    description: String,
    created_at: String,
    href: String,
}

impl PackageView {
    fn new(p: &Package) -> Self {
        Self {
            name: p.name.clone(),
            kind: p.kind.clone(),
            description: p.description.clone(),
            created_at: rfc3339(p.created_at),
            href: package_href(&p.repo, &p.name),
        }
    }
}

#[derive(Debug, Serialize)]
struct FileView {
    path: String,
    size: i64,
    digest: String,
    media_type: String,
    /// The blob download (`GET /v1/repos/{repo}/blobs/{digest}`), relative to the server.
    download_href: String,
}

impl FileView {
    fn new(repo: &str, f: &VersionFile) -> Self {
        Self {
            path: f.path.clone(),
            size: f.size,
            digest: f.digest.clone(),
            media_type: f.media_type.clone(),
            download_href: format!("/v1/repos/{}/blobs/{}", seg(repo), seg(&f.digest)),
        }
    }
}

#[derive(Debug, Serialize)]
struct VersionView {
    version: String,
    state: &'static str,
    content_digest: Option<String>,
    created_at: String,
    published_at: Option<String>,
    deprecation_reason: String,
    /// Another version of the package to use instead.
    replacement: String,
    replacement_href: Option<String>,
    yank_reason: String,
    href: String,
}

impl VersionView {
    fn new(v: &VersionRecord) -> Self {
        let (repo, package) = (&v.key.repo, &v.key.package);
        Self {
            version: v.key.version.clone(),
            state: v.state.as_str(),
            content_digest: v.content_digest.clone(),
            created_at: rfc3339(v.created_at),
            published_at: v.published_at.map(rfc3339),
            deprecation_reason: v.deprecation_reason.clone(),
            replacement: v.replacement.clone(),
            replacement_href: (!v.replacement.is_empty())
                .then(|| version_href(repo, package, &v.replacement)),
            yank_reason: v.yank_reason.clone(),
            href: version_href(repo, package, &v.key.version),
        }
    }
}

#[derive(Debug, Serialize)]
struct ReleaseView {
    id: String,
    channel: String,
    version: String,
    state: &'static str,
    /// The channel sequence assigned when published.
    sequence: Option<i64>,
    mandatory: bool,
    min_app_version: String,
    max_app_version: String,
    platforms: Vec<String>,
    created_at: String,
    published_at: Option<String>,
    deprecation_reason: String,
    /// A release id to use instead.
    replacement: String,
    replacement_href: Option<String>,
    href: String,
}

impl ReleaseView {
    fn new(r: &ReleaseRecord) -> Self {
        Self {
            id: r.id.clone(),
            channel: r.channel.clone(),
            version: r.version.clone(),
            state: r.state.as_str(),
            sequence: r.sequence,
            mandatory: r.mandatory,
            min_app_version: r.compatibility.min_app_version.clone(),
            max_app_version: r.compatibility.max_app_version.clone(),
            platforms: r.compatibility.platforms.clone(),
            created_at: rfc3339(r.created_at),
            published_at: r.published_at.map(rfc3339),
            deprecation_reason: r.deprecation_reason.clone(),
            replacement: r.replacement.clone(),
            replacement_href: (!r.replacement.is_empty())
                .then(|| release_href(&r.repo, &r.replacement)),
            href: release_href(&r.repo, &r.id),
        }
    }
}

/// `/ui`.
#[derive(Debug, Serialize)]
struct HomeView {
    /// Where a repo's page is: replace `{repo}`.
    repo_href_template: &'static str,
    /// The repos the caller may read: public ones, and private ones its token covers.
    repos: Vec<RepoRef>,
    /// The next page of repos, if any.
    next_repos_href: Option<String>,
}

/// `/ui/{repo}`.
#[derive(Debug, Serialize)]
struct RepoView {
    repo: RepoRef,
    created_at: String,
    packages: Vec<PackageView>,
    /// The next page of packages, if any.
    next_packages_href: Option<String>,
    channels: Vec<ChannelView>,
    /// The newest releases, newest first.
    recent_releases: Vec<ReleaseView>,
    /// How many published releases were read to find the channels.
    releases_scanned: usize,
    /// Whether there were more than were read.
    releases_truncated: bool,
}

#[derive(Debug, Serialize)]
struct ChannelView {
    channel: String,
    /// Published and deprecated releases in the channel (of those read).
    releases: usize,
    /// The published, non-deprecated release with the highest semver.
    latest: Option<ReleaseView>,
    /// The highest sequence number assigned in the channel (of those read).
    last_sequence: Option<i64>,
}

/// `/ui/{repo}/{package}`.
#[derive(Debug, Serialize)]
struct PackagePageView {
    repo: RepoRef,
    package: PackageView,
    versions: Vec<VersionView>,
    next_versions_href: Option<String>,
}

/// `/ui/{repo}/{package}/{version}`.
#[derive(Debug, Serialize)]
struct VersionPageView {
    repo: RepoRef,
    package: PackageView,
    version: VersionView,
    files: Vec<FileView>,
    total_size: i64,
    manifest: serde_json::Value,
}

/// `/ui/{repo}/releases/{release_id}`.
#[derive(Debug, Serialize)]
struct ReleasePageView {
    repo: RepoRef,
    release: ReleaseView,
    notes: String,
    artifacts: Vec<ArtifactView>,
}

#[derive(Debug, Serialize)]
struct ArtifactView {
    role: String,
    package: String,
    package_href: String,
    kind: String,
    version: String,
    version_href: String,
    version_state: &'static str,
    content_digest: Option<String>,
    files: Vec<FileView>,
}

// ---------------------------------------------------------------------------------------------
// Handlers.

async fn home(State(registry): State<Registry>, ctx: Ctx) -> Response {
    if let Some(repo) = ctx
        .query
        .repo
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        let mut target = repo_href(repo);
        if ctx.format == Format::Json {
            target.push_str("?format=json");
        }
        let mut response = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(&target) {
            response.headers_mut().insert(header::LOCATION, v);
        }
        return response;
    }
    let listed = match Page::parse(100, ctx.page().unwrap_or_default()) {
        Ok(page) => registry.list_repos(&ctx.caller, &page).await,
        Err(e) => Err(e),
    };
    let (repos, next) = match listed {
        Ok(listed) => listed,
        Err(e) => return ctx.error(e),
    };
    let view = HomeView {
        repo_href_template: "/ui/{repo}",
        repos: repos.iter().map(RepoRef::new).collect(),
        next_repos_href: (!next.is_empty()).then(|| format!("/ui?page={}", seg(&next))),
    };
    ctx.answer(&view, "relreg", home_html)
}

async fn repo_page(
    State(registry): State<Registry>,
    Path(repo): Path<String>,
    ctx: Ctx,
) -> Response {
    match repo_view(&registry, &ctx.caller, &repo, ctx.page()).await {
        Ok(view) => {
            let title = format!("{} — relreg", view.repo.key);
            ctx.answer(&view, &title, repo_html)
        }
        Err(e) => ctx.error(e),
    }
}

async fn package_page(
    State(registry): State<Registry>,
    Path((repo, package)): Path<(String, String)>,
    ctx: Ctx,
) -> Response {
    match package_view(&registry, &ctx.caller, &repo, &package, ctx.page()).await {
        Ok(view) => {
            let title = format!("{}/{} — relreg", view.repo.key, view.package.name);
            ctx.answer(&view, &title, package_html)
        }
        Err(e) => ctx.error(e),
    }
}

async fn version_page(
    State(registry): State<Registry>,
    Path((repo, package, version)): Path<(String, String, String)>,
    ctx: Ctx,
) -> Response {
    answer_version(&registry, &ctx, &repo, &package, &version).await
}

async fn answer_version(
    registry: &Registry,
    ctx: &Ctx,
    repo: &str,
    package: &str,
    version: &str,
) -> Response {
    match version_view(registry, &ctx.caller, repo, package, version).await {
        Ok(view) => {
            let title = format!(
                "{}/{} {} — relreg",
                view.repo.key, view.package.name, view.version.version
            );
            ctx.answer(&view, &title, version_html)
        }
        Err(e) => ctx.error(e),
    }
}

async fn release_page(
    State(registry): State<Registry>,
    Path((repo, release)): Path<(String, String)>,
    ctx: Ctx,
) -> Response {
    match release_view(&registry, &ctx.caller, &repo, &release).await {
        Ok(view) => {
            let title = format!(
                "{} {} {} — relreg",
                view.repo.key, view.release.channel, view.release.version
            );
            ctx.answer(&view, &title, release_html)
        }
        // A package may be called `releases`: its versions live under the same path.
        Err(e) if e.code == ErrorCode::NotFound => {
            if registry
                .get_package(&ctx.caller, &repo, "releases")
                .await
                .is_ok()
            {
                answer_version(&registry, &ctx, &repo, "releases", &release).await
            } else {
                ctx.error(e)
            }
        }
        Err(e) => ctx.error(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Loading the views through the registry's read use cases.

async fn repo_view(
    registry: &Registry,
    caller: &Caller,
    key: &str,
    page_token: Option<&str>,
) -> Result<RepoView, Error> {
    let repo = registry.get_repo(caller, key).await?;
    let page = Page::parse(PAGE_SIZE, page_token.unwrap_or(""))?;
    let (packages, next) = registry.list_packages(caller, key, &page).await?;

    let mut releases = Vec::new();
    let mut token = String::new();
    let mut truncated = false;
    loop {
        let page = Page::parse(1000, &token)?;
        let (rows, next) = registry
            .list_releases(caller, key, "", false, &page)
            .await?;
        releases.extend(rows);
        if next.is_empty() {
            break;
        }
        if releases.len() >= MAX_RELEASES_SCANNED {
            truncated = true;
            break;
        }
        token = next;
    }

    Ok(RepoView {
        repo: RepoRef::new(&repo),
        created_at: rfc3339(repo.created_at),
        packages: packages.iter().map(PackageView::new).collect(),
        next_packages_href: (!next.is_empty())
            .then(|| format!("{}?page={}", repo_href(key), seg(&next))),
        channels: channels(&releases),
        recent_releases: releases
            .iter()
            .rev()
            .take(RECENT_RELEASES)
            .map(ReleaseView::new)
            .collect(),
        releases_scanned: releases.len(),
        releases_truncated: truncated,
    })
}

/// Groups releases by channel, each with its newest offered release: the published,
/// non-deprecated one with the highest semver (what "latest" picks from, before the app
/// version and platform filter).
fn channels(releases: &[ReleaseRecord]) -> Vec<ChannelView> {
    let mut by_channel: BTreeMap<&str, Vec<&ReleaseRecord>> = BTreeMap::new();
    for r in releases {
        by_channel.entry(&r.channel).or_default().push(r);
    }
    by_channel
        .into_iter()
        .map(|(channel, rs)| {
            let latest = rs
                .iter()
                .filter(|r| r.state == ReleaseState::Published)
                .filter_map(|r| semver::Version::parse(&r.version).ok().map(|v| (v, *r)))
                .max_by(|(a, ra), (b, rb)| a.cmp_precedence(b).then(ra.seq.cmp(&rb.seq)))
                .map(|(_, r)| ReleaseView::new(r));
            ChannelView {
                channel: channel.to_owned(),
                releases: rs.len(),
                latest,
                last_sequence: rs.iter().filter_map(|r| r.sequence).max(),
            }
        })
        .collect()
}

async fn package_view(
    registry: &Registry,
    caller: &Caller,
    repo: &str,
    name: &str,
    page_token: Option<&str>,
) -> Result<PackagePageView, Error> {
    let package = registry.get_package(caller, repo, name).await?;
    let repo = registry.get_repo(caller, repo).await?;
    let page = Page::parse(PAGE_SIZE, page_token.unwrap_or(""))?;
    let (versions, next) = registry
        .list_versions(caller, &repo.key, name, &page)
        .await?;
    Ok(PackagePageView {
        next_versions_href: (!next.is_empty())
            .then(|| format!("{}?page={}", package_href(&repo.key, name), seg(&next))),
        repo: RepoRef::new(&repo),
        package: PackageView::new(&package),
        versions: versions.iter().map(VersionView::new).collect(),
    })
}

async fn version_view(
    registry: &Registry,
    caller: &Caller,
    repo: &str,
    package: &str,
    version: &str,
) -> Result<VersionPageView, Error> {
    let v = registry.get_version(caller, repo, package, version).await?;
    let package = registry.get_package(caller, repo, package).await?;
    let repo = registry.get_repo(caller, repo).await?;
    Ok(VersionPageView {
        repo: RepoRef::new(&repo),
        package: PackageView::new(&package),
        version: VersionView::new(&v),
        files: v
            .files
            .iter()
            .map(|f| FileView::new(&repo.key, f))
            .collect(),
        total_size: v.files.iter().map(|f| f.size).sum(),
        manifest: manifest_json(&v.manifest),
    })
}

async fn release_view(
    registry: &Registry,
    caller: &Caller,
    repo: &str,
    id: &str,
) -> Result<ReleasePageView, Error> {
    let repo = registry.get_repo(caller, repo).await?;
    let manifest = registry.release_manifest(caller, id).await?;
    let release = &manifest.release;
    if release.repo != repo.key {
        return Err(Error::not_found(format!(
            "release {id} in repo {}",
            repo.key
        )));
    }
    let artifacts = manifest
        .artifacts
        .iter()
        .map(|(a, package, version)| ArtifactView {
            role: a.role.clone(),
            package: a.package.clone(),
            package_href: package_href(&repo.key, &a.package),
            kind: package.kind.clone(),
            version: a.version.clone(),
            version_href: version_href(&repo.key, &a.package, &a.version),
            version_state: version.state.as_str(),
            content_digest: version.content_digest.clone(),
            files: version
                .files
                .iter()
                .map(|f| FileView::new(&repo.key, f))
                .collect(),
        })
        .collect();
    Ok(ReleasePageView {
        repo: RepoRef::new(&repo),
        release: ReleaseView::new(release),
        notes: release.notes.clone(),
        artifacts,
    })
}

fn manifest_json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

// ---------------------------------------------------------------------------------------------
// Links, escaping and formatting.

fn repo_href(repo: &str) -> String {
    format!("/ui/{}", seg(repo))
}

fn package_href(repo: &str, package: &str) -> String {
    format!("/ui/{}/{}", seg(repo), seg(package))
}

fn version_href(repo: &str, package: &str, version: &str) -> String {
    format!("/ui/{}/{}/{}", seg(repo), seg(package), seg(version))
}

fn release_href(repo: &str, id: &str) -> String {
    format!("/ui/{}/releases/{}", seg(repo), seg(id))
}

/// Percent-encodes a path segment (or query value): everything but RFC 3986 unreserved
/// characters and `:` (digests read `sha256:…`).
fn seg(s: &str) -> String {
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

/// Escapes text for HTML element content and double- or single-quoted attribute values.
fn esc(s: &str) -> String {
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
fn link(href: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", esc(href), esc(text))
}

/// Formats unix microseconds as RFC 3339 UTC.
fn rfc3339(micros: i64) -> String {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    }
    .to_string()
}

/// Shows an RFC 3339 time to the second, date and time joined by a no-break space.
fn short_time(t: &str) -> String {
    match t.split_once('.') {
        Some((seconds, _)) => format!("{seconds}Z"),
        None => t.to_owned(),
    }
    .replacen('T', "\u{a0}", 1)
}

/// Formats a byte count for people: `1.5 MiB`.
fn human_size(bytes: i64) -> String {
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

fn status_title(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    )
}

// ---------------------------------------------------------------------------------------------
// HTML.

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

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body>{body}</body></html>\n",
        esc(title)
    )
}

/// The top bar with breadcrumbs: `(href, text)` pairs, the last one the current page.
fn header_html(crumbs: &[(&str, &str)]) -> String {
    let mut out = String::from("<header><a href=\"/ui\">relreg</a><span class=\"crumbs\">");
    for (href, text) in crumbs {
        out.push_str("<span class=\"sep\">/</span>");
        out.push_str(&link(href, text));
    }
    out.push_str("</span></header>");
    out
}

fn state_badge(state: &str) -> String {
    format!("<span class=\"state state-{0}\">{0}</span>", esc(state))
}

fn opt_time(t: Option<&String>) -> String {
    t.map_or_else(|| "—".to_owned(), |t| esc(&short_time(t)))
}

fn dash(s: &str) -> String {
    if s.is_empty() {
        "—".to_owned()
    } else {
        esc(s)
    }
}

fn compatibility(r: &ReleaseView) -> String {
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

fn files_table(files: &[FileView]) -> String {
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

fn releases_table(releases: &[ReleaseView]) -> String {
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

fn home_html(v: &HomeView) -> String {
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

fn repo_html(v: &RepoView) -> String {
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

fn package_html(v: &PackagePageView) -> String {
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

fn version_html(v: &VersionPageView) -> String {
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

fn release_html(v: &ReleasePageView) -> String {
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

fn error_html(status: StatusCode, e: &Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn segments_are_percent_encoded() {
        assert_eq!(seg("1.0.0+build.1"), "1.0.0%2Bbuild.1");
        assert_eq!(seg("sha256:ab"), "sha256:ab");
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
        assert_eq!(seg("é"), "%C3%A9");
    }

    #[test]
    fn accept_picks_the_first_known_type() {
        assert_eq!(accepted(None), Format::Html);
        assert_eq!(accepted(Some("application/json")), Format::Json);
        assert_eq!(
            accepted(Some("text/html,application/xhtml+xml,*/*;q=0.8")),
            Format::Html
        );
        assert_eq!(
            accepted(Some("application/json; charset=utf-8, text/html")),
            Format::Json
        );
        assert_eq!(accepted(Some("*/*")), Format::Html);
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

    fn release(seq: i64, channel: &str, version: &str, state: ReleaseState) -> ReleaseRecord {
        ReleaseRecord {
            id: format!("rel_{seq}"),
            seq,
            repo: "acme".into(),
            channel: channel.into(),
            version: version.into(),
            state,
            etag: String::new(),
            compatibility: Default::default(),
            notes: String::new(),
            mandatory: false,
            sequence: Some(seq),
            deprecation_reason: String::new(),
            replacement: String::new(),
            artifacts: Vec::new(),
            created_at: 0,
            updated_at: 0,
            published_at: Some(0),
        }
    }

    #[test]
    fn channels_show_the_highest_offered_semver() {
        let rs = [
            release(1, "stable", "1.10.0", ReleaseState::Published),
            release(2, "stable", "1.9.0", ReleaseState::Published),
            release(3, "stable", "2.0.0", ReleaseState::Deprecated),
            release(4, "beta", "2.0.0-rc.1", ReleaseState::Deprecated),
        ];
        let cs = channels(&rs);
        assert_eq!(cs.len(), 2);
        assert_eq!(cs[0].channel, "beta");
        assert!(cs[0].latest.is_none());
        assert_eq!(cs[1].channel, "stable");
        assert_eq!(cs[1].releases, 3);
        assert_eq!(
            cs[1].latest.as_ref().map(|l| l.version.as_str()),
            Some("1.10.0")
        );
        assert_eq!(cs[1].last_sequence, Some(3));
    }
}
