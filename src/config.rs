//! Settings: command-line flags, each with a `RELREG_*` environment variable.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// The largest blob accepted by default: 8 GiB.
const DEFAULT_MAX_BLOB_SIZE: u64 = 8 * 1024 * 1024 * 1024;
/// Seconds in-flight requests get after a shutdown signal, by default.
const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 10;

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
    /// Seconds in-flight requests may take to finish after a shutdown signal.
    #[arg(
        long = "shutdown-grace",
        env = "RELREG_SHUTDOWN_GRACE",
        default_value_t = DEFAULT_SHUTDOWN_GRACE_SECS
    )]
    pub shutdown_grace_secs: u64,
    #[command(flatten)]
    /// The HTTP edge: timeouts, connection and in-flight caps, chunk limits, TLS.
    pub edge: crate::edge::EdgeConfig,
}

impl Config {
    /// Returns a configuration with every default, storing data under `dir`.
    pub fn for_dir(dir: &std::path::Path) -> Self {
        Self {
            storage: StorageConfig {
                database_url: format!("sqlite://{}", dir.join("relreg.db").display()),
                blob_dir: dir.join("blobs"),
            },
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            max_blob_size: DEFAULT_MAX_BLOB_SIZE,
            cors_origins: Vec::new(),
            log_format: LogFormat::Text,
            no_cache: false,
            shutdown_grace_secs: DEFAULT_SHUTDOWN_GRACE_SECS,
            edge: crate::edge::EdgeConfig::default(),
        }
    }

    /// Returns the shutdown grace period.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}
