//! `relreg retention plan|run REPO`: what a repo's retention policy lets go, listed (a dry
//! run) or removed.

use crate::{
    client::{ClientResult, Connection},
    pb,
};

use super::output::Out;

/// Retention commands.
#[derive(clap::Subcommand, Debug)]
pub enum RetentionCommand {
    /// Lists what the repo's retention policy would remove now (changes nothing).
    Plan {
        /// The repo key.
        repo: String,
    },
    /// Removes what the repo's retention policy lets go (each removal audited).
    Run {
        /// The repo key.
        repo: String,
    },
}

fn removal_text(r: &pb::RetentionRemoval) -> String {
    if r.kind == "release" {
        format!(
            "release {} ({} {}) {}",
            r.target, r.channel, r.version, r.reason
        )
    } else {
        format!("version {} {}", r.target, r.reason)
    }
}

/// Runs a retention command.
pub(super) async fn run(
    command: RetentionCommand,
    conn: Connection,
    out: &Out,
) -> ClientResult<()> {
    let (repo, dry_run) = match command {
        RetentionCommand::Plan { repo } => (repo, true),
        RetentionCommand::Run { repo } => (repo, false),
    };
    let answer = conn
        .admin()
        .run_retention(pb::RunRetentionRequest { repo, dry_run })
        .await?
        .into_inner();
    out.answer("RunRetentionResponse", &answer, |a| {
        if a.removals.is_empty() {
            return "nothing to remove".to_owned();
        }
        let verb = if a.dry_run { "would remove" } else { "removed" };
        a.removals
            .iter()
            .map(|r| format!("{verb} {}", removal_text(r)))
            .collect::<Vec<_>>()
            .join("\n")
    })
}
