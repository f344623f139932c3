//! Support of the client tests: the `relreg` binary as a subprocess, blobs uploaded in one
//! HTTP `PUT`, published versions and releases of `acme/app`, and a throttling TCP proxy.

use std::{path::Path, process::Output, time::Duration};

use relreg::pb;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::common::{Rel, TestServer, attach, authed, create, digest, publish_release};

/// A finished `relreg` process.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Parses stdout as JSON, failing the test with both streams when it is not.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub(crate) fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code {} (wanted {code})\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// Returns a `relreg` command talking to `server` (no token: `acme` is public).
pub(crate) fn command(server: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_relreg"));
    cmd.args(args)
        .env("RELREG_SERVER", server)
        .env_remove("RELREG_TOKEN")
        .env_remove("RUST_LOG");
    cmd
}

/// Runs `relreg` with `args` against `server` and waits for it.
pub(crate) async fn relreg(server: &str, args: &[&str]) -> Run {
    let mut cmd = command(server, args);
    let out: Output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run relreg");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Uploads bytes to `acme` in one HTTP `PUT`; returns the digest.
pub(crate) async fn put_blob(server: &TestServer, data: &[u8]) -> String {
    let d = digest(data);
    let answer = reqwest::Client::new()
        .put(server.url(&format!("/v1/repos/acme/blobs/uploads?digest={d}")))
        .bearer_auth(&server.admin)
        .body(data.to_vec())
        .send()
        .await
        .expect("upload");
    assert!(answer.status().is_success(), "upload: {}", answer.status());
    d
}

/// Creates and publishes version `version` of `acme/app` with these files.
pub(crate) async fn publish_files(server: &TestServer, version: &str, files: &[(String, Vec<u8>)]) {
    let mut admin = server.admin_client().await;
    let mut etag = admin
        .create_version(authed(
            pb::CreateVersionRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: version.into(),
            },
            &server.admin,
        ))
        .await
        .expect("create version")
        .into_inner()
        .version
        .expect("version")
        .etag;
    for (path, data) in files {
        let d = put_blob(server, data).await;
        etag = admin
            .put_version_file(authed(
                pb::PutVersionFileRequest {
                    repo: "acme".into(),
                    package: "app".into(),
                    version: version.into(),
                    path: path.clone(),
                    digest: d,
                    media_type: String::new(),
                    etag,
                },
                &server.admin,
            ))
            .await
            .expect("put file")
            .into_inner()
            .version
            .expect("version")
            .etag;
    }
    crate::common::publish(server, version).await;
}

/// Publishes release `version` in `stable` for apps ≥ `min`, its `data` role bound to
/// `acme/app@package_version`; returns its id.
pub(crate) async fn publish_rel(
    server: &TestServer,
    version: &str,
    min: &str,
    package_version: &str,
) -> String {
    let r = create(
        server,
        Rel {
            version,
            min,
            ..Rel::default()
        },
    )
    .await;
    attach(server, &r.id, "data", package_version)
        .await
        .expect("attach");
    publish_release(server, &r.id)
        .await
        .expect("publish release");
    r.id
}

/// Returns the release id `D/current` points at.
pub(crate) fn current(dir: &Path) -> Option<String> {
    std::fs::read_link(dir.join("current"))
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
}

/// Returns `n` bytes that differ with `seed`.
pub(crate) fn bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Starts a TCP proxy to `upstream` that sends the server's bytes back at about
/// `bytes_per_tick` per 10 ms; returns its address.
pub(crate) async fn throttling_proxy(
    upstream: std::net::SocketAddr,
    bytes_per_tick: usize,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                continue;
            };
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
            });
            tokio::spawn(async move {
                let mut buf = vec![0u8; bytes_per_tick];
                loop {
                    match server_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if client_write.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
        }
    });
    format!("http://{addr}")
}
