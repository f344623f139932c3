//! Plain HTTP routes served beside gRPC on the same port: liveness, readiness, blob
//! downloads and uploads, GitHub-compatible releases and the HTML browser.

mod blobs;
mod browse;
mod github;
mod uploads;

use axum::{Router, extract::State, http::StatusCode, routing::get};

use crate::registry::Registry;

/// Returns the HTTP routes.
pub fn router(registry: Registry) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(|| async { crate::metrics::render() }))
        .route("/v1/repos/{repo}/blobs/{digest}", get(blobs::download))
        .merge(uploads::routes())
        .merge(github::routes())
        .merge(browse::routes())
        .with_state(registry)
}

/// Answers 200 when the database and the blob store answer, 503 otherwise.
async fn ready(State(registry): State<Registry>) -> (StatusCode, &'static str) {
    match registry.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
    }
}
