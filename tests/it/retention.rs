//! Retention and package deletion through real clients, on both backends: a dry run (gRPC,
//! the JSON bridge and `relreg retention plan`) lists exactly what a run then removes; what a
//! channel offers and what a release names stays; tombstones keep version and release strings
//! taken; attaches racing retention never name a removed version; one runner at a time; the
//! background runner; `DeletePackage` (gRPC and `relreg package delete`).

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use relreg::pb;
use serde_json::Value;
use tonic::Code;

use crate::{
    cli::User,
    common::{
        Backend, Rel, TestServer, assert_error, attach, audit_actions, authed, backend_tests,
        create, draft, fixture, publish, publish_release,
    },
};

backend_tests!(
    retention_plan_equals_run_and_keeps_what_is_served,
    retention_tombstones_keep_strings_taken,
    retention_racing_attaches_never_removes_a_named_version,
    retention_runner_is_one_at_a_time_and_runs_in_the_background,
    delete_package_only_when_nothing_was_published,
    removed_versions_refuse_raw_sql_changes,
);

/// Sets acme's retention policy (no required roles) through gRPC.
pub(crate) async fn set_retention(
    server: &TestServer,
    keep_versions: u32,
    keep_for: u64,
    keep_releases: u32,
) {
    let mut admin = server.admin_client().await;
    let answer = admin
        .update_repo_policy(authed(
            pb::UpdateRepoPolicyRequest {
                repo: "acme".into(),
                policy: Some(pb::RepoPolicy {
                    channels: Vec::new(),
                    retention: Some(pb::RetentionPolicy {
                        keep_versions,
                        keep_versions_for_seconds: keep_for,
                        keep_releases,
                    }),
                }),
            },
            &server.admin,
        ))
        .await
        .expect("set retention")
        .into_inner();
    let saved = answer.policy.unwrap().retention.unwrap_or_default();
    assert_eq!(
        (
            saved.keep_versions,
            saved.keep_versions_for_seconds,
            saved.keep_releases
        ),
        (keep_versions, keep_for, keep_releases)
    );
}

pub(crate) async fn run(
    server: &TestServer,
    dry_run: bool,
) -> Result<BTreeSet<String>, tonic::Status> {
    let mut admin = server.admin_client().await;
    let answer = admin
        .run_retention(authed(
            pb::RunRetentionRequest {
                repo: "acme".into(),
                dry_run,
            },
            &server.admin,
        ))
        .await?
        .into_inner();
    assert_eq!(answer.dry_run, dry_run);
    Ok(answer
        .removals
        .iter()
        .map(|r| format!("{} {}", r.kind, r.target))
        .collect())
}

async fn yank(server: &TestServer, version: &str) {
    let mut admin = server.admin_client().await;
    admin
        .yank_version(authed(
            pb::YankVersionRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: version.into(),
                reason: "bad".into(),
            },
            &server.admin,
        ))
        .await
        .expect("yank");
}

async fn deprecate(server: &TestServer, version: &str) -> Result<(), tonic::Status> {
    let mut admin = server.admin_client().await;
    admin
        .deprecate_version(authed(
            pb::DeprecateVersionRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: version.into(),
                reason: "old".into(),
                replacement: String::new(),
            },
            &server.admin,
        ))
        .await
        .map(drop)
}

pub(crate) async fn deprecate_release(server: &TestServer, id: &str) {
    let mut admin = server.admin_client().await;
    admin
        .deprecate_release(authed(
            pb::DeprecateReleaseRequest {
                release_id: id.into(),
                reason: "old".into(),
                replacement: String::new(),
            },
            &server.admin,
        ))
        .await
        .expect("deprecate release");
}

async fn version(server: &TestServer, v: &str) -> pb::Version {
    let mut catalog = server.catalog_client().await;
    catalog
        .get_version(authed(
            pb::GetVersionRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: v.into(),
            },
            &server.admin,
        ))
        .await
        .expect("get version")
        .into_inner()
        .version
        .unwrap()
}

/// Publishes `v` with one file of its own.
async fn published(server: &TestServer, v: &str) {
    draft(server, v, &[("data.txt", v.as_bytes())]).await;
    publish(server, v).await;
}

