//! `relreg repo …` and `relreg package …`.

use crate::{
    client::{ClientError, ClientResult, Connection},
    domain::parse_name,
    pb,
};

use super::output::{Out, next_page};

/// Repo commands.
#[derive(clap::Subcommand, Debug)]
pub enum RepoCommand {
    /// Creates a repo.
    Create {
        /// The repo key.
        repo: String,
        /// Serve catalog reads without a token.
        #[arg(long)]
        public: bool,
        /// A display name.
        #[arg(long, default_value = "")]
        display_name: String,
    },
    /// Shows a repo.
    Get {
        /// The repo key.
        repo: String,
    },
    /// Replaces a repo's policy: the roles each channel's releases must carry, and retention
    /// (what is not given is cleared).
    Policy {
        /// The repo key.
        repo: String,
        /// `CHANNEL=ROLE,ROLE…`, once per channel (none clears the policy).
        #[arg(long = "require", value_name = "CHANNEL=ROLES")]
        require: Vec<String>,
        /// Retention: per package, keep the newest N published versions.
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_versions: u32,
        /// Retention: per package, keep versions published within this long (`90d`, `12h`,
        /// `30m`, `45s`, or seconds).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration_secs)]
        keep_versions_for: Option<u64>,
        /// Retention: per channel, keep the newest N published releases.
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_releases: u32,
    },
}

