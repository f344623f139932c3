//! `relreg rollout …`: staged rollouts of published releases (set, pause, resume, halt,
//! show) and floors (required stepping stones).

use crate::{
    client::{ClientError, ClientResult, Connection},
    domain::parse_percent,
    pb,
};

use super::output::Out;

/// Rollout commands.
#[derive(clap::Subcommand, Debug)]
pub enum RolloutCommand {
    /// Starts a staged rollout of a published release, or widens it (never lowers).
    Set {
        /// The release id.
        release: String,
        /// The share of clients, e.g. `10%` or `0.5` (percent); 100% completes it.
        #[arg(long, default_value = "0%")]
        percent: String,
        /// Time waves the server advances, e.g. `1%@0,10%@6h,100%@2d` (when starting).
        #[arg(long, default_value = "")]
        waves: String,
    },
    /// Stops offering the release to anyone new, until resumed.
    Pause {
        /// The release id.
        release: String,
    },
    /// Resumes a paused rollout.
    Resume {
        /// The release id.
        release: String,
    },
    /// Stops the rollout for good (nothing is deprecated).
    Halt {
        /// The release id.
        release: String,
    },
    /// Shows a release's rollout.
    Show {
        /// The release id.
        release: String,
    },
    /// Marks a published release as a floor: clients below it get it before anything newer.
    Floor {
        /// The release id.
        release: String,
        /// Unmarks it instead.
        #[arg(long)]
        unset: bool,
    },
}

fn rollout_text(r: Option<&pb::Rollout>) -> String {
    r.map_or_else(
        || "no rollout".to_owned(),
        |r| {
            let waves = if r.waves.is_empty() {
                String::new()
            } else {
                format!(" waves {}", r.waves)
            };
            format!(
                "{} {} {}.{:02}%{waves}",
                r.release_id,
                r.state,
                r.bps / 100,
                r.bps % 100
            )
        },
    )
}

/// Runs a rollout command.
pub(super) async fn run(command: RolloutCommand, conn: Connection, out: &Out) -> ClientResult<()> {
    let mut admin = conn.admin();
    match command {
        RolloutCommand::Set {
            release,
            percent,
            waves,
        } => {
            let bps = parse_percent("percent", &percent)
                .map_err(|e| ClientError::usage(e.to_string()))?;
            let answer = admin
                .set_rollout(pb::SetRolloutRequest {
                    release_id: release,
                    bps,
                    waves,
                })
                .await?
                .into_inner();
            out.answer("SetRolloutResponse", &answer, |a| {
                rollout_text(a.rollout.as_ref())
            })
        }
        RolloutCommand::Pause { release } => {
            let answer = admin
                .pause_rollout(pb::PauseRolloutRequest {
                    release_id: release,
                })
                .await?
                .into_inner();
            out.answer("PauseRolloutResponse", &answer, |a| {
                rollout_text(a.rollout.as_ref())
            })
        }
        RolloutCommand::Resume { release } => {
            let answer = admin
                .resume_rollout(pb::ResumeRolloutRequest {
                    release_id: release,
                })
                .await?
                .into_inner();
            out.answer("ResumeRolloutResponse", &answer, |a| {
                rollout_text(a.rollout.as_ref())
            })
        }
        RolloutCommand::Halt { release } => {
            let answer = admin
                .halt_rollout(pb::HaltRolloutRequest {
                    release_id: release,
                })
                .await?
                .into_inner();
            out.answer("HaltRolloutResponse", &answer, |a| {
                rollout_text(a.rollout.as_ref())
            })
        }
        RolloutCommand::Show { release } => {
            let answer = admin
                .get_rollout(pb::GetRolloutRequest {
                    release_id: release,
                })
                .await?
                .into_inner();
            out.answer("GetRolloutResponse", &answer, |a| {
                rollout_text(a.rollout.as_ref())
            })
        }
        RolloutCommand::Floor { release, unset } => {
            let answer = admin
                .set_floor(pb::SetFloorRequest {
                    release_id: release.clone(),
                    floor: !unset,
                })
                .await?
                .into_inner();
            out.answer("SetFloorResponse", &answer, |_| {
                if unset {
                    format!("{release} is no floor")
                } else {
                    format!("{release} is a floor")
                }
            })
        }
    }
}
