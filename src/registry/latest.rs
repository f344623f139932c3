//! The mobile hot path: the "latest" decision for a client's app version and platform, and
//! release manifests. Both are answered from memory on a warm server; cold, "latest" reads
//! the top of the channel's semver index.

use std::sync::Arc;

use super::{Caller, Registry, cache::Ticket, store_error};
use crate::domain::{
    Artifact, Error, Package, ReleaseRecord, ReleaseState, Result, VersionKey, VersionRecord,
    parse_app_version, parse_name,
};

/// How many candidates the cold "latest" query reads before falling back to the whole channel:
/// the top of the index usually admits the client, and reading one row costs the same at any
/// channel size.
pub const LATEST_BATCH: i64 = 1;

/// What a client should do, as `GetLatestRelease` answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Run this release.
    Update(ReleaseRecord),
    /// The client runs the latest release it may have (if the server knows which).
    UpToDate(Option<ReleaseRecord>),
    /// Only a newer app gets a release; the lowest `min_app_version` that would.
    AppUpdateRequired(String),
}

/// A release manifest: the release and, per artifact, its package and version with files.
#[derive(Debug, Clone)]
pub struct ManifestView {
    pub release: ReleaseRecord,
    pub artifacts: Vec<(Artifact, Package, VersionRecord)>,
    /// The base URL of download links.
    pub public_url: String,
}

/// Chooses among published releases sorted highest semver first.
fn decide(
    releases: &[ReleaseRecord],
    app: &semver::Version,
    platform: &str,
    current: &str,
) -> Option<Decision> {
    if let Some(best) = releases
        .iter()
        .find(|r| r.compatibility.admits(app, platform))
    {
        return Some(if best.id == current {
            Decision::UpToDate(Some(best.clone()))
        } else {
            Decision::Update(best.clone())
        });
    }
    let lowest_newer = releases
        .iter()
        .filter(|r| {
            r.compatibility.platforms.is_empty()
                || r.compatibility.platforms.iter().any(|p| p == platform)
        })
        .filter_map(|r| parse_app_version("", &r.compatibility.min_app_version).ok())
        .filter(|min| min > app)
        .min();
    lowest_newer.map(|min| Decision::AppUpdateRequired(min.to_string()))
}

impl Registry {
    /// Tells whether published data may be served from memory (off with `--no-cache`).
    pub fn caches_published_data(&self) -> bool {
        self.settings.cache
    }

    /// Returns a number that changes whenever a publish, deprecate or rollback changes a
    /// channel, so that answers derived from channels can be cached and revalidated cheaply.
    pub fn channels_epoch(&self) -> u64 {
        self.cache.epoch()
    }

    /// Decides what a client on `app_version` and `platform`, running `current_release_id`,
    /// should do. A warm server answers from memory.
    pub async fn latest_release(
        &self,
        caller: &Caller,
        repo: &str,
        channel: &str,
        app_version: &str,
        platform: &str,
        current_release_id: &str,
    ) -> Result<Decision> {
        parse_name("repo", repo)?;
        parse_name("channel", channel)?;
        let app = parse_app_version("app_version", app_version)?;
        if !platform.is_empty() {
            parse_name("platform", platform)?;
        }
        self.readable_repo(caller, repo).await?;
        let releases = match self.cache.channel(repo, channel) {
            Ok(cached) => cached,
            Err(_) if self.settings.cache => self.load_channel_once(repo, channel).await?,
            Err(ticket) => {
                // Cold path: the top of the index usually holds the answer.
                let top = self
                    .store
                    .latest_candidates(repo, channel, None, LATEST_BATCH)
                    .await
                    .map_err(store_error)?;
                let top: Vec<ReleaseRecord> = top.into_iter().map(|(_, r)| r).collect();
                let found = decide(&top, &app, platform, current_release_id);
                if let Some(d @ (Decision::Update(_) | Decision::UpToDate(Some(_)))) = found {
                    return Ok(d);
                }
                self.load_channel(repo, channel, ticket).await?
            }
        };
        if releases.is_empty() {
            return Err(Error::not_found(format!(
                "published release in channel {channel} of {repo}"
            )));
        }
        Ok(decide(&releases, &app, platform, current_release_id)
            .unwrap_or(Decision::UpToDate(None)))
    }

    /// Loads a channel into the cache once for all the callers that miss it together (after a
    /// change, say): they queue for the channel's turn, and those behind the first find it
    /// cached.
    async fn load_channel_once(
        &self,
        repo: &str,
        channel: &str,
    ) -> Result<Arc<Vec<ReleaseRecord>>> {
        let _turn = self.cache.load_turn(repo, channel).lock().await;
        match self.cache.channel(repo, channel) {
            Ok(cached) => Ok(cached),
            Err(ticket) => self.load_channel(repo, channel, ticket).await,
        }
    }

