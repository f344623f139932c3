//! The `relreg` command line: `serve`, `migrate` and the offline `token create`, and the
//! client commands `pull` (`pull.rs`) and `sync` (`sync.rs`).

mod pull;
mod sync;

use std::io::Write as _;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::{
    client::{ClientError, Connection, Exit, Secret},
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
    /// The subcommand to run.
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
    /// Downloads a package version's files into a directory, each verified.
    Pull {
        #[command(flatten)]
        /// How to reach the server and print answers.
        client: ClientArgs,
        #[command(flatten)]
        /// Which version to download and where to.
        args: pull::PullArgs,
    },
    /// Keeps a directory on the latest release a channel offers this app version.
    Sync {
        #[command(flatten)]
        /// How to reach the server and print answers.
        client: ClientArgs,
        #[command(flatten)]
        /// Which channel to follow and where to keep its files.
        args: Box<sync::SyncArgs>,
    },
}

/// How client commands reach the server and print their answers.
#[derive(clap::Args, Debug)]
pub struct ClientArgs {
    /// The server's address.
    #[arg(
        long,
        env = "RELREG_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
    /// The bearer token (never printed).
    #[arg(long, env = "RELREG_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// `text` for people, `json` for scripts.
    #[arg(long, value_enum, default_value = "text", global = true)]
    pub output: Output,
}

/// How client commands print their answers.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Lines for people.
    Text,
    /// One JSON document.
    Json,
}

/// Token commands.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Creates a token and prints its secret as the last line.
    Create {
        #[command(flatten)]
        /// The database to write the token to.
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
            Command::Pull { client, args } => {
                run_client(client, |conn, json| pull::run(args, conn, json)).await
            }
            Command::Sync { client, args } => {
                run_client(client, |conn, json| sync::run(*args, conn, json)).await
            }
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

/// Runs a client command and ends the process with its exit code, printing a failure as
/// `error: <message> (<REASON>)` on stderr.
async fn run_client<F, Fut>(client: ClientArgs, command: F) -> anyhow::Result<()>
where
    F: FnOnce(Connection, bool) -> Fut,
    Fut: std::future::Future<Output = Result<Exit, ClientError>>,
{
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let token = client.token.as_deref().map(Secret::new);
    let outcome = match Connection::new(&client.server, token) {
        Ok(conn) => command(conn, client.output == Output::Json).await,
        Err(e) => Err(e),
    };
    let code = match outcome {
        Ok(exit) => exit.code(),
        Err(e) => {
            eprintln!("error: {e}");
            e.exit.code()
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code.into())
}

/// Prints a value as one pretty JSON document on stdout.
fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: encoding the answer: {e}"),
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
