//! The edge's connection handling, over raw sockets and real clients: the header-read
//! timeout (slowloris), the first-request and idle timeouts (HTTP/1.1 and HTTP/2), the
//! connection cap, and TLS on the same port (gRPC and HTTPS JSON through clients that trust
//! a certificate made here).

use std::time::{Duration, Instant};

use relreg::pb;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use crate::common::{Backend, TestServer, authed};

/// Waits for the peer to close: `Ok(bytes read before)` on EOF or reset, `Err` if still
/// open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Result<Vec<u8>, Vec<u8>> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + within;
    loop {
        let mut buf = [0u8; 4096];
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => return Err(seen),
        }
    }
}

async fn get_healthz(addr: std::net::SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_slowloris_headers_are_cut_off_within_the_header_timeout() {
    let server = TestServer::start_with(&Backend::Sqlite, |c| {
        c.edge.header_read_timeout = Duration::from_secs(1);
        c.edge.idle_timeout = Duration::from_secs(60);
    })
    .await;
    // Headers one line at a time, a line every 200 ms, for up to 20 s.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let started = Instant::now();
    let (mut read, mut write) = slow.into_split();
    let writer = tokio::spawn(async move {
        for i in 0..100 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if write
                .write_all(format!("x-slow-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let outcome = tokio::time::timeout(Duration::from_secs(8), read.read_to_end(&mut seen)).await;
    writer.abort();
    assert!(
        outcome.is_ok(),
        "a slowloris connection was still open after {:?}",
        started.elapsed()
    );
    assert!(
        !String::from_utf8_lossy(&seen).contains("200 OK"),
        "the slow request was answered"
    );
    // A connection that sends nothing at all is closed too.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(8))
            .await
            .is_ok(),
        "a silent connection stayed open"
    );
    // Prompt clients are served.
    let answer = get_healthz(server.addr).await.expect("healthz answers");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_idle_keep_alive_connections_are_closed_http1_and_http2() {
    let server = TestServer::start_with(&Backend::Sqlite, |c| {
        c.edge.header_read_timeout = Duration::from_secs(30);
        c.edge.idle_timeout = Duration::from_secs(1);
    })
    .await;
    // HTTP/1.1 keep-alive: one request, then nothing.
    let mut h1 = TcpStream::connect(server.addr).await.unwrap();
    h1.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let seen = closed_within(&mut h1, Duration::from_secs(8))
        .await
        .expect("an idle HTTP/1.1 connection was still open after 8 s");
    let seen = String::from_utf8_lossy(&seen);
    assert!(
        seen.starts_with("HTTP/1.1 200") && seen.ends_with("ok\n"),
        "{seen}"
    );

    // HTTP/2 (prior knowledge, as gRPC): one request, then nothing.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut client, connection) = h2::client::handshake(tcp).await.unwrap();
    let connection = tokio::spawn(connection);
    let request = http::Request::get(format!("http://{}/healthz", server.addr))
        .body(())
        .unwrap();
    let (response, _) = client.send_request(request, true).unwrap();
    let response = response.await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    drop(body);
    let ended = tokio::time::timeout(Duration::from_secs(8), connection).await;
    assert!(
        ended.is_ok(),
        "an idle HTTP/2 connection was still open after 8 s"
    );
    drop(client);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_connections_over_the_cap_are_closed_and_the_server_keeps_answering() {
    let server = TestServer::start_with(&Backend::Sqlite, |c| {
        c.edge.max_connections = 3;
        c.edge.header_read_timeout = Duration::from_secs(30);
        c.edge.idle_timeout = Duration::from_secs(30);
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // The three are accepted first; the fourth finds the cap reached and is closed unanswered.
    let mut extra = TcpStream::connect(server.addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let seen = closed_within(&mut extra, Duration::from_secs(8))
        .await
        .expect("a connection over the cap was kept open");
    assert!(seen.is_empty(), "{}", String::from_utf8_lossy(&seen));
    // Once one closes, new connections are served again.
    drop(idle.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match get_healthz(server.addr).await {
            Some(answer) if answer.starts_with("HTTP/1.1 200") => break,
            other => {
                assert!(Instant::now() < deadline, "not served again: {other:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(idle);
    server.stop().await;
}

/// A self-signed certificate for `localhost` and 127.0.0.1, written as PEM files.
fn certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("certificate");
    let pem = cert.cert.pem();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, &pem).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    (cert_path, key_path, pem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_tls_serves_grpc_and_https_json_on_one_port() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, pem) = certificate(dir.path());
    let server = TestServer::start_with(&Backend::Sqlite, |c| {
        c.edge.tls_cert = Some(cert);
        c.edge.tls_key = Some(key);
    })
    .await;
    let base = format!("https://localhost:{}", server.addr.port());

    // gRPC over TLS (ALPN h2), with the admin token.
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&pem))
        .domain_name("localhost");
    let channel = tonic::transport::Channel::from_shared(base.clone())
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .expect("TLS gRPC connection");
    let mut admin = pb::release_admin_client::ReleaseAdminClient::new(channel.clone());
    admin
        .create_repo(authed(
            pb::CreateRepoRequest {
                repo: "acme".into(),
                public: true,
                display_name: "Acme".into(),
            },
            &server.admin,
        ))
        .await
        .expect("CreateRepo over TLS");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("health over TLS")
        .into_inner();
    assert_eq!(serving.status, 1, "SERVING");

    // HTTPS JSON through a client that trusts the certificate, over HTTP/1.1 and HTTP/2.
    let root = reqwest::Certificate::from_pem(pem.as_bytes()).unwrap();
    for http2 in [false, true] {
        let mut builder = reqwest::Client::builder().add_root_certificate(root.clone());
        builder = if http2 {
            builder.http2_prior_knowledge()
        } else {
            builder.http1_only()
        };
        let http = builder.build().unwrap();
        let answer = http
            .get(format!("{base}/v1/repos/acme"))
            .send()
            .await
            .expect("HTTPS request");
        assert_eq!(answer.status(), 200);
        let expected = if http2 {
            http::Version::HTTP_2
        } else {
            http::Version::HTTP_11
        };
        assert_eq!(answer.version(), expected);
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["repo"]["key"], "acme", "{body}");
    }

    // Plain text to the TLS port gets no answer.
    let answer = get_healthz(server.addr).await.unwrap_or_default();
    assert!(!answer.contains("200 OK"), "{answer}");
    server.stop().await;
}
