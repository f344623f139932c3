//! Blob garbage collection on both backends: unreferenced blobs go only after the grace
//! period (rows, file, audit), referenced ones never; and the race of uploads being attached
//! while collections run back to back with no grace at all ends with every attached file's
//! bytes stored and no row without its file.

use std::{sync::Arc, time::Duration};

use relreg::{pb, registry::Registry, server};

use crate::common::{
    Backend, TestServer, authed, backend_tests, digest, draft, fixture, publish, upload,
};

backend_tests!(
    blob_guard_in_the_database_keeps_sweeps_and_uploads_apart,
    gc_collects_only_blobs_unreferenced_past_the_grace_period,
    gc_races_upload_then_attach_without_losing_an_attached_blob,
);
crate::s3::s3_blob_tests!(gc_collects_only_blobs_unreferenced_past_the_grace_period);

/// A second registry on the server's storage, as `relreg gc` opens it.
async fn collector(server: &TestServer) -> Registry {
    server::open_registry(&server.config)
        .await
        .expect("registry")
}

async fn head_status(server: &TestServer, digest: &str) -> u16 {
    reqwest::Client::new()
        .head(server.url(&format!("/v1/repos/acme/blobs/{digest}")))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn put_file(
    server: &TestServer,
    version: &str,
    path: &str,
    digest: &str,
) -> Result<pb::Version, tonic::Status> {
    let mut admin = server.admin_client().await;
    admin
        .put_version_file(authed(
            pb::PutVersionFileRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: version.into(),
                path: path.into(),
                digest: digest.into(),
                media_type: String::new(),
                etag: String::new(),
            },
            &server.admin,
        ))
        .await
        .map(|r| r.into_inner().version.unwrap())
}

async fn gc_collects_only_blobs_unreferenced_past_the_grace_period(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    draft(&server, "1.0.0", &[("kept.txt", b"published bytes")]).await;
    publish(&server, "1.0.0").await;
    draft(&server, "2.0.0", &[("draft.txt", b"draft bytes")]).await;
    let loose = upload(&server, &server.admin, "acme", b"never attached")
        .await
        .unwrap()
        .digest;
    let detached = upload(&server, &server.admin, "acme", b"attached then detached")
        .await
        .unwrap()
        .digest;
    put_file(&server, "2.0.0", "gone.txt", &detached)
        .await
        .unwrap();
    let mut admin = server.admin_client().await;
    admin
        .delete_version_file(authed(
            pb::DeleteVersionFileRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: "2.0.0".into(),
                path: "gone.txt".into(),
                etag: String::new(),
            },
            &server.admin,
        ))
        .await
        .unwrap();

    let gc = collector(&server).await;
    // Within the grace period: marked, nothing removed.
    let first = gc.collect_garbage(Duration::from_secs(3600)).await.unwrap();
    assert_eq!((first.marked, first.collected), (2, 0), "{first:?}");
    assert_eq!(head_status(&server, &loose).await, 200);
    // Re-uploading a marked blob clears its mark: it gets a new grace period.
    upload(&server, &server.admin, "acme", b"never attached")
        .await
        .unwrap();
    // Past the grace period (none left): the two unreferenced blobs go, rows then files.
    let second = gc.collect_garbage(Duration::ZERO).await.unwrap();
    assert_eq!(second.collected, 2, "{second:?}");
    assert_eq!(
        second.collected_bytes,
        (b"never attached".len() + b"attached then detached".len()) as u64
    );
    for gone in [&loose, &detached] {
        assert_eq!(head_status(&server, gone).await, 404);
        assert!(!crate::s3::blob_stored(&server, gone).await);
    }
    for kept in [digest(b"published bytes"), digest(b"draft bytes")] {
        assert_eq!(head_status(&server, &kept).await, 200);
        assert!(crate::s3::blob_stored(&server, &kept).await);
    }
    let collected: Vec<_> = server
        .store
        .list_audit(&relreg::domain::AuditFilter::default(), None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.record.action == "blob.collected")
        .map(|e| (e.record.repo, e.record.target))
        .collect();
    assert_eq!(collected.len(), 2, "{collected:?}");
    assert!(collected.iter().all(|(repo, _)| repo == "acme"));
    // A collected blob can be uploaded and attached again.
    upload(&server, &server.admin, "acme", b"never attached")
        .await
        .unwrap();
    put_file(&server, "2.0.0", "back.txt", &loose)
        .await
        .unwrap();
    let third = gc.collect_garbage(Duration::ZERO).await.unwrap();
    assert_eq!(third.collected, 0, "{third:?}");
    assert_eq!(head_status(&server, &loose).await, 200);
    gc.close().await;
    server.stop().await;
}

/// How many uploaders race the collector, and how many blobs each attaches.
const RACERS: usize = 12;
const ROUNDS: usize = 5;