/// Creates, fills and publishes a release in stable bound to `v`; returns its id.
async fn release_of(server: &TestServer, release: &str, v: &str) -> String {
    let r = create(
        server,
        Rel {
            version: release,
            ..Rel::default()
        },
    )
    .await;
    attach(server, &r.id, "data", v).await.expect("attach");
    publish_release(server, &r.id)
        .await
        .expect("publish release");
    r.id
}

/// The scene: releases 1.0.0 and 1.1.0 deprecated, 1.2.0 offered; versions withdrawn,
/// named or not, and a newest one. Returns the release ids.
async fn scene(server: &TestServer) -> [String; 3] {
    fixture(server, "generic").await;
    for v in [
        "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0", "1.6.0",
    ] {
        published(server, v).await;
    }
    let r1 = release_of(server, "1.0.0", "1.0.0").await;
    let r2 = release_of(server, "1.1.0", "1.1.0").await;
    let r3 = release_of(server, "1.2.0", "1.4.0").await;
    deprecate_release(server, &r1).await;
    deprecate_release(server, &r2).await;
    yank(server, "1.0.0").await; // named by deprecated r1 only
    deprecate(server, "1.1.0").await.unwrap(); // named by deprecated r2 only
    yank(server, "1.2.0").await; // named by nothing
    deprecate(server, "1.3.0").await.unwrap(); // named by nothing
    yank(server, "1.4.0").await; // named by the offered r3
    // 1.5.0 stays published (but expires); 1.6.0 is the newest (and yanked).
    yank(server, "1.6.0").await;
    [r1, r2, r3]
}

