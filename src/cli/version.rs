//! `relreg version …`: read, compare and change the state of package versions.

use crate::{
    client::{ClientResult, Connection, VersionRef, publish::publish_version},
    pb,
};

use super::{
    output::{Out, next_page, version_text},
    repo::package_ref,
};

/// Version commands.
#[derive(clap::Subcommand, Debug)]
pub enum VersionCommand {
    /// Lists a package's versions.
    List {
        /// `REPO/PACKAGE`.
        package: String,
        /// Versions per page (server default when 0).
        #[arg(long, default_value_t = 0)]
        page_size: i32,
        /// The page to continue from.
        #[arg(long, default_value = "")]
        page_token: String,
    },
    /// Shows a version with its files.
    Get {
        /// `REPO/PACKAGE@VERSION`.
        version: VersionRef,
    },
    /// Compares a version with another of the same package.
    Diff {
        /// `REPO/PACKAGE@VERSION`.
        version: VersionRef,
        /// The version to compare against.
        #[arg(long)]
        base: String,
    },
    /// Publishes a draft (retried while the server answers ABORTED).
    Publish {
        /// `REPO/PACKAGE@VERSION`.
        version: VersionRef,
        /// Publish only if the draft still has this etag.
        #[arg(long, default_value = "")]
        etag: String,
    },
    /// Deprecates a published version (still downloadable, no longer "latest").
    Deprecate {
        /// `REPO/PACKAGE@VERSION`.
        version: VersionRef,
        /// Why.
        #[arg(long)]
        reason: String,
        /// The version to use instead.
        #[arg(long, default_value = "")]
        replacement: String,
    },
    /// Yanks a published version (unresolvable for new consumers).
    Yank {
        /// `REPO/PACKAGE@VERSION`.
        version: VersionRef,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Deletes a draft, or a version nothing references.
    Delete {
        /// `REPO/PACKAGE@VERSION`.
        version: VersionRef,
        /// Delete only if the draft still has this etag.
        #[arg(long, default_value = "")]
        etag: String,
    },
}

fn answer_version<M>(
    out: &Out,
    name: &str,
    message: &M,
    version: impl Fn(&M) -> Option<&pb::Version>,
) -> ClientResult<()>
where
    M: prost::Message,
{
    out.answer(name, message, |m| {
        version(m).map(version_text).unwrap_or_default()
    })
}

/// Runs a version command.
pub(super) async fn run(command: VersionCommand, conn: Connection, out: &Out) -> ClientResult<()> {
    let mut admin = conn.admin();
    let mut catalog = conn.catalog();
    match command {
        VersionCommand::List {
            package,
            page_size,
            page_token,
        } => {
            let (repo, package) = package_ref(&package)?;
            let answer = catalog
                .list_versions(pb::ListVersionsRequest {
                    repo,
                    package,
                    page_size,
                    page_token,
                })
                .await?
                .into_inner();
            out.answer("ListVersionsResponse", &answer, |a| {
                let mut text = a
                    .versions
                    .iter()
                    .map(|v| {
                        version_text(&pb::Version {
                            files: Vec::new(),
                            ..v.clone()
                        })
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                text.push_str(&next_page(&a.next_page_token));
                text
            })
        }
        VersionCommand::Get { version: v } => {
            let answer = catalog
                .get_version(pb::GetVersionRequest {
                    repo: v.repo,
                    package: v.package,
                    version: v.version.to_string(),
                })
                .await?
                .into_inner();
            answer_version(out, "GetVersionResponse", &answer, |a| a.version.as_ref())
        }
        VersionCommand::Diff { version: v, base } => {
            let answer = admin
                .diff_version(pb::DiffVersionRequest {
                    repo: v.repo,
                    package: v.package,
                    version: v.version.to_string(),
                    base_version: base,
                })
                .await?
                .into_inner();
            out.answer("DiffVersionResponse", &answer, |a| {
                let mut lines = Vec::new();
                lines.extend(a.added.iter().map(|f| format!("+ {} {}", f.path, f.digest)));
                lines.extend(
                    a.removed
                        .iter()
                        .map(|f| format!("- {} {}", f.path, f.digest)),
                );
                lines.extend(
                    a.changed
                        .iter()
                        .map(|c| format!("~ {} {} -> {}", c.path, c.base_digest, c.digest)),
                );
                if a.manifest_changed {
                    lines.push("~ manifest".into());
                }
                if lines.is_empty() {
                    lines.push("no differences".into());
                }
                lines.join("\n")
            })
        }
        VersionCommand::Publish { version: v, etag } => {
            let version = publish_version(&conn, &v, &etag).await?;
            let answer = pb::PublishVersionResponse {
                version: Some(version),
            };
            answer_version(out, "PublishVersionResponse", &answer, |a| {
                a.version.as_ref()
            })
        }
        VersionCommand::Deprecate {
            version: v,
            reason,
            replacement,
        } => {
            let answer = admin
                .deprecate_version(pb::DeprecateVersionRequest {
                    repo: v.repo,
                    package: v.package,
                    version: v.version.to_string(),
                    reason,
                    replacement,
                })
                .await?
                .into_inner();
            answer_version(out, "DeprecateVersionResponse", &answer, |a| {
                a.version.as_ref()
            })
        }
        VersionCommand::Yank { version: v, reason } => {
            let answer = admin
                .yank_version(pb::YankVersionRequest {
                    repo: v.repo,
                    package: v.package,
                    version: v.version.to_string(),
                    reason,
                })
                .await?
                .into_inner();
            answer_version(out, "YankVersionResponse", &answer, |a| a.version.as_ref())
        }
        VersionCommand::Delete { version: v, etag } => {
            let text = v.to_string();
            let answer = admin
                .delete_version(pb::DeleteVersionRequest {
                    repo: v.repo,
                    package: v.package,
                    version: v.version.to_string(),
                    etag,
                })
                .await?
                .into_inner();
            out.answer("DeleteVersionResponse", &answer, |_| {
                format!("deleted {text}")
            })
        }
    }
}
