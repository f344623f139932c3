//! `pull`: resolves one package version (exact, or the highest matching a requirement) and
//! downloads its files into a directory, each verified before it appears under its name.

use std::path::{Path, PathBuf};

use futures::{StreamExt as _, TryStreamExt as _};
use serde::Serialize;

use super::{
    conn::Connection,
    download::{self, Expected},
    error::{ClientError, ClientResult, Exit},
    retry::Backoff,
};
use crate::{
    domain::{Digest, FilePath},
    pb,
};

/// The hidden directory inside the target that holds partial downloads.
pub const PARTIAL_DIR: &str = ".relreg-partial";

/// Which version to pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Exactly this version.
    Exact(semver::Version),
    /// The highest published, non-yanked version matching the requirement.
    Requirement(semver::VersionReq),
}

/// `REPO/PACKAGE@VERSION|REQUIREMENT`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSpec {
    /// The repo key.
    pub repo: String,
    /// The package name.
    pub package: String,
    /// The version or requirement.
    pub selector: Selector,
}

impl PullSpec {
    /// Parses `REPO/PACKAGE@VERSION` or `REPO/PACKAGE@REQUIREMENT` (e.g. `acme/app@^1.4`).
    pub fn parse(text: &str) -> ClientResult<Self> {
        let bad = |why: &str| {
            ClientError::usage(format!(
                "{text:?} is not REPO/PACKAGE@VERSION or REPO/PACKAGE@REQUIREMENT: {why}"
            ))
        };
        let (repo, package, spec) =
            super::refs::split_package_ref(text).map_err(|why| bad(&why))?;
        let spec = spec.trim();
        let selector = match semver::Version::parse(spec) {
            Ok(v) => Selector::Exact(v),
            Err(_) => Selector::Requirement(semver::VersionReq::parse(spec).map_err(|e| {
                bad(&format!(
                    "{spec:?} is neither a version nor a requirement: {e}"
                ))
            })?),
        };
        Ok(Self {
            repo: repo.to_owned(),
            package: package.to_owned(),
            selector,
        })
    }
}

/// One file a pull placed in the directory.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PulledFile {
    /// The file's path inside the directory.
    pub path: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether its bytes came over the network in this pull (false: the file was there already).
    pub downloaded: bool,
}

/// What a pull did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PullReport {
    /// The repo key.
    pub repo: String,
    /// The package name.
    pub package: String,
    /// The version pulled.
    pub version: String,
    /// The directory the files are in.
    pub dir: PathBuf,
    /// Every file of the version.
    pub files: Vec<PulledFile>,
    /// Files whose bytes were fetched.
    pub files_downloaded: usize,
    /// Files already present with the right digest.
    pub files_reused: usize,
    /// Bytes received over the network.
    pub bytes_downloaded: u64,
}

/// Resolves `spec` and downloads the version's files into `dir`, `jobs` at a time.
pub async fn pull(
    conn: &Connection,
    spec: &PullSpec,
    dir: &Path,
    jobs: usize,
    backoff: Backoff,
) -> ClientResult<PullReport> {
    let version = backoff.run("resolve", || resolve(conn, spec)).await?;
    let mut planned = Vec::new();
    for f in &version.files {
        let path = FilePath::parse("path", &f.path).map_err(|e| {
            ClientError::new(
                Exit::Invalid,
                format!(
                    "the server listed an unsafe file path {:?}: {}",
                    f.path, e.message
                ),
            )
        })?;
        let digest = Digest::parse("digest", &f.digest).map_err(|e| {
            ClientError::new(Exit::Invalid, format!("the server listed {}", e.message))
        })?;
        let size = u64::try_from(f.size)
            .map_err(|_| ClientError::new(Exit::Invalid, "the server listed a negative size"))?;
        planned.push((path, Expected { digest, size }));
    }
    std::fs::create_dir_all(dir).map_err(|e| ClientError::local(dir, e))?;
    let partials = dir.join(PARTIAL_DIR);
    let files: Vec<(PulledFile, u64)> =
        futures::stream::iter(planned.into_iter().map(|(path, expected)| {
            let partials = partials.clone();
            async move {
                let dest = dir.join(path.as_str());
                let file = |downloaded| PulledFile {
                    path: path.to_string(),
                    digest: expected.digest.to_string(),
                    size: expected.size,
                    downloaded,
                };
                if let Ok((d, n)) = download::hash_file(&dest).await
                    && d == expected.digest
                    && n == expected.size
                {
                    return Ok((file(false), 0));
                }
                if let Some(parent) = dest.parent() {
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(|e| ClientError::local(parent, e))?;
                }
                let partial = partials.join(format!("{}.partial", expected.digest.hex()));
                let url = download::blob_url(conn, &spec.repo, &expected.digest);
                let t = backoff
                    .run(path.as_str(), || {
                        download::download(conn, &url, expected, &partial, &dest)
                    })
                    .await?;
                Ok::<_, ClientError>((file(true), t.bytes))
            }
        }))
        .buffer_unordered(jobs.max(1))
        .try_collect()
        .await?;
    let _ = std::fs::remove_dir(&partials);
    let mut report = PullReport {
        repo: spec.repo.clone(),
        package: spec.package.clone(),
        version: version.version.clone(),
        dir: dir.to_owned(),
        files: Vec::new(),
        files_downloaded: 0,
        files_reused: 0,
        bytes_downloaded: 0,
    };
    for (f, bytes) in files {
        report.bytes_downloaded += bytes;
        if f.downloaded {
            report.files_downloaded += 1;
        } else {
            report.files_reused += 1;
        }
        report.files.push(f);
    }
    report.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

async fn resolve(conn: &Connection, spec: &PullSpec) -> ClientResult<pb::Version> {
    let mut catalog = conn.catalog();
    let version = match &spec.selector {
        Selector::Exact(v) => {
            catalog
                .get_version(pb::GetVersionRequest {
                    repo: spec.repo.clone(),
                    package: spec.package.clone(),
                    version: v.to_string(),
                })
                .await?
                .into_inner()
                .version
        }
        Selector::Requirement(r) => {
            catalog
                .resolve_version(pb::ResolveVersionRequest {
                    repo: spec.repo.clone(),
                    package: spec.package.clone(),
                    requirement: r.to_string(),
                })
                .await?
                .into_inner()
                .version
        }
    };
    version.ok_or_else(|| ClientError::internal("the server answered without a version"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_versions_and_requirements() {
        let s = PullSpec::parse("acme/app@1.2.3").unwrap();
        assert_eq!((s.repo.as_str(), s.package.as_str()), ("acme", "app"));
        assert_eq!(s.selector, Selector::Exact("1.2.3".parse().unwrap()));
        let s = PullSpec::parse("acme/app@^1.4").unwrap();
        assert_eq!(s.selector, Selector::Requirement("^1.4".parse().unwrap()));
        for bad in [
            "acme/app",
            "acme@1.0.0",
            "Acme/app@1",
            "acme/app@not a version",
            "/app@1",
        ] {
            assert_eq!(PullSpec::parse(bad).unwrap_err().exit, Exit::Usage, "{bad}");
        }
    }
}
