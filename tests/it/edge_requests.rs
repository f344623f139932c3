//! The edge's request handling through real clients: load shedding with the catalog's own
//! budget, the server's maximum call duration, upload chunk limits, `Allow` on 405, the JSON
//! access log of the `relreg` binary, and response compression.

use std::{
    io::{BufRead as _, Read as _},
    time::{Duration, Instant},
};

use relreg::pb;
use reqwest::{Client, StatusCode};
use tonic::Code;

use crate::common::{Backend, TestServer, authed, backend_tests, digest, fixture, reason};

backend_tests!(edge_shedding_refuses_writes_while_catalog_reads_keep_answering);

const UPLOADS: &str = "/v1/repos/acme/blobs/uploads";

/// Opens an upload session; returns its path.
async fn open(server: &TestServer, http: &Client) -> reqwest::Response {
    http.post(server.url(UPLOADS))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap()
}

async fn edge_shedding_refuses_writes_while_catalog_reads_keep_answering(backend: Backend) {
    let server = TestServer::start_with(&backend, |c| {
        c.edge.max_in_flight = 2;
        c.edge.max_in_flight_catalog = 64;
    })
    .await;
    fixture(&server, "generic").await;
    let http = Client::new();
    // Two uploads whose chunks never finish hold the whole write budget.
    let mut stalled = Vec::new();
    while stalled.len() < 2 {
        let r = open(&server, &http).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1);
        tx.send(Ok(bytes::Bytes::from_static(b"abc")))
            .await
            .unwrap();
        let body = reqwest::Body::wrap_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
        let request = http
            .patch(server.url(&location))
            .bearer_auth(&server.admin)
            .body(body)
            .send();
        let request = tokio::spawn(request);
        tokio::time::sleep(Duration::from_millis(200)).await;
        if request.is_finished() {
            // The slot of the request before had not been given back yet: shed, try again.
            let answer = request.await.unwrap().unwrap();
            assert_eq!(
                answer.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{answer:?}"
            );
            continue;
        }
        stalled.push((tx, request));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let shed = loop {
        let r = open(&server, &http).await;
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            break r;
        }
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        assert!(Instant::now() < deadline, "writes were never shed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(shed.headers()["retry-after"], "1");
    let body: serde_json::Value = shed.json().await.unwrap();
    assert_eq!(body["details"][0]["reason"], "OVERLOADED", "{body}");

    // gRPC writes are shed as RESOURCE_EXHAUSTED with the same hint.
    let mut admin = server.admin_client().await;
    let refused = admin
        .create_package(authed(
            pb::CreatePackageRequest {
                repo: "acme".into(),
                package: "other".into(),
                kind: "generic".into(),
                description: String::new(),
            },
            &server.admin,
        ))
        .await
        .expect_err("shed");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert_eq!(reason(&refused), "OVERLOADED");
    assert_eq!(refused.metadata().get("retry-after").unwrap(), "1");

    // The catalog's reads, JSON and gRPC, and the probes keep answering.
    let package = http
        .get(server.url("/v1/repos/acme/packages/app"))
        .send()
        .await
        .unwrap();
    assert_eq!(package.status(), StatusCode::OK);
    let latest = http
        .get(server.url("/v1/repos/acme/channels/stable/latest?app_version=1.0.0"))
        .send()
        .await
        .unwrap();
    assert_ne!(latest.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(latest.headers().get("retry-after").is_none());
    let mut catalog = server.catalog_client().await;
    catalog
        .get_package(pb::GetPackageRequest {
            repo: "acme".into(),
            package: "app".into(),
        })
        .await
        .expect("catalog reads answer");
    let health = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    // Once the uploads finish, writes are admitted again.
    for (tx, request) in stalled {
        drop(tx);
        let answer = request.await.unwrap().unwrap();
        assert_eq!(answer.status(), StatusCode::ACCEPTED, "{answer:?}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while open(&server, &http).await.status() != StatusCode::ACCEPTED {
        assert!(Instant::now() < deadline, "writes stayed shed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_unary_calls_are_capped_by_the_max_call_duration() {
    use sqlx::Connection as _;
    let server = TestServer::start_with(&Backend::Sqlite, |c| {
        c.edge.max_call_duration = Duration::from_secs(1);
    })
    .await;
    // Another writer holds SQLite's write lock: writes wait for it (up to the store's 10 s
    // busy timeout), unless the server's maximum stops them first.
    let mut lock = sqlx::SqliteConnection::connect(&server.db.url)
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut lock)
        .await
        .unwrap();
    let create = |repo: &str| {
        authed(
            pb::CreateRepoRequest {
                repo: repo.into(),
                public: true,
                display_name: String::new(),
            },
            &server.admin,
        )
    };
    let mut admin = server.admin_client().await;
    for caller_deadline in [None, Some(Duration::from_secs(60))] {
        let mut request = create("acme");
        if let Some(d) = caller_deadline {
            request.set_timeout(d);
        }
        let started = Instant::now();
        let refused = admin.create_repo(request).await.expect_err("capped");
        assert_eq!(refused.code(), Code::DeadlineExceeded, "{refused:?}");
        assert!(
            refused.message().contains("maximum call duration"),
            "{refused:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
    }
    // The JSON bridge answers 504.
    let answer = Client::new()
        .post(server.url("/v1/repos"))
        .bearer_auth(&server.admin)
        .json(&serde_json::json!({"repo": "acme", "public": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::GATEWAY_TIMEOUT);
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    drop(lock);
    admin
        .create_repo(create("acme"))
        .await
        .expect("created once the lock is gone");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_oversized_upload_chunks_are_refused_and_change_nothing() {
    let server = TestServer::start_with(&Backend::Sqlite, |c| c.edge.max_upload_chunk = 1024).await;
    fixture(&server, "generic").await;
    let http = Client::new();
    let data: Vec<u8> = (0..2048u32).map(|i| (i % 251) as u8).collect();
    let r = open(&server, &http).await;
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let offset = |r: &reqwest::Response| r.headers()["upload-offset"].to_str().unwrap().to_owned();
    let status = || async {
        let r = http
            .get(server.url(&location))
            .bearer_auth(&server.admin)
            .send()
            .await
            .unwrap();
        offset(&r)
    };
    // A chunk over the limit: 413, and the session is as it was.
    let r = http
        .patch(server.url(&location))
        .bearer_auth(&server.admin)
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["details"][0]["reason"], "MESSAGE_TOO_LARGE", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("1024 bytes"),
        "{body}"
    );
    assert_eq!(status().await, "0");
    // Chunks within the limit go through; an oversized completing PUT changes nothing either.
    let r = http
        .patch(server.url(&location))
        .bearer_auth(&server.admin)
        .body(data[..1000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(offset(&r), "1000");
    let r = http
        .put(format!(
            "{}?digest={}",
            server.url(&location),
            digest(&data)
        ))
        .bearer_auth(&server.admin)
        .body(data[1000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(status().await, "1000");
    let r = http
        .patch(server.url(&location))
        .bearer_auth(&server.admin)
        .body(data[1000..2000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = http
        .put(format!(
            "{}?digest={}",
            server.url(&location),
            digest(&data)
        ))
        .bearer_auth(&server.admin)
        .body(data[2000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{r:?}");

    // gRPC: a chunk message over the limit fails the upload; no blob appears.
    use pb::upload_blob_request::Payload;
    let other: Vec<u8> = data.iter().map(|b| b ^ 0x5a).collect();
    let messages = vec![
        pb::UploadBlobRequest {
            payload: Some(Payload::Header(pb::UploadBlobHeader {
                repo: "acme".into(),
                expected_digest: digest(&other),
                expected_size: Some(other.len() as i64),
                media_type: "text/plain".into(),
            })),
        },
        pb::UploadBlobRequest {
            payload: Some(Payload::Chunk(bytes::Bytes::from(other.clone()))),
        },
    ];
    let mut admin = server.admin_client().await;
    let refused = admin
        .upload_blob(authed(futures::stream::iter(messages), &server.admin))
        .await
        .expect_err("oversized chunk");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert_eq!(reason(&refused), "MESSAGE_TOO_LARGE");
    let head = http
        .head(server.url(&format!("/v1/repos/acme/blobs/{}", digest(&other))))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_405_answers_carry_allow_with_the_paths_methods() {
    let server = TestServer::start(&Backend::Sqlite).await;
    let http = Client::new();
    let digest = digest(b"x");
    let cases: &[(&str, String, &[&str])] = &[
        // JSON bridge routes.
        (
            "DELETE",
            "/v1/repos/acme/channels/stable/latest".into(),
            &["GET", "HEAD"],
        ),
        ("GET", "/v1/repos".into(), &["POST"]),
        ("PATCH", "/v1/repos/acme".into(), &["GET", "HEAD"]),
        ("DELETE", "/v1/tokens".into(), &["GET", "HEAD", "POST"]),
        (
            "POST",
            "/v1/repos/acme/packages/app/versions/1.0.0/files/a/b".into(),
            &["PUT", "DELETE"],
        ),
        // HTTP routes.
        ("PATCH", UPLOADS.into(), &["PUT", "POST"]),
        ("POST", "/healthz".into(), &["GET", "HEAD"]),
        (
            "DELETE",
            format!("/v1/repos/acme/blobs/{digest}"),
            &["GET", "HEAD"],
        ),
        ("POST", "/ui/acme".into(), &["GET", "HEAD"]),
        (
            "DELETE",
            "/repos/acme/app/releases/latest".into(),
            &["GET", "HEAD"],
        ),
        ("PUT", "/openapi.json".into(), &["GET", "HEAD"]),
    ];
    for (method, path, expected) in cases {
        let r = http
            .request(method.parse().unwrap(), server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let allow = r
            .headers()
            .get("allow")
            .unwrap_or_else(|| panic!("no Allow on {method} {path}"))
            .to_str()
            .unwrap();
        let mut got: Vec<&str> = allow.split(',').map(str::trim).collect();
        got.sort_unstable();
        let mut want = expected.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "{method} {path}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_access_log_writes_one_json_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_relreg"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--database-url")
        .arg(format!(
            "sqlite://{}",
            dir.path().join("relreg.db").display()
        ))
        .arg("--blob-dir")
        .arg(dir.path().join("blobs"))
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("relreg serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            let value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
            if tx.send(value).is_err() {
                return;
            }
        }
    });
    let next = |what: &str, want: &dyn Fn(&serde_json::Value) -> bool| loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no log line: {what}"));
        if want(&line) {
            return line;
        }
    };
    let listening = next("listening", &|l| {
        l["fields"]["message"] == "relreg listening"
    });
    let addr = listening["fields"]["addr"].as_str().unwrap().to_owned();
    let http = Client::new();
    let access = |route: &'static str| {
        move |l: &serde_json::Value| {
            l["target"] == "relreg::access" && l["fields"]["route"] == route
        }
    };

    let r = http
        .get(format!("http://{addr}/healthz"))
        .header("x-request-id", "edge-log-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let line = next("healthz", &access("/healthz"));
    let f = &line["fields"];
    assert_eq!(line["level"], "INFO");
    assert_eq!(f["method"], "GET");
    assert_eq!(f["status"], 200);
    assert_eq!(f["request_id"], "edge-log-1");
    assert_eq!(f["bytes"], 3);
    assert!(
        f["duration_ms"].as_f64().is_some_and(|d| d >= 0.0),
        "{line}"
    );

    // A bridged call logs its RPC, a path template its template, never the raw path.
    let r = http
        .get(format!("http://{addr}/v1/repos/nope-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let line = next("bridged", &|l| {
        l["target"] == "relreg::access" && l["fields"]["status"] == 404
    });
    let f = &line["fields"];
    assert_eq!(f["request_id"], id.as_str());
    assert!(f["route"].as_str().unwrap().ends_with("GetRepo"), "{line}");
    let r = http
        .get(format!("http://{addr}/ui/secret-repo-name"))
        .send()
        .await
        .unwrap();
    let line = next("template", &access("/ui/{repo}"));
    assert_eq!(line["fields"]["status"], r.status().as_u16());
    http.get(format!("http://{addr}/no/such/path/4242"))
        .send()
        .await
        .unwrap();
    let line = next("unmatched", &access("unmatched"));
    assert!(!line.to_string().contains("4242"), "{line}");
    child.kill().unwrap();
    let _ = child.wait();
}

/// Decodes a body by its `Content-Encoding`.
fn decode(encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "gzip" => flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .unwrap(),
        "br" => brotli::Decompressor::new(body, 4096)
            .read_to_end(&mut out)
            .unwrap(),
        other => panic!("unexpected encoding {other}"),
    };
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_compresses_documents_on_request_but_never_blobs() {
    let server = TestServer::start(&Backend::Sqlite).await;
    fixture(&server, "generic").await;
    let http = Client::new();
    for (path, encoding) in [
        ("/openapi.json", "gzip"),
        ("/openapi.json", "br"),
        ("/ui/acme", "gzip"),
        ("/repos/acme/app", "br"),
        ("/v1/repos/acme/packages/app", "gzip"),
    ] {
        let plain = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(plain.status(), 200, "{path}");
        assert!(plain.headers().get("content-encoding").is_none(), "{path}");
        let plain = plain.bytes().await.unwrap();
        let packed = http
            .get(server.url(path))
            .header("accept-encoding", encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(packed.status(), 200, "{path}");
        assert_eq!(packed.headers()["content-encoding"], encoding, "{path}");
        let packed = packed.bytes().await.unwrap();
        if plain.len() > 1000 {
            assert!(
                packed.len() < plain.len(),
                "{path}: {} vs {}",
                packed.len(),
                plain.len()
            );
        }
        assert_eq!(decode(encoding, &packed), plain, "{path}");
    }
    // A blob, even one that is JSON, is served as stored, and ranges address its bytes.
    let data = serde_json::to_vec(&vec!["a compressible line"; 200]).unwrap();
    let d = digest(&data);
    let put = http
        .put(server.url(&format!("{UPLOADS}?digest={d}&media_type=application/json")))
        .bearer_auth(&server.admin)
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let url = server.url(&format!("/v1/repos/acme/blobs/{d}"));
    let whole = http
        .get(&url)
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert!(whole.headers().get("content-encoding").is_none());
    assert_eq!(whole.bytes().await.unwrap(), data);
    let part = http
        .get(&url)
        .header("accept-encoding", "gzip, br")
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert!(part.headers().get("content-encoding").is_none());
    assert_eq!(part.bytes().await.unwrap(), data[10..20]);
    server.stop().await;
}
