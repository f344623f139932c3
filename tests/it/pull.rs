//! `relreg pull` of an exact version and of a requirement, and client commands given bad
//! input: an unreachable server, a malformed `REPO/PACKAGE@VERSION`, a directory that cannot
//! be created.

use crate::{
    client_support::{bytes, publish_files, relreg},
    common::{Backend, TestServer, backend_tests, digest, fixture},
};

backend_tests!(pull_fetches_exact_versions_and_requirements);

async fn pull_fetches_exact_versions_and_requirements(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let base = server.url("");
    let v1 = vec![
        ("a.txt".to_string(), b"one".to_vec()),
        ("deep/er/b.bin".to_string(), bytes(200_000, 3)),
    ];
    let v12 = vec![("a.txt".to_string(), b"one point two".to_vec())];
    publish_files(&server, "1.0.0", &v1).await;
    publish_files(&server, "1.2.0", &v12).await;
    let tmp = tempfile::tempdir().unwrap();
    let exact = tmp.path().join("exact");
    let e = exact.to_str().unwrap();

    let run = relreg(
        &base,
        &["pull", "acme/app@1.0.0", "-o", e, "--output", "json"],
    )
    .await;
    let json = run.expect(0).json();
    assert_eq!(json["version"], "1.0.0");
    assert_eq!(json["files_downloaded"], 2);
    assert_eq!(json["bytes_downloaded"], 200_003);
    for (path, data) in &v1 {
        assert_eq!(&std::fs::read(exact.join(path)).unwrap(), data, "{path}");
    }
    let listed: Vec<&str> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["digest"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [digest(b"one"), digest(&v1[1].1)]);
    assert!(!exact.join(".relreg-partial").exists());

    let again = relreg(
        &base,
        &["pull", "acme/app@1.0.0", "-o", e, "--output", "json"],
    )
    .await;
    let json = again.expect(0).json();
    assert_eq!(json["files_reused"], 2);
    assert_eq!(json["bytes_downloaded"], 0);

    let req = tmp.path().join("req");
    let run = relreg(&base, &["pull", "acme/app@^1", "-o", req.to_str().unwrap()]).await;
    assert!(
        run.expect(0).stdout.contains("acme/app@1.2.0"),
        "{}",
        run.stdout
    );
    assert_eq!(std::fs::read(req.join("a.txt")).unwrap(), b"one point two");

    let missing = relreg(
        &base,
        &["pull", "acme/app@9.9.9", "-o", req.to_str().unwrap()],
    )
    .await;
    missing.expect(3);
    assert!(missing.stderr.starts_with("error: "), "{}", missing.stderr);
    let none = relreg(
        &base,
        &["pull", "acme/app@>=5", "-o", req.to_str().unwrap()],
    )
    .await;
    none.expect(3);
    let wrong = [
        "pull",
        "acme/app@1.0.0",
        "--token",
        "rr_not-a-token",
        "-o",
        e,
    ];
    let run = relreg(&base, &wrong).await;
    run.expect(4);
    assert!(!run.stderr.contains("rr_not-a-token"), "{}", run.stderr);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_commands_refuse_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = out.to_str().unwrap();
    // A port nothing listens on: bound, then released.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let run = relreg(
        &closed,
        &["pull", "acme/app@1.0.0", "-o", o, "--retries", "0"],
    )
    .await;
    run.expect(7);
    assert!(
        run.stderr.starts_with("error: server unreachable"),
        "{}",
        run.stderr
    );
    let sync = [
        "sync",
        "--repo",
        "acme",
        "--channel",
        "stable",
        "--app-version",
        "1.0",
        "--dir",
        o,
        "--retries",
        "0",
    ];
    let run = relreg(&closed, &sync).await;
    run.expect(7);
    assert!(
        run.stderr.starts_with("error: server unreachable"),
        "{}",
        run.stderr
    );
    assert!(!out.join("current").exists());

    for bad in [
        "acme/app",
        "acme@1.0.0",
        "Acme/app@1.0.0",
        "acme/app@banana",
    ] {
        let run = relreg(&closed, &["pull", bad, "-o", o]).await;
        run.expect(2);
        assert!(
            run.stderr.contains("is not REPO/PACKAGE@VERSION"),
            "{}",
            run.stderr
        );
    }
    let run = relreg(
        &closed,
        &["pull", "acme/app@1.0.0", "--server", "ftp://x", "-o", o],
    )
    .await;
    run.expect(2);
    assert!(
        run.stderr.starts_with("error: invalid server address"),
        "{}",
        run.stderr
    );

    // Root may write anywhere, but not below a regular file.
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let below = file.join("device");
    let b = below.to_str().unwrap();
    let mut args = sync.to_vec();
    args[8] = b;
    let run = relreg(&closed, &args).await;
    run.expect(8);
    assert!(run.stderr.contains("a-file/device"), "{}", run.stderr);
    let run = relreg(&closed, &["sync", "rollback", "--dir", b]).await;
    run.expect(8);
    let run = relreg(&closed, &["sync", "status", "--dir", b, "--offline"]).await;
    run.expect(8);
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}
