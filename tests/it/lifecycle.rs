//! The whole package-version lifecycle through gRPC: create, upload, edit with etags, diff,
//! publish, immutability, download, deprecate, yank, resolve, and the audit log of it all.

use futures::TryStreamExt as _;
use relreg::pb::{self, VersionState};
use serde_json::json;
use tonic::Code;

use crate::common::{
    Backend, TestServer, assert_error, audit_actions, authed, backend_tests, digest, draft,
    fixture, publish, upload,
};

backend_tests!(
    version_lifecycle,
    config_kind_validates_columns,
    resolve_picks_highest_match,
    paging_is_stable,
    audit_log_filters_and_pages
);

fn key(version: &str) -> (String, String, String) {
    ("acme".into(), "app".into(), version.into())
}

fn manifest(value: serde_json::Value) -> prost_types::Struct {
    let serde_json::Value::Object(map) = value else {
        panic!("object")
    };
    prost_types::Struct {
        fields: map
            .into_iter()
            .map(|(k, v)| {
                let kind = match v {
                    serde_json::Value::String(s) => prost_types::value::Kind::StringValue(s),
                    serde_json::Value::Number(n) => {
                        prost_types::value::Kind::NumberValue(n.as_f64().unwrap())
                    }
                    serde_json::Value::Bool(b) => prost_types::value::Kind::BoolValue(b),
                    serde_json::Value::Array(items) => {
                        prost_types::value::Kind::ListValue(prost_types::ListValue {
                            values: items
                                .into_iter()
                                .map(|i| prost_types::Value {
                                    kind: Some(prost_types::value::Kind::StructValue(manifest(i))),
                                })
                                .collect(),
                        })
                    }
                    other => panic!("unsupported {other}"),
                };
                (k, prost_types::Value { kind: Some(kind) })
            })
            .collect(),
    }
}

