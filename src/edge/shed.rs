//! Load shedding: every request takes a slot of an in-flight budget until its response body
//! is done; with no slot free it is answered at once, 503 with `Retry-After` (HTTP and JSON)
//! or RESOURCE_EXHAUSTED with `retry-after` and `grpc-retry-pushback-ms` metadata (gRPC).
//! Catalog reads (the hot path: latest, releases, manifests, versions) have a budget of their
//! own, larger than that of everything else (writes, uploads, downloads, admin reads), so
//! those are shed first; health and metrics probes are never shed.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse as _, Response},
};
use http::{HeaderName, HeaderValue, Method, header};
use tokio::sync::Semaphore;

use crate::{
    api::error::{HttpError, status},
    domain::{Error, ErrorCode},
};

/// Seconds a shed client is asked to wait before trying again.
const RETRY_AFTER_SECS: u64 = 1;
/// gRPC's retry pushback (milliseconds), honoured by gRPC retry policies.
const PUSHBACK: HeaderName = HeaderName::from_static("grpc-retry-pushback-ms");

/// The in-flight budgets, shared by every route.
#[derive(Clone)]
pub(super) struct Budgets {
    general: Arc<Semaphore>,
    catalog: Arc<Semaphore>,
}

impl Budgets {
    pub(super) fn new(general: usize, catalog: usize) -> Self {
        Self {
            general: Arc::new(Semaphore::new(general.max(1))),
            catalog: Arc::new(Semaphore::new(catalog.max(1))),
        }
    }
}

/// Which budget a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Probes: never shed.
    Exempt,
    /// The catalog hot path.
    Catalog,
    /// Everything else.
    General,
}

/// Admits a request within its budget, or sheds it.
pub(super) async fn admit(
    State(budgets): State<Budgets>,
    request: Request,
    next: Next,
) -> Response {
    let grpc = grpc_kind(&request);
    let budget = match classify(request.method(), request.uri().path(), grpc.is_some()) {
        Class::Exempt => return next.run(request).await,
        Class::Catalog => &budgets.catalog,
        Class::General => &budgets.general,
    };
    let Ok(permit) = budget.clone().try_acquire_owned() else {
        return shed(grpc);
    };
    next.run(request)
        .await
        .map(|body| super::held::hold(body, permit))
}

/// The content type of a gRPC or gRPC-Web request, `None` for HTTP and JSON.
fn grpc_kind(request: &Request) -> Option<HeaderValue> {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .filter(|v| v.as_bytes().starts_with(b"application/grpc"))
        .cloned()
}

/// Sorts a request into its budget by method and path.
fn classify(method: &Method, path: &str, grpc: bool) -> Class {
    if grpc {
        return if path.starts_with("/grpc.health.v1.Health/") {
            Class::Exempt
        } else if path.starts_with("/relreg.v1.ReleaseCatalog/")
            && path != "/relreg.v1.ReleaseCatalog/DownloadBlob"
        {
            Class::Catalog
        } else {
            Class::General
        };
    }
    if matches!(path, "/healthz" | "/readyz" | "/metrics") {
        return Class::Exempt;
    }
    if method != Method::GET && method != Method::HEAD {
        return Class::General;
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let catalog = match segments.as_slice() {
        // GetLatestRelease; GetRelease and GetReleaseManifest.
        ["v1", "repos", _, "channels", _, "latest"]
        | ["v1", "releases", _]
        | ["v1", "releases", _, "manifest"]
        // GetPackage, ResolveVersion, ListVersions, GetVersion; ListReleases.
        | ["v1", "repos", _, "packages", _]
        | ["v1", "repos", _, "packages", _, "versions"]
        | ["v1", "repos", _, "packages", _, "versions", _]
        | ["v1", "repos", _, "releases"]
        // GitHub's latest release.
        | ["repos", _, _, "releases", "latest"]
        | ["api", "v3", "repos", _, _, "releases", "latest"] => true,
        _ => false,
    };
    if catalog {
        Class::Catalog
    } else {
        Class::General
    }
}

/// The answer of a shed request.
fn shed(grpc: Option<HeaderValue>) -> Response {
    let error = Error::new(
        ErrorCode::Overloaded,
        format!("the server is busy: try again in {RETRY_AFTER_SECS} s"),
    );
    let mut response = match grpc {
        Some(content_type) => {
            let mut r = status(error).into_http::<Body>();
            // A gRPC-Web caller gets its own content type (the status is in the headers).
            r.headers_mut().insert(header::CONTENT_TYPE, content_type);
            r.headers_mut()
                .insert(PUSHBACK, HeaderValue::from(RETRY_AFTER_SECS * 1000));
            r
        }
        None => HttpError(error).into_response(),
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_reads_have_their_own_budget() {
        let get = &Method::GET;
        for path in [
            "/v1/repos/acme/channels/stable/latest",
            "/v1/releases/rel_1/manifest",
            "/v1/releases/rel_1",
            "/v1/repos/acme/packages/app/versions/1.0.0",
            "/repos/acme/app/releases/latest",
        ] {
            assert_eq!(classify(get, path, false), Class::Catalog, "{path}");
        }
        for path in [
            "/v1/repos/acme/blobs/sha256:00",
            "/v1/tokens",
            "/v1/audit-events",
            "/ui/acme",
        ] {
            assert_eq!(classify(get, path, false), Class::General, "{path}");
        }
        let post = &Method::POST;
        assert_eq!(
            classify(post, "/v1/releases/rel_1:publish", false),
            Class::General
        );
        assert_eq!(
            classify(post, "/relreg.v1.ReleaseCatalog/GetLatestRelease", true),
            Class::Catalog
        );
        assert_eq!(
            classify(post, "/relreg.v1.ReleaseCatalog/DownloadBlob", true),
            Class::General
        );
        assert_eq!(
            classify(post, "/relreg.v1.ReleaseAdmin/CreateRepo", true),
            Class::General
        );
        assert_eq!(
            classify(post, "/grpc.health.v1.Health/Check", true),
            Class::Exempt
        );
        assert_eq!(classify(get, "/healthz", false), Class::Exempt);
    }
}
