//! The storage commands through the binary: dead staged uploads swept when a `relreg serve`
//! killed with `kill -9` restarts (a live resumable session still resumes), `relreg fsck` on
//! blobs corrupted on disk (both backends), and `relreg backup` / `relreg restore` into a
//! fresh server that serves the same manifests and bytes (SQLite).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use relreg::{config::Config, pb};
use serde_json::Value;

use crate::common::{
    Backend, Rel, TestServer, authed, backend_tests, digest, draft, fixture, publish, released,
};

backend_tests!(fsck_finds_corruption_and_repairs_only_what_is_safe);

fn relreg(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_relreg"));
    command
        .args(args)
        .env_remove("RELREG_DATABASE_URL")
        .env_remove("RELREG_BLOB_DIR")
        .env_remove("RELREG_GC_GRACE")
        .env("RUST_LOG", "warn");
    command
}

async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        relreg(&args).output().expect("run relreg")
    })
    .await
    .unwrap()
}

fn storage_args(db: &str, blobs: &Path) -> Vec<String> {
    vec![
        "--database-url".into(),
        db.into(),
        "--blob-dir".into(),
        blobs.display().to_string(),
    ]
}

fn with(mut head: Vec<String>, tail: &[&str]) -> Vec<String> {
    head.extend(tail.iter().map(|s| (*s).to_owned()));
    head
}

fn blob_path(blobs: &Path, digest: &str) -> PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    blobs.join("sha256").join(&hex[..2]).join(hex)
}

/// Every file under a directory, with its size (paths relative to it).
fn tree(dir: &Path) -> Vec<(String, u64)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                out.push((rel, e.metadata().map(|m| m.len()).unwrap_or(0)));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A `relreg serve` subprocess.
struct Served {
    child: Child,
    base: String,
}

