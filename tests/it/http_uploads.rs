//! HTTP uploads: single PUT and resumable sessions (OCI style), through a real HTTP client.

use std::time::{Duration, SystemTime};

use relreg::pb;
use reqwest::{Client, Response, StatusCode};

use crate::common::{Backend, TestServer, audit_actions, backend_tests, digest, fixture};

backend_tests!(
    single_put_streams_and_checks_the_digest,
    sessions_take_chunks_in_order_and_complete_atomically,
    out_of_order_chunks_answer_416_with_the_current_range,
    sessions_resume_after_a_dropped_connection,
    a_wrong_final_digest_removes_the_session,
    uploads_need_a_publisher_of_the_repo,
    expired_sessions_are_removed_with_their_bytes,
    uploads_respect_the_size_limit,
);

// The same cases with the blobs in an S3 bucket (moto), but the one that ages files on disk.
crate::s3::s3_blob_tests!(
    single_put_streams_and_checks_the_digest,
    sessions_take_chunks_in_order_and_complete_atomically,
    out_of_order_chunks_answer_416_with_the_current_range,
    sessions_resume_after_a_dropped_connection,
    a_wrong_final_digest_removes_the_session,
    uploads_respect_the_size_limit,
);

const UPLOADS: &str = "/v1/repos/acme/blobs/uploads";

fn data(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed) % 251) as u8)
        .collect()
}

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {response:?}"))
        .to_str()
        .unwrap()
}