async fn version_lifecycle(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let mut admin = server.admin_client().await;
    let mut catalog = server.catalog_client().await;
    let t = &server.admin;

    // Create a draft; creating it again returns the same draft.
    let (repo, package, version) = key("1.0.0");
    let created = admin
        .create_version(authed(
            pb::CreateVersionRequest {
                repo: repo.clone(),
                package: package.clone(),
                version: version.clone(),
            },
            t,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(created.created);
    let v = created.version.unwrap();
    assert_eq!(v.state(), VersionState::Draft);
    let again = admin
        .create_version(authed(
            pb::CreateVersionRequest {
                repo: repo.clone(),
                package: package.clone(),
                version: version.clone(),
            },
            t,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!again.created);
    assert_eq!(again.version.unwrap().etag, v.etag);

    // Upload and attach two files, each edit with the etag of the one before.
    let data_a = b"alpha,beta\n1,2\n".to_vec();
    let data_b = vec![7u8; 10_000];
    let blob_a = upload(&server, t, "acme", &data_a).await.unwrap();
    assert_eq!(blob_a.digest, digest(&data_a));
    assert_eq!(blob_a.size, data_a.len() as i64);
    let blob_b = upload(&server, t, "acme", &data_b).await.unwrap();
    let put = |path: &str, digest: &str, etag: &str| pb::PutVersionFileRequest {
        repo: repo.clone(),
        package: package.clone(),
        version: version.clone(),
        path: path.into(),
        digest: digest.into(),
        media_type: String::new(),
        etag: etag.into(),
    };
    let v1 = admin
        .put_version_file(authed(put("data/a.csv", &blob_a.digest, &v.etag), t))
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap();
    assert_ne!(v1.etag, v.etag);
    // A stale etag fails and changes nothing.
    assert_error(
        admin
            .put_version_file(authed(put("data/b.bin", &blob_b.digest, &v.etag), t))
            .await,
        Code::FailedPrecondition,
        "ETAG_MISMATCH",
    );
    let v2 = admin
        .put_version_file(authed(put("data/b.bin", &blob_b.digest, &v1.etag), t))
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap();
    assert_eq!(v2.files.len(), 2);
    assert_eq!(
        v2.files[0].media_type, "text/plain",
        "media type comes from the blob"
    );
    let v3 = admin
        .set_version_manifest(authed(
            pb::SetVersionManifestRequest {
                repo: repo.clone(),
                package: package.clone(),
                version: version.clone(),
                manifest: Some(manifest(json!({ "title": "first", "count": 2 }))),
                etag: v2.etag.clone(),
            },
            t,
        ))
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap();
    let count = &v3.manifest.as_ref().unwrap().fields["count"];
    assert_eq!(count.kind, Some(prost_types::value::Kind::NumberValue(2.0)));

    // Publish: content digest set, retry idempotent, one outbox event.
    let published = publish(&server, "1.0.0").await;
    assert_eq!(published.state(), VersionState::Published);
    assert_eq!(
        published.content_digest, v3.content_digest,
        "a draft shows the digest it will publish with"
    );
    assert!(published.content_digest.starts_with("sha256:"));
    assert!(published.publish_time.is_some());
    assert_eq!(
        publish(&server, "1.0.0").await.content_digest,
        published.content_digest
    );
    let events = server.store.list_outbox(None, 100).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.topic == "version.published")
            .count(),
        1
    );

    // Published means immutable, and the version string cannot be created again.
    assert_error(
        admin
            .put_version_file(authed(put("data/c.bin", &blob_b.digest, ""), t))
            .await,
        Code::FailedPrecondition,
        "VERSION_IMMUTABLE",
    );
    let delete_file = pb::DeleteVersionFileRequest {
        repo: repo.clone(),
        package: package.clone(),
        version: version.clone(),
        path: "data/a.csv".into(),
        etag: String::new(),
    };
    assert_error(
        admin.delete_version_file(authed(delete_file, t)).await,
        Code::FailedPrecondition,
        "VERSION_IMMUTABLE",
    );
    let delete = pb::DeleteVersionRequest {
        repo: repo.clone(),
        package: package.clone(),
        version: version.clone(),
        etag: String::new(),
    };
    assert_error(
        admin.delete_version(authed(delete, t)).await,
        Code::FailedPrecondition,
        "VERSION_IMMUTABLE",
    );
    assert_error(
        admin
            .create_version(authed(
                pb::CreateVersionRequest {
                    repo: repo.clone(),
                    package: package.clone(),
                    version: version.clone(),
                },
                t,
            ))
            .await,
        Code::AlreadyExists,
        "ALREADY_EXISTS",
    );

    // Download through gRPC from an offset, without a token (public repo).
    let chunks: Vec<pb::DownloadBlobResponse> = catalog
        .download_blob(pb::DownloadBlobRequest {
            repo: repo.clone(),
            digest: blob_b.digest.clone(),
            offset: 9_000,
        })
        .await
        .unwrap()
        .into_inner()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(chunks[0].offset, 9_000);
    assert_eq!(chunks[0].size, 10_000);
    let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.chunk.to_vec()).collect();
    assert_eq!(bytes, data_b[9_000..]);
    let beyond = catalog
        .download_blob(pb::DownloadBlobRequest {
            repo: repo.clone(),
            digest: blob_b.digest.clone(),
            offset: 10_001,
        })
        .await;
    assert_error(beyond, Code::OutOfRange, "RANGE_NOT_SATISFIABLE");

    // Diff a second version against the first.
    draft(
        &server,
        "1.1.0",
        &[("data/a.csv", b"changed"), ("data/new.txt", b"new")],
    )
    .await;
    let diff = admin
        .diff_version(authed(
            pb::DiffVersionRequest {
                repo: repo.clone(),
                package: package.clone(),
                version: "1.1.0".into(),
                base_version: "1.0.0".into(),
            },
            t,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        diff.added
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>(),
        ["data/new.txt"]
    );
    assert_eq!(
        diff.removed
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>(),
        ["data/b.bin"]
    );
    assert_eq!(diff.changed.len(), 1);
    assert_eq!(diff.changed[0].base_digest, blob_a.digest);
    assert!(diff.manifest_changed);
    assert_eq!(diff.base_content_digest, published.content_digest);
    publish(&server, "1.1.0").await;

    // Deprecate with a replacement, yank, resolve.
    let deprecated = admin
        .deprecate_version(authed(
            pb::DeprecateVersionRequest {
                repo: repo.clone(),
                package: package.clone(),
                version: "1.0.0".into(),
                reason: "bad data".into(),
                replacement: "1.1.0".into(),
            },
            t,
        ))
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap();
    assert_eq!(deprecated.state(), VersionState::Deprecated);
    assert_eq!(deprecated.replacement, "1.1.0");
    assert_eq!(
        deprecated.content_digest, published.content_digest,
        "deprecation keeps the content"
    );
    let resolve = |req: &str| pb::ResolveVersionRequest {
        repo: repo.clone(),
        package: package.clone(),
        requirement: req.into(),
    };
    assert_eq!(
        catalog
            .resolve_version(resolve("^1"))
            .await
            .unwrap()
            .into_inner()
            .version
            .unwrap()
            .version,
        "1.1.0"
    );
    let yanked = admin
        .yank_version(authed(
            pb::YankVersionRequest {
                repo: repo.clone(),
                package: package.clone(),
                version: "1.1.0".into(),
                reason: "broken".into(),
            },
            t,
        ))
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap();
    assert_eq!(yanked.state(), VersionState::Yanked);
    assert_eq!(
        catalog
            .resolve_version(resolve("^1"))
            .await
            .unwrap()
            .into_inner()
            .version
            .unwrap()
            .version,
        "1.0.0",
        "deprecated versions resolve only when nothing else matches; yanked never"
    );
    assert_error(
        catalog.resolve_version(resolve("^2")).await,
        Code::NotFound,
        "NOT_FOUND",
    );
    // A deprecated version stays downloadable.
    let v = catalog
        .get_version(pb::GetVersionRequest {
            repo: repo.clone(),
            package: package.clone(),
            version: "1.0.0".into(),
        })
        .await
        .unwrap();
    assert_eq!(v.into_inner().version.unwrap().files.len(), 2);

    // Publish, deprecate and yank each wrote one outbox event.
    let topics: Vec<String> = server
        .store
        .list_outbox(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.topic)
        .collect();
    assert_eq!(
        topics,
        [
            "version.published",
            "version.published",
            "version.deprecated",
            "version.yanked"
        ]
    );

    // Every action is in the audit log, readable through the API.
    let listed = admin
        .list_audit_events(authed(
            pb::ListAuditEventsRequest {
                repo: "acme".into(),
                page_size: 1000,
                ..Default::default()
            },
            t,
        ))
        .await
        .unwrap()
        .into_inner();
    let actions: Vec<&str> = listed.events.iter().map(|e| e.action.as_str()).collect();
    for action in [
        "repo.created",
        "package.created",
        "version.created",
        "blob.uploaded",
        "version.file_put",
        "version.manifest_set",
        "version.published",
        "version.deprecated",
        "version.yanked",
    ] {
        assert!(actions.contains(&action), "missing {action} in {actions:?}");
    }
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "version.published")
            .count(),
        2,
        "retries record nothing"
    );
    let published_event = listed
        .events
        .iter()
        .find(|e| e.action == "version.published")
        .unwrap();
    assert_eq!(published_event.target, "app@1.0.0");
    assert!(published_event.actor.starts_with("tok_"));
    let filtered = admin
        .list_audit_events(authed(
            pb::ListAuditEventsRequest {
                action: "version.yanked".into(),
                ..Default::default()
            },
            t,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(filtered.events.len(), 1);
    server.stop().await;
}

async fn config_kind_validates_columns(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "config").await;
    let mut admin = server.admin_client().await;
    let t = &server.admin;
    let v = draft(&server, "1.0.0", &[("a.csv", b"1"), ("b.csv", b"2")]).await;
    let set = |m: serde_json::Value, etag: &str| pb::SetVersionManifestRequest {
        repo: "acme".into(),
        package: "app".into(),
        version: "1.0.0".into(),
        manifest: Some(manifest(m)),
        etag: etag.into(),
    };
    // Duplicate ordinals fail when set, and nothing changes.
    let dup = json!({ "columns": [{ "file": "a.csv", "ordinal": 1 }, { "file": "b.csv", "ordinal": 1 }] });
    let status = assert_error(
        admin
            .set_version_manifest(authed(set(dup, &v.etag), t))
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert!(
        status.message().contains("manifest.columns[1].ordinal"),
        "{status:?}"
    );
    // A column naming a missing file passes when set but blocks publishing.
    let missing = json!({ "columns": [{ "file": "a.csv", "ordinal": 1 }, { "file": "c.csv", "ordinal": 2 }] });
    let v2 = admin
        .set_version_manifest(authed(set(missing, &v.etag), t))
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap();
    let publish_req = pb::PublishVersionRequest {
        repo: "acme".into(),
        package: "app".into(),
        version: "1.0.0".into(),
        etag: String::new(),
    };
    assert_error(
        admin.publish_version(authed(publish_req.clone(), t)).await,
        Code::FailedPrecondition,
        "VALIDATION_FAILED",
    );
    assert!(server.store.list_outbox(None, 10).await.unwrap().is_empty());
    let good = json!({ "columns": [{ "file": "a.csv", "ordinal": 1 }, { "file": "b.csv", "ordinal": 2 }] });
    admin
        .set_version_manifest(authed(set(good, &v2.etag), t))
        .await
        .unwrap();
    let published = admin
        .publish_version(authed(publish_req, t))
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap();
    assert_eq!(published.state(), VersionState::Published);
    server.stop().await;
}

async fn resolve_picks_highest_match(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    for v in ["1.2.0", "1.10.0", "1.9.3", "2.0.0-rc.1", "0.9.0"] {
        draft(&server, v, &[]).await;
        publish(&server, v).await;
    }
    draft(&server, "1.11.0", &[]).await; // a draft never resolves
    let mut catalog = server.catalog_client().await;
    let resolve = |req: &str| pb::ResolveVersionRequest {
        repo: "acme".into(),
        package: "app".into(),
        requirement: req.into(),
    };
    for (req, want) in [
        ("^1", "1.10.0"),
        ("~1.9", "1.9.3"),
        (">=0.1, <1.5", "1.2.0"),
        ("*", "1.10.0"),
        (">=2.0.0-rc.1", "2.0.0-rc.1"),
    ] {
        let got = catalog
            .resolve_version(resolve(req))
            .await
            .unwrap()
            .into_inner()
            .version
            .unwrap();
        assert_eq!(got.version, want, "{req}");
    }
    assert_error(
        catalog.resolve_version(resolve("not a req")).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    // Readers do not see drafts; publishers do.
    let versions = catalog
        .list_versions(pb::ListVersionsRequest {
            repo: "acme".into(),
            package: "app".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(versions.len(), 5);
    let get = pb::GetVersionRequest {
        repo: "acme".into(),
        package: "app".into(),
        version: "1.11.0".into(),
    };
    assert_error(
        catalog.get_version(get.clone()).await,
        Code::NotFound,
        "NOT_FOUND",
    );
    assert_eq!(
        catalog
            .get_version(authed(get, &server.admin))
            .await
            .unwrap()
            .into_inner()
            .version
            .unwrap()
            .state(),
        VersionState::Draft
    );
    server.stop().await;
}

async fn paging_is_stable(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let mut admin = server.admin_client().await;
    let t = &server.admin;
    let create = |name: &str| pb::CreatePackageRequest {
        repo: "acme".into(),
        package: name.into(),
        kind: String::new(),
        description: String::new(),
    };
    for name in ["p1", "p3", "p5", "p7"] {
        admin.create_package(authed(create(name), t)).await.unwrap();
    }
    let list = |token: &str| pb::ListPackagesRequest {
        repo: "acme".into(),
        page_size: 2,
        page_token: token.into(),
    };
    let first = admin
        .list_packages(authed(list(""), t))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        first
            .packages
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["app", "p1"]
    );
    // Inserting before the cursor does not shift the next page.
    admin.create_package(authed(create("a0"), t)).await.unwrap();
    let second = admin
        .list_packages(authed(list(&first.next_page_token), t))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        second
            .packages
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["p3", "p5"]
    );
    let third = admin
        .list_packages(authed(list(&second.next_page_token), t))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        third
            .packages
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["p7"]
    );
    assert!(third.next_page_token.is_empty());
    assert_error(
        admin.list_packages(authed(list("garbage!"), t)).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let audit = audit_actions(&server).await;
    assert_eq!(audit.iter().filter(|a| *a == "package.created").count(), 6);
    server.stop().await;
}

async fn audit_log_filters_and_pages(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let (publisher, publisher_id) = server.token_with_id("acme", pb::Role::Publisher).await;
    let mut admin = server.admin_client().await;
    let before = std::time::SystemTime::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    for name in ["a1", "a2", "a3"] {
        let request = pb::CreatePackageRequest {
            repo: "acme".into(),
            package: name.into(),
            ..Default::default()
        };
        admin
            .create_package(authed(request, &publisher))
            .await
            .unwrap();
    }
    let list = |actor: &str, start: Option<std::time::SystemTime>, token: &str| {
        pb::ListAuditEventsRequest {
            actor: actor.into(),
            start_time: start.map(Into::into),
            page_size: 2,
            page_token: token.into(),
            ..Default::default()
        }
    };
    let t = &server.admin;
    let first = admin
        .list_audit_events(authed(list(&publisher_id, None, ""), t))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.events.len(), 2);
    assert!(
        first
            .events
            .iter()
            .all(|e| e.actor == publisher_id && e.action == "package.created")
    );
    let second = admin
        .list_audit_events(authed(list(&publisher_id, None, &first.next_page_token), t))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.events.len(), 1);
    assert_eq!(second.events[0].target, "a3");
    assert!(second.next_page_token.is_empty());
    assert!(
        first.events[0].id < first.events[1].id && first.events[1].id < second.events[0].id,
        "oldest first"
    );
    // A time window: only what happened after `before`.
    let recent = admin
        .list_audit_events(authed(list("", Some(before), ""), t))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        recent.events.len(),
        2,
        "the three package creations, two per page"
    );
    let everything = pb::ListAuditEventsRequest {
        page_size: 1000,
        ..Default::default()
    };
    let all = admin
        .list_audit_events(authed(everything, t))
        .await
        .unwrap()
        .into_inner();
    assert!(all.events.len() > 3, "older events too without a window");
    let details = all
        .events
        .iter()
        .find(|e| e.action == "package.created")
        .unwrap()
        .details
        .clone()
        .unwrap();
    assert_eq!(
        details.fields["kind"].kind,
        Some(prost_types::value::Kind::StringValue("generic".into()))
    );
    // A repo-scoped admin sees its repo's events only; a publisher sees none.
    let repo_admin = server.token("acme", pb::Role::Admin).await;
    let scoped = admin
        .list_audit_events(authed(
            pb::ListAuditEventsRequest {
                page_size: 1000,
                ..Default::default()
            },
            &repo_admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(scoped.events.iter().all(|e| e.repo == "acme"));
    assert_error(
        admin
            .list_audit_events(authed(pb::ListAuditEventsRequest::default(), &publisher))
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    server.stop().await;
}
