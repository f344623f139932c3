//! Storage maintenance run against the database and blob directory directly (the same
//! storage flags as `serve`; safe while a server runs on them): `relreg fsck` checks that
//! every blob the database names is stored with its digest and size, and lists orphans (files
//! no row names) and leftovers (dead staged uploads); `relreg gc` runs one garbage collection
//! on demand.

use std::{process::ExitCode, time::Duration};

use anyhow::Context as _;
use serde::Serialize;
use serde_json::json;

use super::output::Out;
use crate::{
    blobs::{BlobStore, Checked, Leftover},
    client::Exit,
    config::{Config, StorageConfig},
    domain::Digest,
    registry::Registry,
    server,
};

/// How many blob rows one page reads.
const PAGE: i64 = 500;
/// The session TTL fsck judges staged sessions by (the server's).
const SESSION_TTL: Duration = Duration::from_secs(24 * 3600);

/// `relreg fsck`.
#[derive(clap::Args, Debug)]
pub struct FsckArgs {
    #[command(flatten)]
    storage: StorageConfig,
    /// Removes what is safe to remove: orphan files older than `--orphan-age` and dead staged
    /// uploads. Missing or corrupt blobs are only reported.
    #[arg(long)]
    repair: bool,
    /// Seconds a file no row names must have gone unmodified before `--repair` removes it
    /// (a younger one may be an upload committing right now).
    #[arg(long, default_value_t = 3600)]
    orphan_age: u64,
    /// Checks sizes only, without hashing every blob.
    #[arg(long)]
    quick: bool,
}

/// `relreg gc`.
#[derive(clap::Args, Debug)]
pub struct GcArgs {
    #[command(flatten)]
    storage: StorageConfig,
    /// Seconds a blob must stay unreferenced before it is collected (as `serve --gc-grace`).
    #[arg(long, env = "RELREG_GC_GRACE", default_value_t = 24 * 3600)]
    grace: u64,
}

#[derive(Debug, Default, Serialize)]
struct Corrupt {
    digest: String,
    size: i64,
    found_digest: String,
    found_size: u64,
}

#[derive(Debug, Serialize)]
struct Orphan {
    path: String,
    bytes: u64,
    removed: bool,
}

#[derive(Debug, Default, Serialize)]
struct Findings {
    blobs_checked: u64,
    missing: Vec<String>,
    corrupt: Vec<Corrupt>,
    dangling: Vec<serde_json::Value>,
    orphans: Vec<Orphan>,
    leftovers: Vec<Leftover>,
    repaired: bool,
}

impl Findings {
    fn corrupted(&self) -> bool {
        !(self.missing.is_empty() && self.corrupt.is_empty() && self.dangling.is_empty())
    }
}

async fn open(storage: StorageConfig) -> anyhow::Result<Registry> {
    let mut config = Config::for_dir(std::path::Path::new("."));
    config.storage = storage;
    server::open_registry(&config).await
}

