//! Concurrent callers: the database settles every race, with exactly one winner and no
//! duplicate events.

use relreg::pb::{self, VersionState};

use crate::common::{
    Backend, TestServer, authed, backend_tests, digest, draft, fixture, n, upload,
};

backend_tests!(
    concurrent_publishers_make_one_change,
    publishes_racing_edits_succeed_or_ask_for_a_retry,
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

/// Publishers racing a stream of edits either publish or, when the draft kept changing under
/// them, answer ABORTED (worth retrying), never FAILED_PRECONDITION; a retry then publishes,
/// and there is exactly one publish.
async fn publishes_racing_edits_succeed_or_ask_for_a_retry(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    draft(&server, "1.0.0", &[("a", b"a")]).await;
    let blob = upload(&server, &server.admin, "acme", b"edit")
        .await
        .unwrap();
    let publish_request = || {
        authed(
            pb::PublishVersionRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: "1.0.0".into(),
                etag: String::new(),
            },
            &server.admin,
        )
    };
    let mut editors = Vec::new();
    for e in 0..4 {
        let mut client = server.admin_client().await;
        let token = server.admin.clone();
        let digest = blob.digest.clone();
        editors.push(tokio::spawn(async move {
            for i in 0..40 {
                let request = authed(
                    pb::PutVersionFileRequest {
                        repo: "acme".into(),
                        package: "app".into(),
                        version: "1.0.0".into(),
                        path: format!("edit-{e}-{i}"),
                        digest: digest.clone(),
                        media_type: String::new(),
                        etag: String::new(),
                    },
                    &token,
                );
                if client.put_version_file(request).await.is_err() {
                    break; // published: edits are refused from now on
                }
            }
        }));
    }
    let mut publishers = Vec::new();
    for _ in 0..8 {
        let mut client = server.admin_client().await;
        let request = publish_request();
        publishers.push(tokio::spawn(async move {
            client.publish_version(request).await
        }));
    }
    let mut published = 0;
    for call in publishers {
        match call.await.unwrap() {
            Ok(_) => published += 1,
            Err(status) => assert_eq!(status.code(), tonic::Code::Aborted, "{status:?}"),
        }
    }
    for editor in editors {
        editor.await.unwrap();
    }
    if published == 0 {
        let mut client = server.admin_client().await;
        client
            .publish_version(publish_request())
            .await
            .expect("a retry publishes");
    }
    let events = server.store.list_outbox(None, 1000).await.unwrap();
    let publishes = events.iter().filter(|e| e.topic == "version.published");
    assert_eq!(publishes.count(), 1, "exactly one publish");
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
        .list_versions(&n("acme"), &n("app"), None, 100, true)
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
    // Temporaries live in `uploads/<process>/`, beside the process's lock file.
    let uploads = server.config.storage.blob_dir.join("uploads");
    let temporaries: usize = std::fs::read_dir(&uploads)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| std::fs::read_dir(e.path()).map(|d| d.count()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(temporaries, 0, "no temporary objects left");
    let audit = crate::common::audit_actions(&server).await;
    assert_eq!(
        audit.iter().filter(|a| *a == "blob.uploaded").count(),
        1,
        "visible to the repo once"
    );
}
