//! Plain HTTP routes served beside gRPC on the same port: liveness, readiness, blob
//! downloads and uploads, GitHub-compatible releases, the TUF export and the HTML browser; and `/metrics`,
//! on the same port or its own.

mod blobs;
mod browse;
mod github;
mod tuf;
mod uploads;

use std::time::Duration;

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

use crate::registry::Registry;

/// Returns the HTTP routes.
pub fn router(registry: Registry) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/v1/repos/{repo}/blobs/{digest}", get(blobs::download))
        .merge(uploads::routes())
        .merge(github::routes())
        .merge(browse::routes())
        .merge(tuf::routes())
        .with_state(registry)
}

/// Returns the `/metrics` route: merged into the main router, or served on its own address
/// (`--metrics-listen`).
pub fn metrics_router(registry: Registry) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(registry)
}

/// Renders the metrics, with the database pool's state as of now.
async fn metrics(State(registry): State<Registry>) -> impl IntoResponse {
    crate::metrics::record_pool(registry.store().pool_stats());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(),
    )
}

/// How long `/readyz` waits for the database and the blob store: less than the one second a
/// probe typically allows.
const READY_TIMEOUT: Duration = Duration::from_millis(900);

/// Answers 200 when the database and the blob store answer, 503 (with `Retry-After`)
/// otherwise, within `READY_TIMEOUT`.
async fn ready(State(registry): State<Registry>) -> Response {
    match tokio::time::timeout(READY_TIMEOUT, registry.ready()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(_)) | Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "not ready\n",
        )
            .into_response(),
    }
}
