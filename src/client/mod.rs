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
//! - `sync/`: the device-side sync engine (object store, local registry, activation).

mod conn;
pub mod download;
mod error;
pub mod pull;
pub mod retry;
pub mod sync;

pub use conn::{AdminClient, Auth, CatalogClient, Connection, Secret};
pub use error::{ClientError, ClientResult, Exit};
