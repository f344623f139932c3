//! `relreg backup DIR` and `relreg restore DIR`, run against the database and blob directory
//! directly (the same storage flags as `serve`).
//!
//! A backup directory holds `relreg.db` (SQLite only: an online `VACUUM INTO` copy, taken
//! first), `blobs/sha256/…` (every blob that copy names, hard-linked from the blob directory
//! where it can be, copied otherwise or with `--copy`) and `manifest.json` (the format, the
//! database kind, and every blob's digest and size). On PostgreSQL the database is backed up
//! with `pg_dump`, before `relreg backup` copies the blobs (README, "Backup and restore").
//! Restore checks every blob against the manifest before it writes anything, and writes only
//! into an empty data location.

use std::{
    io::{Read as _, Write as _},
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::output::Out;
use crate::{
    client::Exit,
    config::StorageConfig,
    domain::{AuditRecord, Digest},
    store::{self, SqliteStore, Store, StoredBlob},
};

/// The manifest's file name in a backup directory.
const MANIFEST: &str = "manifest.json";
/// The database copy's file name in a backup directory.
const DATABASE: &str = "relreg.db";
/// The manifest format this release writes and reads.
const FORMAT: &str = "relreg-backup/1";
/// How many blob rows one page reads.
const PAGE: i64 = 500;

/// `relreg backup`.
#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    #[command(flatten)]
    storage: StorageConfig,
    /// The directory to write the backup to (created; must be empty if it exists).
    dir: PathBuf,
    /// Copies blobs instead of hard-linking them.
    #[arg(long)]
    copy: bool,
}

/// `relreg restore`.
#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    #[command(flatten)]
    storage: StorageConfig,
    /// The backup directory `relreg backup` wrote.
    dir: PathBuf,
}

/// A backup's `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    /// When the backup was taken, unix microseconds.
    created_at: i64,
    /// `sqlite` (the database is `relreg.db` beside it) or `postgres` (dumped separately).
    database: String,
    blobs: Vec<BlobEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct BlobEntry {
    digest: String,
    size: i64,
}

/// A failure that ends with a given exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Failed {
    exit: Exit,
    message: String,
}

fn ended(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<Failed>() {
            Some(f) => {
                eprintln!("error: {}", f.message);
                ExitCode::from(f.exit.code())
            }
            None => super::server_failure(&e),
        },
    }
}

fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// Fails unless `dir` is missing or an empty directory.
fn require_empty(dir: &Path, what: &str) -> anyhow::Result<()> {
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()) {
        Ok(false) => Err(Failed {
            exit: Exit::Local,
            message: format!("{what} {} is not empty", dir.display()),
        }
        .into()),
        Ok(true) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
    }
}

fn blob_rel(digest: &Digest) -> PathBuf {
    let hex = digest.hex();
    PathBuf::from("sha256").join(&hex[..2]).join(hex)
}

async fn all_blobs(store: &dyn Store) -> anyhow::Result<Vec<StoredBlob>> {
    let mut blobs = Vec::new();
    loop {
        let after = blobs.last().map(|b: &StoredBlob| b.digest.clone());
        let page = store.list_stored_blobs(after.as_deref(), PAGE).await?;
        let done = (page.len() as i64) < PAGE;
        blobs.extend(page);
        if done {
            return Ok(blobs);
        }
    }
}

/// Runs `relreg backup`.
pub(super) async fn backup(args: BackupArgs, out: &Out) -> ExitCode {
    ended(run_backup(args, out).await)
}

