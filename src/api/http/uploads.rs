//! Blob uploads over HTTP: a single `PUT` and OCI-style resumable sessions.

use axum::Router;

use crate::registry::Registry;

/// Returns the routes of this module.
pub(super) fn routes() -> Router<Registry> {
    Router::new()
}