/// Asserts a JSON error with an HTTP status and `ErrorInfo` reason; returns the body.
async fn assert_json_error(response: Response, status: u16, reason: &str) -> serde_json::Value {
    assert_eq!(response.status(), status, "{response:?}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["details"][0]["reason"], reason, "{body}");
    body
}

/// The files of upload sessions on disk (objects, when the blobs are in S3).
async fn session_files(server: &TestServer) -> Vec<String> {
    if let Some(bucket) = crate::s3::bucket_of(server) {
        return bucket.keys("sessions/").await;
    }
    let dir = server.config.storage.blob_dir.join("sessions");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Opens a session; returns its URL path (the `Location`).
async fn open(server: &TestServer, http: &Client, token: &str) -> String {
    let r = http
        .post(server.url(UPLOADS))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{r:?}");
    let location = header(&r, "location").to_owned();
    let id = header(&r, "docker-upload-uuid");
    assert_eq!(location, format!("{UPLOADS}/{id}"));
    assert_eq!(header(&r, "range"), "0-0");
    assert_eq!(header(&r, "upload-offset"), "0");
    location
}

async fn patch(
    server: &TestServer,
    http: &Client,
    token: &str,
    location: &str,
    start: usize,
    chunk: &[u8],
) -> Response {
    http.patch(server.url(location))
        .bearer_auth(token)
        .header(
            "content-range",
            format!("{start}-{}", start + chunk.len() - 1),
        )
        .header("content-type", "application/octet-stream")
        .body(chunk.to_vec())
        .send()
        .await
        .unwrap()
}

/// Asks a session for its offset.
async fn offset(server: &TestServer, http: &Client, token: &str, location: &str) -> u64 {
    let r = http
        .get(server.url(location))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{r:?}");
    assert_eq!(header(&r, "location"), location);
    header(&r, "upload-offset").parse().unwrap()
}

async fn download(server: &TestServer, http: &Client, digest: &str) -> Response {
    http.get(server.url(&format!("/v1/repos/acme/blobs/{digest}")))
        .send()
        .await
        .unwrap()
}

async fn single_put_streams_and_checks_the_digest(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let http = Client::new();
    let bytes = data(3_000_000, 1);
    let d = digest(&bytes);

    // The body is streamed (chunked, no Content-Length) from the client too.
    let parts: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(100_000).map(|c| Ok(c.to_vec())).collect();
    let r = http
        .put(server.url(&format!("{UPLOADS}?digest={d}")))
        .bearer_auth(&server.admin)
        .header("content-type", "text/plain")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(parts)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{r:?}");
    assert_eq!(header(&r, "location"), format!("/v1/repos/acme/blobs/{d}"));
    assert_eq!(header(&r, "docker-content-digest"), d);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["digest"], d.as_str());
    assert_eq!(body["size"], "3000000");
    let got = download(&server, &http, &d).await;
    assert_eq!(got.status(), 200);
    assert_eq!(header(&got, "content-type"), "text/plain");
    assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert_eq!(
        audit_actions(&server)
            .await
            .iter()
            .filter(|a| *a == "blob.uploaded")
            .count(),
        1
    );

    // Wrong digest: 400 DIGEST_MISMATCH and nothing visible.
    let other = data(1000, 2);
    let wrong = digest(b"something else");
    let r = http
        .put(server.url(&format!("{UPLOADS}?digest={wrong}")))
        .bearer_auth(&server.admin)
        .body(other.clone())
        .send()
        .await
        .unwrap();
    assert_json_error(r, 400, "DIGEST_MISMATCH").await;
    assert_eq!(
        download(&server, &http, &digest(&other)).await.status(),
        404
    );
    assert_eq!(download(&server, &http, &wrong).await.status(), 404);

    // The digest is required and must be well formed.
    let r = http
        .put(server.url(UPLOADS))
        .bearer_auth(&server.admin)
        .body(other.clone())
        .send()
        .await
        .unwrap();
    let body = assert_json_error(r, 400, "INVALID_ARGUMENT").await;
    assert_eq!(body["details"][0]["metadata"]["field"], "digest");
    let r = http
        .put(server.url(&format!("{UPLOADS}?digest=sha256:xyz")))
        .bearer_auth(&server.admin)
        .body(other)
        .send()
        .await
        .unwrap();
    let body = assert_json_error(r, 400, "INVALID_ARGUMENT").await;
    assert_eq!(body["details"][0]["metadata"]["field"], "digest");
    server.stop().await;
}

async fn sessions_take_chunks_in_order_and_complete_atomically(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let http = Client::new();
    let token = server.token("acme", pb::Role::Publisher).await;
    let bytes = data(250_000, 3);
    let d = digest(&bytes);
    let location = open(&server, &http, &token).await;

    let r = patch(&server, &http, &token, &location, 0, &bytes[..100_000]).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{r:?}");
    assert_eq!(header(&r, "location"), location);
    assert_eq!(header(&r, "range"), "0-99999");
    assert_eq!(header(&r, "upload-offset"), "100000");
    // Without Content-Range a chunk is appended at the offset.
    let r = http
        .patch(server.url(&location))
        .bearer_auth(&token)
        .body(bytes[100_000..200_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{r:?}");
    assert_eq!(header(&r, "range"), "0-199999");

    let r = http
        .get(server.url(&location))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "range"), "0-199999");
    assert_eq!(header(&r, "upload-offset"), "200000");
    assert_eq!(header(&r, "cache-control"), "no-store");
    // Nothing is visible before completion.
    assert_eq!(download(&server, &http, &d).await.status(), 404);

    // Completion with the last chunk as its body.
    let r = http
        .put(server.url(&format!("{location}?digest={d}&media_type=application/zip")))
        .bearer_auth(&token)
        .header("content-range", "200000-249999")
        .body(bytes[200_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{r:?}");
    assert_eq!(header(&r, "location"), format!("/v1/repos/acme/blobs/{d}"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["size"], "250000");

    let got = download(&server, &http, &d).await;
    assert_eq!(got.status(), 200);
    assert_eq!(header(&got, "content-type"), "application/zip");
    assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let events = server
        .store
        .list_audit(&relreg::domain::AuditFilter::default(), None, 100)
        .await
        .unwrap();
    let uploaded: Vec<_> = events
        .iter()
        .filter(|e| e.record.action == "blob.uploaded")
        .collect();
    assert_eq!(uploaded.len(), 1);
    assert_eq!(uploaded[0].record.repo, "acme");
    assert_eq!(uploaded[0].record.target, d);
    assert_ne!(uploaded[0].record.actor, "anonymous");

    // The session is gone, with its files.
    let r = http
        .get(server.url(&location))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_json_error(r, 404, "NOT_FOUND").await;
    assert!(session_files(&server).await.is_empty());

    // A completion without a body, and a cancelled session.
    let small = data(10, 4);
    let location = open(&server, &http, &token).await;
    let r = patch(&server, &http, &token, &location, 0, &small).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = http
        .put(server.url(&format!("{location}?digest={}", digest(&small))))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{r:?}");
    assert_eq!(
        download(&server, &http, &digest(&small))
            .await
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        small.as_slice()
    );
    let location = open(&server, &http, &token).await;
    assert_eq!(
        patch(&server, &http, &token, &location, 0, &small)
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let r = http
        .delete(server.url(&location))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = http
        .delete(server.url(&location))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_json_error(r, 404, "NOT_FOUND").await;
    assert!(session_files(&server).await.is_empty());
    server.stop().await;
}

async fn out_of_order_chunks_answer_416_with_the_current_range(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let http = Client::new();
    let bytes = data(3000, 5);
    let location = open(&server, &http, &server.admin).await;
    let r = patch(&server, &http, &server.admin, &location, 0, &bytes[..1000]).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);

    for start in [0, 500, 2000] {
        let r = patch(
            &server,
            &http,
            &server.admin,
            &location,
            start,
            &bytes[start..start + 1000],
        )
        .await;
        assert_eq!(header(&r, "range"), "0-999");
        assert_eq!(header(&r, "upload-offset"), "1000");
        assert_eq!(header(&r, "location"), location);
        let body = assert_json_error(r, 416, "RANGE_NOT_SATISFIABLE").await;
        assert_eq!(body["code"], 11);
    }
    // A range that disagrees with the body is refused and changes nothing.
    let r = http
        .patch(server.url(&location))
        .bearer_auth(&server.admin)
        .header("content-range", "1000-1999")
        .body(bytes[1000..1500].to_vec())
        .send()
        .await
        .unwrap();
    let body = assert_json_error(r, 400, "INVALID_ARGUMENT").await;
    assert_eq!(body["details"][0]["metadata"]["field"], "content-range");
    let r = http
        .patch(server.url(&location))
        .bearer_auth(&server.admin)
        .header("content-range", "bytes=x")
        .body(bytes[1000..1500].to_vec())
        .send()
        .await
        .unwrap();
    assert_json_error(r, 400, "INVALID_ARGUMENT").await;
    assert_eq!(offset(&server, &http, &server.admin, &location).await, 1000);
    // The in-order chunk is taken; a completion whose last chunk is out of order is 416 too.
    let r = patch(
        &server,
        &http,
        &server.admin,
        &location,
        1000,
        &bytes[1000..2000],
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = http
        .put(server.url(&format!("{location}?digest={}", digest(&bytes))))
        .bearer_auth(&server.admin)
        .header("content-range", "1000-1999")
        .body(bytes[2000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "range"), "0-1999");
    assert_json_error(r, 416, "RANGE_NOT_SATISFIABLE").await;
    let r = http
        .put(server.url(&format!("{location}?digest={}", digest(&bytes))))
        .bearer_auth(&server.admin)
        .header("content-range", "bytes 2000-2999/3000")
        .body(bytes[2000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{r:?}");
    server.stop().await;
}

async fn sessions_resume_after_a_dropped_connection(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let http = Client::new();
    let bytes = data(1_000_000, 6);
    let location = open(&server, &http, &server.admin).await;

    // A chunk whose connection drops after 300 000 of its bytes were sent: once the server
    // reports that bytes arrived (on disk), or after 3 s (in S3 a chunk becomes an object only
    // when its request ends), the body fails and the client abandons the request.
    let sent = bytes[..300_000].to_vec();
    let (probe, url, token) = (http.clone(), server.url(&location), server.admin.clone());
    let dropped = futures::stream::unfold(0u8, move |step| {
        let (sent, probe, url, token) = (sent.clone(), probe.clone(), url.clone(), token.clone());
        async move {
            match step {
                0 => Some((Ok::<_, std::io::Error>(sent), 1)),
                1 => {
                    let deadline = std::time::Instant::now() + Duration::from_secs(3);
                    while std::time::Instant::now() < deadline {
                        let r = probe.get(&url).bearer_auth(&token).send().await.ok()?;
                        if r.headers().get("upload-offset").is_some_and(|v| v != "0") {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(25)).await;
                    }
                    Some((Err(std::io::Error::other("connection dropped")), 2))
                }
                _ => None,
            }
        }
    });
    let broken = http
        .patch(server.url(&location))
        .bearer_auth(&server.admin)
        .header("content-range", "0-999999")
        .body(reqwest::Body::wrap_stream(dropped))
        .send()
        .await;
    assert!(broken.is_err(), "the request must fail: {broken:?}");

    // Resume: ask for the offset, send the rest from there; a 416 means the server was still
    // settling the broken chunk (in S3 it becomes an object once the failed request ends), so
    // ask again. `kept` is the offset the resume was accepted from.
    let mut kept = None;
    let mut done = false;
    for _ in 0..50 {
        let at = offset(&server, &http, &server.admin, &location).await as usize;
        let r = patch(&server, &http, &server.admin, &location, at, &bytes[at..]).await;
        if r.status() == StatusCode::ACCEPTED {
            assert_eq!(header(&r, "upload-offset"), "1000000");
            kept = Some(at);
            done = true;
            break;
        }
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{r:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(done, "the upload never resumed");
    assert!(
        kept.is_some_and(|k| k > 0 && k <= 300_000),
        "the bytes that arrived before the drop are kept: {kept:?}"
    );
    let d = digest(&bytes);
    let r = http
        .put(server.url(&format!("{location}?digest={d}")))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{r:?}");
    let got = download(&server, &http, &d).await;
    assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());
    server.stop().await;
}

async fn a_wrong_final_digest_removes_the_session(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let http = Client::new();
    let bytes = data(5000, 7);
    let location = open(&server, &http, &server.admin).await;
    let r = patch(&server, &http, &server.admin, &location, 0, &bytes).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(session_files(&server).await.len(), 2, "data and metadata");

    // A malformed digest is bad input and keeps the session.
    let r = http
        .put(server.url(&format!("{location}?digest=md5:abc")))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_json_error(r, 400, "INVALID_ARGUMENT").await;
    assert_eq!(offset(&server, &http, &server.admin, &location).await, 5000);

    let wrong = digest(&bytes[1..]);
    let r = http
        .put(server.url(&format!("{location}?digest={wrong}")))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_json_error(r, 400, "DIGEST_MISMATCH").await;
    assert_eq!(
        download(&server, &http, &digest(&bytes)).await.status(),
        404
    );
    assert_eq!(download(&server, &http, &wrong).await.status(), 404);
    let r = http
        .get(server.url(&location))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_json_error(r, 404, "NOT_FOUND").await;
    assert!(session_files(&server).await.is_empty());
    assert!(
        !audit_actions(&server)
            .await
            .contains(&"blob.uploaded".to_owned())
    );
    server.stop().await;
}

async fn uploads_need_a_publisher_of_the_repo(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let mut admin = server.admin_client().await;
    admin
        .create_repo(crate::common::authed(
            pb::CreateRepoRequest {
                repo: "other".into(),
                public: true,
                display_name: String::new(),
            },
            &server.admin,
        ))
        .await
        .unwrap();
    let http = Client::new();
    let reader = server.token("acme", pb::Role::Reader).await;
    let elsewhere = server.token("other", pb::Role::Publisher).await;
    let publisher = server.token("acme", pb::Role::Publisher).await;
    let bytes = data(100, 8);
    let d = digest(&bytes);
    let location = open(&server, &http, &publisher).await;
    let r = patch(&server, &http, &publisher, &location, 0, &bytes).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);

    for (token, status, reason) in [
        (None, 401, "UNAUTHENTICATED"),
        (Some("not-a-token"), 401, "UNAUTHENTICATED"),
        (Some(reader.as_str()), 403, "PERMISSION_DENIED"),
        (Some(elsewhere.as_str()), 403, "PERMISSION_DENIED"),
    ] {
        let with = |rb: reqwest::RequestBuilder| match token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        };
        let calls = [
            with(http.put(server.url(&format!("{UPLOADS}?digest={d}")))).body(bytes.clone()),
            with(http.post(server.url(UPLOADS))),
            with(http.get(server.url(&location))),
            with(http.patch(server.url(&location)))
                .header("content-range", "100-199")
                .body(bytes.clone()),
            with(http.put(server.url(&format!("{location}?digest={d}")))),
            with(http.delete(server.url(&location))),
        ];
        for call in calls {
            let r = call.send().await.unwrap();
            let what = format!("{} {}", r.url(), r.status());
            assert_eq!(r.status(), status, "{what} with {token:?}");
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["details"][0]["reason"], reason, "{what}: {body}");
        }
    }
    // Nothing changed; a session is found only under its own repo.
    assert_eq!(offset(&server, &http, &publisher, &location).await, 100);
    let id = location.rsplit('/').next().unwrap();
    let r = http
        .get(server.url(&format!("/v1/repos/other/blobs/uploads/{id}")))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_json_error(r, 404, "NOT_FOUND").await;
    let r = http
        .get(server.url("/v1/repos/acme/blobs/uploads/..%2F..%2Fetc"))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_json_error(r, 404, "NOT_FOUND").await;
    let r = http
        .post(server.url("/v1/repos/missing/blobs/uploads"))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_json_error(r, 404, "NOT_FOUND").await;
    let r = http
        .put(server.url(&format!("{location}?digest={d}")))
        .bearer_auth(&publisher)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    server.stop().await;
}

async fn expired_sessions_are_removed_with_their_bytes(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let http = Client::new();
    let stale = open(&server, &http, &server.admin).await;
    let r = patch(&server, &http, &server.admin, &stale, 0, &data(4096, 9)).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let live = open(&server, &http, &server.admin).await;

    // Age the stale session past the 24 h TTL: its data file (`<blob_dir>/sessions/<id>`)
    // was last written 25 h ago.
    let id = stale.rsplit('/').next().unwrap();
    let path = server.config.storage.blob_dir.join("sessions").join(id);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(25 * 3600))
        .unwrap();
    assert_eq!(session_files(&server).await.len(), 4);

    // Opening a session sweeps the expired ones.
    let third = open(&server, &http, &server.admin).await;
    let r = http
        .get(server.url(&stale))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_json_error(r, 404, "NOT_FOUND").await;
    let files = session_files(&server).await;
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(files.iter().all(|f| !f.starts_with(id)), "{files:?}");
    assert_eq!(offset(&server, &http, &server.admin, &live).await, 0);
    assert_eq!(offset(&server, &http, &server.admin, &third).await, 0);
    server.stop().await;
}

async fn uploads_respect_the_size_limit(backend: Backend) {
    let server = TestServer::start_with(&backend, |c| c.max_blob_size = 1000).await;
    fixture(&server, "generic").await;
    let http = Client::new();
    let bytes = data(1500, 10);
    let r = http
        .put(server.url(&format!("{UPLOADS}?digest={}", digest(&bytes))))
        .bearer_auth(&server.admin)
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_json_error(r, 413, "BLOB_TOO_LARGE").await;

    let location = open(&server, &http, &server.admin).await;
    let r = patch(&server, &http, &server.admin, &location, 0, &bytes[..800]).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // Declared beyond the limit, and streamed beyond it: both refused, nothing kept.
    let r = patch(
        &server,
        &http,
        &server.admin,
        &location,
        800,
        &bytes[800..1100],
    )
    .await;
    assert_json_error(r, 413, "BLOB_TOO_LARGE").await;
    let r = http
        .patch(server.url(&location))
        .bearer_auth(&server.admin)
        .body(bytes[800..1100].to_vec())
        .send()
        .await
        .unwrap();
    assert_json_error(r, 413, "BLOB_TOO_LARGE").await;
    assert_eq!(offset(&server, &http, &server.admin, &location).await, 800);
    let r = patch(
        &server,
        &http,
        &server.admin,
        &location,
        800,
        &bytes[800..1000],
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = http
        .put(server.url(&format!("{location}?digest={}", digest(&bytes[..1000]))))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{r:?}");
    server.stop().await;
}