impl Served {
    async fn start(db: &str, blobs: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let args = with(storage_args(db, blobs), &["--listen", &listen]);
        let mut command = relreg(&["serve"]);
        command
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let served = Self {
            child: command.spawn().expect("spawn relreg serve"),
            base: format!("http://{listen}"),
        };
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = http.get(format!("{}/healthz", served.base)).send().await
                && r.status() == 200
            {
                return served;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("relreg serve did not come up on {listen}");
    }

    /// Kills the server with SIGKILL, as `kill -9` does.
    fn kill9(self) {
        drop(self);
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_ops_kill9_mid_upload_leaves_nothing_dead_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("relreg.db").display());
    let blobs = dir.path().join("blobs");
    let mut args = vec!["token".to_owned(), "bootstrap".to_owned()];
    args.extend(storage_args(&db, &blobs));
    let out = run(args).await;
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let server = Served::start(&db, &blobs).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/v1/repos", server.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"repo": "acme", "public": true}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{r:?}");
    let uploads = format!("{}/v1/repos/acme/blobs/uploads", server.base);
    let open = |http: reqwest::Client| {
        let (uploads, token) = (uploads.clone(), token.clone());
        async move {
            let r = http
                .post(&uploads)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
            r.headers()["location"].to_str().unwrap().to_owned()
        }
    };
    // A live resumable session holding half its bytes, and one nobody wrote to for two days.
    let data: Vec<u8> = (0..600_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let live = open(http.clone()).await;
    let patch = |base: String, location: String, start: usize, chunk: Vec<u8>| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let r = http
                .patch(format!("{base}{location}"))
                .bearer_auth(&token)
                .header(
                    "content-range",
                    format!("{start}-{}", start + chunk.len() - 1),
                )
                .body(chunk)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202, "{r:?}");
        }
    };
    patch(
        server.base.clone(),
        live.clone(),
        0,
        data[..300_000].to_vec(),
    )
    .await;
    let stale = open(http.clone()).await;
    patch(server.base.clone(), stale.clone(), 0, vec![1u8; 50_000]).await;
    let stale_id = stale.rsplit('/').next().unwrap().to_owned();
    let stale_file = blobs.join("sessions").join(&stale_id);
    std::fs::File::options()
        .append(true)
        .open(&stale_file)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(2 * 24 * 3600))
        .unwrap();
    // A streamed upload cut off by kill -9 once it staged a 4 MiB part (6 MiB sent).
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let whole = {
        let (http, token) = (http.clone(), token.clone());
        let url = format!("{uploads}?digest={}", digest(b"never finished"));
        tokio::spawn(async move { http.put(url).bearer_auth(token).body(body).send().await })
    };
    for _ in 0..24 {
        tx.send(Ok(vec![9u8; 256 * 1024])).await.unwrap();
    }
    let staged_bytes = || -> u64 {
        tree(&blobs.join("uploads"))
            .iter()
            .filter(|(p, _)| !p.ends_with(".lock"))
            .map(|(_, n)| n)
            .sum()
    };
    for _ in 0..200 {
        if staged_bytes() >= 4 * 1024 * 1024 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        staged_bytes() >= 4 * 1024 * 1024,
        "the upload never staged its bytes"
    );
    server.kill9();
    drop(tx);
    let _ = whole.await;
    let before = staged_bytes();
    assert!(before >= 4 * 1024 * 1024, "kill -9 left {before} bytes");
    assert!(stale_file.exists());

    let server = Served::start(&db, &blobs).await;
    // Nothing dead is left: no staged upload bytes, no stale session; the live one remains.
    assert_eq!(staged_bytes(), 0, "{:?}", tree(&blobs.join("uploads")));
    assert!(!stale_file.exists());
    let sessions: Vec<String> = tree(&blobs.join("sessions"))
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let live_id = live.rsplit('/').next().unwrap().to_owned();
    assert_eq!(sessions, vec![live_id.clone(), format!("{live_id}.json")]);
    // The live session resumes from its offset and completes.
    let r = http
        .get(format!("{}{live}", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["upload-offset"], "300000");
    let base = server.base.clone();
    patch(
        base.clone(),
        live.clone(),
        300_000,
        data[300_000..].to_vec(),
    )
    .await;
    let r = http
        .put(format!("{base}{live}?digest={}", digest(&data)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{r:?}");
    let got = http
        .get(format!("{base}/v1/repos/acme/blobs/{}", digest(&data)))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(digest(&got), digest(&data));
    // fsck agrees: nothing corrupt, nothing left over.
    let (code, report) = fsck(&db, &blobs, &[]).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["leftovers"], serde_json::json!([]), "{report}");
    assert_eq!(report["ok"], true);
    server.kill9();
}

fn fsck_args(db: &str, blobs: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["--output".into(), "json".into(), "fsck".into()];
    args.extend(storage_args(db, blobs));
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

async fn fsck(db: &str, blobs: &Path, extra: &[&str]) -> (i32, Value) {
    let out = run(fsck_args(db, blobs, extra)).await;
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("fsck printed no JSON ({e}): {out:?}"));
    (out.status.code().unwrap(), report)
}

async fn fsck_finds_corruption_and_repairs_only_what_is_safe(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    draft(
        &server,
        "1.0.0",
        &[("a.txt", b"alpha bytes"), ("b.txt", b"beta bytes")],
    )
    .await;
    publish(&server, "1.0.0").await;
    let db = server.config.storage.database_url.clone();
    let blobs = server.config.storage.blob_dir.clone();

    let (code, report) = fsck(&db, &blobs, &[]).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["blobs_checked"], 2);

    // Same length, other bytes; a file removed; an orphan; a dead staged upload.
    let a = blob_path(&blobs, &digest(b"alpha bytes"));
    let b = blob_path(&blobs, &digest(b"beta bytes"));
    std::fs::write(&a, b"ALPHA BYTES").unwrap();
    std::fs::remove_file(&b).unwrap();
    let orphan = blob_path(&blobs, &digest(b"nobody names me"));
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"nobody names me").unwrap();
    let dead = blobs.join("uploads/00000000000000000000000000000001");
    std::fs::create_dir_all(&dead).unwrap();
    std::fs::write(dead.join("x#1"), vec![0u8; 4096]).unwrap();
    std::fs::write(
        blobs.join("uploads/00000000000000000000000000000001.lock"),
        b"",
    )
    .unwrap();

    let (code, report) = fsck(&db, &blobs, &[]).await;
    assert_eq!(code, 9, "{report}");
    assert_eq!(report["ok"], false);
    assert_eq!(
        report["missing"],
        serde_json::json!([digest(b"beta bytes")])
    );
    assert_eq!(report["corrupt"][0]["digest"], digest(b"alpha bytes"));
    assert_eq!(report["corrupt"][0]["found_digest"], digest(b"ALPHA BYTES"));
    let orphan_rel = orphan.strip_prefix(&blobs).unwrap().display().to_string();
    assert_eq!(report["orphans"][0]["path"], orphan_rel.as_str());
    assert_eq!(report["orphans"][0]["removed"], false);
    assert_eq!(report["leftovers"][0]["bytes"], 4096);
    // Listing changed nothing.
    assert!(orphan.exists() && dead.exists());

    // --repair keeps a young orphan (it may be an upload committing), removes dead staging.
    let (code, report) = fsck(&db, &blobs, &["--repair"]).await;
    assert_eq!(code, 9, "{report}");
    assert!(orphan.exists());
    assert!(!dead.exists());
    let (code, report) = fsck(&db, &blobs, &["--repair", "--orphan-age", "0"]).await;
    assert_eq!(code, 9, "corruption is reported, never repaired: {report}");
    assert_eq!(report["orphans"][0]["removed"], true);
    assert!(!orphan.exists());
    let (code, report) = fsck(&db, &blobs, &[]).await;
    assert_eq!(code, 9);
    assert_eq!(report["orphans"], serde_json::json!([]));
    assert_eq!(report["leftovers"], serde_json::json!([]));

    // Put the right bytes back: clean again (and --quick agrees).
    std::fs::write(&a, b"alpha bytes").unwrap();
    std::fs::write(&b, b"beta bytes").unwrap();
    assert_eq!(fsck(&db, &blobs, &[]).await.0, 0);
    std::fs::write(&a, b"ALPHA BYTES").unwrap();
    assert_eq!(
        fsck(&db, &blobs, &["--quick"]).await.0,
        0,
        "--quick checks sizes only"
    );
    assert_eq!(fsck(&db, &blobs, &[]).await.0, 9);
    server.stop().await;
}

