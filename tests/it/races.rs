//! Concurrent callers: the database settles every race, with exactly one winner and no
//! duplicate events.

use relreg::pb::{self, VersionState};

use crate::common::{Backend, TestServer, authed, backend_tests, digest, draft, fixture, upload};

backend_tests!(
    concurrent_publishers_make_one_change,
    concurrent_creates_make_one_row,
    parallel_uploads_store_once
);

async fn concurrent_publishers_make_one_change(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    draft(&server, "1.0.0", &[("a", b"a"), ("b", b"b")]).await;
    let mut calls = Vec::new();
    for _ in 0..8 {
        let mut client = server.admin_client().await;
        let request = authed(
            pb::PublishVersionRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: "1.0.0".into(),
                etag: String::new(),
            },
            &server.admin,
        );
        calls.push(tokio::spawn(async move {
            client.publish_version(request).await
        }));
    }
    let mut digests = Vec::new();
    for call in calls {
        let v = call
            .await
            .unwrap()
            .expect("every publisher succeeds")
            .into_inner()
            .version
            .unwrap();
        assert_eq!(v.state(), VersionState::Published);
        digests.push(v.content_digest);
    }
    digests.dedup();
    assert_eq!(digests.len(), 1, "one content digest");
    let events = server.store.list_outbox(None, 100).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.topic == "version.published")
            .count(),
        1
    );
    let audit = crate::common::audit_actions(&server).await;
    assert_eq!(
        audit.iter().filter(|a| *a == "version.published").count(),
        1
    );
    server.stop().await;
}

async fn concurrent_creates_make_one_row(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let mut calls = Vec::new();
    for _ in 0..8 {
        let mut client = server.admin_client().await;
        let request = authed(
            pb::CreateVersionRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: "2.0.0".into(),
            },
            &server.admin,
        );
        calls.push(tokio::spawn(
            async move { client.create_version(request).await },
        ));
    }
    let mut created = 0;
    let mut etags = Vec::new();
    for call in calls {
        let answer = call
            .await
            .unwrap()
            .expect("every creator succeeds")
            .into_inner();
        created += usize::from(answer.created);
        etags.push(answer.version.unwrap().etag);
    }
    etags.dedup();
    assert_eq!(created, 1, "exactly one caller created the draft");
    assert_eq!(etags.len(), 1, "all got the same draft");
    let versions = server
        .store
        .list_versions("acme", "app", None, 100, true)
        .await
        .unwrap();
    assert_eq!(versions.len(), 1);
    server.stop().await;
}

async fn parallel_uploads_store_once(backend: Backend) {
    let server = std::sync::Arc::new(TestServer::start(&backend).await);
    fixture(&server, "generic").await;
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut calls = Vec::new();
    for _ in 0..8 {
        let (server, data) = (server.clone(), data.clone());
        calls.push(tokio::spawn(async move {
            upload(&server, &server.admin, "acme", &data).await
        }));
    }
    for call in calls {
        let blob = call.await.unwrap().expect("every upload succeeds");
        assert_eq!(blob.digest, digest(&data));
    }
    let hex = digest(&data).trim_start_matches("sha256:").to_owned();
    let blobs = server
        .config
        .storage
        .blob_dir
        .join("sha256")
        .join(&hex[..2]);
    let stored: Vec<_> = std::fs::read_dir(&blobs).unwrap().collect();
    assert_eq!(stored.len(), 1, "one stored object");
    let uploads = server.config.storage.blob_dir.join("uploads");
    assert_eq!(
        std::fs::read_dir(&uploads).map(|d| d.count()).unwrap_or(0),
        0,
        "no temporary objects left"
    );
    let audit = crate::common::audit_actions(&server).await;
    assert_eq!(
        audit.iter().filter(|a| *a == "blob.uploaded").count(),
        1,
        "visible to the repo once"
    );
}
