//! The authorization matrix: every mutating (and admin-only) RPC, called with no token, a token
//! for another repo, reader, publisher and admin tokens, and expired and revoked ones.

use std::time::{Duration, SystemTime};

use relreg::pb;
use tonic::{Code, Request};

use crate::common::{Backend, TestServer, authed, backend_tests, draft, fixture, publish, upload};

backend_tests!(
    every_rpc_checks_tokens,
    catalog_reads_follow_repo_visibility
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    Publisher,
    Admin,
    /// An admin token valid for every repo.
    GlobalAdmin,
}

const RPCS: &[(&str, Need)] = &[
    ("CreateRepo", Need::GlobalAdmin),
    ("CreatePackage", Need::Publisher),
    ("CreateVersion", Need::Publisher),
    ("UploadBlob", Need::Publisher),
    ("PutVersionFile", Need::Publisher),
    ("SetVersionManifest", Need::Publisher),
    ("DeleteVersionFile", Need::Publisher),
    ("PublishVersion", Need::Publisher),
    ("DeprecateVersion", Need::Publisher),
    ("YankVersion", Need::Publisher),
    ("DeleteVersion", Need::Publisher),
    ("CreateToken", Need::Admin),
    ("ListTokens", Need::Admin),
    ("RevokeToken", Need::Admin),
    ("ListAuditEvents", Need::Admin),
    ("UpdateRepoPolicy", Need::Admin),
    ("CreateRelease", Need::Publisher),
    ("AttachArtifact", Need::Publisher),
    ("DetachArtifact", Need::Publisher),
    ("PublishRelease", Need::Publisher),
    ("DeprecateRelease", Need::Publisher),
    ("RollbackChannel", Need::Publisher),
    ("ListReleases", Need::Publisher),
    ("RunRetention", Need::Admin),
    ("DeletePackage", Need::Publisher),
];

/// Ids the calls act on.
#[derive(Clone)]
struct Ctx {
    victim: String,
    draft: String,
    publishable: String,
    published: String,
    target: String,
}

fn with_token<T>(message: T, token: Option<&str>) -> Request<T> {
    match token {
        Some(t) => authed(message, t),
        None => Request::new(message),
    }
}

