//! The `relreg` command line. `serve`, `migrate` and `token bootstrap` run the server side
//! (against the database); every other command is a client of a running server, a thin
//! layer over `crate::client`.
//!
//! - `serve.rs`: serve, migrate and the offline bootstrap token;
//! - `login.rs`: connection options, profiles (`login`, `logout`);
//! - `repo.rs`: repos and packages; `version.rs`: package versions; `push.rs`: `push`;
//! - `release.rs`: releases and channels; `admin.rs`: audit and tokens;
//! - `pull.rs`: `pull`; `sync.rs`: `sync`, `sync status`, `sync rollback` (the device side);
//! - `fsck.rs`: `fsck` and `gc`; `backup.rs`: `backup` and `restore` (offline, on storage);
//! - `output.rs`: text and JSON answers, errors.

mod admin;
mod backup;
mod events;
mod fsck;
mod key;
mod login;
mod output;
mod probe;
mod pull;
mod push;
mod release;
mod repo;
mod retention;
mod rollout;
mod serve;
mod sync;
mod version;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

pub use login::Global;
pub use output::OutputFormat;

use crate::{
    client::{ClientError, Exit},
    config::{Config, StorageConfig},
};

/// relreg: a release registry (server and client in one binary).
#[derive(Parser, Debug)]
#[command(name = "relreg", version, about)]
pub struct Cli {
    /// How client commands reach the server and print.
    #[command(flatten)]
    pub global: Global,
    /// The command to run.
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
    /// Stores a server address and token as a named profile (mode 0600).
    Login(login::LoginArgs),
    /// Removes a stored profile.
    Logout(login::LogoutArgs),
    /// Repos: create, get, set the release policy.
    #[command(subcommand)]
    Repo(repo::RepoCommand),
    /// Packages: create, list, delete.
    #[command(subcommand)]
    Package(repo::PackageCommand),
    /// Retention: plan (a dry run) or run a repo's retention policy.
    #[command(subcommand)]
    Retention(retention::RetentionCommand),
    /// Package versions: list, get, diff, publish, deprecate, yank, delete.
    #[command(subcommand)]
    Version(version::VersionCommand),
    /// Uploads files into a package version (resumable) and optionally publishes it.
    Push(push::PushArgs),
    /// Releases: create, attach, detach, validate, publish, deprecate, list, get.
    #[command(subcommand)]
    Release(release::ReleaseCommand),
    /// Channels: the latest release for an app, rollback.
    #[command(subcommand)]
    Channel(release::ChannelCommand),
    /// Downloads a package version's files into a directory, each verified.
    Pull(pull::PullArgs),
    /// Keeps a directory on the latest release a channel offers this app version.
    Sync(Box<sync::SyncArgs>),
    /// Lists audit events.
    Audit(admin::AuditArgs),
    /// Tokens: create, list, revoke (through the server), or bootstrap (offline).
    #[command(subcommand)]
    Token(admin::TokenCommand),
    /// Exits 0 when a health URL answers 200, 1 otherwise (container health checks).
    Probe(probe::ProbeArgs),
    /// Checks stored blobs against the database (offline; storage flags as `serve`).
    Fsck(fsck::FsckArgs),
    /// Runs one blob garbage collection and staged-upload sweep (offline).
    Gc(fsck::GcArgs),
    /// Backs the database and blobs up into a directory (offline, online-safe).
    Backup(backup::BackupArgs),
    /// Restores a backup into an empty data location (offline).
    Restore(backup::RestoreArgs),
    /// Prints shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Signing keys: generate, show (offline); root, trust, untrust, rotate (a repo's keys).
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Staged rollouts: set (start or widen), pause, resume, halt, show; and floors.
    #[command(subcommand)]
    Rollout(rollout::RolloutCommand),
    /// Follows a repo's events, one JSON line each (resumes after the last id on reconnect).
    Watch(events::WatchArgs),
    /// Webhooks: create, list, delete, deliveries, redeliver.
    #[command(subcommand)]
    Webhook(events::WebhookCommand),
}

impl Cli {
    /// Runs the command and returns the process exit code.
    pub async fn run(self) -> ExitCode {
        let Self { global, command } = self;
        let out = global.out();
        let result = match command {
            Command::Serve(config) => return serve::serve(*config).await,
            Command::Migrate(storage) => return serve::migrate(storage).await,
            Command::Probe(args) => return probe::run(args).await,
            Command::Token(admin::TokenCommand::Bootstrap(args)) => {
                return serve::bootstrap(args).await;
            }
            Command::Fsck(args) => return fsck::fsck(args, &out).await,
            Command::Gc(args) => return fsck::gc(args, &out).await,
            Command::Backup(args) => return backup::backup(args, &out).await,
            Command::Restore(args) => return backup::restore(args, &out).await,
            Command::Completions { shell } => {
                let mut script = Vec::new();
                clap_complete::generate(shell, &mut Cli::command(), "relreg", &mut script);
                out.line(&String::from_utf8_lossy(&script))
            }
            Command::Key(c) if c.is_offline() => key::run_offline(&c, &out),
            Command::Login(args) => login::login(args, &global, &out).await,
            Command::Logout(args) => login::logout(args, &global, &out),
            command => match global.connect() {
                Ok(conn) => match command {
                    Command::Pull(args) => return exit_with(pull::run(args, conn, out.json).await),
                    Command::Sync(args) => {
                        return exit_with(sync::run(*args, conn, out.json).await);
                    }
                    Command::Repo(c) => repo::run_repo(c, conn, &out).await,
                    Command::Package(c) => repo::run_package(c, conn, &out).await,
                    Command::Retention(c) => retention::run(c, conn, &out).await,
                    Command::Version(c) => version::run(c, conn, &out).await,
                    Command::Push(args) => push::run(args, conn, &out).await,
                    Command::Release(c) => release::run(c, conn, &out).await,
                    Command::Channel(c) => release::run_channel(c, conn, &out).await,
                    Command::Audit(args) => admin::audit(args, conn, &out).await,
                    Command::Token(c) => admin::run_token(c, conn, &out).await,
                    Command::Key(c) => key::run(c, conn, &out).await,
                    Command::Rollout(c) => rollout::run(c, conn, &out).await,
                    Command::Watch(args) => events::watch(args, conn, &out).await,
                    Command::Webhook(c) => events::run_webhook(c, conn, &out).await,
                    _ => Err(ClientError::internal("command dispatched twice")),
                },
                Err(e) => Err(e),
            },
        };
        exit_with(result.map(|()| Exit::Ok))
    }
}

/// Prints a failure and turns the outcome into the documented exit code (`sync` also ends
/// with `UpToDate` or `AppUpdateRequired` when it succeeds).
fn exit_with(result: Result<Exit, ClientError>) -> ExitCode {
    match result {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(e) => {
            output::print_error(&e);
            ExitCode::from(e.exit.code())
        }
    }
}

/// Returns the exit code of a failure of the server-side commands.
fn server_failure(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::from(Exit::Failure.code())
}
