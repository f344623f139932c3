//! `relreg release …` and `relreg channel …`: mobile releases, their validation and
//! publication, "latest" as an app sees it, and rollback.

use crate::{
    client::{ClientError, ClientResult, Connection},
    pb,
};

use super::output::{Out, findings_text, next_page, release_text};

/// Release commands.
#[derive(clap::Subcommand, Debug)]
pub enum ReleaseCommand {
    /// Creates a draft release in a channel.
    Create {
        /// The repo key.
        repo: String,
        /// The channel (`stable`, `beta`, …).
        #[arg(long)]
        channel: String,
        /// The release's semver.
        #[arg(long)]
        version: String,
        /// The lowest app version it admits.
        #[arg(long)]
        min_app_version: String,
        /// The highest app version it admits.
        #[arg(long, default_value = "")]
        max_app_version: String,
        /// A platform it admits (repeat; none: all).
        #[arg(long = "platform")]
        platforms: Vec<String>,
        /// Release notes.
        #[arg(long, default_value = "")]
        notes: String,
        /// Apps must install it.
        #[arg(long)]
        mandatory: bool,
    },
    /// Binds a role of a draft release to a published package version.
    Attach {
        /// The release id.
        release: String,
        /// The artifact role (`text`, `translations`, …).
        role: String,
        /// `PACKAGE@VERSION` (of the release's repo).
        artifact: String,
        /// Change only if the release still has this etag.
        #[arg(long, default_value = "")]
        etag: String,
    },
    /// Removes a role from a draft release.
    Detach {
        /// The release id.
        release: String,
        /// The artifact role.
        role: String,
        /// Change only if the release still has this etag.
        #[arg(long, default_value = "")]
        etag: String,
    },
    /// Lists what blocks (ERROR) or weakens (WARNING) publishing; exits 5 while not publishable.
    Validate {
        /// The release id.
        release: String,
    },
    /// Publishes a release (validation-gated; the channel's next sequence).
    Publish {
        /// The release id.
        release: String,
        /// Publish only if the release still has this etag.
        #[arg(long, default_value = "")]
        etag: String,
    },
    /// Deprecates a published release.
    Deprecate {
        /// The release id.
        release: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// The release to use instead.
        #[arg(long, default_value = "")]
        replacement: String,
    },
    /// Lists a repo's releases, drafts included.
    List {
        /// The repo key.
        repo: String,
        /// Only this channel.
        #[arg(long, default_value = "")]
        channel: String,
        /// Releases per page (server default when 0).
        #[arg(long, default_value_t = 0)]
        page_size: i32,
        /// The page to continue from.
        #[arg(long, default_value = "")]
        page_token: String,
    },
    /// Shows a release.
    Get {
        /// The release id.
        release: String,
    },
}

/// Channel commands.
#[derive(clap::Subcommand, Debug)]
pub enum ChannelCommand {
    /// Asks what an app of a given version should run (update, up to date, app update required).
    Latest {
        /// The repo key.
        repo: String,
        /// The channel.
        channel: String,
        /// The app's version.
        #[arg(long)]
        app_version: String,
        /// The app's platform.
        #[arg(long, default_value = "")]
        platform: String,
        /// The release the app runs now.
        #[arg(long, default_value = "")]
        current: String,
        /// The client's stable id (draws its rollout cohorts; none: in no partial rollout).
        #[arg(long, default_value = "")]
        client_id: String,
    },
    /// Points a channel back at an earlier release, deprecating every newer one.
    Rollback {
        /// The repo key.
        repo: String,
        /// The channel.
        channel: String,
        /// The release to return to.
        release: String,
    },
}

fn release_of<M: prost::Message>(
    out: &Out,
    name: &str,
    message: &M,
    release: impl Fn(&M) -> Option<&pb::Release>,
) -> ClientResult<()> {
    out.answer(name, message, |m| {
        release(m).map(release_text).unwrap_or_default()
    })
}

