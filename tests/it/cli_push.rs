//! `relreg push` interrupted and resumed: a 64 MiB push through a throttling loopback proxy
//! is killed (SIGKILL) about half-way, and the same command run again continues from the
//! server's offset, sending well under 60 % of the bytes again, and stores the right digest.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

use crate::{
    cli::{User, download},
    common::{Backend, TestServer, backend_tests, digest},
};

backend_tests!(push_killed_half_way_resumes_from_the_server_offset);

const SIZE: usize = 64 * 1024 * 1024;
/// Client-to-server bytes per second through the proxy: the push takes about 4 s.
const RATE: u64 = 16 * 1024 * 1024;

/// Starts a TCP proxy to `target` that forwards client bytes at `RATE` while `slow` is set
/// (checked per connection) and at full speed otherwise.
async fn throttling_proxy(target: SocketAddr, slow: Arc<AtomicBool>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let throttled = slow.load(Ordering::SeqCst);
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let up = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    let start = tokio::time::Instant::now();
                    let mut sent = 0u64;
                    loop {
                        let n = match client_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        sent += n as u64;
                        if !throttled {
                            continue;
                        }
                        let due = Duration::from_secs_f64(sent as f64 / RATE as f64);
                        tokio::time::sleep_until(start + due).await;
                    }
                };
                let down = async {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                };
                // Whichever side ends first ends the connection (a killed client cuts it).
                tokio::select! {
                    () = up => {}
                    () = down => {}
                }
            });
        }
    });
    addr
}

/// Returns the offset of the upload session the CLI remembers, if any (the state directory
/// also files the digests of files it hashed, which are no session URLs).
async fn remembered_offset(user: &User, server: &TestServer) -> Option<u64> {
    let dir = user.home.path().join("state").join("uploads");
    let location = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .find(|text| text.starts_with("/v1/repos/"))?;
    let answer = reqwest::Client::new()
        .get(server.url(location.trim()))
        .bearer_auth(&server.admin)
        .send()
        .await
        .ok()?;
    answer
        .headers()
        .get("upload-offset")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

async fn push_killed_half_way_resumes_from_the_server_offset(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut user = User::new(&server);
    user.json(&["repo", "create", "acme"]).await;
    user.json(&["package", "create", "acme/big"]).await;
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("big.bin");
    let data: Vec<u8> = (0..SIZE)
        .map(|i| (i % 251) as u8 ^ (i >> 20) as u8)
        .collect();
    std::fs::write(&path, &data).unwrap();
    let path = path.to_str().unwrap();
    let args = [
        "push",
        "acme/big@1.0.0",
        path,
        "--publish",
        "--chunk-size",
        "4194304",
    ];

    // Through a slow proxy, killed with SIGKILL once the server holds about half. The
    // client remembers sessions per server URL, so the rerun goes through the same proxy,
    // at full speed.
    let slow = Arc::new(AtomicBool::new(true));
    user.server = format!(
        "http://{}",
        throttling_proxy(server.addr, slow.clone()).await
    );
    let mut child = user
        .command(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let killed_at = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the push never reached half-way"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the push ended before it was killed"
        );
        match remembered_offset(&user, &server).await {
            Some(offset) if offset >= SIZE as u64 / 2 => {
                child.kill().unwrap();
                child.wait().unwrap();
                break offset;
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    assert!(killed_at < SIZE as u64, "killed before the end");
    slow.store(false, Ordering::SeqCst);

    // The same command again: it resumes from the server's offset.
    let mut json_args = vec!["--output", "json"];
    json_args.extend_from_slice(&args);
    let output = user.run(&json_args).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let file = &answer["files"][0];
    let resumed_from = file["resumedFrom"].as_u64().unwrap();
    let sent = answer["bytesSent"].as_u64().unwrap();
    assert!(
        resumed_from >= killed_at,
        "resumed at {resumed_from}, killed at {killed_at}"
    );
    // No lower bound on `sent`: the server may still write the killed request's tail after
    // the rerun first asks for its offset, so the rest can be shorter than SIZE - resumed_from.
    // The stored digest below proves every byte arrived.
    assert!(
        (sent as f64) < 0.6 * SIZE as f64,
        "{sent} of {SIZE} bytes sent again"
    );
    let expected = digest(&data);
    assert_eq!(file["digest"], expected.as_str());
    assert_eq!(answer["version"]["state"], "VERSION_STATE_PUBLISHED");
    assert_eq!(answer["version"]["files"][0]["digest"], expected.as_str());
    let stored = download(&server, "acme", &expected).await;
    assert_eq!(digest(&stored), expected, "the stored bytes are the file's");
    // The finished session is forgotten.
    assert!(remembered_offset(&user, &server).await.is_none());
    server.stop().await;
}
