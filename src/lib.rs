//! relreg: a release registry. Content goes in as sha256-addressed blobs grouped into package
//! versions, is validated and published atomically, and is served over gRPC, gRPC-Web and HTTP.
//!
//! Layers, dependencies pointing one way: `api` (transport) → `registry` (use cases) →
//! `store` and `blobs`; `domain` types are shared by all.

pub mod api;
pub mod blobs;
pub mod cli;
pub mod client;
pub mod config;
pub mod domain;
pub mod edge;
pub mod metrics;
pub mod pb;
pub mod registry;
pub mod server;
pub mod store;