async fn retention_plan_equals_run_and_keeps_what_is_served(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let [r1, r2, r3] = scene(&server).await;

    // Without a policy nothing goes; with only young versions, only the releases would.
    assert!(run(&server, true).await.unwrap().is_empty());
    set_retention(&server, 1, 3_600, 1).await;
    let young = run(&server, true).await.unwrap();
    assert_eq!(
        young,
        BTreeSet::from([format!("release {r1}"), format!("release {r2}")])
    );

    set_retention(&server, 1, 0, 1).await;
    let plan = run(&server, true).await.unwrap();
    let expected: BTreeSet<String> = [
        format!("release {r1}"),
        format!("release {r2}"),
        "version app@1.0.0".into(),
        "version app@1.1.0".into(),
        "version app@1.2.0".into(),
        "version app@1.3.0".into(),
        "version app@1.5.0".into(),
    ]
    .into();
    assert_eq!(plan, expected);
    // A dry run changes nothing and audits nothing.
    assert_eq!(run(&server, true).await.unwrap(), plan);
    assert_eq!(version(&server, "1.2.0").await.files.len(), 1);
    assert!(
        !audit_actions(&server)
            .await
            .iter()
            .any(|a| a.ends_with(".removed"))
    );

    // The JSON bridge and the CLI plan say the same.
    let bridge: Value = reqwest::Client::new()
        .post(server.url("/v1/repos/acme:runRetention"))
        .bearer_auth(&server.admin)
        .json(&serde_json::json!({ "dryRun": true }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let targets = |answer: &Value| -> BTreeSet<String> {
        answer["removals"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|r| {
                        format!(
                            "{} {}",
                            r["kind"].as_str().unwrap(),
                            r["target"].as_str().unwrap()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(targets(&bridge), plan, "{bridge}");
    let user = User::new(&server);
    let cli_plan = user.json(&["retention", "plan", "acme"]).await;
    assert_eq!(targets(&cli_plan), plan, "{cli_plan}");

    // The run removes exactly the plan, each removal audited.
    let ran = user.json(&["retention", "run", "acme"]).await;
    assert_eq!(targets(&ran), plan, "{ran}");
    let actions = audit_actions(&server).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "version.removed").count(),
        5
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "release.removed").count(),
        2
    );
    assert!(
        run(&server, true).await.unwrap().is_empty(),
        "a second plan is empty"
    );

    // Tombstones: no files, no manifest; the rest untouched.
    for v in ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.5.0"] {
        let got = version(&server, v).await;
        assert_eq!(got.state(), pb::VersionState::Removed, "{v}");
        assert!(got.files.is_empty(), "{v}");
    }
    assert_eq!(
        version(&server, "1.4.0").await.state(),
        pb::VersionState::Yanked
    );
    assert_eq!(version(&server, "1.4.0").await.files.len(), 1);
    assert_eq!(
        version(&server, "1.6.0").await.state(),
        pb::VersionState::Yanked
    );

    // What the channel offers is still served, whole.
    let mut catalog = server.catalog_client().await;
    let manifest = catalog
        .get_release_manifest(pb::GetReleaseManifestRequest {
            release_id: r3.clone(),
        })
        .await
        .expect("offered manifest")
        .into_inner();
    let text = format!("{manifest:?}");
    assert!(
        text.contains("1.4.0") && text.contains("data.txt"),
        "{text}"
    );
    let latest = catalog
        .get_latest_release(pb::GetLatestReleaseRequest {
            repo: "acme".into(),
            channel: "stable".into(),
            app_version: "1.0.0".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(crate::common::decision(latest), "update 1.2.0");
    // Removed releases are gone from reads.
    for id in [&r1, &r2] {
        let got = catalog
            .get_release(pb::GetReleaseRequest {
                release_id: id.clone(),
            })
            .await;
        assert_error(got, Code::NotFound, "");
    }
    let listed = catalog
        .list_releases(pb::ListReleasesRequest {
            repo: "acme".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = listed.releases.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [r3.as_str()]);
}

async fn retention_tombstones_keep_strings_taken(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let [r1, ..] = scene(&server).await;
    set_retention(&server, 1, 0, 1).await;
    assert!(!run(&server, false).await.unwrap().is_empty());
    let mut admin = server.admin_client().await;

    // The version string stays taken.
    let again = admin
        .create_version(authed(
            pb::CreateVersionRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: "1.2.0".into(),
            },
            &server.admin,
        ))
        .await;
    assert_error(again, Code::AlreadyExists, "");
    // A tombstone never changes again, nor is it attached.
    assert_error(
        deprecate(&server, "1.1.0").await,
        Code::FailedPrecondition,
        "",
    );
    // Nor is it a replacement to point to.
    let pointing = admin
        .deprecate_version(authed(
            pb::DeprecateVersionRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: "1.5.0".into(),
                reason: "old".into(),
                replacement: "1.2.0".into(),
            },
            &server.admin,
        ))
        .await;
    assert_error(pointing, Code::InvalidArgument, "");
    let draft_release = create(
        &server,
        Rel {
            version: "2.0.0",
            ..Rel::default()
        },
    )
    .await;
    let attached = attach(&server, &draft_release.id, "data", "1.2.0").await;
    assert_error(attached, Code::FailedPrecondition, "");
    // The release string stays taken too.
    let release_again = admin
        .create_release(authed(
            pb::CreateReleaseRequest {
                repo: "acme".into(),
                channel: "stable".into(),
                version: "1.0.0".into(),
                min_app_version: "1.0".into(),
                ..Default::default()
            },
            &server.admin,
        ))
        .await;
    assert_error(release_again, Code::AlreadyExists, "");
    // The audit trail of the removed release is intact.
    let events = server
        .store
        .list_audit(&relreg::domain::AuditFilter::default(), None, 10_000)
        .await
        .unwrap();
    let about_r1: Vec<&str> = events
        .iter()
        .filter(|e| e.record.target == r1)
        .map(|e| e.record.action.as_str())
        .collect();
    assert!(about_r1.contains(&"release.published"), "{about_r1:?}");
    assert_eq!(about_r1.last(), Some(&"release.removed"), "{about_r1:?}");
}

async fn retention_racing_attaches_never_removes_a_named_version(backend: Backend) {
    let server = Arc::new(TestServer::start(&backend).await);
    fixture(&server, "generic").await;
    set_retention(&server, 1, 0, 0).await;
    let mut attached_wins = 0;
    let mut removed_wins = 0;
    for round in 0..6 {
        let v = format!("2.{round}.0");
        published(&server, &v).await;
        deprecate(&server, &v).await.unwrap();
        // A newer version, so that the deprecated one is not the newest (kept by count).
        published(&server, &format!("9.{round}.0")).await;
        let mut drafts = Vec::new();
        for i in 0..4 {
            let rel = create(
                &server,
                Rel {
                    version: &format!("3.{round}.{i}"),
                    ..Rel::default()
                },
            )
            .await;
            drafts.push(rel.id);
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(drafts.len() + 2));
        let mut tasks = tokio::task::JoinSet::new();
        for id in drafts.clone() {
            let (server, barrier, v) = (server.clone(), barrier.clone(), v.clone());
            tasks.spawn(async move {
                barrier.wait().await;
                attach(&server, &id, "data", &v).await.map(drop)
            });
        }
        for _ in 0..2 {
            let (server, barrier) = (server.clone(), barrier.clone());
            tasks.spawn(async move {
                barrier.wait().await;
                run(&server, false).await.map(drop)
            });
        }
        let mut attach_ok = 0;
        while let Some(done) = tasks.join_next().await {
            match done.unwrap() {
                Ok(()) => attach_ok += 1,
                Err(status) => assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}"),
            }
        }
        // The invariant: a removed version is named by no release.
        let state = version(&server, &v).await.state();
        let mut named = 0;
        let mut catalog = server.catalog_client().await;
        for id in &drafts {
            let release = catalog
                .get_release(authed(
                    pb::GetReleaseRequest {
                        release_id: id.clone(),
                    },
                    &server.admin,
                ))
                .await
                .unwrap()
                .into_inner()
                .release
                .unwrap();
            named += release.artifacts.iter().filter(|a| a.version == v).count();
        }
        if state == pb::VersionState::Removed {
            assert_eq!(named, 0, "round {round}: a removed version is named");
            removed_wins += 1;
        } else {
            assert_eq!(state, pb::VersionState::Deprecated);
            assert!(named > 0, "round {round}: kept without a reason");
            attached_wins += 1;
        }
        // The two retention runs always succeed (attach_ok counts them too).
        assert!(attach_ok >= 2, "round {round}");
    }
    eprintln!("wins: attached {attached_wins} removed {removed_wins}");
    assert_eq!(attached_wins + removed_wins, 6);
}

async fn retention_runner_is_one_at_a_time_and_runs_in_the_background(backend: Backend) {
    let server = TestServer::start(&backend).await;
    // One lease at a time, also across two stores (two servers) on one database.
    let other = relreg::store::open(&server.db.url).await.unwrap();
    let lease = server
        .store
        .runner_lease()
        .await
        .unwrap()
        .expect("first lease");
    assert!(
        other.runner_lease().await.unwrap().is_none(),
        "second runner"
    );
    lease.release().await;
    let lease = other
        .runner_lease()
        .await
        .unwrap()
        .expect("lease after release");
    lease.release().await;
    other.close().await;

    // A server with the interval flag removes on its own, audited as the local runner.
    let background = TestServer::start_with(&backend, |c| c.retention_interval_secs = 1).await;
    let [r1, r2, _] = scene(&background).await;
    set_retention(&background, 1, 0, 1).await;
    let mut removed = false;
    for _ in 0..300 {
        if version(&background, "1.2.0").await.state() == pb::VersionState::Removed {
            removed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(removed, "the background runner removed nothing within 30 s");
    let events = background
        .store
        .list_audit(&relreg::domain::AuditFilter::default(), None, 10_000)
        .await
        .unwrap();
    let removals: Vec<_> = events
        .iter()
        .filter(|e| e.record.action.ends_with(".removed"))
        .collect();
    assert!(removals.iter().all(|e| e.record.actor == "local"));
    let targets: BTreeSet<&str> = removals.iter().map(|e| e.record.target.as_str()).collect();
    assert!(
        targets.contains(r1.as_str()) && targets.contains(r2.as_str()),
        "{targets:?}"
    );
}

async fn delete_package_only_when_nothing_was_published(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    published(&server, "1.0.0").await;
    let mut admin = server.admin_client().await;
    let create_tmp = |admin: &mut pb::release_admin_client::ReleaseAdminClient<_>| {
        let request = authed(
            pb::CreatePackageRequest {
                repo: "acme".into(),
                package: "tmp".into(),
                kind: String::new(),
                description: String::new(),
            },
            &server.admin,
        );
        let mut admin = admin.clone();
        async move { admin.create_package(request).await.expect("create tmp") }
    };
    create_tmp(&mut admin).await;
    for v in ["0.1.0", "0.2.0"] {
        admin
            .create_version(authed(
                pb::CreateVersionRequest {
                    repo: "acme".into(),
                    package: "tmp".into(),
                    version: v.into(),
                },
                &server.admin,
            ))
            .await
            .unwrap();
    }
    let delete = |package: &str| {
        authed(
            pb::DeletePackageRequest {
                repo: "acme".into(),
                package: package.into(),
            },
            &server.admin,
        )
    };
    // A reader may not.
    let reader = server.token("acme", pb::Role::Reader).await;
    let denied = admin
        .delete_package(authed(
            pb::DeletePackageRequest {
                repo: "acme".into(),
                package: "tmp".into(),
            },
            &reader,
        ))
        .await;
    assert_error(denied, Code::PermissionDenied, "");
    // Drafts only: deleted with them, audited, and the name is free again.
    let answer = admin
        .delete_package(delete("tmp"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.deleted_drafts, 2);
    let mut catalog = server.catalog_client().await;
    let gone = catalog
        .get_package(pb::GetPackageRequest {
            repo: "acme".into(),
            package: "tmp".into(),
        })
        .await;
    assert_error(gone, Code::NotFound, "");
    assert!(
        audit_actions(&server)
            .await
            .contains(&"package.deleted".to_owned())
    );
    create_tmp(&mut admin).await;
    assert_error(
        admin.delete_package(delete("nope")).await,
        Code::NotFound,
        "",
    );

    // A published version blocks it, through gRPC and the CLI (exit 5), and nothing changes.
    assert_error(
        admin.delete_package(delete("app")).await,
        Code::FailedPrecondition,
        "",
    );
    let user = User::new(&server);
    let refused = user.run(&["package", "delete", "acme/app"]).await;
    assert_eq!(refused.status.code(), Some(5), "{refused:?}");
    assert_eq!(
        version(&server, "1.0.0").await.state(),
        pb::VersionState::Published
    );
    // Even once retention removed every version, the version strings keep it.
    yank(&server, "1.0.0").await;
    let ok = user.json(&["package", "delete", "acme/tmp"]).await;
    assert_eq!(ok["deletedDrafts"].as_i64().unwrap_or(0), 0, "{ok}");
    set_retention(&server, 0, 1, 0).await;
    // Published within the last second or not, the yanked 1.0.0 goes once it is old enough.
    let mut removed = false;
    for _ in 0..50 {
        if run(&server, false)
            .await
            .unwrap()
            .contains("version app@1.0.0")
        {
            removed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(removed);
    assert_error(
        admin.delete_package(delete("app")).await,
        Code::FailedPrecondition,
        "",
    );
}

/// A tombstone is final in the database itself: no raw SQL brings it back or refills it.
async fn removed_versions_refuse_raw_sql_changes(backend: Backend) {
    let server = TestServer::start(&backend).await;
    scene(&server).await;
    set_retention(&server, 1, 0, 1).await;
    assert!(
        run(&server, false)
            .await
            .unwrap()
            .contains("version app@1.2.0")
    );
    let refused = [
        "UPDATE versions SET removed_at = NULL WHERE version = '1.2.0'",
        "UPDATE versions SET state = 'PUBLISHED' WHERE version = '1.2.0'",
        "UPDATE versions SET manifest = '{\"x\":1}' WHERE version = '1.2.0'",
        "DELETE FROM versions WHERE version = '1.2.0'",
        // A version the offered release names stays, with its manifest and files.
        "UPDATE versions SET manifest = '{\"y\":2}' WHERE version = '1.4.0'",
        "DELETE FROM version_files WHERE version_seq = (SELECT seq FROM versions WHERE version = '1.4.0')",
    ];
    macro_rules! check {
        ($store:expr) => {{
            let store = $store;
            for sql in refused {
                let err = sqlx::query(sql).execute(store.pool()).await.expect_err(sql);
                assert!(
                    err.to_string().contains("version immutable"),
                    "{sql}: {err}"
                );
            }
        }};
    }
    match &backend {
        Backend::Sqlite => check!(
            relreg::store::SqliteStore::connect(&server.db.url)
                .await
                .unwrap()
        ),
        Backend::Postgres(_) => check!(
            relreg::store::PgStore::connect(&server.db.url)
                .await
                .unwrap()
        ),
    }
    assert_eq!(
        version(&server, "1.2.0").await.state(),
        pb::VersionState::Removed
    );
    assert_eq!(version(&server, "1.4.0").await.files.len(), 1);
}
