//! What each browse page shows, as serializable views (answered as is for JSON); they are
//! loaded in `load`, and link to each other through `links`.

mod links;
mod load;

pub(super) use links::{package_href, release_href, repo_href, rfc3339, seg, version_href};
pub(super) use load::{package_view, release_view, repo_view, version_view};

use serde::Serialize;

use crate::domain::{AppVersion, Package, ReleaseRecord, Repo, VersionFile, VersionRecord};

// ---------------------------------------------------------------------------------------------
// Views: what a page shows, serialized as is for JSON.

/// A link back to a repo.
#[derive(Debug, Serialize)]
pub(super) struct RepoRef {
    pub(super) key: String,
    pub(super) display_name: String,
    pub(super) public: bool,
    pub(super) href: String,
}

impl RepoRef {
    pub(super) fn new(repo: &Repo) -> Self {
        Self {
            key: repo.key.to_string(),
            display_name: repo.display_name.clone().unwrap_or_default(),
            public: repo.public,
            href: repo_href(&repo.key),
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct PackageView {
    pub(super) name: String,
    pub(super) kind: String,
    pub(super) description: String,
    pub(super) created_at: String,
    pub(super) href: String,
}

impl PackageView {
    pub(super) fn new(p: &Package) -> Self {
        Self {
            name: p.name.to_string(),
            kind: p.kind.clone(),
            description: p.description.clone(),
            created_at: rfc3339(p.created_at),
            href: package_href(&p.repo, &p.name),
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct FileView {
    pub(super) path: String,
    pub(super) size: u64,
    pub(super) digest: String,
    pub(super) media_type: String,
    /// The blob download (`GET /v1/repos/{repo}/blobs/{digest}`), relative to the server.
    pub(super) download_href: String,
}

impl FileView {
    pub(super) fn new(repo: &str, f: &VersionFile) -> Self {
        Self {
            path: f.path.to_string(),
            size: f.size,
            digest: f.digest.to_string(),
            media_type: f.media_type.clone(),
            download_href: format!(
                "/v1/repos/{}/blobs/{}",
                seg(repo),
                seg(&f.digest.to_string())
            ),
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct VersionView {
    pub(super) version: String,
    pub(super) state: &'static str,
    pub(super) content_digest: Option<String>,
    pub(super) created_at: String,
    pub(super) published_at: Option<String>,
    pub(super) deprecation_reason: String,
    /// Another version of the package to use instead.
    pub(super) replacement: String,
    pub(super) replacement_href: Option<String>,
    pub(super) yank_reason: String,
    pub(super) href: String,
}

impl VersionView {
    pub(super) fn new(v: &VersionRecord) -> Self {
        let (repo, package) = (&v.key.repo, &v.key.package);
        Self {
            version: v.key.version.to_string(),
            state: v.state.as_str(),
            content_digest: v.content_digest.map(|d| d.to_string()),
            created_at: rfc3339(v.created_at),
            published_at: v.published_at.map(rfc3339),
            deprecation_reason: v.deprecation_reason.clone().unwrap_or_default(),
            replacement: v
                .replacement
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            replacement_href: v
                .replacement
                .as_ref()
                .map(|r| version_href(repo, package, &r.to_string())),
            yank_reason: v.yank_reason.clone().unwrap_or_default(),
            href: version_href(repo, package, &v.key.version.to_string()),
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct ReleaseView {
    pub(super) id: String,
    pub(super) channel: String,
    pub(super) version: String,
    pub(super) state: &'static str,
    /// The channel sequence assigned when published.
    pub(super) sequence: Option<i64>,
    pub(super) mandatory: bool,
    pub(super) min_app_version: String,
    pub(super) max_app_version: String,
    pub(super) platforms: Vec<String>,
    pub(super) created_at: String,
    pub(super) published_at: Option<String>,
    pub(super) deprecation_reason: String,
    /// A release id to use instead.
    pub(super) replacement: String,
    pub(super) replacement_href: Option<String>,
    pub(super) href: String,
}

impl ReleaseView {
    pub(super) fn new(r: &ReleaseRecord) -> Self {
        Self {
            id: r.id.to_string(),
            channel: r.channel.to_string(),
            version: r.version.to_string(),
            state: r.state.as_str(),
            sequence: r.sequence,
            mandatory: r.mandatory,
            min_app_version: bound_text(r.compatibility.min.as_ref()),
            max_app_version: bound_text(r.compatibility.max.as_ref()),
            platforms: r
                .compatibility
                .platforms
                .iter()
                .map(ToString::to_string)
                .collect(),
            created_at: rfc3339(r.created_at),
            published_at: r.published_at.map(rfc3339),
            deprecation_reason: r.deprecation_reason.clone().unwrap_or_default(),
            replacement: r.replacement.map(|id| id.to_string()).unwrap_or_default(),
            replacement_href: r
                .replacement
                .map(|id| release_href(&r.repo, &id.to_string())),
            href: release_href(&r.repo, &r.id.to_string()),
        }
    }
}

/// Writes an app-version bound as the publisher wrote it; empty for none.
fn bound_text(bound: Option<&AppVersion>) -> String {
    bound.map(|b| b.as_str().to_owned()).unwrap_or_default()
}

/// `/ui`.
#[derive(Debug, Serialize)]
pub(super) struct HomeView {
    /// Where a repo's page is: replace `{repo}`.
    pub(super) repo_href_template: &'static str,
    /// The repos the caller may read: public ones, and private ones its token covers.
    pub(super) repos: Vec<RepoRef>,
    /// The next page of repos, if any.
    pub(super) next_repos_href: Option<String>,
}

/// `/ui/{repo}`.
#[derive(Debug, Serialize)]
pub(super) struct RepoView {
    pub(super) repo: RepoRef,
    pub(super) created_at: String,
    pub(super) packages: Vec<PackageView>,
    /// The next page of packages, if any.
    pub(super) next_packages_href: Option<String>,
    pub(super) channels: Vec<ChannelView>,
    /// The newest releases, newest first.
    pub(super) recent_releases: Vec<ReleaseView>,
    /// How many published releases were read to find the channels.
    pub(super) releases_scanned: usize,
    /// Whether there were more than were read.
    pub(super) releases_truncated: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct ChannelView {
    pub(super) channel: String,
    /// Published and deprecated releases in the channel (of those read).
    pub(super) releases: usize,
    /// The published, non-deprecated release with the highest semver.
    pub(super) latest: Option<ReleaseView>,
    /// The highest sequence number assigned in the channel (of those read).
    pub(super) last_sequence: Option<i64>,
}

/// `/ui/{repo}/{package}`.
#[derive(Debug, Serialize)]
pub(super) struct PackagePageView {
    pub(super) repo: RepoRef,
    pub(super) package: PackageView,
    pub(super) versions: Vec<VersionView>,
    pub(super) next_versions_href: Option<String>,
}

/// `/ui/{repo}/{package}/{version}`.
#[derive(Debug, Serialize)]
pub(super) struct VersionPageView {
    pub(super) repo: RepoRef,
    pub(super) package: PackageView,
    pub(super) version: VersionView,
    pub(super) files: Vec<FileView>,
    pub(super) total_size: u64,
    pub(super) manifest: serde_json::Value,
}

/// `/ui/{repo}/releases/{release_id}`.
#[derive(Debug, Serialize)]
pub(super) struct ReleasePageView {
    pub(super) repo: RepoRef,
    pub(super) release: ReleaseView,
    pub(super) notes: String,
    pub(super) artifacts: Vec<ArtifactView>,
}

#[derive(Debug, Serialize)]
pub(super) struct ArtifactView {
    pub(super) role: String,
    pub(super) package: String,
    pub(super) package_href: String,
    pub(super) kind: String,
    pub(super) version: String,
    pub(super) version_href: String,
    pub(super) version_state: &'static str,
    pub(super) content_digest: Option<String>,
    pub(super) files: Vec<FileView>,
}

#[cfg(test)]
mod tests;
