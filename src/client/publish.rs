//! The push flow behind `relreg push`: a package version's files and manifest go in with
//! one call. It creates (or reuses) the draft, skips blobs the repo already holds, uploads
//! the rest through resumable sessions, binds each path (carrying the draft's etag), sets
//! the manifest and, when asked, publishes, retrying a publish that lost a race. Sending one
//! file is `send.rs`.

use std::path::{Path, PathBuf};

use super::{
    conn::Connection,
    error::{ClientError, ClientResult, Exit},
    refs::VersionRef,
    send::FileSend,
    upload::{SessionStore, UploadKey, UploadProgress},
};
use crate::pb;

/// Files from this size on are hashed while they upload (the digest is only needed to
/// complete the session), unless this client hashed the same file before; smaller ones are
/// hashed first, so that a blob the repo already holds is never sent.
pub const OVERLAP_MIN: u64 = 64 * 1024 * 1024;
/// How often a publish that lost a race (ABORTED) or found the server away is tried.
const PUBLISH_ATTEMPTS: u32 = 6;

/// One file to push: where it is on disk and the path it gets in the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushFile {
    /// The path inside the version (`/`-separated, relative).
    pub path: String,
    /// The file on disk.
    pub local: PathBuf,
}

/// What to push.
#[derive(Debug, Clone)]
pub struct Push {
    /// The version to create or fill.
    pub target: VersionRef,
    /// The files, in order.
    pub files: Vec<PushFile>,
    /// The manifest (a JSON object), if one is to be set.
    pub manifest: Option<serde_json::Map<String, serde_json::Value>>,
    /// The media type of every file; empty lets the server decide.
    pub media_type: String,
    /// Whether to publish the version at the end.
    pub publish: bool,
    /// Bytes per upload chunk.
    pub chunk_size: u64,
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileAction {
    /// The draft already had this path bound to these bytes.
    Unchanged,
    /// The repo already held the blob; only the path was bound.
    Skipped,
    /// The bytes were uploaded (or the upload resumed), then the path was bound.
    Uploaded,
}

/// The outcome of one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileReport {
    /// Its path in the version.
    pub path: String,
    /// Its digest.
    pub digest: String,
    /// Its size.
    pub size: u64,
    /// What was done.
    pub action: FileAction,
    /// Where the upload resumed (0 for a fresh one or none).
    pub resumed_from: u64,
    /// Bytes sent by this run.
    pub bytes_sent: u64,
}

/// The outcome of a push.
#[derive(Debug, Clone)]
pub struct PushReport {
    /// The version as the server last answered it.
    pub version: pb::Version,
    /// Whether the draft was created by this push.
    pub created: bool,
    /// One entry per file.
    pub files: Vec<FileReport>,
}

impl PushReport {
    /// Returns the bytes this run sent, over all files.
    pub fn bytes_sent(&self) -> u64 {
        self.files.iter().map(|f| f.bytes_sent).sum()
    }
}

/// Hears how a push advances (progress bars, log lines).
pub trait PushObserver: Send + Sync {
    /// The files are known: their number and total size.
    fn planned(&self, files: usize, bytes: u64);
    /// Returns the progress sink of one file's upload (`size` bytes).
    fn uploading(&self, path: &str, size: u64) -> Box<dyn UploadProgress + '_>;
    /// A file is settled.
    fn settled(&self, report: &FileReport);
    /// The version was published.
    fn published(&self, version: &pb::Version);
}

/// Hears nothing.
impl PushObserver for () {
    fn planned(&self, _: usize, _: u64) {}
    fn uploading(&self, _: &str, _: u64) -> Box<dyn UploadProgress + '_> {
        Box::new(())
    }
    fn settled(&self, _: &FileReport) {}
    fn published(&self, _: &pb::Version) {}
}

/// Lists what `FILE…` or a single `DIR` argument pushes: a file keeps its name; a directory
/// pushes every regular file below it, by its path relative to the directory.
pub fn collect_files(args: &[PathBuf]) -> ClientResult<Vec<PushFile>> {
    if args.is_empty() {
        return Err(ClientError::usage("name at least one FILE or a DIR"));
    }
    let mut files = Vec::new();
    for arg in args {
        let meta = std::fs::metadata(arg).map_err(|e| ClientError::local(arg, e))?;
        if meta.is_dir() {
            walk(arg, arg, &mut files)?;
        } else {
            let name = arg
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| ClientError::local(arg, "the file name is not UTF-8"))?;
            files.push(PushFile {
                path: name.to_owned(),
                local: arg.clone(),
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(w) = files.windows(2).find(|w| w[0].path == w[1].path) {
        return Err(ClientError::usage(format!(
            "two files would both be pushed as {:?}",
            w[0].path
        )));
    }
    if files.is_empty() {
        return Err(ClientError::usage("no files to push"));
    }
    Ok(files)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<PushFile>) -> ClientResult<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| ClientError::local(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| ClientError::local(dir, e))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| ClientError::local(&path, e))?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let relative = path
                .strip_prefix(root)
                .ok()
                .and_then(|p| p.to_str())
                .ok_or_else(|| ClientError::local(&path, "the path is not UTF-8"))?;
            out.push(PushFile {
                path: relative.replace(std::path::MAIN_SEPARATOR, "/"),
                local: path.clone(),
            });
        }
    }
    Ok(())
}

