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
    /// Replaces a repo's release policy: the roles each channel's releases must carry.
    Policy {
        /// The repo key.
        repo: String,
        /// `CHANNEL=ROLE,ROLE…`, once per channel (none clears the policy).
        #[arg(long = "require", value_name = "CHANNEL=ROLES")]
        require: Vec<String>,
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
        RepoCommand::Policy { repo, require } => {
            let channels = require
                .iter()
                .map(|r| channel_policy(r))
                .collect::<ClientResult<Vec<_>>>()?;
            let answer = admin
                .update_repo_policy(pb::UpdateRepoPolicyRequest {
                    repo,
                    policy: Some(pb::RepoPolicy { channels }),
                })
                .await?
                .into_inner();
            out.answer("UpdateRepoPolicyResponse", &answer, |a| {
                let channels = a
                    .policy
                    .as_ref()
                    .map(|p| p.channels.as_slice())
                    .unwrap_or_default();
                if channels.is_empty() {
                    return "no required roles".to_owned();
                }
                channels
                    .iter()
                    .map(|c| format!("{}: {}", c.channel, c.required_roles.join(", ")))
                    .collect::<Vec<_>>()
                    .join("\n")
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