/// Package commands.
#[derive(clap::Subcommand, Debug)]
pub enum PackageCommand {
    /// Creates a package.
    Create {
        /// `REPO/PACKAGE`.
        package: String,
        /// The kind, which selects the manifest validator (`generic`, `config`, …).
        #[arg(long, default_value = "")]
        kind: String,
        /// A description.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Deletes a package with its drafts; refused once a version of it was published.
    Delete {
        /// `REPO/PACKAGE`.
        package: String,
    },
    /// Lists a repo's packages.
    List {
        /// The repo key.
        repo: String,
        /// Packages per page (server default when 0).
        #[arg(long, default_value_t = 0)]
        page_size: i32,
        /// The page to continue from.
        #[arg(long, default_value = "")]
        page_token: String,
    },
}

/// Splits `REPO/PACKAGE`.
pub(super) fn package_ref(text: &str) -> ClientResult<(String, String)> {
    let bad = |why: String| ClientError::usage(format!("{text:?} is not REPO/PACKAGE ({why})"));
    let (repo, package) = text
        .split_once('/')
        .ok_or_else(|| bad("no REPO/ before the package".into()))?;
    parse_name("repo", repo).map_err(|e| bad(e.to_string()))?;
    parse_name("package", package).map_err(|e| bad(e.to_string()))?;
    Ok((repo.to_owned(), package.to_owned()))
}

fn repo_text(r: &pb::Repo) -> String {
    let visibility = if r.public { "public" } else { "private" };
    let mut text = format!("{} ({visibility})", r.key);
    if !r.display_name.is_empty() {
        text.push_str(&format!(" {}", r.display_name));
    }
    text
}

fn package_text(p: &pb::Package) -> String {
    let kind = if p.kind.is_empty() {
        "generic"
    } else {
        &p.kind
    };
    format!("{}/{} ({kind}) {}", p.repo, p.name, p.description)
        .trim_end()
        .to_owned()
}

/// Reads a duration: a number of seconds, optionally with a unit (`s`, `m`, `h`, `d`).
fn parse_duration_secs(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        other => return Err(format!("unknown unit {other:?}: use s, m, h or d")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| format!("{text:?} is not a duration such as 90d, 12h, 30m or 45s"))
}

/// Describes a retention policy.
fn retention_text(r: &pb::RetentionPolicy) -> String {
    let mut rules = Vec::new();
    if r.keep_versions > 0 {
        rules.push(format!("keep the newest {} versions", r.keep_versions));
    }
    if r.keep_versions_for_seconds > 0 {
        rules.push(format!(
            "keep versions younger than {}s",
            r.keep_versions_for_seconds
        ));
    }
    if r.keep_releases > 0 {
        rules.push(format!("keep the newest {} releases", r.keep_releases));
    }
    format!("retention: {}", rules.join(", "))
}

/// Reads `CHANNEL=ROLE,ROLE…`.
fn channel_policy(text: &str) -> ClientResult<pb::ChannelPolicy> {
    let (channel, roles) = text.split_once('=').ok_or_else(|| {
        ClientError::usage(format!("--require {text:?} is not CHANNEL=ROLE,ROLE…"))
    })?;
    Ok(pb::ChannelPolicy {
        channel: channel.trim().to_owned(),
        required_roles: roles
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Runs a repo command.
pub(super) async fn run_repo(
    command: RepoCommand,
    conn: Connection,
    out: &Out,
) -> ClientResult<()> {
    let mut admin = conn.admin();
    match command {
        RepoCommand::Create {
            repo,
            public,
            display_name,
        } => {
            let answer = admin
                .create_repo(pb::CreateRepoRequest {
                    repo,
                    public,
                    display_name,
                })
                .await?
                .into_inner();
            out.answer("CreateRepoResponse", &answer, |a| {
                a.repo.as_ref().map(repo_text).unwrap_or_default()
            })
        }
        RepoCommand::Get { repo } => {
            let answer = admin
                .get_repo(pb::GetRepoRequest { repo })
                .await?
                .into_inner();
            out.answer("GetRepoResponse", &answer, |a| {
                a.repo.as_ref().map(repo_text).unwrap_or_default()
            })
        }
        RepoCommand::Policy {
            repo,
            require,
            keep_versions,
            keep_versions_for,
            keep_releases,
        } => {
            let channels = require
                .iter()
                .map(|r| channel_policy(r))
                .collect::<ClientResult<Vec<_>>>()?;
            let retention = pb::RetentionPolicy {
                keep_versions,
                keep_versions_for_seconds: keep_versions_for.unwrap_or(0),
                keep_releases,
            };
            let answer = admin
                .update_repo_policy(pb::UpdateRepoPolicyRequest {
                    repo,
                    policy: Some(pb::RepoPolicy {
                        channels,
                        retention: Some(retention),
                    }),
                })
                .await?
                .into_inner();
            out.answer("UpdateRepoPolicyResponse", &answer, |a| {
                let channels = a
                    .policy
                    .as_ref()
                    .map(|p| p.channels.as_slice())
                    .unwrap_or_default();
                let mut lines: Vec<String> = channels
                    .iter()
                    .map(|c| format!("{}: {}", c.channel, c.required_roles.join(", ")))
                    .collect();
                if lines.is_empty() {
                    lines.push("no required roles".to_owned());
                }
                if let Some(r) = a.policy.as_ref().and_then(|p| p.retention.as_ref()) {
                    lines.push(retention_text(r));
                }
                lines.join("\n")
            })
        }
    }
}

/// Runs a package command.
pub(super) async fn run_package(
    command: PackageCommand,
    conn: Connection,
    out: &Out,
) -> ClientResult<()> {
    let mut admin = conn.admin();
    match command {
        PackageCommand::Create {
            package,
            kind,
            description,
        } => {
            let (repo, package) = package_ref(&package)?;
            let answer = admin
                .create_package(pb::CreatePackageRequest {
                    repo,
                    package,
                    kind,
                    description,
                })
                .await?
                .into_inner();
            out.answer("CreatePackageResponse", &answer, |a| {
                a.package.as_ref().map(package_text).unwrap_or_default()
            })
        }
        PackageCommand::Delete { package } => {
            let (repo, package) = package_ref(&package)?;
            let answer = admin
                .delete_package(pb::DeletePackageRequest {
                    repo: repo.clone(),
                    package: package.clone(),
                })
                .await?
                .into_inner();
            out.answer("DeletePackageResponse", &answer, |a| {
                format!(
                    "deleted {repo}/{package} ({} drafts with it)",
                    a.deleted_drafts
                )
            })
        }
        PackageCommand::List {
            repo,
            page_size,
            page_token,
        } => {
            let answer = admin
                .list_packages(pb::ListPackagesRequest {
                    repo,
                    page_size,
                    page_token,
                })
                .await?
                .into_inner();
            out.answer("ListPackagesResponse", &answer, |a| {
                let mut text = a
                    .packages
                    .iter()
                    .map(package_text)
                    .collect::<Vec<_>>()
                    .join("\n");
                text.push_str(&next_page(&a.next_page_token));
                text
            })
        }
    }
}
