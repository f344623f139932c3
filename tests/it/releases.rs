//! Releases through gRPC: policies, validation findings, validation-gated publish with channel
//! sequences, the latest-selection matrix, manifests whose URLs download the exact bytes,
//! deprecation and rollback, and concurrent publishers.

use relreg::pb::{
    self, ReleaseState, Severity, get_latest_release_response::Decision,
    release_catalog_client::ReleaseCatalogClient,
};
use tonic::Code;
use tonic::transport::Channel;

use crate::common::{
    Backend, Rel, TestServer, assert_error, attach, authed, backend_tests, create, decision,
    digest, draft, fixture, publish, publish_release, released,
};

backend_tests!(
    validation_gates_publish,
    latest_selection_matrix,
    manifest_lists_every_file_with_working_urls,
    rollback_and_deprecate_leave_latest,
    concurrent_publishes_get_consecutive_sequences,
    publish_racing_detach_never_publishes_changed_artifacts,
    a_policy_changed_by_another_server_gates_the_next_publish,
    a_replica_serves_what_another_server_published,
);

async fn rules(server: &TestServer, id: &str) -> Vec<(Severity, String)> {
    let mut admin = server.admin_client().await;
    let answer = admin
        .validate_release(authed(
            pb::ValidateReleaseRequest {
                release_id: id.into(),
            },
            &server.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let findings: Vec<(Severity, String)> = answer
        .findings
        .iter()
        .map(|f| (f.severity(), f.rule.clone()))
        .collect();
    assert_eq!(
        answer.publishable,
        !findings.iter().any(|(s, _)| *s == Severity::Error)
    );
    findings
}

async fn validation_gates_publish(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    draft(&server, "1.0.0", &[("a.txt", b"a")]).await;
    publish(&server, "1.0.0").await;
    draft(&server, "1.1.0", &[]).await; // stays a draft
    draft(&server, "1.2.0", &[]).await;
    publish(&server, "1.2.0").await;
    let mut admin = server.admin_client().await;
    let t = &server.admin;
    let policy = pb::RepoPolicy {
        channels: vec![pb::ChannelPolicy {
            channel: "stable".into(),
            required_roles: vec!["text".into(), "translations".into()],
        }],
        ..Default::default()
    };
    admin
        .update_repo_policy(authed(
            pb::UpdateRepoPolicyRequest {
                repo: "acme".into(),
                policy: Some(policy),
            },
            t,
        ))
        .await
        .unwrap();

    let r = create(
        &server,
        Rel {
            min: "",
            ..Rel::default()
        },
    )
    .await;
    assert_eq!(r.state(), ReleaseState::Draft);
    let findings = rules(&server, &r.id).await;
    assert!(findings.contains(&(Severity::Error, "required_roles".into())));
    assert!(findings.contains(&(Severity::Warning, "min_app_version".into())));

    // Publishing is refused while an ERROR stands, with the findings in the details.
    let status = assert_error(
        admin
            .publish_release(authed(
                pb::PublishReleaseRequest {
                    release_id: r.id.clone(),
                    etag: String::new(),
                },
                t,
            ))
            .await,
        Code::FailedPrecondition,
        "VALIDATION_FAILED",
    );
    use tonic_types::StatusExt as _;
    let failure = status
        .get_error_details()
        .precondition_failure()
        .cloned()
        .unwrap();
    assert!(
        failure
            .violations
            .iter()
            .any(|v| v.r#type == "required_roles"),
        "{failure:?}"
    );

    attach(&server, &r.id, "text", "1.0.0").await.unwrap();
    attach(&server, &r.id, "translations", "1.1.0")
        .await
        .unwrap();
    assert!(
        rules(&server, &r.id)
            .await
            .contains(&(Severity::Error, "artifact_published".into())),
        "a draft version"
    );
    attach(&server, &r.id, "translations", "1.2.0")
        .await
        .unwrap();
    let mut yank = pb::YankVersionRequest {
        repo: "acme".into(),
        package: "app".into(),
        version: "1.2.0".into(),
        reason: "x".into(),
    };
    admin.yank_version(authed(yank.clone(), t)).await.unwrap();
    assert!(
        rules(&server, &r.id)
            .await
            .contains(&(Severity::Error, "artifact_published".into())),
        "a yanked version"
    );
    draft(&server, "1.3.0", &[]).await;
    publish(&server, "1.3.0").await;
    let deprecate = pb::DeprecateVersionRequest {
        repo: "acme".into(),
        package: "app".into(),
        version: "1.3.0".into(),
        reason: "old".into(),
        replacement: String::new(),
    };
    admin.deprecate_version(authed(deprecate, t)).await.unwrap();
    attach(&server, &r.id, "translations", "1.3.0")
        .await
        .unwrap();
    let findings = rules(&server, &r.id).await;
    assert_eq!(
        findings
            .iter()
            .filter(|(s, _)| *s == Severity::Error)
            .count(),
        0,
        "{findings:?}"
    );
    assert!(findings.contains(&(Severity::Warning, "artifact_deprecated".into())));

    // Bounds: an inconsistent pair is an ERROR.
    let bad = create(
        &server,
        Rel {
            version: "2.0.0",
            min: "3.0",
            max: "2.0",
            ..Rel::default()
        },
    )
    .await;
    attach(&server, &bad.id, "text", "1.0.0").await.unwrap();
    attach(&server, &bad.id, "translations", "1.0.0")
        .await
        .unwrap();
    assert!(
        rules(&server, &bad.id)
            .await
            .contains(&(Severity::Error, "app_version_bounds".into()))
    );
    let bad_version = pb::CreateReleaseRequest {
        repo: "acme".into(),
        channel: "stable".into(),
        version: "2".into(),
        ..Default::default()
    };
    assert_error(
        admin.create_release(authed(bad_version, t)).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let bad_app = pb::CreateReleaseRequest {
        repo: "acme".into(),
        channel: "stable".into(),
        version: "2.0.1".into(),
        min_app_version: "one".into(),
        ..Default::default()
    };
    assert_error(
        admin.create_release(authed(bad_app, t)).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );

    // Publish: the next sequence, warnings returned, one event, idempotent retry.
    let published = admin
        .publish_release(authed(
            pb::PublishReleaseRequest {
                release_id: r.id.clone(),
                etag: String::new(),
            },
            t,
        ))
        .await
        .unwrap()
        .into_inner();
    let release = published.release.unwrap();
    assert_eq!(release.state(), ReleaseState::Published);
    assert_eq!(release.sequence, 1);
    assert!(
        published
            .findings
            .iter()
            .any(|f| f.rule == "artifact_deprecated")
    );
    let again = publish_release(&server, &r.id).await.unwrap();
    assert_eq!(again.sequence, 1);
    let events = server.store.list_outbox(None, 100).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.topic == "release.published")
            .count(),
        1
    );
    // Published releases do not change, and their version is taken in the channel.
    assert_error(
        attach(&server, &r.id, "extra", "1.0.0").await,
        Code::FailedPrecondition,
        "FAILED_PRECONDITION",
    );
    let dup = pb::CreateReleaseRequest {
        repo: "acme".into(),
        channel: "stable".into(),
        version: "1.0.0".into(),
        ..Default::default()
    };
    assert_error(
        admin.create_release(authed(dup, t)).await,
        Code::AlreadyExists,
        "ALREADY_EXISTS",
    );
    yank.version = "1.0.0".into();
    admin.yank_version(authed(yank, t)).await.unwrap();
    let audit = crate::common::audit_actions(&server).await;
    for action in [
        "repo.policy_updated",
        "release.created",
        "release.artifact_attached",
        "release.published",
    ] {
        assert!(audit.iter().any(|a| a == action), "missing {action}");
    }
    assert_eq!(
        audit.iter().filter(|a| *a == "release.published").count(),
        1
    );
    server.stop().await;
}

async fn latest_selection_matrix(backend: Backend) {
    for cache in [true, false] {
        let server = TestServer::start_with(&backend, |c| c.no_cache = !cache).await;
        fixture(&server, "generic").await;
        draft(&server, "1.0.0", &[("a", b"a")]).await;
        publish(&server, "1.0.0").await;
        released(
            &server,
            Rel {
                version: "1.0.0",
                min: "1",
                max: "1.9",
                ..Rel::default()
            },
        )
        .await;
        released(
            &server,
            Rel {
                version: "1.5.0",
                min: "1.5",
                max: "1.9",
                ..Rel::default()
            },
        )
        .await;
        let r2 = released(
            &server,
            Rel {
                version: "2.0.0",
                min: "2.0",
                ..Rel::default()
            },
        )
        .await;
        released(
            &server,
            Rel {
                version: "2.1.0",
                min: "2.0",
                platforms: &["ios"],
                ..Rel::default()
            },
        )
        .await;
        released(
            &server,
            Rel {
                version: "2.2.0-beta.1",
                min: "2.0",
                ..Rel::default()
            },
        )
        .await;
        let deprecated = released(
            &server,
            Rel {
                version: "2.5.0",
                min: "2.0",
                ..Rel::default()
            },
        )
        .await;
        released(
            &server,
            Rel {
                version: "3.0.0",
                min: "3.0.0-rc.1",
                ..Rel::default()
            },
        )
        .await;
        released(
            &server,
            Rel {
                version: "9.0.0",
                min: "1",
                channel: "beta",
                ..Rel::default()
            },
        )
        .await;
        create(
            &server,
            Rel {
                version: "10.0.0",
                min: "1",
                ..Rel::default()
            },
        )
        .await; // a draft
        let mut admin = server.admin_client().await;
        let deprecate = pb::DeprecateReleaseRequest {
            release_id: deprecated.id.clone(),
            reason: "crashes".into(),
            replacement: r2.id.clone(),
        };
        admin
            .deprecate_release(authed(deprecate, &server.admin))
            .await
            .unwrap();

        let mut catalog = server.catalog_client().await;
        for (app, platform, current, want) in [
            ("0.9", "android", "", "app_update_required 1.0.0"),
            ("1", "android", "", "update 1.0.0"),
            ("1.5", "android", "", "update 1.5.0"),
            ("1.9.9", "android", "", "app_update_required 2.0.0"),
            ("2.0", "android", "", "update 2.2.0-beta.1"),
            ("2.0", "ios", "", "update 2.2.0-beta.1"),
            ("2.9", "", "", "update 2.2.0-beta.1"),
            ("3.0.0-rc.1", "android", "", "update 3.0.0"),
            ("3.0.0-beta", "android", "", "update 2.2.0-beta.1"),
            ("7", "web", "", "update 3.0.0"),
        ] {
            let request = pb::GetLatestReleaseRequest {
                repo: "acme".into(),
                channel: "stable".into(),
                app_version: app.into(),
                platform: platform.into(),
                current_release_id: current.into(),
                client_id: String::new(),
            };
            let answer = catalog
                .get_latest_release(request)
                .await
                .unwrap()
                .into_inner();
            assert_eq!(
                decision(answer),
                want,
                "app {app} on {platform:?} (cache {cache})"
            );
        }
        // Up to date when the client already runs the answer.
        let latest = catalog
            .get_latest_release(pb::GetLatestReleaseRequest {
                repo: "acme".into(),
                channel: "stable".into(),
                app_version: "1.5".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let Some(Decision::Update(update)) = latest.decision else {
            panic!("update")
        };
        let id = update.release.unwrap().id;
        assert_eq!(update.manifest_path, format!("/v1/releases/{id}/manifest"));
        let request = pb::GetLatestReleaseRequest {
            repo: "acme".into(),
            channel: "stable".into(),
            app_version: "1.5".into(),
            platform: String::new(),
            current_release_id: id,
            client_id: String::new(),
        };
        assert_eq!(
            decision(
                catalog
                    .get_latest_release(request)
                    .await
                    .unwrap()
                    .into_inner()
            ),
            "up_to_date 1.5.0"
        );
        // Bad input and unknown channels.
        for (app, code) in [
            ("", Code::InvalidArgument),
            ("1.2.3.4", Code::InvalidArgument),
            ("latest", Code::InvalidArgument),
        ] {
            let request = pb::GetLatestReleaseRequest {
                repo: "acme".into(),
                channel: "stable".into(),
                app_version: app.into(),
                ..Default::default()
            };
            assert_eq!(
                catalog
                    .get_latest_release(request)
                    .await
                    .unwrap_err()
                    .code(),
                code,
                "{app:?}"
            );
        }
        let nowhere = pb::GetLatestReleaseRequest {
            repo: "acme".into(),
            channel: "nightly".into(),
            app_version: "1".into(),
            ..Default::default()
        };
        assert_eq!(
            catalog
                .get_latest_release(nowhere)
                .await
                .unwrap_err()
                .code(),
            Code::NotFound
        );
        // The published list excludes drafts; the admin list includes them.
        let list = pb::ListReleasesRequest {
            repo: "acme".into(),
            channel: "stable".into(),
            ..Default::default()
        };
        assert_eq!(
            catalog
                .list_releases(list.clone())
                .await
                .unwrap()
                .into_inner()
                .releases
                .len(),
            7
        );
        assert_eq!(
            admin
                .list_releases(authed(list, &server.admin))
                .await
                .unwrap()
                .into_inner()
                .releases
                .len(),
            8
        );
        server.stop().await;
    }
}

async fn manifest_lists_every_file_with_working_urls(backend: Backend) {
    let server = TestServer::start_with(&backend, |c| {
        c.public_url = Some("http://placeholder".into())
    })
    .await;
    fixture(&server, "generic").await;
    let files: [(&str, &[u8]); 3] = [
        ("text/quran.json", b"{\"surahs\":114}"),
        ("audio/index.bin", &[9u8; 3000]),
        ("README", b""),
    ];
    draft(&server, "1.0.0", &files).await;
    publish(&server, "1.0.0").await;
    let r = create(&server, Rel::default()).await;
    attach(&server, &r.id, "content", "1.0.0").await.unwrap();
    let draft_manifest = server
        .catalog_client()
        .await
        .get_release_manifest(pb::GetReleaseManifestRequest {
            release_id: r.id.clone(),
        })
        .await;
    assert_eq!(
        draft_manifest.unwrap_err().code(),
        Code::NotFound,
        "a draft has no public manifest"
    );
    publish_release(&server, &r.id).await.unwrap();
    let mut catalog = server.catalog_client().await;
    let manifest = catalog
        .get_release_manifest(pb::GetReleaseManifestRequest {
            release_id: r.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .manifest
        .unwrap();
    assert_eq!(
        (
            manifest.release_id.as_str(),
            manifest.channel.as_str(),
            manifest.version.as_str()
        ),
        (r.id.as_str(), "stable", "1.0.0")
    );
    assert_eq!(manifest.sequence, 1);
    assert_eq!(manifest.min_app_version, "1.0");
    assert!(manifest.publish_time.is_some());
    assert_eq!(manifest.artifacts.len(), 1);
    let artifact = &manifest.artifacts[0];
    assert_eq!(
        (
            artifact.role.as_str(),
            artifact.package.as_str(),
            artifact.version.as_str(),
            artifact.kind.as_str()
        ),
        ("content", "app", "1.0.0", "generic")
    );
    assert!(artifact.content_digest.starts_with("sha256:"));
    assert_eq!(artifact.files.len(), files.len());
    let http = reqwest::Client::new();
    for (path, data) in files {
        let file = artifact.files.iter().find(|f| f.path == path).unwrap();
        assert_eq!(file.size, data.len() as i64);
        assert_eq!(format!("sha256:{}", file.sha256), digest(data));
        let url = file.url.replace("http://placeholder", &server.url(""));
        assert!(
            file.url
                .starts_with("http://placeholder/v1/repos/acme/blobs/sha256:"),
            "{}",
            file.url
        );
        let bytes = http.get(&url).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(bytes.as_ref(), data, "{path}");
    }
    // A second read is served from memory and equal.
    let again = catalog
        .get_release_manifest(pb::GetReleaseManifestRequest {
            release_id: r.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .manifest
        .unwrap();
    assert_eq!(again, manifest);
    server.stop().await;
}

async fn rollback_and_deprecate_leave_latest(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    draft(&server, "1.0.0", &[]).await;
    publish(&server, "1.0.0").await;
    let r1 = released(
        &server,
        Rel {
            version: "1.0.0",
            ..Rel::default()
        },
    )
    .await;
    let r2 = released(
        &server,
        Rel {
            version: "1.1.0",
            ..Rel::default()
        },
    )
    .await;
    let r3 = released(
        &server,
        Rel {
            version: "1.2.0",
            ..Rel::default()
        },
    )
    .await;
    let mut catalog = server.catalog_client().await;
    let latest = || pb::GetLatestReleaseRequest {
        repo: "acme".into(),
        channel: "stable".into(),
        app_version: "1".into(),
        ..Default::default()
    };
    assert_eq!(
        decision(
            catalog
                .get_latest_release(latest())
                .await
                .unwrap()
                .into_inner()
        ),
        "update 1.2.0"
    );

    let mut admin = server.admin_client().await;
    let rollback = pb::RollbackChannelRequest {
        repo: "acme".into(),
        channel: "stable".into(),
        release_id: r1.id.clone(),
    };
    let answer = admin
        .rollback_channel(authed(rollback.clone(), &server.admin))
        .await
        .unwrap()
        .into_inner();
    let mut expected = vec![r2.id.clone(), r3.id.clone()];
    expected.sort();
    assert_eq!(answer.deprecated_release_ids, expected);
    assert_eq!(answer.sequence, 4, "three publishes, then the rollback");
    assert_eq!(
        decision(
            catalog
                .get_latest_release(latest())
                .await
                .unwrap()
                .into_inner()
        ),
        "update 1.0.0"
    );
    let get = catalog
        .get_release(pb::GetReleaseRequest {
            release_id: r3.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .release
        .unwrap();
    assert_eq!(get.state(), ReleaseState::Deprecated);
    assert_eq!(get.deprecation_reason, "rolled back to 1.0.0");
    // A retry changes nothing and records nothing.
    let again = admin
        .rollback_channel(authed(rollback, &server.admin))
        .await
        .unwrap()
        .into_inner();
    assert!(again.deprecated_release_ids.is_empty());
    let topics: Vec<String> = server
        .store
        .list_outbox(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.topic)
        .collect();
    assert_eq!(
        topics
            .iter()
            .filter(|t| *t == "channel.rolled_back")
            .count(),
        1
    );
    let audit = crate::common::audit_actions(&server).await;
    assert_eq!(
        audit.iter().filter(|a| *a == "channel.rolled_back").count(),
        1
    );

    // Deprecating the last one leaves nothing to offer but says so clearly.
    let r4 = released(
        &server,
        Rel {
            version: "1.3.0",
            ..Rel::default()
        },
    )
    .await;
    assert_eq!(r4.sequence, 5);
    assert_eq!(
        decision(
            catalog
                .get_latest_release(latest())
                .await
                .unwrap()
                .into_inner()
        ),
        "update 1.3.0"
    );
    let deprecate = pb::DeprecateReleaseRequest {
        release_id: r4.id.clone(),
        reason: "bad".into(),
        replacement: r1.id.clone(),
    };
    admin
        .deprecate_release(authed(deprecate.clone(), &server.admin))
        .await
        .unwrap();
    admin
        .deprecate_release(authed(deprecate, &server.admin))
        .await
        .unwrap();
    assert_eq!(
        decision(
            catalog
                .get_latest_release(latest())
                .await
                .unwrap()
                .into_inner()
        ),
        "update 1.0.0"
    );
    let topics: Vec<String> = server
        .store
        .list_outbox(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.topic)
        .collect();
    assert_eq!(
        topics.iter().filter(|t| *t == "release.deprecated").count(),
        1,
        "a retried deprecate records nothing"
    );
    let to_deprecated = pb::RollbackChannelRequest {
        repo: "acme".into(),
        channel: "stable".into(),
        release_id: r3.id.clone(),
    };
    assert_error(
        admin
            .rollback_channel(authed(to_deprecated, &server.admin))
            .await,
        Code::FailedPrecondition,
        "FAILED_PRECONDITION",
    );
    server.stop().await;
}

async fn concurrent_publishes_get_consecutive_sequences(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    draft(&server, "1.0.0", &[]).await;
    publish(&server, "1.0.0").await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let r = create(
            &server,
            Rel {
                version: &format!("1.{i}.0"),
                ..Rel::default()
            },
        )
        .await;
        attach(&server, &r.id, "data", "1.0.0").await.unwrap();
        ids.push(r.id);
    }
    let mut calls = Vec::new();
    for id in ids.iter().chain(ids.iter()) {
        let mut client = server.admin_client().await;
        let request = authed(
            pb::PublishReleaseRequest {
                release_id: id.clone(),
                etag: String::new(),
            },
            &server.admin,
        );
        calls.push(tokio::spawn(async move {
            client.publish_release(request).await
        }));
    }
    let mut sequences = Vec::new();
    for call in calls {
        let release = call
            .await
            .unwrap()
            .expect("every publisher succeeds")
            .into_inner()
            .release
            .unwrap();
        sequences.push(release.sequence);
    }
    sequences.sort();
    sequences.dedup();
    assert_eq!(
        sequences,
        [1, 2, 3, 4, 5, 6],
        "distinct consecutive sequences"
    );
    let events = server.store.list_outbox(None, 100).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.topic == "release.published")
            .count(),
        6
    );
    server.stop().await;
}

async fn publish_racing_detach_never_publishes_changed_artifacts(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    draft(&server, "1.0.0", &[]).await;
    publish(&server, "1.0.0").await;
    let mut admin = server.admin_client().await;
    let policy = pb::RepoPolicy {
        channels: vec![pb::ChannelPolicy {
            channel: "stable".into(),
            required_roles: vec!["data".into()],
        }],
        ..Default::default()
    };
    admin
        .update_repo_policy(authed(
            pb::UpdateRepoPolicyRequest {
                repo: "acme".into(),
                policy: Some(policy),
            },
            &server.admin,
        ))
        .await
        .unwrap();
    for round in 0..8 {
        let r = create(
            &server,
            Rel {
                version: &format!("2.{round}.0"),
                ..Rel::default()
            },
        )
        .await;
        attach(&server, &r.id, "data", "1.0.0").await.unwrap();
        let mut detacher = server.admin_client().await;
        let detach = authed(
            pb::DetachArtifactRequest {
                release_id: r.id.clone(),
                role: "data".into(),
                etag: String::new(),
            },
            &server.admin,
        );
        let detaching = tokio::spawn(async move { detacher.detach_artifact(detach).await });
        let published = publish_release(&server, &r.id).await;
        let detached = detaching.await.unwrap();
        let now = server
            .catalog_client()
            .await
            .get_release(authed(
                pb::GetReleaseRequest {
                    release_id: r.id.clone(),
                },
                &server.admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .release
            .unwrap();
        match (published, detached) {
            (Ok(_), Ok(_)) => panic!("round {round}: both the publish and the detach succeeded"),
            (Ok(p), Err(_)) => {
                assert_eq!(p.artifacts.len(), 1);
                assert_eq!(now.state(), ReleaseState::Published);
                assert_eq!(
                    now.artifacts.len(),
                    1,
                    "a published release keeps what was validated"
                );
            }
            (Err(e), Ok(_)) => {
                assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
                assert_eq!(now.state(), ReleaseState::Draft);
                assert!(now.artifacts.is_empty());
            }
            (Err(a), Err(b)) => panic!("round {round}: neither succeeded: {a:?} {b:?}"),
        }
    }
    server.stop().await;
}

/// Counts the queries of the test's database that read `channel_offers` and wait for a lock.
async fn waiting_on_offers(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query LIKE '%FROM channel_offers%'",
    )
    .fetch_one(conn)
    .await
    .unwrap()
}

/// Callers that miss a channel together (right after a change, say) load it once: the first
/// reads it, the others find it cached. Postgres only, because only there can a test hold the
/// readers of a table back (a table lock) and count who waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_callers_missing_a_channel_together_load_it_once() {
    use sqlx::Connection as _;
    let backend = Backend::postgres();
    let server = TestServer::start(&backend).await;
    stable_releases(&server, &["1.0.0"]).await;

    let mut locker = sqlx::PgConnection::connect(&server.db.url).await.unwrap();
    let mut lock = locker.begin().await.unwrap();
    sqlx::query("LOCK TABLE channel_offers IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let mut calls = Vec::new();
    for _ in 0..12 {
        let mut catalog = server.catalog_client().await;
        calls.push(tokio::spawn(
            async move { stable_latest(&mut catalog).await },
        ));
    }
    let mut observer = sqlx::PgConnection::connect(&server.db.url).await.unwrap();
    let started = std::time::Instant::now();
    while waiting_on_offers(&mut observer).await == 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "no load started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Every caller has had time to arrive; one query waits, the others wait for its answer.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        waiting_on_offers(&mut observer).await,
        1,
        "one load for all the callers"
    );
    lock.rollback().await.unwrap();
    for call in calls {
        assert_eq!(call.await.unwrap(), "update 1.0.0");
    }
    server.stop().await;
}

/// Two servers share one database (as replicas do). A policy one of them changes applies to
/// the next publish on the other, whose cached copy of the repo is older.
async fn a_policy_changed_by_another_server_gates_the_next_publish(backend: Backend) {
    let server = TestServer::start(&backend).await;
    stable_releases(&server, &[]).await;

    let replica = server.start_replica().await;
    let mut other = replica.admin_client().await;
    let t = &server.admin;
    let release = other
        .create_release(authed(
            pb::CreateReleaseRequest {
                repo: "acme".into(),
                channel: "stable".into(),
                version: "2.0.0".into(),
                min_app_version: "1.0".into(),
                ..Default::default()
            },
            t,
        ))
        .await
        .unwrap()
        .into_inner()
        .release
        .unwrap();
    let attach = pb::AttachArtifactRequest {
        release_id: release.id.clone(),
        role: "data".into(),
        package: "app".into(),
        version: "1.0.0".into(),
        etag: String::new(),
    };
    other.attach_artifact(authed(attach, t)).await.unwrap();

    let policy = pb::RepoPolicy {
        channels: vec![pb::ChannelPolicy {
            channel: "stable".into(),
            required_roles: vec!["data".into(), "translations".into()],
        }],
        ..Default::default()
    };
    server
        .admin_client()
        .await
        .update_repo_policy(authed(
            pb::UpdateRepoPolicyRequest {
                repo: "acme".into(),
                policy: Some(policy),
            },
            t,
        ))
        .await
        .unwrap();
    let publish = pb::PublishReleaseRequest {
        release_id: release.id.clone(),
        etag: String::new(),
    };
    let refused = other.publish_release(authed(publish, t)).await;
    assert_error(refused, Code::FailedPrecondition, "VALIDATION_FAILED");
    let stored = server
        .store
        .get_release(&relreg::domain::ReleaseId::from_text(&release.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, relreg::domain::ReleaseState::Draft);

    replica.stop().await;
    server.stop().await;
}

/// Publishes version 1.0.0 of acme/app and releases of it in `stable`, one per version given.
async fn stable_releases(server: &TestServer, versions: &[&str]) {
    fixture(server, "generic").await;
    draft(server, "1.0.0", &[("a.txt", b"a")]).await;
    publish(server, "1.0.0").await;
    for version in versions {
        released(
            server,
            Rel {
                version,
                ..Default::default()
            },
        )
        .await;
    }
}

/// What a server tells an app 1.5 on `stable` to run, as `decision` words it.
async fn stable_latest(catalog: &mut ReleaseCatalogClient<Channel>) -> String {
    let request = pb::GetLatestReleaseRequest {
        repo: "acme".into(),
        channel: "stable".into(),
        app_version: "1.5".into(),
        ..Default::default()
    };
    decision(
        catalog
            .get_latest_release(request)
            .await
            .unwrap()
            .into_inner(),
    )
}

/// Waits up to 10 s for a server to answer `want` on `stable`.
async fn await_stable_latest(catalog: &mut ReleaseCatalogClient<Channel>, want: &str) {
    let since = std::time::Instant::now();
    loop {
        let got = stable_latest(catalog).await;
        if got == want {
            return;
        }
        assert!(
            since.elapsed() < std::time::Duration::from_secs(10),
            "still {got}, not {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Two servers share one database (as replicas do). A release one of them publishes reaches
/// the "latest" answers of the other, whose cache held the channel, within a few seconds.
async fn a_replica_serves_what_another_server_published(backend: Backend) {
    let server = TestServer::start(&backend).await;
    stable_releases(&server, &["1.0.0"]).await;
    let replica = server.start_replica().await;
    let mut catalog = replica.catalog_client().await;
    assert_eq!(stable_latest(&mut catalog).await, "update 1.0.0");
    assert_eq!(
        stable_latest(&mut catalog).await,
        "update 1.0.0",
        "now from the replica's cache"
    );

    released(
        &server,
        Rel {
            version: "1.1.0",
            ..Default::default()
        },
    )
    .await;
    await_stable_latest(&mut catalog, "update 1.1.0").await;
    replica.stop().await;
    server.stop().await;
}

/// Outbox ids are taken at insert and become visible at commit, so on Postgres a change can
/// surface after a newer one. A replica still applies it: here a change that commits late
/// (held open by hand while another server publishes) reaches the replica's cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_replica_applies_a_change_that_commits_late() {
    use sqlx::Connection as _;
    let backend = Backend::postgres();
    let server = TestServer::start(&backend).await;
    stable_releases(&server, &["1.0.0", "1.1.0"]).await;
    let replica = server.start_replica().await;
    let mut catalog = replica.catalog_client().await;
    assert_eq!(stable_latest(&mut catalog).await, "update 1.1.0");

    // A deprecation whose outbox id is older than the next publish's, committed after it.
    let mut late = sqlx::PgConnection::connect(&server.db.url).await.unwrap();
    let mut tx = late.begin().await.unwrap();
    sqlx::query(
        "UPDATE releases SET state = 'DEPRECATED', deprecation_reason = 'late' \
         WHERE repo = 'acme' AND channel = 'stable' AND version = '1.1.0'",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    // What the store writes with it: the channel's offers move from 1.1.0 to 1.0.0.
    sqlx::query(
        "UPDATE channel_offers SET release_id = (SELECT id FROM releases \
           WHERE repo = 'acme' AND channel = 'stable' AND version = '1.0.0') \
         WHERE repo = 'acme' AND channel = 'stable' AND release_id = (SELECT id FROM releases \
           WHERE repo = 'acme' AND channel = 'stable' AND version = '1.1.0')",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO outbox (at, topic, repo, payload) VALUES \
         ((EXTRACT(EPOCH FROM now()) * 1000000)::BIGINT, 'release.deprecated', 'acme', '{\"channel\":\"stable\"}')",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    // A newer event that commits first. Since migration 0008 an outbox insert holds its
    // repo's lock until commit (so within one repo ids become visible in order, and a publish
    // in acme would now wait for the transaction above); across repos the gap remains, which
    // is what the follower's window is for: the newer event is another repo's.
    let mut other = sqlx::PgConnection::connect(&server.db.url).await.unwrap();
    sqlx::query(
        "INSERT INTO outbox (at, topic, repo, payload) VALUES \
         ((EXTRACT(EPOCH FROM now()) * 1000000)::BIGINT, 'release.published', 'other', '{\"channel\":\"beta\"}')",
    )
    .execute(&mut other)
    .await
    .unwrap();
    // The replica's follower reads past the newer event before the older one commits.
    tokio::time::sleep(relreg::registry::FOLLOW_EVERY * 2).await;
    assert_eq!(stable_latest(&mut catalog).await, "update 1.1.0");
    tx.commit().await.unwrap();
    await_stable_latest(&mut catalog, "update 1.0.0").await;
    replica.stop().await;
    server.stop().await;
}
