//! GitHub-compatible release routes, so updaters written for GitHub releases work.

use axum::Router;

use crate::registry::Registry;

/// Returns the routes of this module.
pub(super) fn routes() -> Router<Registry> {
    Router::new()
}