    /// Reads every published release of a channel, highest semver first, and caches it.
    async fn load_channel(
        &self,
        repo: &str,
        channel: &str,
        ticket: Ticket,
    ) -> Result<Arc<Vec<ReleaseRecord>>> {
        let mut all = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let batch = self
                .store
                .latest_candidates(repo, channel, before.as_deref(), 1000)
                .await
                .map_err(store_error)?;
            let done = batch.len() < 1000;
            before = batch.last().map(|(key, _)| key.clone());
            all.extend(batch.into_iter().map(|(_, r)| r));
            if done {
                break;
            }
        }
        let all = Arc::new(all);
        self.cache.put_channel(repo, channel, ticket, all.clone());
        Ok(all)
    }

    /// Returns everything a client needs to bootstrap a release; published manifests are
    /// served from memory once built.
    pub async fn release_manifest(&self, caller: &Caller, id: &str) -> Result<Arc<ManifestView>> {
        if let Some(manifest) = self.cache.manifest(id) {
            self.readable_repo(caller, &manifest.release.repo).await?;
            return Ok(manifest);
        }
        let (_, release) = self.readable_release(caller, id).await?;
        let mut artifacts = Vec::with_capacity(release.artifacts.len());
        for a in &release.artifacts {
            let package = self.package(&release.repo, &a.package).await?;
            let key = VersionKey {
                repo: release.repo.clone(),
                package: a.package.clone(),
                version: a.version.clone(),
            };
            let version = self.version(&key).await?;
            artifacts.push((a.clone(), package, version));
        }
        let published = release.state != ReleaseState::Draft;
        let manifest = Arc::new(ManifestView {
            release,
            artifacts,
            public_url: self.settings.public_url.clone(),
        });
        if published {
            self.cache.put_manifest(manifest.clone());
        }
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Compatibility;

    fn release(id: &str, version: &str, min: &str, max: &str, platforms: &[&str]) -> ReleaseRecord {
        ReleaseRecord {
            id: id.into(),
            seq: 0,
            repo: "r".into(),
            channel: "stable".into(),
            version: version.into(),
            state: ReleaseState::Published,
            etag: String::new(),
            compatibility: Compatibility {
                min_app_version: min.into(),
                max_app_version: max.into(),
                platforms: platforms.iter().map(|p| (*p).into()).collect(),
            },
            notes: String::new(),
            mandatory: false,
            sequence: Some(1),
            deprecation_reason: String::new(),
            replacement: String::new(),
            artifacts: Vec::new(),
            created_at: 0,
            updated_at: 0,
            published_at: Some(0),
        }
    }

    fn app(v: &str) -> semver::Version {
        parse_app_version("app", v).unwrap()
    }

    #[test]
    fn decisions_cover_the_three_answers() {
        // Highest semver first, as the store returns them.
        let releases = vec![
            release("r4", "4.0.0", "5.0", "", &[]),
            release("r3", "3.0.0", "2.0", "", &["ios"]),
            release("r2", "2.0.0", "2.0", "4.9", &[]),
            release("r1", "1.0.0", "1.0", "1.9", &[]),
        ];
        let id = |d: Option<Decision>| match d {
            Some(Decision::Update(r)) => format!("update {}", r.id),
            Some(Decision::UpToDate(r)) => {
                format!("up_to_date {}", r.map(|r| r.id).unwrap_or_default())
            }
            Some(Decision::AppUpdateRequired(min)) => format!("app_update_required {min}"),
            None => "none".into(),
        };
        assert_eq!(id(decide(&releases, &app("2.5"), "ios", "")), "update r3");
        assert_eq!(
            id(decide(&releases, &app("2.5"), "android", "")),
            "update r2"
        );
        assert_eq!(
            id(decide(&releases, &app("2.5"), "android", "r2")),
            "up_to_date r2"
        );
        assert_eq!(
            id(decide(&releases, &app("1.5"), "android", "")),
            "update r1"
        );
        assert_eq!(
            id(decide(&releases, &app("5.0"), "android", "")),
            "update r4"
        );
        assert_eq!(
            id(decide(&releases, &app("0.9"), "android", "")),
            "app_update_required 1.0.0"
        );
        assert_eq!(
            id(decide(&releases, &app("4.9.5"), "android", "")),
            "app_update_required 5.0.0"
        );
        assert_eq!(
            id(decide(&releases, &app("5.0.0-beta.1"), "android", "")),
            "app_update_required 5.0.0"
        );
        assert_eq!(
            id(decide(&releases[..1], &app("6.0"), "android", "r4")),
            "up_to_date r4"
        );
        assert_eq!(
            id(decide(
                &[release("x", "1.0.0", "1", "1", &[])],
                &app("2"),
                "",
                ""
            )),
            "none"
        );
    }
}
