//! The hardened HTTP edge: everything between the socket and the routes. It owns the accept
//! loop (connection cap, TLS, header-read and idle timeouts, graceful shutdown), load
//! shedding by in-flight budgets, upload chunk limits, `Allow` on 405 answers, the access
//! log and response compression. Its settings are [`EdgeConfig`], flattened into `Config`.

mod access_log;
mod chunks;
mod compress;
mod conn;
mod held;
pub mod rpcs;
mod shed;
mod tls;

use std::{path::PathBuf, time::Duration};

pub use chunks::ChunkLimit;
pub use conn::serve;
pub use tls::load as load_tls;

/// Seconds a client has to send a request's headers, by default.
const DEFAULT_HEADER_READ_TIMEOUT: &str = "10";
/// Seconds a connection may stay without a request in flight, by default.
const DEFAULT_IDLE_TIMEOUT: &str = "60";
/// Seconds a unary call may run at most, whatever deadline its caller sent, by default.
const DEFAULT_MAX_CALL_DURATION: &str = "30";
/// Open connections at most when the open-files limit cannot be read.
const FALLBACK_MAX_CONNECTIONS: usize = 4096;
/// The largest upload chunk (an HTTP `PATCH` body, a gRPC upload message), by default.
pub const DEFAULT_MAX_UPLOAD_CHUNK: u64 = 64 * 1024 * 1024;

/// Settings of the edge, each a `serve` flag with a `RELREG_*` variable.
#[derive(clap::Args, Debug, Clone)]
pub struct EdgeConfig {
    /// Seconds a client has to send a request's headers (and a new connection its first
    /// request) before the connection is closed.
    #[arg(long, env = "RELREG_HEADER_READ_TIMEOUT", value_parser = parse_secs, default_value = DEFAULT_HEADER_READ_TIMEOUT)]
    pub header_read_timeout: Duration,
    /// Seconds a connection (HTTP/1.1 keep-alive or HTTP/2) may stay with no request in flight.
    #[arg(long, env = "RELREG_IDLE_TIMEOUT", value_parser = parse_secs, default_value = DEFAULT_IDLE_TIMEOUT)]
    pub idle_timeout: Duration,
    /// Open connections at most; more are closed at once (0: from the open-files limit,
    /// leaving room for the database and blobs, at most 10,000).
    #[arg(long, env = "RELREG_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,
    /// Requests in flight at most, except catalog reads; more answer 503 / RESOURCE_EXHAUSTED.
    #[arg(long, env = "RELREG_MAX_IN_FLIGHT", default_value_t = 256)]
    pub max_in_flight: usize,
    /// Catalog reads in flight at most (latest, releases, manifests, versions): their own,
    /// larger budget, so that writes and downloads are shed first.
    #[arg(long, env = "RELREG_MAX_IN_FLIGHT_CATALOG", default_value_t = 1024)]
    pub max_in_flight_catalog: usize,
    /// Seconds a unary call may run at most: a caller's longer or missing deadline is capped.
    #[arg(long, env = "RELREG_MAX_CALL_DURATION", value_parser = parse_secs, default_value = DEFAULT_MAX_CALL_DURATION)]
    pub max_call_duration: Duration,
    /// The largest upload chunk in bytes: an HTTP upload `PATCH` (or completing `PUT`) body,
    /// a gRPC `UploadBlob` message.
    #[arg(long, env = "RELREG_MAX_UPLOAD_CHUNK", default_value_t = DEFAULT_MAX_UPLOAD_CHUNK)]
    pub max_upload_chunk: u64,
    /// Serve TLS with this PEM certificate chain (needs `--tls-key`).
    #[arg(long, env = "RELREG_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert`.
    #[arg(long, env = "RELREG_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        let secs = |s: &str| parse_secs(s).expect("valid default");
        Self {
            header_read_timeout: secs(DEFAULT_HEADER_READ_TIMEOUT),
            idle_timeout: secs(DEFAULT_IDLE_TIMEOUT),
            max_connections: 0,
            max_in_flight: 256,
            max_in_flight_catalog: 1024,
            max_call_duration: secs(DEFAULT_MAX_CALL_DURATION),
            max_upload_chunk: DEFAULT_MAX_UPLOAD_CHUNK,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl EdgeConfig {
    /// Tells whether the server speaks TLS.
    pub fn tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// The connection cap in force: the flag, else from the open-files limit.
    pub fn connection_cap(&self) -> usize {
        if self.max_connections > 0 {
            return self.max_connections;
        }
        open_files_limit()
            .map(|n| (n.saturating_sub(128) * 3 / 4).clamp(16, 10_000))
            .unwrap_or(FALLBACK_MAX_CONNECTIONS)
    }
}

/// Wraps the application in the edge's request layers: compression, chunk limits, shedding
/// and (outermost) the access log.
pub fn layers(app: axum::Router, config: &EdgeConfig) -> axum::Router {
    app.layer(compress::layer())
        .layer(axum::middleware::from_fn_with_state(
            ChunkLimit(config.max_upload_chunk),
            chunks::limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            shed::Budgets::new(config.max_in_flight, config.max_in_flight_catalog),
            shed::admit,
        ))
        .layer(axum::middleware::from_fn(access_log::log))
}

/// Reads a duration in seconds (fractions allowed, e.g. `0.5`).
fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?}: {e}"))
}

/// The soft limit of open files of this process (Linux: `/proc/self/limits`).
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse_with_fractions() {
        assert_eq!(parse_secs("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_secs("10"), Ok(Duration::from_secs(10)));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("soon").is_err());
    }

    #[test]
    fn the_connection_cap_defaults_from_the_open_files_limit() {
        let config = EdgeConfig::default();
        let cap = config.connection_cap();
        assert!((16..=10_000).contains(&cap), "{cap}");
        let fixed = EdgeConfig {
            max_connections: 7,
            ..EdgeConfig::default()
        };
        assert_eq!(fixed.connection_cap(), 7);
    }
}
