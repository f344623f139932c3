//! `relreg sync` as a device runs it, against a real server: update, up to date, app update
//! required, rollback and status, a tampered blob, a server that went away, a download killed
//! mid-way and resumed, and a release that changes one file of a hundred.

use std::path::Path;

use crate::{
    client_support::{
        bytes, command, current, publish_files, publish_rel, relreg, throttling_proxy,
    },
    common::{Backend, TestServer, backend_tests, fixture},
};

backend_tests!(
    sync_updates_rolls_back_and_reports,
    tampered_blob_is_refused_and_current_stays,
    stopped_server_keeps_current,
    one_changed_file_of_a_hundred_downloads_one,
    killed_download_resumes_where_it_stopped,
    interval_keeps_syncing_through_an_outage,
);

fn sync_args<'a>(dir: &'a str, app: &'a str) -> Vec<&'a str> {
    vec![
        "sync",
        "--repo",
        "acme",
        "--channel",
        "stable",
        "--app-version",
        app,
        "--dir",
        dir,
        "--output",
        "json",
    ]
}

fn file(dir: &Path, path: &str) -> Vec<u8> {
    std::fs::read(dir.join("current").join(path)).expect("file in current")
}

async fn sync_updates_rolls_back_and_reports(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let base = server.url("");
    let v1 = vec![
        ("a.txt".to_string(), b"first a".to_vec()),
        ("dir/b.bin".to_string(), bytes(70_000, 1)),
    ];
    publish_files(&server, "1.0.0", &v1).await;
    let r1 = publish_rel(&server, "1.0.0", "1.0", "1.0.0").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("device");
    let d = dir.to_str().unwrap();

    let run = relreg(&base, &sync_args(d, "1.2")).await;
    let json = run.expect(0).json();
    assert_eq!(json["decision"], "update");
    assert_eq!(json["release_id"], r1.as_str());
    assert_eq!(json["files_total"], 2);
    assert_eq!(json["files_downloaded"], 2);
    assert_eq!(json["bytes_downloaded"], 70_007);
    assert_eq!(current(&dir).as_deref(), Some(r1.as_str()));
    assert_eq!(file(&dir, "data/a.txt"), b"first a");
    assert_eq!(file(&dir, "data/dir/b.bin"), bytes(70_000, 1));

    let run = relreg(&base, &sync_args(d, "1.2")).await;
    let json = run.expect(10).json();
    assert_eq!(json["decision"], "up_to_date");
    assert_eq!(json["release_id"], r1.as_str());
    assert_eq!(json["bytes_downloaded"], 0);
    let text = relreg(&base, &sync_args(d, "1.2")[..9]).await;
    assert!(
        text.expect(10).stdout.starts_with("up to date"),
        "{}",
        text.stdout
    );

    let old = tmp.path().join("old-app");
    let run = relreg(&base, &sync_args(old.to_str().unwrap(), "0.9")).await;
    let json = run.expect(11).json();
    assert_eq!(json["decision"], "app_update_required");
    assert_eq!(json["min_app_version"], "1.0.0");
    assert_eq!(current(&old), None);

    let v2 = vec![
        ("a.txt".to_string(), b"second a".to_vec()),
        ("dir/b.bin".to_string(), bytes(70_000, 1)),
    ];
    publish_files(&server, "2.0.0", &v2).await;
    let r2 = publish_rel(&server, "1.1.0", "1.0", "2.0.0").await;
    let run = relreg(&base, &sync_args(d, "1.2")).await;
    let json = run.expect(0).json();
    assert_eq!(json["release_id"], r2.as_str());
    assert_eq!(json["previous_release_id"], r1.as_str());
    assert_eq!(json["files_downloaded"], 1);
    assert_eq!(json["files_reused"], 1);
    assert_eq!(json["bytes_downloaded"], 8);
    assert_eq!(file(&dir, "data/a.txt"), b"second a");

    let status = relreg(&base, &["sync", "status", "--dir", d, "--output", "json"]).await;
    let json = status.expect(0).json();
    assert_eq!(json["current"]["id"], r2.as_str());
    assert_eq!(json["installed"].as_array().unwrap().len(), 2);
    assert_eq!(json["available"]["decision"], "up_to_date");

    let back = relreg(&base, &["sync", "rollback", "--dir", d]).await;
    assert!(back.expect(0).stdout.contains(&r1), "{}", back.stdout);
    assert_eq!(current(&dir).as_deref(), Some(r1.as_str()));
    assert_eq!(file(&dir, "data/a.txt"), b"first a");
    let status = relreg(&base, &["sync", "status", "--dir", d]).await;
    let text = &status.expect(0).stdout;
    assert!(text.contains(&format!("running: {r1}")), "{text}");
    assert!(
        text.contains(&format!("available: update to {r2}")),
        "{text}"
    );
    let none = relreg(&base, &["sync", "rollback", "--dir", d]).await;
    none.expect(3);
    assert!(
        none.stderr.starts_with("error: no release before"),
        "{}",
        none.stderr
    );
    assert_eq!(current(&dir).as_deref(), Some(r1.as_str()));

    // Keeping no earlier release collects every tree and object but the new one's.
    publish_files(&server, "3.0.0", &[("a.txt".into(), b"third a".to_vec())]).await;
    let r3 = publish_rel(&server, "1.2.0", "1.0", "3.0.0").await;
    let mut args = sync_args(d, "1.2");
    args.extend(["--keep", "0"]);
    let json = relreg(&base, &args).await.expect(0).json();
    assert_eq!(json["release_id"], r3.as_str());
    assert_eq!(json["previous_release_id"], r1.as_str());
    assert_eq!(json["objects_removed"], 3);
    let trees: Vec<String> = std::fs::read_dir(dir.join("releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(trees, std::slice::from_ref(&r3));
    assert_eq!(
        std::fs::read_dir(dir.join("objects/sha256"))
            .unwrap()
            .count(),
        1
    );
    assert_eq!(file(&dir, "data/a.txt"), b"third a");
    relreg(&base, &["sync", "rollback", "--dir", d])
        .await
        .expect(3);
    server.stop().await;
}

async fn interval_keeps_syncing_through_an_outage(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    publish_files(&server, "1.0.0", &[("a.txt".into(), b"one".to_vec())]).await;
    let r1 = publish_rel(&server, "1.0.0", "1.0", "1.0.0").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("device");
    let d = dir.to_str().unwrap();
    let mut args = sync_args(d, "1.0");
    args.extend(["--interval", "1", "--retries", "0"]);
    let mut child = command(&server.url(""), &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn relreg");
    let until = async |id: &str| {
        for _ in 0..200 {
            if current(&dir).as_deref() == Some(id) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("current never became {id}");
    };
    until(&r1).await;
    publish_files(&server, "2.0.0", &[("a.txt".into(), b"two".to_vec())]).await;
    let r2 = publish_rel(&server, "2.0.0", "1.0", "2.0.0").await;
    until(&r2).await;
    server.stop().await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "relreg --interval stopped"
    );
    assert_eq!(current(&dir).as_deref(), Some(r2.as_str()));
    assert_eq!(file(&dir, "data/a.txt"), b"two");
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stdout.matches("\"decision\": \"update\"").count(),
        2,
        "{stdout}"
    );
    assert!(stderr.contains("error: server unreachable"), "{stderr}");
}

async fn tampered_blob_is_refused_and_current_stays(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let base = server.url("");
    publish_files(&server, "1.0.0", &[("a.txt".into(), b"good".to_vec())]).await;
    let r1 = publish_rel(&server, "1.0.0", "1.0", "1.0.0").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("device");
    let d = dir.to_str().unwrap();
    relreg(&base, &sync_args(d, "1.0")).await.expect(0);

    let data = bytes(50_000, 7);
    publish_files(&server, "2.0.0", &[("a.txt".into(), data.clone())]).await;
    publish_rel(&server, "2.0.0", "1.0", "2.0.0").await;
    let hex = crate::common::digest(&data)[7..].to_string();
    let on_disk = server
        .config
        .storage
        .blob_dir
        .join("sha256")
        .join(&hex[..2])
        .join(&hex);
    let mut bad = data.clone();
    bad[25_000] ^= 0xff;
    std::fs::write(&on_disk, &bad).expect("tamper with the blob");

    let run = relreg(&base, &sync_args(d, "1.0")).await;
    run.expect(9);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(run.stderr.contains("hash to"), "{}", run.stderr);
    assert_eq!(current(&dir).as_deref(), Some(r1.as_str()));
    assert_eq!(file(&dir, "data/a.txt"), b"good");
    assert!(!dir.join("objects/sha256").join(&hex).exists());
    assert!(!dir.join("staging").join(format!("{hex}.partial")).exists());

    std::fs::write(&on_disk, &data).expect("repair the blob");
    relreg(&base, &sync_args(d, "1.0")).await.expect(0);
    assert_eq!(file(&dir, "data/a.txt"), data);
    server.stop().await;
}

async fn stopped_server_keeps_current(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let base = server.url("");
    publish_files(&server, "1.0.0", &[("a.txt".into(), b"kept".to_vec())]).await;
    let r1 = publish_rel(&server, "1.0.0", "1.0", "1.0.0").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("device");
    let d = dir.to_str().unwrap();
    relreg(&base, &sync_args(d, "1.0")).await.expect(0);
    server.stop().await;

    let mut args = sync_args(d, "1.0");
    args.extend(["--retries", "1"]);
    let run = relreg(&base, &args).await;
    run.expect(7);
    assert!(
        run.stderr.contains("error: server unreachable"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(current(&dir).as_deref(), Some(r1.as_str()));
    assert_eq!(file(&dir, "data/a.txt"), b"kept");

    let status = relreg(&base, &["sync", "status", "--dir", d]).await;
    status.expect(7);
    assert!(
        status.stdout.contains(&format!("running: {r1}")),
        "{}",
        status.stdout
    );
    assert!(
        status
            .stdout
            .contains("available: unknown (server unreachable"),
        "{}",
        status.stdout
    );
    let offline = relreg(
        &base,
        &[
            "sync",
            "status",
            "--dir",
            d,
            "--offline",
            "--output",
            "json",
        ],
    )
    .await;
    let json = offline.expect(0).json();
    assert_eq!(json["current"]["id"], r1.as_str());
    assert_eq!(json["origin"]["channel"], "stable");
    assert!(json["available"].is_null());
}

async fn one_changed_file_of_a_hundred_downloads_one(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let base = server.url("");
    let mut files: Vec<(String, Vec<u8>)> = (0..100)
        .map(|i| (format!("f/{i:03}.bin"), bytes(1000 + i, i as u32)))
        .collect();
    publish_files(&server, "1.0.0", &files).await;
    publish_rel(&server, "1.0.0", "1.0", "1.0.0").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("device");
    let d = dir.to_str().unwrap();
    let json = relreg(&base, &sync_args(d, "1.0")).await.expect(0).json();
    assert_eq!(json["files_downloaded"], 100);

    files[57].1 = bytes(3333, 999);
    publish_files(&server, "2.0.0", &files).await;
    let r2 = publish_rel(&server, "2.0.0", "1.0", "2.0.0").await;
    let json = relreg(&base, &sync_args(d, "1.0")).await.expect(0).json();
    assert_eq!(json["release_id"], r2.as_str());
    assert_eq!(json["files_total"], 100);
    assert_eq!(json["files_downloaded"], 1);
    assert_eq!(json["files_reused"], 99);
    assert_eq!(json["bytes_downloaded"], 3333);
    for (path, data) in &files {
        assert_eq!(&file(&dir, &format!("data/{path}")), data, "{path}");
    }
    // The replaced content is collected once no kept release uses it... but release 1 is kept.
    let objects = std::fs::read_dir(dir.join("objects/sha256"))
        .unwrap()
        .count();
    assert_eq!(objects, 101);
    server.stop().await;
}

async fn killed_download_resumes_where_it_stopped(backend: Backend) {
    const SIZE: usize = 8 << 20;
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let data = bytes(SIZE, 42);
    publish_files(&server, "1.0.0", &[("big.bin".into(), data.clone())]).await;
    let r1 = publish_rel(&server, "1.0.0", "1.0", "1.0.0").await;
    let slow = throttling_proxy(server.addr, 16 * 1024).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("device");
    let d = dir.to_str().unwrap();
    let hex = crate::common::digest(&data)[7..].to_string();
    let partial = dir.join("staging").join(format!("{hex}.partial"));

    let mut child = command(&slow, &sync_args(d, "1.0"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn relreg");
    let mut waited = 0;
    while std::fs::metadata(&partial).map_or(0, |m| m.len()) < (1 << 20) {
        assert!(waited < 300, "the partial file never reached 1 MiB");
        assert!(
            child.try_wait().unwrap().is_none(),
            "relreg ended before it was killed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    }
    child.kill().expect("kill -9");
    child.wait().unwrap();
    let kept = std::fs::metadata(&partial).unwrap().len();
    assert!(kept >= 1 << 20 && kept < SIZE as u64, "{kept}");
    assert_eq!(current(&dir), None);

    let json = relreg(&server.url(""), &sync_args(d, "1.0"))
        .await
        .expect(0)
        .json();
    assert_eq!(json["release_id"], r1.as_str());
    let downloaded = json["bytes_downloaded"].as_u64().unwrap();
    let resumed = json["bytes_resumed"].as_u64().unwrap();
    assert_eq!(resumed, kept);
    assert_eq!(downloaded + resumed, SIZE as u64);
    assert!(downloaded < SIZE as u64);
    assert_eq!(file(&dir, "data/big.bin"), data);
    assert!(!partial.exists());
    server.stop().await;
}
