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
//!
//! This file holds the routes, content negotiation and handlers; `views` what each page shows
//! and how it is loaded, `html` how it looks.

mod html;
mod views;

use axum::{
    Json, Router,
    extract::{FromRequestParts, Path, Query, State},
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::{Deserialize, Serialize};

use crate::{
    api::{caller::from_headers, error::json_error},
    domain::{Error, ErrorCode, Name},
    registry::{Caller, Listed, Page, Registry},
};

use html::{
    error_html, home_html, layout, package_html, release_html, repo_html, status_title,
    version_html,
};
use views::{
    HomeView, RepoRef, package_view, release_view, repo_href, repo_view, seg, version_view,
};

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
        let caller = from_headers(&parts.headers);
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
    let Listed {
        items: repos,
        next_page_token: next,
    } = match listed {
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
            let found = async {
                let (repo, package) = (
                    Name::parse("repo", &repo)?,
                    Name::parse("package", "releases")?,
                );
                registry.get_package(&ctx.caller, &repo, &package).await
            };
            if found.await.is_ok() {
                answer_version(&registry, &ctx, &repo, "releases", &release).await
            } else {
                ctx.error(e)
            }
        }
        Err(e) => ctx.error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
