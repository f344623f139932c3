//! One service stack for every protocol: native gRPC and the JSON bridge (which reaches the
//! same tonic services in-process) carry request ids into responses and audit rows, honour
//! the caller's deadline, and refuse oversized messages alike, changing nothing.

use std::time::{Duration, Instant};

use relreg::{
    api::limits::MAX_MESSAGE_BYTES,
    domain::AuditFilter,
    pb::{self, upload_blob_request::Payload},
};
use reqwest::Client;
use serde_json::{Value, json};
use tonic::Code;

use crate::common::{
    Backend, TestServer, authed, backend_tests, dg, digest, fixture, frame, n, reason,
};

backend_tests!(
    request_ids_reach_responses_and_audit_rows,
    deadlines_hold_for_grpc_and_json,
    oversized_messages_are_refused_alike,
);

fn create_package(package: &str, description: String) -> pb::CreatePackageRequest {
    pb::CreatePackageRequest {
        repo: "acme".into(),
        package: package.into(),
        kind: "generic".into(),
        description,
    }
}

/// Creates package `package` of acme over the JSON bridge, with extra headers.
async fn json_create_package(
    server: &TestServer,
    package: &str,
    description: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = Client::new()
        .post(server.url("/v1/repos/acme/packages"))
        .bearer_auth(&server.admin)
        .json(&json!({ "package": package, "kind": "generic", "description": description }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// Calls an admin RPC over h2 with a deadline, as any gRPC client would send it.
async fn grpc_call(
    server: &TestServer,
    rpc: &str,
    timeout: &str,
    body: reqwest::Body,
) -> reqwest::Response {
    let h2 = Client::builder().http2_prior_knowledge().build().unwrap();
    h2.post(server.url(&format!("/relreg.v1.ReleaseAdmin/{rpc}")))
        .bearer_auth(&server.admin)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", timeout)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn request_ids_reach_responses_and_audit_rows(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;

    // The client's id over JSON and over gRPC comes back in the response.
    let response = json_create_package(&server, "web", "", &[("x-request-id", "json-web")]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "json-web");
    let mut admin = server.admin_client().await;
    let mut request = authed(create_package("ios", String::new()), &server.admin);
    request
        .metadata_mut()
        .insert("x-request-id", "grpc-ios".parse().unwrap());
    let response = admin.create_package(request).await.unwrap();
    assert_eq!(response.metadata().get("x-request-id").unwrap(), "grpc-ios");

    // Without an id, or with one that is not 1 to 128 visible characters, the server assigns
    // a fresh one.
    let too_long = "x".repeat(129);
    let mut assigned = Vec::new();
    for (package, sent) in [
        ("cli", None),
        ("tv", Some(too_long.as_str())),
        ("car", Some("a b")),
    ] {
        let headers: Vec<_> = sent.map(|id| ("x-request-id", id)).into_iter().collect();
        let response = json_create_package(&server, package, "", &headers).await;
        assert_eq!(response.status(), 200);
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(!id.is_empty() && Some(id.as_str()) != sent, "{id:?}");
        assigned.push((package, id));
    }
    let response = admin
        .create_package(authed(
            create_package("watch", String::new()),
            &server.admin,
        ))
        .await
        .unwrap();
    let id = response
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assigned.push(("watch", id.to_owned()));
    let ids: std::collections::HashSet<_> = assigned.iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), assigned.len(), "each request gets its own id");

    // Every audit row carries the id its response named.
    let events = server
        .store
        .list_audit(&AuditFilter::default(), None, 100)
        .await
        .unwrap();
    let id_of = |package: &str| {
        let found: Vec<_> = events
            .iter()
            .filter(|e| e.record.action == "package.created" && e.record.target == package)
            .map(|e| e.record.request_id.as_str())
            .collect();
        assert_eq!(found.len(), 1, "{package}: {found:?}");
        found[0].to_owned()
    };
    assert_eq!(id_of("web"), "json-web");
    assert_eq!(id_of("ios"), "grpc-ios");
    for (package, id) in &assigned {
        assert_eq!(&id_of(package), id);
    }
    server.stop().await;
}

async fn deadlines_hold_for_grpc_and_json(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;

    // A deadline that has passed already: the call does not run, over gRPC or JSON. (Raw h2
    // rather than the tonic client, which enforces the same deadline on its own and would
    // race the server's answer.)
    let message = frame(&create_package("late", String::new()));
    let response = grpc_call(&server, "CreatePackage", "0n", message.into()).await;
    assert_eq!(response.headers()["grpc-status"], "4", "DEADLINE_EXCEEDED");
    let response = json_create_package(&server, "late", "", &[("grpc-timeout", "0n")]).await;
    assert_eq!(response.status(), 504);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], Code::DeadlineExceeded as i32, "{body}");
    assert_eq!(body["details"][0]["reason"], "DEADLINE_EXCEEDED");
    assert!(
        server
            .store
            .get_package(&n("acme"), &n("late"))
            .await
            .unwrap()
            .is_none()
    );

    // A deadline the call meets changes nothing.
    let response = json_create_package(&server, "ontime", "", &[("grpc-timeout", "30S")]).await;
    assert_eq!(response.status(), 200);
    assert!(
        server
            .store
            .get_package(&n("acme"), &n("ontime"))
            .await
            .unwrap()
            .is_some()
    );

    // A client that stalls in the middle of an upload is cut off at its deadline; nothing is
    // stored.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    for payload in [
        Payload::Header(pb::UploadBlobHeader {
            repo: "acme".into(),
            ..Default::default()
        }),
        Payload::Chunk("the first half".into()),
    ] {
        let message = pb::UploadBlobRequest {
            payload: Some(payload),
        };
        tx.send(Ok(frame(&message))).await.unwrap();
    }
    let started = Instant::now();
    let body = reqwest::Body::wrap_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let response = grpc_call(&server, "UploadBlob", "300m", body).await;
    let waited = started.elapsed();
    assert_eq!(response.headers()["grpc-status"], "4", "DEADLINE_EXCEEDED");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(10),
        "answered after {waited:?}"
    );
    drop(tx);
    let partial = digest(b"the first half");
    assert!(
        server
            .store
            .get_blob(&n("acme"), &dg(&partial))
            .await
            .unwrap()
            .is_none()
    );
    server.stop().await;
}

async fn oversized_messages_are_refused_alike(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let big = "x".repeat(MAX_MESSAGE_BYTES + 1);

    let err = server
        .admin_client()
        .await
        .create_package(authed(create_package("huge", big.clone()), &server.admin))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(reason(&err), "MESSAGE_TOO_LARGE");
    let response = json_create_package(&server, "huge", &big, &[]).await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], Code::ResourceExhausted as i32, "{body}");
    assert_eq!(body["details"][0]["reason"], "MESSAGE_TOO_LARGE");
    assert!(
        server
            .store
            .get_package(&n("acme"), &n("huge"))
            .await
            .unwrap()
            .is_none()
    );

    // Just under the limit, the message reaches the service, which takes it.
    let under = "x".repeat(MAX_MESSAGE_BYTES - 1024);
    let response = json_create_package(&server, "huge", &under, &[]).await;
    assert_eq!(response.status(), 200);
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        created["package"]["description"].as_str().map(str::len),
        Some(under.len())
    );
    server.stop().await;
}