async fn run_backup(args: BackupArgs, out: &Out) -> anyhow::Result<()> {
    if args.storage.remote.blob_url.is_some() {
        bail!(
            "backup and restore cover a local blob directory only: with --blob-url, back the \
             bucket up with the object store's own tools (versioning, replication) and the \
             database with pg_dump"
        );
    }
    require_empty(&args.dir, "backup directory")?;
    std::fs::create_dir_all(args.dir.join("blobs"))
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let url = &args.storage.database_url;
    let (snapshot, database): (std::sync::Arc<dyn Store>, &str) = if is_sqlite(url) {
        let live = SqliteStore::connect(url)
            .await
            .context("opening the database")?;
        let target = args.dir.join(DATABASE);
        live.backup_into(&target)
            .await
            .context("copying the database")?;
        live.close().await;
        let copy = format!("sqlite://{}", target.display());
        (
            std::sync::Arc::new(SqliteStore::connect(&copy).await?),
            "sqlite",
        )
    } else {
        (
            store::open(url).await.context("opening the database")?,
            "postgres",
        )
    };
    let mut entries = Vec::new();
    let mut linked = 0u64;
    for blob in all_blobs(snapshot.as_ref()).await? {
        let digest = Digest::parse("digest", &blob.digest).map_err(|e| anyhow::anyhow!("{e}"))?;
        let source = args.storage.blob_dir.join(blob_rel(&digest));
        let target = args.dir.join("blobs").join(blob_rel(&digest));
        if !source.exists() {
            // Collected by GC since the copy was taken: the copy must not name it either.
            let record = AuditRecord {
                at: crate::registry::now_micros(),
                actor: "backup".into(),
                action: "blob.collected".into(),
                repo: String::new(),
                target: blob.digest.clone(),
                details: "{}".into(),
                request_id: String::new(),
            };
            if database == "sqlite"
                && blob.unreferenced_since.is_some()
                && snapshot
                    .collect_blob(&blob.digest, i64::MAX, &record)
                    .await?
            {
                continue;
            }
            return Err(Failed {
                exit: Exit::Integrity,
                message: format!(
                    "blob {} is named by the database but missing from {} (run relreg fsck)",
                    blob.digest,
                    args.storage.blob_dir.display()
                ),
            }
            .into());
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if !args.copy && std::fs::hard_link(&source, &target).is_ok() {
            linked += 1;
        } else {
            std::fs::copy(&source, &target)
                .with_context(|| format!("copying {}", source.display()))?;
        }
        entries.push(BlobEntry {
            digest: blob.digest,
            size: blob.size,
        });
    }
    snapshot.close().await;
    let manifest = Manifest {
        format: FORMAT.into(),
        created_at: crate::registry::now_micros(),
        database: database.into(),
        blobs: entries,
    };
    let path = args.dir.join(MANIFEST);
    let mut file = std::fs::File::create_new(&path)?;
    file.write_all(&serde_json::to_vec_pretty(&manifest)?)?;
    file.sync_all()?;
    let bytes: i64 = manifest.blobs.iter().map(|b| b.size).sum();
    let note = if database == "postgres" {
        "; the database itself is backed up with pg_dump (see README)"
    } else {
        ""
    };
    out.line(&format!(
        "backup {}: {} database, {} blobs ({bytes} bytes, {linked} hard-linked){note}",
        args.dir.display(),
        database,
        manifest.blobs.len(),
    ))
    .map_err(|e| anyhow::anyhow!("{}", e.message))
}

/// Runs `relreg restore`.
pub(super) async fn restore(args: RestoreArgs, out: &Out) -> ExitCode {
    ended(run_restore(args, out).await)
}

/// Hashes a file: its digest and length.
fn hash_file(path: &Path) -> std::io::Result<(Digest, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok((Digest::from_bytes(hasher.finalize().into()), size));
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
}

async fn run_restore(args: RestoreArgs, out: &Out) -> anyhow::Result<()> {
    if args.storage.remote.blob_url.is_some() {
        bail!(
            "backup and restore cover a local blob directory only: with --blob-url, back the \
             bucket up with the object store's own tools (versioning, replication) and the \
             database with pg_dump"
        );
    }
    let text = std::fs::read(args.dir.join(MANIFEST))
        .with_context(|| format!("reading {}", args.dir.join(MANIFEST).display()))?;
    let manifest: Manifest = serde_json::from_slice(&text).context("parsing the manifest")?;
    if manifest.format != FORMAT {
        bail!(
            "unsupported backup format {:?} (this release reads {FORMAT})",
            manifest.format
        );
    }
    let url = &args.storage.database_url;
    let db_file = if is_sqlite(url) {
        if manifest.database != "sqlite" {
            bail!("this backup holds no SQLite database: restore the pg_dump into PostgreSQL");
        }
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse().context("sqlite url")?;
        let file = options.get_filename().to_path_buf();
        if file.exists() {
            return Err(Failed {
                exit: Exit::Local,
                message: format!(
                    "database {} exists: restore into an empty location",
                    file.display()
                ),
            }
            .into());
        }
        Some(file)
    } else {
        None
    };
    require_empty(&args.storage.blob_dir, "blob directory")?;
    // Every blob is checked before anything is written.
    let dir = args.dir.clone();
    let blobs: Vec<(String, i64)> = manifest
        .blobs
        .iter()
        .map(|b| (b.digest.clone(), b.size))
        .collect();
    let checked = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<PathBuf>> {
        let mut rels = Vec::new();
        for (text, size) in blobs {
            let digest = Digest::parse("digest", &text).map_err(|e| anyhow::anyhow!("{e}"))?;
            let rel = blob_rel(&digest);
            let (found, len) = hash_file(&dir.join("blobs").join(&rel))
                .with_context(|| format!("reading blob {text} from the backup"))?;
            if found != digest || len != size as u64 {
                return Err(Failed {
                    exit: Exit::Integrity,
                    message: format!(
                        "blob {text} in the backup is damaged: {len} bytes hashing to {found}, \
                         expected {size} bytes"
                    ),
                }
                .into());
            }
            rels.push(rel);
        }
        Ok(rels)
    })
    .await??;
    for rel in &checked {
        let target = args.storage.blob_dir.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(args.dir.join("blobs").join(rel), &target)?;
        std::fs::File::open(&target)?.sync_all()?;
    }
    if let Some(file) = &db_file {
        if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(args.dir.join(DATABASE), file)?;
        std::fs::File::open(file)?.sync_all()?;
        // Brings an older backup's schema up to this release.
        let restored = SqliteStore::connect(url)
            .await
            .context("opening the restored database")?;
        restored.close().await;
    }
    out.line(&format!(
        "restored {} blobs{} from {}",
        checked.len(),
        if db_file.is_some() {
            " and the database"
        } else {
            " (restore the database with pg_restore or psql)"
        },
        args.dir.display()
    ))
    .map_err(|e| anyhow::anyhow!("{}", e.message))
}
