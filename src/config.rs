//! Settings: command-line flags, each with a `RELREG_*` environment variable.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// The largest blob accepted by default: 8 GiB.
const DEFAULT_MAX_BLOB_SIZE: u64 = 8 * 1024 * 1024 * 1024;
/// Seconds in-flight requests get after a shutdown signal, by default.
const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 10;

/// Seconds between background garbage collections, by default.
const DEFAULT_GC_INTERVAL_SECS: u64 = 3600;
/// Seconds a blob stays unreferenced before it is collected, by default.
const DEFAULT_GC_GRACE_SECS: u64 = 24 * 3600;

/// Where relreg keeps its data.
#[derive(clap::Args, Debug, Clone)]
pub struct StorageConfig {
    /// Database URL: `sqlite://path` (embedded default) or `postgres://…`.
    #[arg(
        long,
        env = "RELREG_DATABASE_URL",
        default_value = "sqlite://./data/relreg.db"
    )]
    pub database_url: String,
    /// Directory of the local blob store.
    #[arg(long, env = "RELREG_BLOB_DIR", default_value = "./data/blobs")]
    pub blob_dir: PathBuf,
    #[command(flatten)]
    /// An S3-compatible blob store instead of the directory (`--blob-url s3://…`).
    pub remote: crate::blobs::BlobUrlConfig,
}

/// Garbage collection: the background blob GC and staged-upload sweep (`registry/gc.rs`).
#[derive(clap::Args, Debug, Clone)]
pub struct GcConfig {
    /// Seconds between background runs of blob GC and the staged-upload sweep (0: never;
    /// dead staged uploads are still swept at startup).
    #[arg(long = "gc-interval", env = "RELREG_GC_INTERVAL", default_value_t = DEFAULT_GC_INTERVAL_SECS)]
    pub interval_secs: u64,
    /// Seconds a blob must stay unreferenced (no version file names it) before GC removes it.
    #[arg(long = "gc-grace", env = "RELREG_GC_GRACE", default_value_t = DEFAULT_GC_GRACE_SECS)]
    pub grace_secs: u64,
}

impl Default for GcConfig {
    fn default() -> Self {
        Self {
            interval_secs: DEFAULT_GC_INTERVAL_SECS,
            grace_secs: DEFAULT_GC_GRACE_SECS,
        }
    }
}

/// Seconds a signed channel head stays valid, by default (one day).
const DEFAULT_HEAD_EXPIRY_SECS: u64 = 24 * 3600;

/// Signing (issue 11): the keys this server signs with, read from files (never the database).
#[derive(clap::Args, Debug, Clone)]
pub struct TrustConfig {
    /// A PKCS#8 PEM Ed25519 private key file (`relreg key generate`); repeatable, or several
    /// paths separated by commas in the environment variable.
    #[arg(
        long = "signing-key",
        env = "RELREG_SIGNING_KEY",
        value_delimiter = ','
    )]
    pub signing_keys: Vec<PathBuf>,
    /// Seconds a signed channel head stays valid; heads are re-signed at half their lifetime.
    #[arg(long = "head-expiry", env = "RELREG_HEAD_EXPIRY", default_value_t = DEFAULT_HEAD_EXPIRY_SECS)]
    pub head_expiry_secs: u64,
}

impl Default for TrustConfig {
    fn default() -> Self {
        Self {
            signing_keys: Vec::new(),
            head_expiry_secs: DEFAULT_HEAD_EXPIRY_SECS,
        }
    }
}

/// How log lines are written.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Settings of `relreg serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct Config {
    #[command(flatten)]
    /// The database and blob storage the server uses.
    pub storage: StorageConfig,
    /// Address to listen on (gRPC, gRPC-Web and HTTP share it).
    #[arg(long, env = "RELREG_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Base URL clients reach this server at, used in download links (default: http://LISTEN).
    #[arg(long, env = "RELREG_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Largest blob accepted, in bytes.
    #[arg(long, env = "RELREG_MAX_BLOB_SIZE", default_value_t = DEFAULT_MAX_BLOB_SIZE)]
    pub max_blob_size: u64,
    /// Origins allowed to call from browsers (comma separated; `*` for any; empty: none).
    #[arg(long, env = "RELREG_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Log format.
    #[arg(long, env = "RELREG_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Serve every read from the database (turns off the in-memory cache of published data).
    #[arg(long, env = "RELREG_NO_CACHE")]
    pub no_cache: bool,
    /// Outbox readers (the cache follower) only poll every second, ignoring the wake-ups of
    /// commits and PostgreSQL notifications; for measuring what the wake-ups save.
    #[arg(long, env = "RELREG_OUTBOX_POLL_ONLY")]
    pub outbox_poll_only: bool,
    /// Seconds in-flight requests may take to finish after a shutdown signal.
    #[arg(
        long = "shutdown-grace",
        env = "RELREG_SHUTDOWN_GRACE",
        default_value_t = DEFAULT_SHUTDOWN_GRACE_SECS
    )]
    pub shutdown_grace_secs: u64,
    /// Runs every repo's retention policy this often, in seconds (0: only on demand). One
    /// runner works at a time across servers sharing a PostgreSQL database.
    #[arg(
        long = "retention-interval",
        env = "RELREG_RETENTION_INTERVAL",
        default_value_t = 0
    )]
    pub retention_interval_secs: u64,
    #[command(flatten)]
    /// Garbage collection.
    pub gc: GcConfig,
    #[command(flatten)]
    /// Where `/metrics` is served.
    pub metrics: crate::metrics::MetricsConfig,
    #[command(flatten)]
    /// The HTTP edge: timeouts, connection and in-flight caps, chunk limits, TLS.
    pub edge: crate::edge::EdgeConfig,
    #[command(flatten)]
    /// Signing keys and signed heads.
    pub trust: TrustConfig,
    /// Events: the relay, WatchReleases, webhooks, the NATS sink.
    #[command(flatten)]
    pub events: crate::registry::EventsConfig,
}

impl Config {
    /// Returns a configuration with every default, storing data under `dir`.
    pub fn for_dir(dir: &std::path::Path) -> Self {
        Self {
            storage: StorageConfig {
                database_url: format!("sqlite://{}", dir.join("relreg.db").display()),
                blob_dir: dir.join("blobs"),
                remote: crate::blobs::BlobUrlConfig::default(),
            },
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            max_blob_size: DEFAULT_MAX_BLOB_SIZE,
            cors_origins: Vec::new(),
            log_format: LogFormat::Text,
            no_cache: false,
            outbox_poll_only: false,
            shutdown_grace_secs: DEFAULT_SHUTDOWN_GRACE_SECS,
            retention_interval_secs: 0,
            gc: GcConfig::default(),
            metrics: crate::metrics::MetricsConfig::default(),
            edge: crate::edge::EdgeConfig::default(),
            trust: TrustConfig::default(),
            events: crate::registry::EventsConfig::default(),
        }
    }

    /// Returns the shutdown grace period.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}
