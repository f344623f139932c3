//! The client library: typed calls to a running relreg server, resumable transfers and the
//! device-side sync engine. The `relreg` CLI's client commands are thin layers over it, and
//! Rust services can use it directly.
//!
//! - `conn.rs`: [`Connection`], one server address and token, handing out tonic clients and
//!   authorized HTTP requests;
//! - `error.rs`: [`ClientError`] and the documented process exit codes.

mod conn;
mod error;

pub use conn::{AdminClient, Auth, CatalogClient, Connection, Secret};
pub use error::{ClientError, ClientResult, Exit};
