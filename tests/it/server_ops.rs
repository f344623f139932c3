//! Operating the server: health and readiness, graceful shutdown that drains in-flight calls,
//! gRPC-Web and CORS over HTTP/1.1, and the offline `relreg token bootstrap`.

use std::time::Duration;

use prost::Message as _;
use relreg::pb::{self, upload_blob_request::Payload};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::common::{Backend, TestServer, authed, backend_tests, dg, digest, fixture, frame, n};

backend_tests!(
    shutdown_drains_in_flight_calls,
    cli_token_works_against_the_server
);

#[tokio::test]
async fn health_and_readiness_answer() {
    let server = TestServer::start(&Backend::Sqlite).await;
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(server.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let mut health = HealthClient::new(
        tonic::transport::Channel::from_shared(server.url(""))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    for service in ["", "relreg.v1.ReleaseAdmin", "relreg.v1.ReleaseCatalog"] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.status(), ServingStatus::Serving, "{service:?}");
    }
    server.stop().await;
}

async fn shutdown_drains_in_flight_calls(backend: Backend) {
    let mut server = TestServer::start_with(&backend, |c| c.shutdown_grace_secs = 20).await;
    fixture(&server, "generic").await;
    let channel = tonic::transport::Channel::from_shared(server.url(""))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        ServingStatus::Serving
    );

    // An upload is in flight when the shutdown signal arrives.
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::UploadBlobRequest>(4);
    let header = pb::UploadBlobHeader {
        repo: "acme".into(),
        ..Default::default()
    };
    tx.send(pb::UploadBlobRequest {
        payload: Some(Payload::Header(header)),
    })
    .await
    .unwrap();
    tx.send(pb::UploadBlobRequest {
        payload: Some(Payload::Chunk("first half, ".into())),
    })
    .await
    .unwrap();
    let mut admin = relreg::pb::release_admin_client::ReleaseAdminClient::new(channel);
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let token = server.admin.clone();
    let upload = tokio::spawn(async move { admin.upload_blob(authed(stream, &token)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.signal_shutdown();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        ServingStatus::NotServing
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    tx.send(pb::UploadBlobRequest {
        payload: Some(Payload::Chunk("second half".into())),
    })
    .await
    .unwrap();
    drop(tx);
    drop(watch);
    let blob = upload
        .await
        .unwrap()
        .expect("the in-flight upload completes after the signal")
        .into_inner();
    assert_eq!(blob.digest, digest(b"first half, second half"));
    assert!(
        server
            .store
            .get_blob(&n("acme"), &dg(&blob.digest))
            .await
            .unwrap()
            .is_some()
    );
    server.stop().await;
}

async fn cli_token_works_against_the_server(backend: Backend) {
    let server = TestServer::start(&backend).await;
    // Run from an empty directory with the default blob directory: the command needs only
    // the database and must create nothing there.
    let cwd = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_relreg"))
        .args(["token", "bootstrap", "--name", "ci"])
        .env("RELREG_DATABASE_URL", &server.db.url)
        .env_remove("RELREG_BLOB_DIR")
        .current_dir(cwd.path())
        .output()
        .expect("run relreg");
    let left: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().collect();
    assert!(left.is_empty(), "token bootstrap created {left:?}");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let token = stdout.lines().last().unwrap().trim().to_owned();
    assert!(token.starts_with("rr_"), "{stdout}");
    let mut admin = server.admin_client().await;
    let repo = admin
        .create_repo(authed(
            pb::CreateRepoRequest {
                repo: "from-cli".into(),
                public: false,
                display_name: String::new(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .repo
        .unwrap();
    assert_eq!(repo.key, "from-cli");
    let events = server
        .store
        .list_audit(&relreg::domain::AuditFilter::default(), None, 100)
        .await
        .unwrap();
    let created = events
        .iter()
        .find(|e| e.record.action == "token.created" && e.record.actor == "local");
    assert!(created.is_some(), "the offline command is audited as local");
    let migrate = std::process::Command::new(env!("CARGO_BIN_EXE_relreg"))
        .args(["migrate", "--database-url", &server.db.url])
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    server.stop().await;
}

/// Frames a message the way gRPC-Web does: flag byte, big-endian length, bytes.
#[tokio::test]
async fn grpc_web_over_http1_with_cors() {
    let server = TestServer::start_with(&Backend::Sqlite, |c| {
        c.cors_origins = vec!["http://app.example".into()]
    })
    .await;
    fixture(&server, "generic").await;
    let http = reqwest::Client::new();
    let url = server.url("/relreg.v1.ReleaseAdmin/GetRepo");
    let preflight = http
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "http://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-grpc-web,authorization",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "http://app.example"
    );

    let response = http
        .post(&url)
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("origin", "http://app.example")
        .body(frame(&pb::GetRepoRequest {
            repo: "acme".into(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert!(
        !response.headers()["x-request-id"].is_empty(),
        "gRPC-Web answers carry a request id too"
    );
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    let body = response.bytes().await.unwrap();
    assert_eq!(body[0], 0, "a data frame first");
    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    let answer = pb::GetRepoResponse::decode(&body[5..5 + len]).unwrap();
    assert_eq!(answer.repo.unwrap().display_name, "Acme");
    let trailers = &body[5 + len..];
    assert_eq!(trailers[0], 0x80, "then the trailers frame");
    assert!(String::from_utf8_lossy(&trailers[5..]).contains("grpc-status:0"));

    // Errors travel in the trailers too, with the same codes as native gRPC.
    let denied = http
        .post(server.url("/relreg.v1.ReleaseAdmin/CreateRepo"))
        .header("content-type", "application/grpc-web+proto")
        .body(frame(&pb::CreateRepoRequest {
            repo: "x".into(),
            ..Default::default()
        }))
        .send()
        .await
        .unwrap();
    let grpc_status = denied
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = denied.bytes().await.unwrap();
    let in_body = String::from_utf8_lossy(&body).contains("grpc-status:16");
    assert!(
        grpc_status.as_deref() == Some("16") || in_body,
        "UNAUTHENTICATED expected"
    );
    assert!(server.store.get_repo(&n("x")).await.unwrap().is_none());
    server.stop().await;
}