/// Runs a release command.
pub(super) async fn run(command: ReleaseCommand, conn: Connection, out: &Out) -> ClientResult<()> {
    let mut admin = conn.admin();
    match command {
        ReleaseCommand::Create {
            repo,
            channel,
            version,
            min_app_version,
            max_app_version,
            platforms,
            notes,
            mandatory,
        } => {
            let answer = admin
                .create_release(pb::CreateReleaseRequest {
                    repo,
                    channel,
                    version,
                    min_app_version,
                    max_app_version,
                    platforms,
                    notes,
                    mandatory,
                })
                .await?
                .into_inner();
            release_of(out, "CreateReleaseResponse", &answer, |a| {
                a.release.as_ref()
            })
        }
        ReleaseCommand::Attach {
            release,
            role,
            artifact,
            etag,
        } => {
            let (package, version) = artifact.split_once('@').ok_or_else(|| {
                ClientError::usage(format!("{artifact:?} is not PACKAGE@VERSION"))
            })?;
            let answer = admin
                .attach_artifact(pb::AttachArtifactRequest {
                    release_id: release,
                    role,
                    package: package.to_owned(),
                    version: version.to_owned(),
                    etag,
                })
                .await?
                .into_inner();
            release_of(out, "AttachArtifactResponse", &answer, |a| {
                a.release.as_ref()
            })
        }
        ReleaseCommand::Detach {
            release,
            role,
            etag,
        } => {
            let answer = admin
                .detach_artifact(pb::DetachArtifactRequest {
                    release_id: release,
                    role,
                    etag,
                })
                .await?
                .into_inner();
            release_of(out, "DetachArtifactResponse", &answer, |a| {
                a.release.as_ref()
            })
        }
        ReleaseCommand::Validate { release } => {
            let answer = admin
                .validate_release(pb::ValidateReleaseRequest {
                    release_id: release.clone(),
                })
                .await?
                .into_inner();
            out.answer("ValidateReleaseResponse", &answer, |a| {
                let verdict = if a.publishable {
                    "publishable"
                } else {
                    "not publishable"
                };
                let findings = findings_text(&a.findings);
                if findings.is_empty() {
                    verdict.to_owned()
                } else {
                    format!("{findings}\n{verdict}")
                }
            })?;
            if answer.publishable {
                Ok(())
            } else {
                Err(ClientError {
                    exit: crate::client::Exit::Invalid,
                    message: format!("release {release} is not publishable"),
                    reason: Some("VALIDATION_FAILED".into()),
                })
            }
        }
        ReleaseCommand::Publish { release, etag } => {
            let published = admin
                .publish_release(pb::PublishReleaseRequest {
                    release_id: release.clone(),
                    etag,
                })
                .await;
            let answer = match published {
                Ok(answer) => answer.into_inner(),
                Err(status) => {
                    let error = ClientError::from(status);
                    if error.reason.as_deref() == Some("VALIDATION_FAILED") {
                        // Say what blocks it, one finding per line, before the error itself.
                        if let Ok(v) = admin
                            .validate_release(pb::ValidateReleaseRequest {
                                release_id: release,
                            })
                            .await
                        {
                            eprintln!("{}", findings_text(&v.into_inner().findings));
                        }
                    }
                    return Err(error);
                }
            };
            out.answer("PublishReleaseResponse", &answer, |a| {
                let mut text = a.release.as_ref().map(release_text).unwrap_or_default();
                let findings = findings_text(&a.findings);
                if !findings.is_empty() {
                    text.push('\n');
                    text.push_str(&findings);
                }
                text
            })
        }
        ReleaseCommand::Deprecate {
            release,
            reason,
            replacement,
        } => {
            let answer = admin
                .deprecate_release(pb::DeprecateReleaseRequest {
                    release_id: release,
                    reason,
                    replacement,
                })
                .await?
                .into_inner();
            release_of(out, "DeprecateReleaseResponse", &answer, |a| {
                a.release.as_ref()
            })
        }
        ReleaseCommand::List {
            repo,
            channel,
            page_size,
            page_token,
        } => {
            let answer = admin
                .list_releases(pb::ListReleasesRequest {
                    repo,
                    channel,
                    page_size,
                    page_token,
                })
                .await?
                .into_inner();
            out.answer("ListReleasesResponse", &answer, |a| {
                let mut text = a
                    .releases
                    .iter()
                    .map(|r| {
                        release_text(&pb::Release {
                            artifacts: Vec::new(),
                            ..r.clone()
                        })
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                text.push_str(&next_page(&a.next_page_token));
                text
            })
        }
        ReleaseCommand::Get { release } => {
            let answer = conn
                .catalog()
                .get_release(pb::GetReleaseRequest {
                    release_id: release,
                })
                .await?
                .into_inner();
            release_of(out, "GetReleaseResponse", &answer, |a| a.release.as_ref())
        }
    }
}

/// Runs a channel command.
pub(super) async fn run_channel(
    command: ChannelCommand,
    conn: Connection,
    out: &Out,
) -> ClientResult<()> {
    match command {
        ChannelCommand::Latest {
            repo,
            channel,
            app_version,
            platform,
            current,
            client_id,
        } => {
            let answer = conn
                .catalog()
                .get_latest_release(pb::GetLatestReleaseRequest {
                    repo,
                    channel,
                    app_version,
                    platform,
                    current_release_id: current,
                    client_id,
                })
                .await?
                .into_inner();
            use pb::get_latest_release_response::Decision;
            out.answer("GetLatestReleaseResponse", &answer, |a| match &a.decision {
                Some(Decision::Update(u)) => format!(
                    "update to {}",
                    u.release.as_ref().map(release_text).unwrap_or_default()
                ),
                Some(Decision::UpToDate(u)) => format!(
                    "up to date: {}",
                    u.release.as_ref().map(release_text).unwrap_or_default()
                ),
                Some(Decision::AppUpdateRequired(r)) => {
                    format!("app update required (app >= {})", r.min_app_version)
                }
                None => "no release in this channel".to_owned(),
            })
        }
        ChannelCommand::Rollback {
            repo,
            channel,
            release,
        } => {
            let answer = conn
                .admin()
                .rollback_channel(pb::RollbackChannelRequest {
                    repo,
                    channel,
                    release_id: release,
                })
                .await?
                .into_inner();
            out.answer("RollbackChannelResponse", &answer, |a| {
                let mut text = format!(
                    "rolled back to {} (sequence {})",
                    a.release.as_ref().map(release_text).unwrap_or_default(),
                    a.sequence
                );
                for id in &a.deprecated_release_ids {
                    text.push_str(&format!("\n  deprecated {id}"));
                }
                text
            })
        }
    }
}
