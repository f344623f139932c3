//! `relreg probe`, the image's health check, run as a subprocess: 0 when the URL answers 200
//! (`/healthz`, and `/readyz` on each backend), 1 for another status, a refused connection,
//! a server that accepts and never answers (cut off by `--timeout`), or a malformed URL.

use std::{process::Output, time::Duration};

use crate::common::{Backend, TestServer, backend_tests};

backend_tests!(probe_answers_zero_on_healthz_and_readyz);

/// Runs `relreg probe ARGS…` with `env` set, on a blocking thread (the server keeps serving).
async fn probe(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_relreg"));
    command
        .arg("probe")
        .args(args)
        .env_remove("RELREG_PROBE_URL")
        .env_remove("RELREG_PROBE_TIMEOUT");
    for (k, v) in env {
        command.env(k, v);
    }
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run relreg probe")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn probe_answers_zero_on_healthz_and_readyz(backend: Backend) {
    let server = TestServer::start(&backend).await;
    for path in ["/healthz", "/readyz"] {
        let url = server.url(path);
        let out = probe(&["--url", &url], &[]).await;
        assert_eq!(out.status.code(), Some(0), "{path}: {}", stderr(&out));
        assert_eq!(stdout(&out).trim(), format!("200 {url}"));
    }
    // The URL can come from the environment (how a container sets it once).
    let url = server.url("/readyz");
    let out = probe(&[], &[("RELREG_PROBE_URL", &url)]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Another status than 200 is unhealthy: exit 1, naming the status.
    let missing = server.url("/no-such-health-endpoint");
    let out = probe(&["--url", &missing], &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_fails_on_refused_silent_and_malformed_targets() {
    // Nothing listens on port 1: refused at once.
    let out = probe(&["--url", "http://127.0.0.1:1/healthz"], &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).starts_with("probe: "), "{}", stderr(&out));

    // A server that accepts connections and never answers: the timeout ends the probe.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let url = format!("http://{addr}/healthz");
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        probe(&["--url", &url, "--timeout", "0.5"], &[]),
    )
    .await
    .expect("the probe ignored its --timeout");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("no answer within"),
        "{}",
        stderr(&out)
    );
    held.abort();

    // Not a URL, and a timeout that is not a positive number: exit 1 with a message.
    let out = probe(&["--url", "not a url"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not a url"), "{}", stderr(&out));
    let out = probe(&["--url", "http://127.0.0.1:1/", "--timeout", "0"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--timeout"), "{}", stderr(&out));
}
