//! GitHub-compatible routes driven by a client library made for GitHub releases.
