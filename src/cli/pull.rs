//! `relreg pull`: one package version's files into a directory, verified.

use std::path::PathBuf;

use crate::client::{
    ClientError, Connection, Exit,
    pull::{self, PullSpec},
    retry::Backoff,
};

/// Arguments of `relreg pull`.
#[derive(clap::Args, Debug)]
pub struct PullArgs {
    /// `REPO/PACKAGE@VERSION` or `REPO/PACKAGE@REQUIREMENT` (e.g. `acme/app@^1.4`).
    pub spec: String,
    /// The directory to place the files in (created if needed).
    #[arg(short = 'o', long = "output-dir", value_name = "DIR")]
    pub dir: PathBuf,
    /// How many files download at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Retries of a transient failure (exponential backoff with jitter).
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
}

/// Runs `relreg pull`.
pub(crate) async fn run(args: PullArgs, conn: Connection, json: bool) -> Result<Exit, ClientError> {
    let spec = PullSpec::parse(&args.spec)?;
    let backoff = Backoff {
        retries: args.retries,
        ..Backoff::default()
    };
    let report = pull::pull(&conn, &spec, &args.dir, args.jobs, backoff).await?;
    if json {
        super::output::print_json(&report);
    } else {
        for f in &report.files {
            println!("{}  {}  {}", f.digest, f.size, f.path);
        }
        println!(
            "pulled {}/{}@{} into {}: {} files, {} downloaded ({} bytes), {} already there",
            report.repo,
            report.package,
            report.version,
            report.dir.display(),
            report.files.len(),
            report.files_downloaded,
            report.bytes_downloaded,
            report.files_reused,
        );
    }
    Ok(Exit::Ok)
}