async fn gc_races_upload_then_attach_without_losing_an_attached_blob(backend: Backend) {
    let server = Arc::new(TestServer::start(&backend).await);
    fixture(&server, "generic").await;
    draft(&server, "1.0.0", &[]).await;
    let gc = collector(&server).await;
    // In sequence first: upload, GC, attach loses (the blob is gone); upload, attach, GC keeps.
    let early = upload(
        &server,
        &server.admin,
        "acme",
        b"collected before its attach",
    )
    .await
    .unwrap()
    .digest;
    assert_eq!(
        gc.collect_garbage(Duration::ZERO).await.unwrap().collected,
        1
    );
    let status = put_file(&server, "1.0.0", "early", &early)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    let timely = upload(&server, &server.admin, "acme", b"attached before the GC")
        .await
        .unwrap()
        .digest;
    put_file(&server, "1.0.0", "timely", &timely).await.unwrap();
    assert_eq!(
        gc.collect_garbage(Duration::ZERO).await.unwrap().collected,
        0
    );
    assert_eq!(head_status(&server, &timely).await, 200);

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Collections back to back with no grace: every blob not attached yet is collectable.
    let collecting = tokio::spawn({
        let (gc, stop) = (gc.clone(), stop.clone());
        async move {
            let mut runs = 0u64;
            let mut collected = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                collected += gc.collect_garbage(Duration::ZERO).await.unwrap().collected;
                runs += 1;
            }
            (runs, collected)
        }
    });
    let mut racers = Vec::new();
    for i in 0..RACERS {
        let server = server.clone();
        racers.push(tokio::spawn(async move {
            let mut done = Vec::new();
            let mut failures = 0u32;
            for round in 0..ROUNDS {
                let data = format!("racer {i} round {round} ").repeat(500).into_bytes();
                loop {
                    // Upload, then attach: either may lose to the collector, and then the
                    // client does what `relreg push` does, upload again.
                    let uploaded = upload(&server, &server.admin, "acme", &data).await;
                    let attached = match uploaded {
                        Ok(blob) => {
                            put_file(&server, "1.0.0", &format!("f{i}-{round}"), &blob.digest).await
                        }
                        Err(status) => Err(status),
                    };
                    match attached {
                        Ok(_) => {
                            done.push(data);
                            break;
                        }
                        Err(status) => {
                            assert!(
                                matches!(
                                    status.code(),
                                    tonic::Code::FailedPrecondition
                                        | tonic::Code::NotFound
                                        | tonic::Code::Aborted
                                ),
                                "unexpected failure: {status:?}"
                            );
                            failures += 1;
                            assert!(failures < 500, "racer {i} never got its blob attached");
                        }
                    }
                }
            }
            (done, failures)
        }));
    }
    let mut attached = Vec::new();
    let mut lost = 0;
    for racer in racers {
        let (data, failures) = racer.await.unwrap();
        lost += failures;
        attached.extend(data);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (runs, collected) = collecting.await.unwrap();
    assert!(runs > 0);
    assert_eq!(attached.len(), RACERS * ROUNDS);
    // Nothing attached is ever collected afterwards, and every attached file's bytes are there.
    let last = gc.collect_garbage(Duration::ZERO).await.unwrap();
    assert_eq!(last.collected, 0, "{last:?}");
    let http = reqwest::Client::new();
    for (i, data) in attached.iter().enumerate() {
        let d = digest(data);
        let r = http
            .get(server.url(&format!("/v1/repos/acme/blobs/{d}")))
            .bearer_auth(&server.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "racer {i}'s attached blob is gone");
        assert_eq!(r.bytes().await.unwrap().as_ref(), data.as_slice());
    }
    assert!(server.store.dangling_files(10).await.unwrap().is_empty());
    eprintln!(
        "{runs} collections removed {collected} blobs; {lost} uploads or attaches lost a race"
    );
    gc.close().await;
    Arc::into_inner(server).unwrap().stop().await;
}

/// The database's blob guard (taken when the blobs live in S3, where servers share no lock
/// file): uploads hold it shared and together; a sweep waits for them, and they wait for it.
/// On SQLite one process serves the database and the guard is the in-process lock alone.
async fn blob_guard_in_the_database_keeps_sweeps_and_uploads_apart(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let store = server.store.clone();
    let upload_a = store.blob_guard(false).await.unwrap();
    let upload_b = store.blob_guard(false).await.unwrap();
    let sweeping = store.clone();
    let mut sweep = tokio::spawn(async move { sweeping.blob_guard(true).await.unwrap() });
    let early = tokio::time::timeout(Duration::from_millis(300), &mut sweep).await;
    if backend.postgres_url().is_none() {
        early
            .expect("nothing to wait for on SQLite")
            .unwrap()
            .release()
            .await;
        upload_a.release().await;
        upload_b.release().await;
        server.stop().await;
        return;
    }
    assert!(
        early.is_err(),
        "the sweep waits while uploads hold the guard"
    );
    upload_a.release().await;
    let still = tokio::time::timeout(Duration::from_millis(300), &mut sweep).await;
    assert!(still.is_err(), "one upload still holds it");
    // Dropped without release (an error path): its session closes, which releases it.
    drop(upload_b);
    let sweep_guard = tokio::time::timeout(Duration::from_secs(5), sweep)
        .await
        .expect("the sweep gets the guard once the uploads are gone")
        .unwrap();
    let uploading = store.clone();
    let mut upload = tokio::spawn(async move { uploading.blob_guard(false).await.unwrap() });
    let waited = tokio::time::timeout(Duration::from_millis(300), &mut upload).await;
    assert!(waited.is_err(), "an upload waits while a sweep deletes");
    sweep_guard.release().await;
    tokio::time::timeout(Duration::from_secs(5), upload)
        .await
        .expect("the upload goes on after the sweep")
        .unwrap()
        .release()
        .await;
    server.stop().await;
}
