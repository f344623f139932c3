//! Plain HTTP routes served beside gRPC on the same port: liveness, readiness and blob
//! downloads.

mod blobs;

use axum::{Router, extract::State, http::StatusCode, routing::get};

use crate::registry::Registry;

/// Returns the HTTP routes.
pub fn router(registry: Registry) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/v1/repos/{repo}/blobs/{digest}", get(blobs::download))
        .with_state(registry)
}

/// Answers 200 when the database and the blob store answer, 503 otherwise.
async fn ready(State(registry): State<Registry>) -> (StatusCode, &'static str) {
    match registry.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
    }
}
