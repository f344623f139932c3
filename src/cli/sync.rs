//! `relreg sync`, `sync status` and `sync rollback`: the device side of releases.

use std::{path::PathBuf, time::Duration};

use clap::Subcommand;

use crate::client::{
    ClientError, Connection, Exit,
    retry::Backoff,
    sync::{self, Available, Origin, ReleaseRef, SyncOptions, SyncReport},
};

/// Arguments of `relreg sync`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SyncArgs {
    /// Shows or changes the local state instead of syncing.
    #[command(subcommand)]
    pub action: Option<SyncAction>,
    /// The repo releases come from.
    #[arg(long, required = true)]
    pub repo: Option<String>,
    /// The channel to follow (`stable`, `beta`, …).
    #[arg(long, required = true)]
    pub channel: Option<String>,
    /// The app version this device runs (`1` and `2.0` read as `1.0.0` and `2.0.0`).
    #[arg(long, required = true)]
    pub app_version: Option<String>,
    /// The platform (`ios`, `android`, …).
    #[arg(long)]
    pub platform: Option<String>,
    /// The sync directory (`current` is the running release's tree).
    #[arg(long, required = true)]
    pub dir: Option<PathBuf>,
    /// How many releases before the current one stay installed.
    #[arg(long, default_value_t = 3)]
    pub keep: usize,
    /// How many files download at once.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
    /// Retries of a transient failure (exponential backoff with jitter).
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Keeps running: a round every SECS seconds; failures wait for the next round.
    #[arg(long, value_name = "SECS")]
    pub interval: Option<u64>,
    /// Verifies every answer against this pinned root key (a PEM public or private key
    /// file): the repo's root chain, the channel head's signature, expiry and version, and
    /// the manifest's signature; refuses (exit 5, `current` untouched) otherwise.
    #[arg(long, value_name = "KEYFILE")]
    pub trust: Option<PathBuf>,
}

