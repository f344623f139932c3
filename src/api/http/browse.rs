//! The HTML browser of repos, packages, versions and releases (JSON on request).

use axum::Router;

use crate::registry::Registry;

/// Returns the routes of this module.
pub(super) fn routes() -> Router<Registry> {
    Router::new()
}