/// The manifest of a release as a server answers it, with its own address taken out.
async fn manifest(base: &str, id: &str) -> Value {
    let text = reqwest::get(format!("{base}/v1/releases/{id}/manifest"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text.replace(base, "BASE")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_ops_backup_restores_into_a_fresh_server_serving_the_same_bytes() {
    let server = TestServer::start(&Backend::Sqlite).await;
    fixture(&server, "generic").await;
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    draft(
        &server,
        "1.0.0",
        &[("big.bin", &big), ("small.txt", b"small")],
    )
    .await;
    publish(&server, "1.0.0").await;
    let release = released(&server, Rel::default()).await;
    let db = server.config.storage.database_url.clone();
    let blobs = server.config.storage.blob_dir.clone();
    let work = tempfile::tempdir().unwrap();
    let backup = work.path().join("backup");

    // Online: the server keeps running.
    let mut args = vec!["backup".to_owned()];
    args.extend(storage_args(&db, &blobs));
    args.push(backup.display().to_string());
    let out = run(args.clone()).await;
    assert!(out.status.success(), "{out:?}");
    let listed: Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    let mut digests: Vec<&str> = listed["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["digest"].as_str().unwrap())
        .collect();
    digests.sort();
    let mut want = vec![digest(&big), digest(b"small")];
    want.sort();
    assert_eq!(digests, want);
    // A second backup into the same directory is refused.
    let out = run(args).await;
    assert_eq!(out.status.code(), Some(8), "{out:?}");

    let fresh = work.path().join("fresh");
    let fresh_db = format!("sqlite://{}", fresh.join("relreg.db").display());
    let fresh_blobs = fresh.join("blobs");
    let restore = |db: String, blobs: PathBuf| {
        let mut args = vec!["restore".to_owned()];
        args.extend(storage_args(&db, &blobs));
        args.push(backup.display().to_string());
        run(args)
    };
    // A damaged backup is refused before anything is written.
    let damaged = blob_path(&backup.join("blobs"), &digest(b"small"));
    std::fs::write(&damaged, b"SMALL").unwrap();
    let out = restore(fresh_db.clone(), fresh_blobs.clone()).await;
    assert_eq!(out.status.code(), Some(9), "{out:?}");
    assert!(tree(&fresh).is_empty(), "{:?}", tree(&fresh));
    std::fs::write(&damaged, b"small").unwrap();
    let out = restore(fresh_db.clone(), fresh_blobs.clone()).await;
    assert!(out.status.success(), "{out:?}");
    // Restoring over data is refused.
    let out = restore(fresh_db.clone(), fresh_blobs.clone()).await;
    assert_eq!(out.status.code(), Some(8), "{out:?}");

    let mut config = Config::for_dir(&fresh);
    config.storage.database_url = fresh_db.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let restored = tokio::spawn(relreg::server::serve(config, listener, async move {
        let _ = stopped.await;
    }));
    let original = manifest(&server.url(""), &release.id).await;
    let copy = manifest(&base, &release.id).await;
    assert!(original["manifest"].is_object(), "{original}");
    assert_eq!(original, copy);
    for d in [digest(&big), digest(b"small")] {
        let bytes = reqwest::get(format!("{base}/v1/repos/acme/blobs/{d}"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(digest(&bytes), d);
    }
    // The restored store is whole, and writable with the old tokens.
    let (code, report) = fsck(&fresh_db, &fresh_blobs, &[]).await;
    assert_eq!(code, 0, "{report}");
    let mut admin = pb::release_admin_client::ReleaseAdminClient::connect(base.clone())
        .await
        .unwrap();
    admin
        .create_package(authed(
            pb::CreatePackageRequest {
                repo: "acme".into(),
                package: "after-restore".into(),
                kind: "generic".into(),
                description: String::new(),
            },
            &server.admin,
        ))
        .await
        .unwrap();
    let _ = stop.send(());
    restored.await.unwrap().unwrap();
    server.stop().await;
}
