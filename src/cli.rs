//! The `relreg` command line: `serve`, `migrate` and the offline `token create`.

use std::io::Write as _;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::{
    config::{Config, LogFormat, StorageConfig},
    domain::{Role, TokenScope},
    registry::{Caller, NewToken, Principal},
    server,
};

/// relreg: a release registry.
#[derive(Parser, Debug)]
#[command(name = "relreg", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Runs the server.
    Serve(Box<Config>),
    /// Applies database migrations and exits.
    Migrate(StorageConfig),
    /// Manages tokens directly in the database (no server needed).
    #[command(subcommand)]
    Token(TokenCommand),
}

/// Token commands.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Creates a token and prints its secret as the last line.
    Create {
        #[command(flatten)]
        storage: StorageConfig,
        /// An admin token valid for every repo (the bootstrap token).
        #[arg(long, conflicts_with_all = ["role", "repo"])]
        admin: bool,
        /// The role: reader, publisher or admin.
        #[arg(long)]
        role: Option<String>,
        /// Limit the token to one repo.
        #[arg(long)]
        repo: Option<String>,
        /// A name to recognise the token by.
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

impl Cli {
    /// Runs the command.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(config) => {
                init_tracing(config.log_format);
                let listener = tokio::net::TcpListener::bind(config.listen)
                    .await
                    .with_context(|| format!("binding {}", config.listen))?;
                server::serve(*config, listener, shutdown_signal()).await
            }
            Command::Migrate(storage) => {
                init_tracing(LogFormat::Text);
                let store = crate::store::open(&storage.database_url).await?;
                store.close().await;
                println!("migrations applied");
                Ok(())
            }
            Command::Token(TokenCommand::Create {
                storage,
                admin,
                role,
                repo,
                name,
            }) => {
                let role: Role = match (admin, role) {
                    (true, _) => Role::Admin,
                    (false, Some(r)) => r.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
                    (false, None) => {
                        anyhow::bail!("pass --admin, or --role reader|publisher|admin")
                    }
                };
                let mut config = Config::for_dir(std::path::Path::new("."));
                config.storage = storage;
                let registry = server::open_registry(&config).await?;
                let new = NewToken {
                    name,
                    scope: repo.map_or(TokenScope::AllRepos, TokenScope::Repo),
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
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "created token {} (role {}, {})",
                    token.id,
                    token.role.as_str(),
                    scope_text(&token.scope)
                )?;
                writeln!(out, "{secret}")?;
                Ok(())
            }
        }
    }
}

fn scope_text(scope: &TokenScope) -> String {
    match scope {
        TokenScope::AllRepos => "all repos".into(),
        TokenScope::Repo(r) => format!("repo {r}"),
    }
}

/// Installs the log subscriber (`RUST_LOG` filters; default `info`).
fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
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
