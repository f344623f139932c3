//! The GitHub view of packages: versions as GitHub releases, files as assets.
