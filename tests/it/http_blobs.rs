//! Blob downloads over plain HTTP/1.1: ranges, conditional requests, HEAD and caching headers.

use crate::common::{Backend, TestServer, backend_tests, fixture, upload};

backend_tests!(blob_route_serves_ranges_and_validators);
crate::s3::s3_blob_tests!(blob_route_serves_ranges_and_validators);

async fn blob_route_serves_ranges_and_validators(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    let blob = upload(&server, &server.admin, "acme", &data).await.unwrap();
    let http = reqwest::Client::new();
    let url = server.url(&format!("/v1/repos/acme/blobs/{}", blob.digest));
    let etag = format!("\"{}\"", blob.digest);

    let full = http.get(&url).send().await.unwrap();
    assert_eq!(full.status(), 200);
    let headers = full.headers().clone();
    assert_eq!(headers["etag"], etag.as_str());
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(headers["accept-ranges"], "bytes");
    assert_eq!(headers["content-type"], "text/plain");
    assert_eq!(headers["content-length"], "5000");
    assert_eq!(full.bytes().await.unwrap().as_ref(), data.as_slice());

    let part = http
        .get(&url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 100-199/5000");
    assert_eq!(part.bytes().await.unwrap().as_ref(), &data[100..200]);

    let tail = http
        .get(&url)
        .header("range", "bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &data[4990..]);

    let resume = http
        .get(&url)
        .header("range", "bytes=4000-")
        .header("if-range", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resume.status(), 206);
    assert_eq!(resume.bytes().await.unwrap().as_ref(), &data[4000..]);

    let stale = http
        .get(&url)
        .header("range", "bytes=4000-")
        .header("if-range", "\"sha256:old\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200, "a stale If-Range gets the whole blob");
    assert_eq!(stale.bytes().await.unwrap().len(), 5000);

    let outside = http
        .get(&url)
        .header("range", "bytes=6000-")
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 416);
    assert_eq!(outside.headers()["content-range"], "bytes */5000");
    let body: serde_json::Value = outside.json().await.unwrap();
    assert_eq!(body["code"], 11);
    assert_eq!(body["details"][0]["reason"], "RANGE_NOT_SATISFIABLE");

    let cached = http
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    assert!(cached.bytes().await.unwrap().is_empty());

    let head = http.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "5000");
    assert!(head.bytes().await.unwrap().is_empty());

    let missing = http
        .get(server.url(&format!("/v1/repos/acme/blobs/sha256:{}", "0".repeat(64))))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let bad = http
        .get(server.url("/v1/repos/acme/blobs/sha256:xyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["code"], 3);
    assert_eq!(body["details"][0]["metadata"]["field"], "digest");
    // Blobs are visible only to repos that uploaded them.
    let mut admin = server.admin_client().await;
    let other = relreg::pb::CreateRepoRequest {
        repo: "other".into(),
        public: true,
        display_name: String::new(),
    };
    admin
        .create_repo(crate::common::authed(other, &server.admin))
        .await
        .unwrap();
    let probe = http
        .get(server.url(&format!("/v1/repos/other/blobs/{}", blob.digest)))
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 404);
    server.stop().await;
}