/// `relreg sync` subcommands.
#[derive(Subcommand, Debug)]
pub enum SyncAction {
    /// Shows what runs, what is installed, and what the server offers now and why.
    Status {
        /// The sync directory.
        #[arg(long)]
        dir: PathBuf,
        /// The repo (default: the one of the last sync).
        #[arg(long)]
        repo: Option<String>,
        /// The channel (default: the one of the last sync).
        #[arg(long)]
        channel: Option<String>,
        /// The app version (default: the one of the last sync).
        #[arg(long)]
        app_version: Option<String>,
        /// The platform (default: the one of the last sync).
        #[arg(long)]
        platform: Option<String>,
        /// Shows the local state only, without asking the server.
        #[arg(long)]
        offline: bool,
    },
    /// Points `current` back at the release that ran before it.
    Rollback {
        /// The sync directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// Runs `relreg sync` and its subcommands.
pub(crate) async fn run(args: SyncArgs, conn: Connection, json: bool) -> Result<Exit, ClientError> {
    match args.action {
        Some(SyncAction::Rollback { dir }) => {
            let report = sync::rollback(&dir)?;
            if json {
                super::output::print_json(&report);
            } else {
                println!(
                    "rolled back from {} to {}",
                    show(&report.from),
                    show(&report.to)
                );
            }
            Ok(Exit::Ok)
        }
        Some(SyncAction::Status {
            dir,
            repo,
            channel,
            app_version,
            platform,
            offline,
        }) => {
            let given = origin(repo, channel, app_version, platform)?;
            status(&conn, dir, given, offline, json).await
        }
        None => {
            let missing =
                || ClientError::usage("sync needs --repo, --channel, --app-version and --dir");
            let opts = SyncOptions {
                origin: Origin {
                    repo: args.repo.ok_or_else(missing)?,
                    channel: args.channel.ok_or_else(missing)?,
                    app_version: args.app_version.ok_or_else(missing)?,
                    platform: args.platform,
                },
                dir: args.dir.ok_or_else(missing)?,
                keep: args.keep,
                jobs: args.jobs,
                backoff: Backoff {
                    retries: args.retries,
                    ..Backoff::default()
                },
                trust: match &args.trust {
                    Some(path) => {
                        let pem = std::fs::read_to_string(path)
                            .map_err(|e| ClientError::local(path, e))?;
                        Some(
                            crate::domain::PublicKey::from_pem(&pem)
                                .map_err(|e| ClientError::local(path, e.message))?,
                        )
                    }
                    None => None,
                },
            };
            match args.interval {
                None => {
                    let report = sync::sync(&conn, &opts).await?;
                    print_report(&report, &opts, json);
                    Ok(report.exit())
                }
                Some(secs) => {
                    let rounds = sync::sync_every(
                        &conn,
                        &opts,
                        Duration::from_secs(secs.max(1)),
                        |outcome| match outcome {
                            Ok(report) => print_report(report, &opts, json),
                            Err(e) => eprintln!("error: {e}"),
                        },
                    );
                    tokio::select! {
                        () = rounds => {}
                        () = super::serve::shutdown_signal() => {}
                    }
                    Ok(Exit::Ok)
                }
            }
        }
    }
}

/// Reads the origin `status` was given: all of repo, channel and app version, or none.
fn origin(
    repo: Option<String>,
    channel: Option<String>,
    app_version: Option<String>,
    platform: Option<String>,
) -> Result<Option<Origin>, ClientError> {
    match (repo, channel, app_version) {
        (Some(repo), Some(channel), Some(app_version)) => Ok(Some(Origin {
            repo,
            channel,
            app_version,
            platform,
        })),
        (None, None, None) => Ok(None),
        _ => Err(ClientError::usage(
            "give --repo, --channel and --app-version together, or none of them",
        )),
    }
}

async fn status(
    conn: &Connection,
    dir: PathBuf,
    given: Option<Origin>,
    offline: bool,
    json: bool,
) -> Result<Exit, ClientError> {
    let report = sync::status((!offline).then_some(conn), &dir, given).await?;
    if json {
        super::output::print_json(&report);
    } else {
        println!("directory: {}", report.dir.display());
        match &report.current {
            Some(r) => println!("running: {}", show(r)),
            None => println!("running: nothing"),
        }
        for r in &report.installed {
            println!("installed: {}", show(r));
        }
        if let Some(o) = &report.origin {
            println!(
                "following: repo {} channel {} as app version {}{}",
                o.repo,
                o.channel,
                o.app_version,
                o.platform
                    .as_deref()
                    .map(|p| format!(" on {p}"))
                    .unwrap_or_default()
            );
        }
        match &report.available {
            None => println!("available: not asked"),
            Some(Available::UpToDate) => println!("available: nothing newer (up to date)"),
            Some(Available::Update { release }) => {
                println!("available: update to {}", show(release))
            }
            Some(Available::AppUpdateRequired { min_app_version }) => println!(
                "available: nothing for this app version (app update required to >= {min_app_version})"
            ),
            Some(Available::Unknown { error, .. }) => println!("available: unknown ({error})"),
        }
    }
    match &report.available {
        Some(Available::Unknown { error, exit }) => {
            eprintln!("error: {error}");
            Ok(*exit)
        }
        _ => Ok(Exit::Ok),
    }
}

fn print_report(report: &SyncReport, opts: &SyncOptions, json: bool) {
    if json {
        super::output::print_json(report);
        return;
    }
    let release = match (&report.release_id, &report.version, report.sequence) {
        (Some(id), Some(v), Some(s)) => format!("{id} (version {v}, sequence {s})"),
        _ => "nothing".into(),
    };
    match report.decision {
        sync::Decision::Update => println!(
            "updated to {release}: {} files, {} downloaded ({} bytes), {} reused",
            report.files_total,
            report.files_downloaded,
            report.bytes_downloaded,
            report.files_reused
        ),
        sync::Decision::UpToDate => println!("up to date: running {release}"),
        sync::Decision::AppUpdateRequired => println!(
            "app update required: no release in {} admits app version {}; update the app to >= {} (running {release})",
            opts.origin.channel,
            opts.origin.app_version,
            report.min_app_version.as_deref().unwrap_or("?"),
        ),
    }
}

fn show(r: &ReleaseRef) -> String {
    format!("{} (version {}, sequence {})", r.id, r.version, r.sequence)
}