/// Runs `relreg fsck`: exit 0 when every named blob is intact, 9 when one is missing or
/// corrupt, 1 when the check could not run.
pub(super) async fn fsck(args: FsckArgs, out: &Out) -> ExitCode {
    let checked = async {
        let registry = open(args.storage.clone()).await?;
        let blobs =
            match BlobStore::from_url(&args.storage.remote).map_err(|e| anyhow::anyhow!("{e}"))? {
                Some(remote) => remote,
                None => BlobStore::local(&args.storage.blob_dir)
                    .context("opening the blob directory")?,
            };
        let findings = check(&registry, &blobs, &args).await;
        registry.close().await;
        findings
    };
    match checked.await {
        Ok(findings) => {
            print(&findings, out);
            if findings.corrupted() {
                ExitCode::from(Exit::Integrity.code())
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => super::server_failure(&e),
    }
}

async fn check(
    registry: &Registry,
    blobs: &BlobStore,
    args: &FsckArgs,
) -> anyhow::Result<Findings> {
    let store = registry.store();
    let mut findings = Findings {
        repaired: args.repair,
        ..Findings::default()
    };
    let mut after: Option<String> = None;
    loop {
        let page = store.list_stored_blobs(after.as_deref(), PAGE).await?;
        for row in &page {
            findings.blobs_checked += 1;
            let digest =
                Digest::parse("digest", &row.digest).map_err(|e| anyhow::anyhow!("{e}"))?;
            let found = if args.quick {
                match blobs
                    .size(&digest)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                {
                    None => Checked::Missing,
                    Some(size) => Checked::Found(digest, size),
                }
            } else {
                blobs
                    .check_blob(&digest)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?
            };
            match found {
                Checked::Missing => findings.missing.push(row.digest.clone()),
                Checked::Found(d, size) if d != digest || size != row.size as u64 => {
                    findings.corrupt.push(Corrupt {
                        digest: row.digest.clone(),
                        size: row.size,
                        found_digest: d.to_string(),
                        found_size: size,
                    });
                }
                Checked::Found(..) => {}
            }
        }
        if (page.len() as i64) < PAGE {
            break;
        }
        after = page.last().map(|b| b.digest.clone());
    }
    for f in store.dangling_files(1000).await? {
        findings
            .dangling
            .push(json!({ "version": f.version, "path": f.path, "digest": f.digest }));
    }
    let orphan_age = Duration::from_secs(args.orphan_age);
    for file in blobs
        .stored_files()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        let named = match file.digest {
            Some(d) => store.has_blob_row(&d.to_string()).await?,
            None => false,
        };
        if named {
            continue;
        }
        findings.orphans.push(Orphan {
            path: file.path,
            bytes: file.size,
            removed: false,
        });
    }
    if args.repair {
        let removed = registry
            .remove_orphans(orphan_age)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if removed > 0 {
            // Mark what is gone now.
            let left: std::collections::HashSet<String> = blobs
                .stored_files()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .into_iter()
                .map(|f| f.path)
                .collect();
            for orphan in &mut findings.orphans {
                orphan.removed = !left.contains(&orphan.path);
            }
        }
    }
    findings.leftovers = blobs
        .staging_leftovers(SESSION_TTL, args.repair)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(findings)
}

fn print(f: &Findings, out: &Out) {
    if out.json {
        let mut value = serde_json::to_value(f).unwrap_or_default();
        value["ok"] = json!(!f.corrupted());
        let _ = out.json_value(&value);
        return;
    }
    let mut lines = Vec::new();
    for d in &f.missing {
        lines.push(format!(
            "missing {d}: the database names it, no file holds it"
        ));
    }
    for c in &f.corrupt {
        lines.push(format!(
            "corrupt {}: expected {} bytes, the file holds {} bytes hashing to {}",
            c.digest, c.size, c.found_size, c.found_digest
        ));
    }
    for d in &f.dangling {
        lines.push(format!(
            "dangling {} {}: names {}, which has no blob row",
            d["version"].as_str().unwrap_or_default(),
            d["path"].as_str().unwrap_or_default(),
            d["digest"].as_str().unwrap_or_default()
        ));
    }
    let removed = |r: bool| if r { " (removed)" } else { "" };
    for o in &f.orphans {
        lines.push(format!(
            "orphan {}: {} bytes no row names{}",
            o.path,
            o.bytes,
            removed(o.removed)
        ));
    }
    for l in &f.leftovers {
        lines.push(format!(
            "leftover {}: {} bytes, {}{}",
            l.path,
            l.bytes,
            l.why,
            removed(f.repaired)
        ));
    }
    lines.push(format!(
        "fsck: {} blobs checked, {} missing, {} corrupt, {} dangling, {} orphans, {} leftovers: {}",
        f.blobs_checked,
        f.missing.len(),
        f.corrupt.len(),
        f.dangling.len(),
        f.orphans.len(),
        f.leftovers.len(),
        if f.corrupted() { "CORRUPT" } else { "ok" }
    ));
    let _ = out.line(&lines.join("\n"));
}

/// Runs `relreg gc`: one garbage collection, its report printed.
pub(super) async fn gc(args: GcArgs, out: &Out) -> ExitCode {
    let collected = async {
        let registry = open(args.storage).await?;
        let report = registry
            .collect_garbage(Duration::from_secs(args.grace))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"));
        registry.close().await;
        report
    };
    match collected.await {
        Ok(report) => {
            if out.json {
                let _ = out.json_value(&serde_json::to_value(report).unwrap_or_default());
            } else {
                let _ = out.line(&format!(
                    "gc: {} blobs collected ({} bytes), {} newly unreferenced, {} referenced again, \
                     {} orphan files removed, {} dead staged uploads removed ({} bytes)",
                    report.collected,
                    report.collected_bytes,
                    report.marked,
                    report.unmarked,
                    report.orphans_removed,
                    report.staged_removed,
                    report.staged_bytes
                ));
            }
            ExitCode::SUCCESS
        }
        Err(e) => super::server_failure(&e),
    }
}
