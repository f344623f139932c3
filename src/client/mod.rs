//! The client library: typed calls to a running relreg server, resumable transfers and the
//! device-side sync engine. The `relreg` CLI's client commands are thin layers over it, and
//! Rust services can use it directly.
//!
//! - `conn.rs`: [`Connection`], one server address and token, handing out tonic clients and
//!   authorized HTTP requests;
//! - `error.rs`: [`ClientError`] and the documented process exit codes;
//! - `download.rs`: resumable, verified download of one blob into a file;
//! - `retry.rs`: exponential backoff with jitter for transient failures;
//! - `pull.rs`: one package version's files into a directory;
//! - `sync/`: the device-side sync engine (object store, local registry, activation);
//! - `profile.rs`: named profiles (server and token) that `relreg login` stores, mode 0600;
//! - `refs.rs`: [`VersionRef`], `REPO/PACKAGE@VERSION` parsed once;
//! - `upload.rs`: resumable blob uploads over the HTTP session routes; `sessions.rs`: the
//!   session URLs remembered between runs;
//! - `publish.rs`: the push flow (draft, uploads, bindings, manifest, publish); `send.rs`
//!   sends one file of it (hashed first, or while it uploads when large).

mod conn;
pub mod download;
mod error;
pub mod profile;
pub mod publish;
pub mod pull;
mod refs;
pub mod retry;
mod send;
mod sessions;
pub mod sync;
pub mod upload;

pub use conn::{AdminClient, Auth, CatalogClient, Connection, Secret};
pub use error::{ClientError, ClientResult, Exit};
pub use profile::{Profile, Profiles};
pub use refs::VersionRef;
