//! The server side of the binary: `serve`, `migrate`, and `token bootstrap`, which creates a
//! token directly in the database (no server needed) so that a fresh install has its
//! first admin token.

use std::{io::Write as _, process::ExitCode};

use anyhow::Context as _;

use crate::{
    config::{Config, LogFormat, StorageConfig},
    domain::{Role, TokenScope},
    registry::{Caller, NewToken, Principal},
    server,
};

/// `relreg token bootstrap`: a token created offline, in the database.
#[derive(clap::Args, Debug)]
pub struct BootstrapArgs {
    #[command(flatten)]
    storage: StorageConfig,
    /// The role: reader, publisher or admin.
    #[arg(long, default_value = "admin")]
    role: String,
    /// Limit the token to one repo (default: every repo).
    #[arg(long)]
    repo: Option<String>,
    /// A name to recognise the token by.
    #[arg(long, default_value = "bootstrap")]
    name: String,
}

/// Runs the server until SIGINT or SIGTERM.
pub(super) async fn serve(config: Config) -> ExitCode {
    let _log = init_tracing(config.log_format);
    let served = async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        server::serve(config, listener, shutdown_signal()).await
    };
    match served.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::server_failure(&e),
    }
}

/// Applies the migrations and exits.
pub(super) async fn migrate(storage: StorageConfig) -> ExitCode {
    let _log = init_tracing(LogFormat::Text);
    let migrated = async {
        let store = crate::store::open(&storage.database_url).await?;
        store.close().await;
        println!("migrations applied");
        anyhow::Ok(())
    };
    match migrated.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::server_failure(&e),
    }
}

/// Creates a token in the database and prints its secret as the last line.
pub(super) async fn bootstrap(args: BootstrapArgs) -> ExitCode {
    match create_offline(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::server_failure(&e),
    }
}

async fn create_offline(args: BootstrapArgs) -> anyhow::Result<()> {
    let role: Role = args.role.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut config = Config::for_dir(std::path::Path::new("."));
    config.storage = args.storage;
    // Tokens live in the database only: no blob directory is created or opened.
    let registry = server::open_registry_with(&config, crate::blobs::BlobStore::memory()).await?;
    let new = NewToken {
        name: args.name,
        scope: match args.repo {
            None => TokenScope::AllRepos,
            Some(repo) => TokenScope::Repo(
                crate::domain::Name::parse_owned("repo", repo)
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            ),
        },
        role,
        expires_at: None,
    };
    let caller = Caller {
        bearer: None,
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    let (token, secret) = registry
        .create_token_as(&Principal::Local, &caller, new)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    registry.close().await;
    let scope = match &token.scope {
        TokenScope::AllRepos => "all repos".to_owned(),
        TokenScope::Repo(r) => format!("repo {r}"),
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "created token {} (role {}, {scope})",
        token.id,
        token.role.as_str()
    )?;
    writeln!(out, "{secret}")?;
    Ok(())
}

/// How many log lines may wait for the writer thread (a few MiB at most).
const LOG_LINES_BUFFERED: usize = 8_192;

/// Installs the log subscriber (`RUST_LOG` filters; default `info`) and returns the guard
/// that flushes it when dropped. Lines go through a channel to a writer thread that writes to
/// stderr in batches: with an access line per request, a write syscall (and the stderr lock)
/// on every request cost the hot path about a third of its throughput. Nothing is dropped: a
/// full channel (`LOG_LINES_BUFFERED`) makes the logging thread wait, so a slow log sink
/// slows requests down instead of growing memory.
fn init_tracing(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(LOG_LINES_BUFFERED)
        .thread_name("relreg-log")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    guard
}

/// Resolves on SIGINT or SIGTERM.
pub(super) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
