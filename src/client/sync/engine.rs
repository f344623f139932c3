//! One sync round (ask the server, download what is missing, record, activate, collect
//! garbage), the periodic loop, local rollback and status. A round changes `current` only at
//! its very end, once the new tree is complete and recorded; any failure before leaves it as
//! it was, with partial downloads kept for the next round.

use std::{
    collections::HashSet,
    path::Path,
    time::{Duration, SystemTime},
};

use super::{
    Available, Decision, ReleaseRef, RollbackReport, StatusReport, SyncOptions, SyncReport,
    activate,
    registry::{InstalledRelease, LocalFile, LocalRegistry, Origin},
    store::Objects,
};
use crate::{
    client::{
        conn::Connection,
        download::Expected,
        error::{ClientError, ClientResult, Exit},
    },
    domain::{Digest, FilePath, parse_name},
    pb::{self, get_latest_release_response::Decision as Pb},
};

/// Runs one sync round.
pub async fn sync(conn: &Connection, opts: &SyncOptions) -> ClientResult<SyncReport> {
    let dir = &opts.dir;
    let origin = &opts.origin;
    parse_name("repo", &origin.repo).map_err(|e| ClientError::usage(e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(|e| ClientError::local(dir, e))?;
    let _lock = lock(dir)?;
    let mut registry = LocalRegistry::load(dir)?;
    let running = running(dir, &registry)?;
    let id = super::identity::client_id(dir)?;
    let answer = opts
        .backoff
        .run("latest release", || {
            latest(conn, origin, running.as_ref(), &id)
        })
        .await?;
    if registry.origin.as_ref() != Some(origin) {
        registry.origin = Some(origin.clone());
        registry.save(dir)?;
    }
    let verified = match &opts.trust {
        Some(pinned) => {
            let memory = registry.trust.clone().unwrap_or_default();
            let v = super::verify::verify_head(conn, origin, pinned, &memory).await?;
            Some(v)
        }
        None => None,
    };
    let mut report = SyncReport {
        decision: Decision::UpToDate,
        release_id: running.as_ref().map(|r| r.id.clone()),
        version: running.as_ref().map(|r| r.version.clone()),
        sequence: running.as_ref().map(|r| r.sequence),
        previous_release_id: running.as_ref().map(|r| r.id.clone()),
        min_app_version: None,
        files_total: running.as_ref().map_or(0, |r| r.files.len()),
        files_downloaded: 0,
        files_reused: 0,
        bytes_downloaded: 0,
        bytes_resumed: 0,
        objects_removed: 0,
    };
    let remember = |registry: &mut LocalRegistry| -> ClientResult<()> {
        if let Some(v) = &verified {
            registry.trust = Some(v.memory.clone());
            registry.save(dir)?;
        }
        Ok(())
    };
    let release = match answer {
        Pb::UpToDate(_) => {
            remember(&mut registry)?;
            return Ok(report);
        }
        Pb::AppUpdateRequired(a) => {
            report.decision = Decision::AppUpdateRequired;
            report.min_app_version = Some(a.min_app_version);
            return Ok(report);
        }
        Pb::Update(u) => u.release.ok_or_else(|| {
            ClientError::internal("the server offered an update without a release")
        })?,
    };
    activate::check_id(&release.id)?;
    let (manifest, signed) = opts
        .backoff
        .run("release manifest", || manifest(conn, &release.id))
        .await?;
    if let Some(v) = &verified {
        v.check_manifest(signed.as_ref(), &manifest)?;
    }
    if manifest.release_id != release.id {
        return Err(ClientError::new(
            Exit::Invalid,
            format!(
                "asked for the manifest of {}, got {}",
                release.id, manifest.release_id
            ),
        ));
    }
    let (installed, wanted) = plan(&manifest)?;
    let objects = Objects::open(dir)?;
    let missing: Vec<Expected> = wanted.into_iter().filter(|e| !objects.holds(e)).collect();
    tracing::info!(release = %release.id, files = installed.files.len(), missing = missing.len(), "downloading release");
    let fetched = objects
        .fetch(conn, &manifest.repo, missing, opts.jobs, opts.backoff)
        .await?;
    if !activate::tree_complete(dir, &installed) {
        activate::build_tree(dir, &objects, &installed)?;
    }
    report.decision = Decision::Update;
    report.release_id = Some(installed.id.clone());
    report.version = Some(installed.version.clone());
    report.sequence = Some(installed.sequence);
    report.files_total = installed.files.len();
    report.files_downloaded = fetched.objects;
    report.files_reused = installed.files.len() - fetched.objects;
    report.bytes_downloaded = fetched.bytes;
    report.bytes_resumed = fetched.resumed;
    let id = installed.id.clone();
    if let Some(v) = &verified {
        registry.trust = Some(v.memory.clone());
    }
    registry.push(installed);
    registry.save(dir)?;
    activate::point_current(dir, &id)?;
    report.objects_removed = collect_garbage(dir, &objects, &mut registry, opts.keep)?;
    objects.clear_staging();
    Ok(report)
}

/// Runs a sync round every `interval` (with ±10% jitter) forever, handing each outcome to
/// `on_round`; failures (server down, disk full, …) wait for the next round.
pub async fn sync_every(
    conn: &Connection,
    opts: &SyncOptions,
    interval: Duration,
    mut on_round: impl FnMut(&ClientResult<SyncReport>),
) {
    loop {
        let outcome = sync(conn, opts).await;
        on_round(&outcome);
        let jitter = 0.9 + rand::random::<f64>() * 0.2;
        tokio::time::sleep(interval.mul_f64(jitter)).await;
    }
}

/// Points `current` back at the release activated before it.
pub fn rollback(dir: &Path) -> ClientResult<RollbackReport> {
    let _lock = lock(dir)?;
    let registry = LocalRegistry::load(dir)?;
    let current = running(dir, &registry)?.ok_or_else(|| {
        ClientError::new(
            Exit::NotFound,
            format!("{}: no release runs here", dir.display()),
        )
    })?;
    let previous = registry.previous(&current.id).ok_or_else(|| {
        ClientError::new(
            Exit::NotFound,
            format!(
                "no release before {} is installed to roll back to",
                current.id
            ),
        )
    })?;
    if !activate::tree_complete(dir, previous) {
        activate::build_tree(dir, &Objects::open(dir)?, previous)?;
    }
    activate::point_current(dir, &previous.id)?;
    Ok(RollbackReport {
        from: (&current).into(),
        to: previous.into(),
    })
}

/// Reports what runs in `dir` and, when an origin is known (given, or from the last sync) and
/// `conn` is given, what the server offers now.
pub async fn status(
    conn: Option<&Connection>,
    dir: &Path,
    origin: Option<Origin>,
) -> ClientResult<StatusReport> {
    let registry = LocalRegistry::load(dir)?;
    let current = running(dir, &registry)?;
    let origin = origin.or_else(|| registry.origin.clone());
    let id = super::identity::existing_client_id(dir);
    let available = match (conn, &origin) {
        (Some(conn), Some(origin)) => {
            Some(match latest(conn, origin, current.as_ref(), &id).await {
                Ok(Pb::Update(u)) => {
                    let r = u.release.unwrap_or_default();
                    Available::Update {
                        release: ReleaseRef {
                            id: r.id,
                            version: r.version,
                            sequence: r.sequence,
                        },
                    }
                }
                Ok(Pb::UpToDate(_)) => Available::UpToDate,
                Ok(Pb::AppUpdateRequired(a)) => Available::AppUpdateRequired {
                    min_app_version: a.min_app_version,
                },
                Err(e) => Available::Unknown {
                    error: e.to_string(),
                    exit: e.exit,
                },
            })
        }
        _ => None,
    };
    Ok(StatusReport {
        dir: dir.to_owned(),
        current: current.as_ref().map(Into::into),
        installed: registry.releases.iter().map(Into::into).collect(),
        origin,
        available,
    })
}

/// Returns the installed release `current` points at, when its tree is complete.
fn running(dir: &Path, registry: &LocalRegistry) -> ClientResult<Option<InstalledRelease>> {
    Ok(activate::current_id(dir)?
        .and_then(|id| registry.get(&id).cloned())
        .filter(|r| activate::tree_complete(dir, r)))
}

/// Takes the sync directory's lock, so that two syncs never interleave.
fn lock(dir: &Path) -> ClientResult<std::fs::File> {
    let path = dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| ClientError::local(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ClientError::new(
            Exit::Conflict,
            format!(
                "{}: another relreg sync is working in this directory",
                dir.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(ClientError::local(&path, e)),
    }
}

async fn latest(
    conn: &Connection,
    origin: &Origin,
    running: Option<&InstalledRelease>,
    client_id: &str,
) -> ClientResult<Pb> {
    let answer = conn
        .catalog()
        .get_latest_release(pb::GetLatestReleaseRequest {
            repo: origin.repo.clone(),
            channel: origin.channel.clone(),
            app_version: origin.app_version.clone(),
            platform: origin.platform.clone().unwrap_or_default(),
            current_release_id: running.map(|r| r.id.clone()).unwrap_or_default(),
            client_id: client_id.to_owned(),
        })
        .await?
        .into_inner();
    answer
        .decision
        .ok_or_else(|| ClientError::internal("the server answered without a decision"))
}

async fn manifest(
    conn: &Connection,
    id: &str,
) -> ClientResult<(pb::ReleaseManifest, Option<pb::SignedEnvelope>)> {
    let answer = conn
        .catalog()
        .get_release_manifest(pb::GetReleaseManifestRequest {
            release_id: id.to_owned(),
        })
        .await?
        .into_inner();
    let manifest = answer
        .manifest
        .ok_or_else(|| ClientError::internal("the server answered without a manifest"))?;
    Ok((manifest, answer.signed_manifest))
}

/// Turns a manifest into the release to install and the distinct contents it needs; every
/// role, path, digest and size is checked before anything touches the disk.
fn plan(m: &pb::ReleaseManifest) -> ClientResult<(InstalledRelease, Vec<Expected>)> {
    let unsafe_input = |what: String| {
        ClientError::new(
            Exit::Invalid,
            format!("release {}: the server sent {what}", m.release_id),
        )
    };
    parse_name("repo", &m.repo).map_err(|e| unsafe_input(e.to_string()))?;
    let mut files = Vec::new();
    let mut paths = HashSet::new();
    let mut wanted = Vec::new();
    let mut digests = HashSet::new();
    for a in &m.artifacts {
        let role = FilePath::parse("role", &a.role)
            .ok()
            .filter(|r| !r.as_str().contains('/'))
            .ok_or_else(|| unsafe_input(format!("an unusable role {:?}", a.role)))?;
        for f in &a.files {
            let path = FilePath::parse("path", &f.path)
                .map_err(|e| unsafe_input(format!("an unsafe path {:?}: {}", f.path, e.message)))?;
            let digest = Digest::parse("sha256", &format!("sha256:{}", f.sha256))
                .map_err(|e| unsafe_input(e.message))?;
            let size = u64::try_from(f.size)
                .map_err(|_| unsafe_input(format!("a negative size for {}", f.path)))?;
            let local = format!("{role}/{path}");
            if !paths.insert(local.clone()) {
                return Err(unsafe_input(format!("the path {local} twice")));
            }
            if digests.insert(digest) {
                wanted.push(Expected { digest, size });
            }
            files.push(LocalFile {
                path: local,
                sha256: digest.hex(),
                size,
            });
        }
    }
    let installed_at = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let release = InstalledRelease {
        id: m.release_id.clone(),
        sequence: m.sequence,
        version: m.version.clone(),
        repo: m.repo.clone(),
        channel: m.channel.clone(),
        installed_at,
        files,
    };
    Ok((release, wanted))
}

/// Keeps the current release and `keep` before it; removes the other trees, their registry
/// entries and the objects no kept release uses. Returns how many objects went.
fn collect_garbage(
    dir: &Path,
    objects: &Objects,
    registry: &mut LocalRegistry,
    keep: usize,
) -> ClientResult<usize> {
    let excess = registry.releases.len().saturating_sub(keep + 1);
    if excess > 0 {
        registry.releases.drain(..excess);
        registry.save(dir)?;
    }
    let ids: Vec<&str> = registry.releases.iter().map(|r| r.id.as_str()).collect();
    activate::prune_trees(dir, &ids)?;
    let used: HashSet<&str> = registry
        .releases
        .iter()
        .flat_map(|r| r.files.iter().map(|f| f.sha256.as_str()))
        .collect();
    objects.collect_garbage(&used)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(role: &str, paths: &[&str]) -> pb::ReleaseManifest {
        pb::ReleaseManifest {
            release_id: "rel_1".into(),
            repo: "acme".into(),
            artifacts: vec![pb::ManifestArtifact {
                role: role.into(),
                files: paths
                    .iter()
                    .map(|p| pb::ManifestFile {
                        path: (*p).into(),
                        size: 1,
                        sha256: "ab".repeat(32),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn plans_refuse_what_could_escape_the_tree() {
        let (release, wanted) = plan(&manifest("data", &["a/b.txt", "c"])).unwrap();
        assert_eq!(release.files[0].path, "data/a/b.txt");
        assert_eq!(wanted.len(), 1, "one content, fetched once");
        for (role, path) in [
            ("data", "../x"),
            ("data", "/etc/passwd"),
            ("data", "a\\b"),
            ("..", "x"),
            ("a/b", "x"),
            ("", "x"),
        ] {
            let err = plan(&manifest(role, &[path])).unwrap_err();
            assert_eq!(err.exit, Exit::Invalid, "{role} {path}");
        }
        assert!(plan(&manifest("data", &["x", "x"])).is_err());
    }
}