/// Reads a manifest file: a JSON object.
pub fn read_manifest(path: &Path) -> ClientResult<serde_json::Map<String, serde_json::Value>> {
    let text = std::fs::read(path).map_err(|e| ClientError::local(path, e))?;
    match serde_json::from_slice(&text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(ClientError::local(
            path,
            "the manifest must be a JSON object",
        )),
        Err(e) => Err(ClientError::local(path, format!("not JSON: {e}"))),
    }
}

/// Runs a push. Every local file is opened before the server is asked anything, so a
/// missing or unreadable file changes nothing.
pub async fn push(
    conn: &Connection,
    sessions: &SessionStore,
    request: &Push,
    observer: &dyn PushObserver,
) -> ClientResult<PushReport> {
    let mut sizes = Vec::with_capacity(request.files.len());
    for file in &request.files {
        let opened = std::fs::File::open(&file.local).and_then(|f| f.metadata());
        sizes.push(
            opened
                .map_err(|e| ClientError::local(&file.local, e))?
                .len(),
        );
    }
    let manifest = request
        .manifest
        .clone()
        .map(|m| pb::from_json("google.protobuf.Struct", serde_json::Value::Object(m)))
        .transpose()
        .map_err(|e| ClientError::usage(format!("manifest: {e}")))?;
    observer.planned(request.files.len(), sizes.iter().sum());

    let target = &request.target;
    let (repo, package, version) = (
        target.repo.clone(),
        target.package.clone(),
        target.version.to_string(),
    );
    let mut admin = conn.admin();
    let answer = admin
        .create_version(pb::CreateVersionRequest {
            repo: repo.clone(),
            package: package.clone(),
            version: version.clone(),
        })
        .await?
        .into_inner();
    let created = answer.created;
    let mut current = answer
        .version
        .ok_or_else(|| ClientError::internal("the server answered no version"))?;

    let mut reports = Vec::with_capacity(sizes.len());
    for (file, size) in request.files.iter().zip(sizes) {
        let send = FileSend {
            conn,
            sessions,
            repo: &repo,
            file,
            size,
            bound: &current.files,
            request,
            observer,
        };
        let seen = size >= OVERLAP_MIN
            && sessions
                .get(&UploadKey::file(conn.base_url(), &repo, &file.local)?.seen())
                .is_some();
        let report = if size >= OVERLAP_MIN && !seen {
            send.overlapped().await?
        } else {
            send.sequential().await?
        };
        if report.action != FileAction::Unchanged {
            current = admin
                .put_version_file(pb::PutVersionFileRequest {
                    repo: repo.clone(),
                    package: package.clone(),
                    version: version.clone(),
                    path: file.path.clone(),
                    digest: report.digest.clone(),
                    media_type: request.media_type.clone(),
                    etag: current.etag.clone(),
                })
                .await?
                .into_inner()
                .version
                .ok_or_else(|| ClientError::internal("the server answered no version"))?;
        }
        observer.settled(&report);
        reports.push(report);
    }

    if let Some(manifest) = manifest {
        current = admin
            .set_version_manifest(pb::SetVersionManifestRequest {
                repo: repo.clone(),
                package: package.clone(),
                version: version.clone(),
                manifest: Some(manifest),
                etag: current.etag.clone(),
            })
            .await?
            .into_inner()
            .version
            .ok_or_else(|| ClientError::internal("the server answered no version"))?;
    }

    if request.publish {
        current = publish_version(conn, target, &current.etag).await?;
        observer.published(&current);
    }
    Ok(PushReport {
        version: current,
        created,
        files: reports,
    })
}

/// Publishes a version (with the draft's etag when known), retrying with backoff while the
/// server answers ABORTED or is briefly away.
pub async fn publish_version(
    conn: &Connection,
    target: &VersionRef,
    etag: &str,
) -> ClientResult<pb::Version> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let answer = conn
            .admin()
            .publish_version(pb::PublishVersionRequest {
                repo: target.repo.clone(),
                package: target.package.clone(),
                version: target.version.to_string(),
                etag: etag.to_owned(),
            })
            .await;
        match answer {
            Ok(answer) => {
                return answer
                    .into_inner()
                    .version
                    .ok_or_else(|| ClientError::internal("the server answered no version"));
            }
            Err(status) => {
                let error = ClientError::from(status);
                let transient = error.is_transient() && error.exit != Exit::Usage;
                if !transient || attempt >= PUBLISH_ATTEMPTS {
                    return Err(error);
                }
                tokio::time::sleep(super::upload::backoff(attempt)).await;
            }
        }
    }
}