/// Makes one call of an RPC with valid arguments against the fixture's state.
async fn call(
    server: &TestServer,
    rpc: &str,
    token: Option<&str>,
    ctx: &Ctx,
) -> Result<(), tonic::Status> {
    let mut admin = server.admin_client().await;
    let (repo, package) = ("acme".to_owned(), "app".to_owned());
    match rpc {
        "CreateRepo" => admin
            .create_repo(with_token(
                pb::CreateRepoRequest {
                    repo: "fresh".into(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "CreatePackage" => admin
            .create_package(with_token(
                pb::CreatePackageRequest {
                    repo,
                    package: "pkg2".into(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "CreateVersion" => admin
            .create_version(with_token(
                pb::CreateVersionRequest {
                    repo,
                    package,
                    version: "3.0.0".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "UploadBlob" => {
            use pb::upload_blob_request::Payload;
            let messages = vec![
                pb::UploadBlobRequest {
                    payload: Some(Payload::Header(pb::UploadBlobHeader {
                        repo,
                        ..Default::default()
                    })),
                },
                pb::UploadBlobRequest {
                    payload: Some(Payload::Chunk(bytes::Bytes::from_static(b"auth"))),
                },
            ];
            admin
                .upload_blob(with_token(futures::stream::iter(messages), token))
                .await
                .map(drop)
        }
        "PutVersionFile" => {
            let digest = crate::common::digest(b"draft-file");
            admin
                .put_version_file(with_token(
                    pb::PutVersionFileRequest {
                        repo,
                        package,
                        version: "2.0.0".into(),
                        path: "x".into(),
                        digest,
                        ..Default::default()
                    },
                    token,
                ))
                .await
                .map(drop)
        }
        "SetVersionManifest" => admin
            .set_version_manifest(with_token(
                pb::SetVersionManifestRequest {
                    repo,
                    package,
                    version: "2.0.0".into(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "DeleteVersionFile" => admin
            .delete_version_file(with_token(
                pb::DeleteVersionFileRequest {
                    repo,
                    package,
                    version: "2.0.0".into(),
                    path: "keep".into(),
                    etag: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "PublishVersion" => admin
            .publish_version(with_token(
                pb::PublishVersionRequest {
                    repo,
                    package,
                    version: "2.0.0".into(),
                    etag: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "DeprecateVersion" => admin
            .deprecate_version(with_token(
                pb::DeprecateVersionRequest {
                    repo,
                    package,
                    version: "1.0.0".into(),
                    reason: "old".into(),
                    replacement: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "YankVersion" => admin
            .yank_version(with_token(
                pb::YankVersionRequest {
                    repo,
                    package,
                    version: "1.0.0".into(),
                    reason: "bad".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "DeleteVersion" => admin
            .delete_version(with_token(
                pb::DeleteVersionRequest {
                    repo,
                    package,
                    version: "2.5.0".into(),
                    etag: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "CreateToken" => admin
            .create_token(with_token(
                pb::CreateTokenRequest {
                    name: "n".into(),
                    repo,
                    role: pb::Role::Reader.into(),
                    expire_time: None,
                },
                token,
            ))
            .await
            .map(drop),
        "ListTokens" => admin
            .list_tokens(with_token(
                pb::ListTokensRequest {
                    repo,
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "RevokeToken" => admin
            .revoke_token(with_token(
                pb::RevokeTokenRequest {
                    id: ctx.victim.clone(),
                },
                token,
            ))
            .await
            .map(drop),
        "UpdateRepoPolicy" => {
            let policy = pb::RepoPolicy {
                channels: vec![pb::ChannelPolicy {
                    channel: "beta".into(),
                    required_roles: vec![],
                }],
                ..Default::default()
            };
            admin
                .update_repo_policy(with_token(
                    pb::UpdateRepoPolicyRequest {
                        repo,
                        policy: Some(policy),
                    },
                    token,
                ))
                .await
                .map(drop)
        }
        "CreateRelease" => admin
            .create_release(with_token(
                pb::CreateReleaseRequest {
                    repo,
                    channel: "stable".into(),
                    version: "9.0.0".into(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "AttachArtifact" => admin
            .attach_artifact(with_token(
                pb::AttachArtifactRequest {
                    release_id: ctx.draft.clone(),
                    role: "data".into(),
                    package,
                    version: "1.0.0".into(),
                    etag: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "DetachArtifact" => admin
            .detach_artifact(with_token(
                pb::DetachArtifactRequest {
                    release_id: ctx.draft.clone(),
                    role: "old".into(),
                    etag: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "PublishRelease" => admin
            .publish_release(with_token(
                pb::PublishReleaseRequest {
                    release_id: ctx.publishable.clone(),
                    etag: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "DeprecateRelease" => admin
            .deprecate_release(with_token(
                pb::DeprecateReleaseRequest {
                    release_id: ctx.published.clone(),
                    reason: "old".into(),
                    replacement: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "RollbackChannel" => admin
            .rollback_channel(with_token(
                pb::RollbackChannelRequest {
                    repo,
                    channel: "stable".into(),
                    release_id: ctx.target.clone(),
                },
                token,
            ))
            .await
            .map(drop),
        "RunRetention" => admin
            .run_retention(with_token(
                pb::RunRetentionRequest {
                    repo,
                    dry_run: true,
                },
                token,
            ))
            .await
            .map(drop),
        // The package has published versions: allowed callers are refused for that reason.
        "DeletePackage" => admin
            .delete_package(with_token(
                pb::DeletePackageRequest { repo, package },
                token,
            ))
            .await
            .map(drop),
        "ListReleases" => admin
            .list_releases(with_token(
                pb::ListReleasesRequest {
                    repo,
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "ListAuditEvents" => admin
            .list_audit_events(with_token(
                pb::ListAuditEventsRequest {
                    repo,
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        other => panic!("unknown rpc {other}"),
    }
}

/// Creates a release in `stable` with the given roles bound to version 1.0.0.
async fn release(server: &TestServer, version: &str, roles: &[&str], publish: bool) -> String {
    let mut admin = server.admin_client().await;
    let create = pb::CreateReleaseRequest {
        repo: "acme".into(),
        channel: "stable".into(),
        version: version.into(),
        min_app_version: "1".into(),
        ..Default::default()
    };
    let id = admin
        .create_release(authed(create, &server.admin))
        .await
        .unwrap()
        .into_inner()
        .release
        .unwrap()
        .id;
    for role in roles {
        let attach = pb::AttachArtifactRequest {
            release_id: id.clone(),
            role: (*role).into(),
            package: "app".into(),
            version: "1.0.0".into(),
            etag: String::new(),
        };
        admin
            .attach_artifact(authed(attach, &server.admin))
            .await
            .unwrap();
    }
    if publish {
        let request = pb::PublishReleaseRequest {
            release_id: id.clone(),
            etag: String::new(),
        };
        admin
            .publish_release(authed(request, &server.admin))
            .await
            .unwrap();
    }
    id
}

async fn every_rpc_checks_tokens(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    draft(&server, "1.0.0", &[]).await;
    publish(&server, "1.0.0").await;
    draft(&server, "2.0.0", &[("keep", b"keep-me")]).await;
    draft(&server, "2.5.0", &[]).await;
    upload(&server, &server.admin, "acme", b"draft-file")
        .await
        .unwrap();
    let mut admin = server.admin_client().await;
    admin
        .create_repo(authed(
            pb::CreateRepoRequest {
                repo: "other".into(),
                ..Default::default()
            },
            &server.admin,
        ))
        .await
        .unwrap();

    let reader = server.token("acme", pb::Role::Reader).await;
    let publisher = server.token("acme", pb::Role::Publisher).await;
    let repo_admin = server.token("acme", pb::Role::Admin).await;
    let other_admin = server.token("other", pb::Role::Admin).await;
    let (revoked, revoked_id) = server.token_with_id("acme", pb::Role::Admin).await;
    admin
        .revoke_token(authed(
            pb::RevokeTokenRequest { id: revoked_id },
            &server.admin,
        ))
        .await
        .unwrap();
    let soon = SystemTime::now() + Duration::from_secs(1);
    let expired = admin
        .create_token(authed(
            pb::CreateTokenRequest {
                name: "e".into(),
                repo: "acme".into(),
                role: pb::Role::Admin.into(),
                expire_time: Some(soon.into()),
            },
            &server.admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .secret;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let releases = Ctx {
        victim: String::new(),
        draft: release(&server, "5.0.0", &["old"], false).await,
        publishable: release(&server, "6.0.0", &["data"], false).await,
        published: release(&server, "4.0.0", &["data"], true).await,
        target: release(&server, "3.0.0", &["data"], true).await,
    };

    for (rpc, need) in RPCS {
        let victim = Ctx {
            victim: server.token_with_id("acme", pb::Role::Reader).await.1,
            ..releases.clone()
        };
        let victim = &victim;
        let denied: &[(&str, Option<&str>, Code)] = &[
            ("no token", None, Code::Unauthenticated),
            ("garbage token", Some("rr_nope"), Code::Unauthenticated),
            ("revoked", Some(&revoked), Code::Unauthenticated),
            ("expired", Some(&expired), Code::Unauthenticated),
            ("other repo", Some(&other_admin), Code::PermissionDenied),
            ("reader", Some(&reader), Code::PermissionDenied),
        ];
        for (who, token, code) in denied {
            let status = call(&server, rpc, *token, victim)
                .await
                .expect_err(&format!("{rpc} as {who} must fail"));
            assert_eq!(status.code(), *code, "{rpc} as {who}: {status:?}");
        }
        let ranked = [
            ("publisher", &publisher, Need::Publisher),
            ("repo admin", &repo_admin, Need::Admin),
            ("admin", &server.admin, Need::GlobalAdmin),
        ];
        for (who, token, holds) in ranked {
            let result = call(&server, rpc, Some(token), victim).await;
            if holds >= *need {
                if let Err(status) = &result {
                    assert!(
                        !matches!(
                            status.code(),
                            Code::Unauthenticated | Code::PermissionDenied
                        ),
                        "{rpc} as {who} must be allowed: {status:?}"
                    );
                }
            } else {
                let status = result.expect_err(&format!("{rpc} as {who} must fail"));
                assert_eq!(
                    status.code(),
                    Code::PermissionDenied,
                    "{rpc} as {who}: {status:?}"
                );
            }
        }
    }
    // Denied calls changed nothing: the version the matrix yanked was yanked once, by an allowed caller.
    let audit = crate::common::audit_actions(&server).await;
    assert_eq!(audit.iter().filter(|a| *a == "version.yanked").count(), 1);
    assert_eq!(
        audit.iter().filter(|a| *a == "repo.created").count(),
        3,
        "acme, other, fresh"
    );
    server.stop().await;
}

async fn catalog_reads_follow_repo_visibility(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut admin = server.admin_client().await;
    admin
        .create_repo(authed(
            pb::CreateRepoRequest {
                repo: "secret".into(),
                public: false,
                ..Default::default()
            },
            &server.admin,
        ))
        .await
        .unwrap();
    admin
        .create_package(authed(
            pb::CreatePackageRequest {
                repo: "secret".into(),
                package: "p".into(),
                ..Default::default()
            },
            &server.admin,
        ))
        .await
        .unwrap();
    let mut catalog = server.catalog_client().await;
    let get = || pb::GetPackageRequest {
        repo: "secret".into(),
        package: "p".into(),
    };
    // Anonymous: the same answer as a repo that does not exist, so names cannot be probed.
    assert_eq!(
        catalog.get_package(get()).await.unwrap_err().code(),
        Code::NotFound
    );
    let ghost = pb::GetPackageRequest {
        repo: "ghost".into(),
        package: "p".into(),
    };
    let unknown = catalog.get_package(ghost).await.unwrap_err();
    let private = catalog.get_package(get()).await.unwrap_err();
    assert_eq!(
        private.message().replace("secret", "ghost"),
        unknown.message(),
        "a private repo and an unknown one answer alike"
    );
    let other = server.token("", pb::Role::Reader).await;
    assert!(
        catalog.get_package(authed(get(), &other)).await.is_ok(),
        "an all-repo reader reads"
    );
    admin
        .create_repo(authed(
            pb::CreateRepoRequest {
                repo: "else".into(),
                ..Default::default()
            },
            &server.admin,
        ))
        .await
        .unwrap();
    let scoped_elsewhere = server.token("else", pb::Role::Admin).await;
    assert_eq!(
        catalog
            .get_package(authed(get(), &scoped_elsewhere))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let reader = server.token("secret", pb::Role::Reader).await;
    assert_eq!(
        catalog
            .get_package(authed(get(), &reader))
            .await
            .unwrap()
            .into_inner()
            .package
            .unwrap()
            .name,
        "p"
    );
    // A private blob download over HTTP needs the token too.
    let blob = upload(&server, &server.admin, "secret", b"private bytes")
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let url = server.url(&format!("/v1/repos/secret/blobs/{}", blob.digest));
    assert_eq!(http.get(&url).send().await.unwrap().status(), 404);
    let ok = http.get(&url).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.bytes().await.unwrap().as_ref(), b"private bytes");

    // Reads remember a verified token for a few seconds, but a revocation ends them at once.
    let (revoked, revoked_id) = server.token_with_id("secret", pb::Role::Reader).await;
    for _ in 0..3 {
        catalog.get_package(authed(get(), &revoked)).await.unwrap();
    }
    admin
        .revoke_token(authed(
            pb::RevokeTokenRequest { id: revoked_id },
            &server.admin,
        ))
        .await
        .unwrap();
    let status = catalog
        .get_package(authed(get(), &revoked))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let denied = http.get(&url).bearer_auth(&revoked).send().await.unwrap();
    assert_eq!(denied.status(), 401);
    server.stop().await;
}
