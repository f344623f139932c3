//! The JSON bridge over HTTP/1.1 and h2: routes derived from the proto annotations, canonical
//! JSON both ways, the error table (with 412 for stale etags), caching validators, and
//! `/openapi.json` matching the committed copy.

use relreg::pb;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{
    Backend, Rel, TestServer, attach, authed, backend_tests, create, draft, fixture, publish,
    publish_release, released, upload,
};

backend_tests!(json_lifecycle_matches_grpc);

async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Client::new().request(method, server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn reason(body: &Value) -> &str {
    body["details"][0]["reason"].as_str().unwrap_or_default()
}

async fn json_lifecycle_matches_grpc(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let t = Some(server.admin.as_str());
    // Snake case and camel case input both work; output is lowerCamelCase with Z timestamps.
    let (status, body) = call(
        &server,
        Method::POST,
        "/v1/repos",
        t,
        Some(json!({ "repo": "acme", "public": true, "display_name": "Acme" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["repo"]["displayName"], "Acme");
    assert!(body["repo"]["createTime"].as_str().unwrap().ends_with('Z'));
    let (status, _) = call(
        &server,
        Method::POST,
        "/v1/repos/acme/packages",
        t,
        Some(json!({ "package": "app", "kind": "generic" })),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = call(
        &server,
        Method::POST,
        "/v1/repos/acme/packages/app/versions",
        t,
        Some(json!({ "version": "1.0.0" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"]["state"], "VERSION_STATE_DRAFT");
    let etag = body["version"]["etag"].as_str().unwrap().to_owned();

    // A file path with slashes binds through {path=**}; If-Match carries the etag.
    let blob = upload(&server, &server.admin, "acme", b"hello json")
        .await
        .unwrap();
    let put = |etag: &str| {
        Client::new()
            .put(server.url("/v1/repos/acme/packages/app/versions/1.0.0/files/data/dir/hello.txt"))
            .bearer_auth(&server.admin)
            .header("if-match", etag)
            .json(&json!({ "digest": blob.digest }))
    };
    let stale = put("\"stale\"").send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let stale: Value = stale.json().await.unwrap();
    assert_eq!(reason(&stale), "ETAG_MISMATCH");
    assert_eq!(stale["code"], 9);
    let ok: Value = put(&etag).send().await.unwrap().json().await.unwrap();
    assert_eq!(ok["version"]["files"][0]["path"], "data/dir/hello.txt");
    assert_eq!(ok["version"]["files"][0]["size"], "10", "int64 as a string");

    // The manifest body fills one field; publish with a custom verb; retries are idempotent.
    let (status, body) = call(
        &server,
        Method::PUT,
        "/v1/repos/acme/packages/app/versions/1.0.0/manifest",
        t,
        Some(json!({ "title": "x" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"]["manifest"]["title"], "x");
    for _ in 0..2 {
        let (status, body) = call(
            &server,
            Method::POST,
            "/v1/repos/acme/packages/app/versions/1.0.0:publish",
            t,
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["version"]["state"], "VERSION_STATE_PUBLISHED");
    }
    let (status, body) = call(
        &server,
        Method::PUT,
        "/v1/repos/acme/packages/app/versions/1.0.0/manifest",
        t,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, reason(&body)),
        (StatusCode::CONFLICT, "VERSION_IMMUTABLE")
    );

    // The same failures as gRPC, with grpc-gateway's statuses.
    let (status, body) = call(
        &server,
        Method::POST,
        "/v1/repos",
        None,
        Some(json!({ "repo": "x" })),
    )
    .await;
    assert_eq!(
        (status, reason(&body)),
        (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED")
    );
    let mut admin = server.admin_client().await;
    let grpc = admin
        .create_repo(pb::CreateRepoRequest {
            repo: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        body["message"],
        grpc.message(),
        "one behaviour for every protocol"
    );
    let reader = server.token("acme", pb::Role::Reader).await;
    let (status, _) = call(
        &server,
        Method::POST,
        "/v1/repos/acme/packages",
        Some(&reader),
        Some(json!({ "package": "p" })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call(
        &server,
        Method::GET,
        "/v1/repos/acme/packages/nope",
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, reason(&body)),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    let (status, body) = call(
        &server,
        Method::POST,
        "/v1/repos/acme/packages",
        t,
        Some(json!({ "package": "Bad Name" })),
    )
    .await;
    assert_eq!(
        (status, body["details"][0]["metadata"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("package"))
    );
    let (status, _) = call(
        &server,
        Method::POST,
        "/v1/repos/acme/packages",
        t,
        Some(json!({ "package": "p", "nonsense": 1 })),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused"
    );
    let (status, _) = call(
        &server,
        Method::GET,
        "/v1/repos/acme/packages?page_size=abc",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = call(
        &server,
        Method::GET,
        "/v1/repos/acme/packages/app:resolve?requirement=%5E1",
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, body["version"]["version"].as_str()),
        (StatusCode::OK, Some("1.0.0"))
    );
    let (status, _) = call(&server, Method::GET, "/no/such/route", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn catalog_answers_carry_validators_and_cache_policy() {
    let server = TestServer::start(&Backend::Sqlite).await;
    fixture(&server, "generic").await;
    draft(&server, "1.0.0", &[("a.txt", b"a")]).await;
    publish(&server, "1.0.0").await;
    let id = released(&server, Rel::default()).await.id;

    let http = Client::new();
    let latest = server.url("/v1/repos/acme/channels/stable/latest?app_version=1.2&platform=ios");
    let first = http.get(&latest).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["cache-control"], "private, max-age=0");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["update"]["release"]["version"], "1.0.0");
    assert_eq!(body["update"]["release"]["sequence"], "1");
    assert_eq!(
        body["update"]["manifestPath"],
        format!("/v1/releases/{id}/manifest")
    );
    let again = http
        .get(&latest)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let other_app = http
        .get(server.url("/v1/repos/acme/channels/stable/latest?appVersion=0.5"))
        .send()
        .await
        .unwrap();
    let body: Value = other_app.json().await.unwrap();
    assert_eq!(body["appUpdateRequired"]["minAppVersion"], "1.0.0");

    let manifest = http
        .get(server.url(&format!("/v1/releases/{id}/manifest")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        manifest.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let etag = manifest.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = manifest.json().await.unwrap();
    let file = &body["manifest"]["artifacts"][0]["files"][0];
    assert_eq!(file["path"], "a.txt");
    let bytes = http
        .get(file["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        bytes.as_ref(),
        b"a",
        "the manifest's URL downloads the file"
    );
    let cached = http
        .get(server.url(&format!("/v1/releases/{id}/manifest")))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);

    // The same bridge over h2 (prior knowledge, as an h2c client connects): the same bytes,
    // validators and errors as over HTTP/1.1.
    let h2 = Client::builder().http2_prior_knowledge().build().unwrap();
    let over_h2 = h2.get(&latest).send().await.unwrap();
    assert_eq!(over_h2.version(), reqwest::Version::HTTP_2);
    assert_eq!(over_h2.status(), 200);
    let h2_etag = over_h2.headers()["etag"].to_str().unwrap().to_owned();
    let h2_body = over_h2.bytes().await.unwrap();
    let h1 = http.get(&latest).send().await.unwrap();
    assert_eq!(h1.version(), reqwest::Version::HTTP_11);
    assert_eq!(h1.headers()["etag"].to_str().unwrap(), h2_etag);
    assert_eq!(h1.bytes().await.unwrap(), h2_body);
    let revalidated = h2
        .get(&latest)
        .header("if-none-match", &h2_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    let refused = h2
        .post(server.url("/v1/repos/acme/packages"))
        .json(&serde_json::json!({ "package": "h2", "kind": "generic" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["details"][0]["reason"], "UNAUTHENTICATED");
    let created = h2
        .post(server.url("/v1/repos/acme/packages"))
        .bearer_auth(&server.admin)
        .json(&serde_json::json!({ "package": "h2", "kind": "generic" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["package"]["name"], "h2");

    // Every protocol is counted by the same middleware.
    let metrics = http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "relreg_requests_total{protocol=\"json\",route=\"GetLatestRelease\",code=\"200\"} 4",
        "relreg_requests_total{protocol=\"json\",route=\"GetLatestRelease\",code=\"304\"} 2",
        "relreg_requests_total{protocol=\"grpc\",route=\"/relreg.v1.ReleaseAdmin/PublishRelease\",code=\"0\"} 1",
        "relreg_requests_total{protocol=\"http\",route=\"/v1/repos/{repo}/blobs/{digest}\",code=\"200\"} 1",
        "relreg_request_duration_seconds_count{protocol=\"json\",route=\"GetReleaseManifest\"} 2",
        "relreg_publishes_total{kind=\"release\"} 1",
        "relreg_publishes_total{kind=\"version\"} 1",
        "relreg_uploaded_bytes_total 1",
        "relreg_downloaded_bytes_total 1",
    ] {
        // Counters are process-wide: tests sharing a process (plain `cargo test`) only add.
        let (series, want) = line.rsplit_once(' ').unwrap();
        let got = metrics.lines().find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .parse::<f64>()
                .ok()
        });
        let want: f64 = want.parse().unwrap();
        assert!(
            got.is_some_and(|g| g >= want),
            "{series} {got:?} < {want} in\n{metrics}"
        );
    }

    // A publish or a deprecate changes the channel: the rendered "latest" is not served stale.
    let latest_version = async || {
        let body: Value = http
            .get(&latest)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["update"]["release"]["version"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let newer = create(
        &server,
        Rel {
            version: "1.1.0",
            ..Default::default()
        },
    )
    .await
    .id;
    attach(&server, &newer, "data", "1.0.0").await.unwrap();
    assert_eq!(latest_version().await, "1.0.0");
    publish_release(&server, &newer).await.unwrap();
    assert_eq!(latest_version().await, "1.1.0");
    let deprecate = pb::DeprecateReleaseRequest {
        release_id: newer,
        reason: "bad".into(),
        replacement: String::new(),
    };
    server
        .admin_client()
        .await
        .deprecate_release(authed(deprecate, &server.admin))
        .await
        .unwrap();
    assert_eq!(latest_version().await, "1.0.0");
    server.stop().await;
}

#[test]
fn committed_openapi_matches_the_descriptors() {
    let pool = prost_reflect::DescriptorPool::decode(relreg::pb::FILE_DESCRIPTOR_SET).unwrap();
    let generated = serde_json::to_string_pretty(&relreg::api::gateway::openapi_document(&pool))
        .unwrap()
        + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    if std::env::var("RELREG_UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.json is stale: run RELREG_UPDATE_OPENAPI=1 cargo nextest run openapi"
    );
    let doc: Value = serde_json::from_str(&committed).unwrap();
    assert!(doc["paths"]["/v1/repos/{repo}/channels/{channel}/latest"]["get"].is_object());
    assert!(
        doc["paths"]["/v1/repos/{repo}/packages/{package}/versions/{version}:publish"]["post"]
            .is_object()
    );
}

#[tokio::test]
async fn served_openapi_is_the_generated_document() {
    let server = TestServer::start(&Backend::Sqlite).await;
    let served: Value = Client::new()
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pool = prost_reflect::DescriptorPool::decode(relreg::pb::FILE_DESCRIPTOR_SET).unwrap();
    assert_eq!(served, relreg::api::gateway::openapi_document(&pool));
    server.stop().await;
}
