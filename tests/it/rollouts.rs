//! Staged rollouts: stable cohorts at 1/10/50/100 %, pause, halt, floors, the JSON bridge and
//! gRPC-Web answering as gRPC does, one open rollout per channel under racing starters, waves
//! advanced by the server (once, with two servers), and bad input changing nothing.
//!
//! The 10,000-id matrix asks the registry's decision in process, over the same database the
//! server uses (no mocks; a fresh registry per point, so nothing cached from before a change);
//! a few hundred ids go over each transport and must answer alike.

use std::collections::HashSet;

use relreg::{
    domain::parse_app_version,
    pb,
    registry::{Caller, Decision, LatestQuery, Registry},
    server,
};
use tonic::Code;

use crate::common::{
    Backend, Rel, TestServer, assert_error, audit_actions, authed, backend_tests, create, decision,
    draft, fixture, frame, publish, released,
};

backend_tests!(
    rollout_matrix_cohorts_pause_halt_and_floors,
    rollout_race_admits_one_open_rollout_per_channel,
    rollout_waves_advance_once_across_servers,
    rollout_bad_input_changes_nothing,
    rollout_cli_sets_pauses_halts_and_marks_floors,
    rollout_sync_sends_a_stable_client_id
);

const IDS: usize = 10_000;

fn client(i: usize) -> String {
    format!("device-{i:05}")
}

/// A repo with app 1.0.0 published and releases 1.0.0 (A) and 2.0.0 (B) in `stable`.
async fn two_releases(server: &TestServer) -> (pb::Release, pb::Release) {
    fixture(server, "generic").await;
    draft(server, "1.0.0", &[("a.txt", b"a")]).await;
    publish(server, "1.0.0").await;
    let a = released(server, Rel::default()).await;
    let b = released(
        server,
        Rel {
            version: "2.0.0",
            ..Rel::default()
        },
    )
    .await;
    (a, b)
}

async fn admin_call<T>(
    server: &TestServer,
    call: impl AsyncFnOnce(
        &mut pb::release_admin_client::ReleaseAdminClient<tonic::transport::Channel>,
    ) -> Result<tonic::Response<T>, tonic::Status>,
) -> Result<T, tonic::Status> {
    let mut admin = server.admin_client().await;
    call(&mut admin).await.map(tonic::Response::into_inner)
}

async fn set_rollout(
    server: &TestServer,
    id: &str,
    bps: u32,
) -> Result<pb::Rollout, tonic::Status> {
    set_rollout_waves(server, id, bps, "").await
}

async fn set_rollout_waves(
    server: &TestServer,
    id: &str,
    bps: u32,
    waves: &str,
) -> Result<pb::Rollout, tonic::Status> {
    let request = pb::SetRolloutRequest {
        release_id: id.into(),
        bps,
        waves: waves.into(),
    };
    let token = server.admin.clone();
    admin_call(server, async |a| {
        a.set_rollout(authed(request, &token)).await
    })
    .await
    .map(|r| r.rollout.unwrap())
}

async fn get_rollout(server: &TestServer, id: &str) -> Option<pb::Rollout> {
    let request = pb::GetRolloutRequest {
        release_id: id.into(),
    };
    let token = server.admin.clone();
    admin_call(server, async |a| {
        a.get_rollout(authed(request, &token)).await
    })
    .await
    .unwrap()
    .rollout
}

/// Pauses (`"pause"`), resumes or halts a rollout.
async fn act(server: &TestServer, id: &str, what: &str) -> Result<pb::Rollout, tonic::Status> {
    let token = server.admin.clone();
    let release_id = id.to_owned();
    let rollout = match what {
        "pause" => {
            admin_call(server, async |a| {
                a.pause_rollout(authed(pb::PauseRolloutRequest { release_id }, &token))
                    .await
            })
            .await?
            .rollout
        }
        "resume" => {
            admin_call(server, async |a| {
                a.resume_rollout(authed(pb::ResumeRolloutRequest { release_id }, &token))
                    .await
            })
            .await?
            .rollout
        }
        _ => {
            admin_call(server, async |a| {
                a.halt_rollout(authed(pb::HaltRolloutRequest { release_id }, &token))
                    .await
            })
            .await?
            .rollout
        }
    };
    Ok(rollout.unwrap())
}

async fn set_floor(server: &TestServer, id: &str) {
    let request = pb::SetFloorRequest {
        release_id: id.into(),
        floor: true,
    };
    let token = server.admin.clone();
    admin_call(server, async |a| a.set_floor(authed(request, &token)).await)
        .await
        .unwrap();
}

/// Words a registry decision as `common::decision` words a gRPC answer.
fn words(d: &Decision) -> String {
    match d {
        Decision::Update(r) => format!("update {}", r.version),
        Decision::UpToDate(r) => format!(
            "up_to_date {}",
            r.as_ref()
                .map(|r| r.version.to_string())
                .unwrap_or_default()
        ),
        Decision::AppUpdateRequired(min) => format!("app_update_required {min}"),
    }
}

/// A registry over the server's database, with nothing cached yet.
async fn fresh_registry(server: &TestServer) -> Registry {
    server::open_registry(&server.config)
        .await
        .expect("open registry")
}

/// Asks the registry for every client id (app 1.5), each running `current`.
async fn answers(registry: &Registry, current: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(IDS);
    for i in 0..IDS {
        let query = LatestQuery {
            repo: relreg::domain::Name::parse("repo", "acme").unwrap(),
            channel: relreg::domain::Name::parse("channel", "stable").unwrap(),
            app_version: parse_app_version("app_version", "1.5").unwrap(),
            platform: None,
            current_release_id: current.to_owned(),
            client_id: client(i),
        };
        let d = registry
            .latest_release(&Caller::default(), &query)
            .await
            .unwrap();
        out.push(words(&d));
    }
    out
}

/// The ids whose answer is `want`.
fn who(answers: &[String], want: &str) -> HashSet<usize> {
    (0..answers.len()).filter(|i| answers[*i] == want).collect()
}

#[track_caller]
fn assert_share(n: usize, bps: u32) {
    let share = n as f64 * 100.0 / IDS as f64;
    let target = f64::from(bps) / 100.0;
    assert!(
        (share - target).abs() <= 1.5,
        "{n} of {IDS} clients ({share:.2}%) for a {target}% rollout"
    );
}

fn grpc_request(i: usize, current: &str) -> pb::GetLatestReleaseRequest {
    pb::GetLatestReleaseRequest {
        repo: "acme".into(),
        channel: "stable".into(),
        app_version: "1.5".into(),
        platform: String::new(),
        current_release_id: current.into(),
        client_id: client(i),
    }
}

/// Asks ids `0..n` over gRPC, the JSON bridge and gRPC-Web; each must answer as `want`.
async fn transports_agree(server: &TestServer, n: usize, want: &[String]) {
    let mut catalog = server.catalog_client().await;
    let http = reqwest::Client::new();
    for (i, want) in want.iter().enumerate().take(n) {
        let grpc = decision(
            catalog
                .get_latest_release(grpc_request(i, ""))
                .await
                .unwrap()
                .into_inner(),
        );
        let url = server.url(&format!(
            "/v1/repos/acme/channels/stable/latest?app_version=1.5&client_id={}",
            client(i)
        ));
        let body: serde_json::Value = http.get(&url).send().await.unwrap().json().await.unwrap();
        let json = if body["update"].is_object() {
            format!(
                "update {}",
                body["update"]["release"]["version"].as_str().unwrap()
            )
        } else {
            format!(
                "up_to_date {}",
                body["upToDate"]["release"]["version"]
                    .as_str()
                    .unwrap_or_default()
            )
        };
        let web = http
            .post(server.url("/relreg.v1.ReleaseCatalog/GetLatestRelease"))
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .body(frame(&grpc_request(i, "")))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(web[0], 0, "a data frame first");
        let len = u32::from_be_bytes(web[1..5].try_into().unwrap()) as usize;
        let web: pb::GetLatestReleaseResponse = prost::Message::decode(&web[5..5 + len]).unwrap();
        let web = decision(web);
        assert_eq!((&grpc, &json, &web), (want, want, want), "client {i}");
    }
}

async fn rollout_matrix_cohorts_pause_halt_and_floors(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (a, b) = two_releases(&server).await;
    let (old, new) = ("update 1.0.0".to_owned(), "update 2.0.0".to_owned());

    let started = set_rollout(&server, &b.id, 100).await.unwrap();
    assert_eq!((started.state.as_str(), started.bps), ("active", 100));
    let at1 = answers(&fresh_registry(&server).await, "").await;
    assert_eq!(
        who(&at1, &old).len() + who(&at1, &new).len(),
        IDS,
        "never nothing"
    );
    assert_share(who(&at1, &new).len(), 100);

    set_rollout(&server, &b.id, 1000).await.unwrap();
    let at10 = answers(&fresh_registry(&server).await, "").await;
    let cohort10 = who(&at10, &new);
    assert_share(cohort10.len(), 1000);
    assert!(
        who(&at1, &new).is_subset(&cohort10),
        "widening keeps the 1% in"
    );
    transports_agree(&server, 300, &at10).await;

    set_rollout(&server, &b.id, 5000).await.unwrap();
    let registry = fresh_registry(&server).await;
    let at50 = answers(&registry, "").await;
    let cohort50 = who(&at50, &new);
    assert_share(cohort50.len(), 5000);
    assert!(
        cohort10.is_subset(&cohort50),
        "every client of the 10% is in at 50%"
    );
    // Warm answers (the same registry again) are the cold ones.
    assert_eq!(answers(&registry, "").await, at50);
    // Without a client id: in no partial rollout.
    let mut anonymous = grpc_request(0, "");
    anonymous.client_id.clear();
    let mut catalog = server.catalog_client().await;
    let answer = catalog.get_latest_release(anonymous).await.unwrap();
    assert_eq!(decision(answer.into_inner()), old);

    // Paused: nobody new gets it (not even the cohort); those running it are not moved.
    act(&server, &b.id, "pause").await.unwrap();
    let paused = answers(&fresh_registry(&server).await, "").await;
    assert_eq!(who(&paused, &old).len(), IDS, "nobody new while paused");
    let running = answers(&fresh_registry(&server).await, &b.id).await;
    assert_eq!(
        who(&running, "up_to_date 2.0.0").len(),
        IDS,
        "never a downgrade"
    );
    act(&server, &b.id, "resume").await.unwrap();
    let resumed = answers(&fresh_registry(&server).await, "").await;
    assert_eq!(who(&resumed, &new), cohort50, "resuming keeps the cohort");

    // Halted: newcomers get the previous release again; those on it are up to date.
    let halted = act(&server, &b.id, "halt").await.unwrap();
    assert_eq!(halted.state, "halted");
    let after_halt = answers(&fresh_registry(&server).await, "").await;
    assert_eq!(
        who(&after_halt, &old).len(),
        IDS,
        "halting returns newcomers"
    );
    let on_b = answers(&fresh_registry(&server).await, &b.id).await;
    assert_eq!(who(&on_b, "up_to_date 2.0.0").len(), IDS);
    let on_a = answers(&fresh_registry(&server).await, &a.id).await;
    assert_eq!(who(&on_a, "up_to_date 1.0.0").len(), IDS);
    assert_error(
        act(&server, &b.id, "resume").await,
        Code::FailedPrecondition,
        "",
    );

    // Another release draws an independent cohort; 100% is everyone, with or without an id.
    let c = released(
        &server,
        Rel {
            version: "3.0.0",
            ..Rel::default()
        },
    )
    .await;
    set_rollout(&server, &c.id, 5000).await.unwrap();
    let c50 = answers(&fresh_registry(&server).await, "").await;
    let cohort_c = who(&c50, "update 3.0.0");
    assert_share(cohort_c.len(), 5000);
    let both = cohort_c.intersection(&cohort50).count();
    assert_share(both, 2500);
    let done = set_rollout(&server, &c.id, 10_000).await.unwrap();
    assert_eq!(done.state, "completed");
    let all = answers(&fresh_registry(&server).await, "").await;
    assert_eq!(who(&all, "update 3.0.0").len(), IDS);
    let mut anonymous = grpc_request(0, "");
    anonymous.client_id.clear();
    let answer = catalog.get_latest_release(anonymous).await.unwrap();
    assert_eq!(decision(answer.into_inner()), "update 3.0.0");

    // Floors: 3.0.0 is a stepping stone; clients below it get it before 4.0.0.
    set_floor(&server, &c.id).await;
    released(
        &server,
        Rel {
            version: "4.0.0",
            ..Rel::default()
        },
    )
    .await;
    for (current, want) in [
        (a.id.as_str(), "update 3.0.0"),
        (b.id.as_str(), "update 3.0.0"),
        (c.id.as_str(), "update 4.0.0"),
        ("", "update 4.0.0"),
    ] {
        let answer = catalog
            .get_latest_release(grpc_request(7, current))
            .await
            .unwrap();
        assert_eq!(decision(answer.into_inner()), want, "running {current:?}");
    }

    let actions = audit_actions(&server).await;
    for action in [
        "rollout.start",
        "rollout.set",
        "rollout.pause",
        "rollout.resume",
        "rollout.halt",
        "floor.set",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} audited: {actions:?}"
        );
    }
    let events = server.store.list_outbox(None, 10_000).await.unwrap();
    let changes: Vec<_> = events
        .iter()
        .filter(|e| e.topic == "rollout.changed")
        .collect();
    assert!(
        changes.len() >= 8,
        "one event per change: {}",
        changes.len()
    );
    let last: serde_json::Value = serde_json::from_str(&changes.last().unwrap().payload).unwrap();
    assert_eq!(last["channel"], "stable");
}

async fn rollout_race_admits_one_open_rollout_per_channel(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (a, b) = two_releases(&server).await;
    let ids = [a.id.clone(), b.id.clone()];
    let mut calls = Vec::new();
    for i in 0..8 {
        let id = ids[i % 2].clone();
        let (addr, token) = (server.url(""), server.admin.clone());
        calls.push(tokio::spawn(async move {
            let mut admin = pb::release_admin_client::ReleaseAdminClient::connect(addr)
                .await
                .unwrap();
            let request = pb::SetRolloutRequest {
                release_id: id,
                bps: 1000,
                waves: String::new(),
            };
            admin.set_rollout(authed(request, &token)).await
        }));
    }
    let mut won = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => won += 1,
            Err(status) => assert!(
                matches!(status.code(), Code::FailedPrecondition | Code::Aborted),
                "{status:?}"
            ),
        }
    }
    let open: Vec<_> = [
        get_rollout(&server, &a.id).await,
        get_rollout(&server, &b.id).await,
    ]
    .into_iter()
    .flatten()
    .collect();
    // A retry of the same share on the winner answers it unchanged (it counts as a win).
    assert!(won >= 1, "one starter wins");
    assert_eq!(open.len(), 1, "exactly one rollout: {open:?}");
    assert_eq!(open[0].state, "active");
    let starts = audit_actions(&server)
        .await
        .into_iter()
        .filter(|a| a == "rollout.start")
        .count();
    assert_eq!(starts, 1, "one start recorded");
}

async fn rollout_waves_advance_once_across_servers(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let replica = server.start_replica().await;
    let (_, b) = two_releases(&server).await;
    let started = set_rollout_waves(&server, &b.id, 0, "10%@0,50%@2s,100%@5s")
        .await
        .unwrap();
    assert_eq!(
        (started.bps, started.waves.as_str()),
        (1000, "1000@0,5000@2,10000@5")
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut seen = vec![1000];
    loop {
        let now = get_rollout(&server, &b.id).await.unwrap();
        if seen.last() != Some(&now.bps) {
            seen.push(now.bps);
        }
        if now.state == "completed" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waves stuck at {now:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(seen.last(), Some(&10_000));
    let waves = audit_actions(&server)
        .await
        .into_iter()
        .filter(|a| a == "rollout.wave")
        .count();
    assert_eq!(waves, 2, "each wave applied once by two servers");
    // Completed: everyone, from either server.
    let mut catalog = replica.catalog_client().await;
    let mut request = grpc_request(1, "");
    request.client_id.clear();
    let answer = catalog.get_latest_release(request).await.unwrap();
    assert_eq!(decision(answer.into_inner()), "update 2.0.0");
    replica.stop().await;
}

async fn rollout_bad_input_changes_nothing(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (_, b) = two_releases(&server).await;
    let draft_release = create(
        &server,
        Rel {
            version: "3.0.0",
            ..Rel::default()
        },
    )
    .await;
    let before = audit_actions(&server).await.len();
    let e = assert_error(
        set_rollout(&server, &b.id, 10_001).await,
        Code::InvalidArgument,
        "",
    );
    assert!(e.message().contains("bps"), "{e:?}");
    let e = assert_error(
        set_rollout(&server, &draft_release.id, 1000).await,
        Code::FailedPrecondition,
        "",
    );
    assert!(e.message().contains("published"), "{e:?}");
    let e = assert_error(
        set_rollout_waves(&server, &b.id, 0, "50%@1h,10%@2h").await,
        Code::InvalidArgument,
        "",
    );
    assert!(e.message().contains("waves"), "{e:?}");
    assert_error(
        act(&server, &b.id, "pause").await,
        Code::FailedPrecondition,
        "",
    );
    assert_eq!(get_rollout(&server, &b.id).await, None);
    assert_eq!(
        audit_actions(&server).await.len(),
        before,
        "nothing recorded"
    );

    set_rollout(&server, &b.id, 2000).await.unwrap();
    let before = audit_actions(&server).await.len();
    let e = assert_error(
        set_rollout(&server, &b.id, 1000).await,
        Code::InvalidArgument,
        "",
    );
    assert!(e.message().contains("only widens"), "{e:?}");
    let e = assert_error(
        set_rollout_waves(&server, &b.id, 3000, "50%@0").await,
        Code::InvalidArgument,
        "",
    );
    assert!(e.message().contains("waves"), "{e:?}");
    // Resuming an active rollout (a retry, say) answers it unchanged and records nothing.
    let same = act(&server, &b.id, "resume").await.unwrap();
    assert_eq!((same.state.as_str(), same.bps), ("active", 2000));
    let now = get_rollout(&server, &b.id).await.unwrap();
    assert_eq!((now.state.as_str(), now.bps), ("active", 2000));
    assert_eq!(
        audit_actions(&server).await.len(),
        before,
        "nothing recorded"
    );

    // Deprecating the rolling-out release ends its rollout: the channel is free again.
    let token = server.admin.clone();
    let request = pb::DeprecateReleaseRequest {
        release_id: b.id.clone(),
        reason: "bad build".into(),
        replacement: String::new(),
    };
    admin_call(&server, async |a| {
        a.deprecate_release(authed(request, &token)).await
    })
    .await
    .unwrap();
    let c = released(
        &server,
        Rel {
            version: "4.0.0",
            ..Rel::default()
        },
    )
    .await;
    set_rollout(&server, &c.id, 1000).await.unwrap();
    assert_eq!(get_rollout(&server, &b.id).await.unwrap().state, "halted");
}

async fn rollout_cli_sets_pauses_halts_and_marks_floors(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (a, b) = two_releases(&server).await;
    let user = crate::cli::User::new(&server);
    let set = user
        .json(&["rollout", "set", &b.id, "--percent", "12.5%"])
        .await;
    assert_eq!(set["rollout"]["state"], "active");
    assert_eq!(set["rollout"]["bps"], 1250);
    let shown = user.run(&["rollout", "show", &b.id]).await;
    assert!(shown.status.success());
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout).trim(),
        format!("{} active 12.50%", b.id)
    );
    let lower = user
        .run(&["rollout", "set", &b.id, "--percent", "5%"])
        .await;
    assert!(!lower.status.success(), "lowering is refused");
    assert!(
        String::from_utf8_lossy(&lower.stderr).contains("only widens"),
        "{}",
        String::from_utf8_lossy(&lower.stderr)
    );
    let bad = user
        .run(&["rollout", "set", &b.id, "--percent", "150%"])
        .await;
    assert!(!bad.status.success(), "above 100% is refused");
    assert_eq!(
        user.json(&["rollout", "pause", &b.id]).await["rollout"]["state"],
        "paused"
    );
    assert_eq!(
        user.json(&["rollout", "resume", &b.id]).await["rollout"]["state"],
        "active"
    );
    assert_eq!(
        user.json(&["rollout", "halt", &b.id]).await["rollout"]["state"],
        "halted"
    );
    assert!(
        user.run(&["rollout", "floor", &a.id])
            .await
            .status
            .success()
    );
    assert!(
        audit_actions(&server)
            .await
            .iter()
            .any(|x| x == "floor.set")
    );
    let none = user.run(&["rollout", "show", &a.id]).await;
    assert_eq!(String::from_utf8_lossy(&none.stdout).trim(), "no rollout");
}

/// `relreg sync` generates a client id once, keeps it, and lands where its cohort says.
async fn rollout_sync_sends_a_stable_client_id(backend: Backend) {
    use crate::client_support::{publish_files, publish_rel, relreg};
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let base = server.url("");
    publish_files(&server, "1.0.0", &[("a.txt".to_string(), b"one".to_vec())]).await;
    let r1 = publish_rel(&server, "1.0.0", "1.0", "1.0.0").await;
    publish_files(&server, "2.0.0", &[("a.txt".to_string(), b"two".to_vec())]).await;
    let r2 = publish_rel(&server, "1.1.0", "1.0", "2.0.0").await;
    set_rollout(&server, &r2, 5000).await.unwrap();
    let salt = server.store.get_rollout(&r2).await.unwrap().unwrap().salt;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("device");
    let d = dir.to_str().unwrap();
    let args = [
        "sync",
        "--repo",
        "acme",
        "--channel",
        "stable",
        "--app-version",
        "1.2",
        "--dir",
        d,
        "--output",
        "json",
    ];
    let json = relreg(&base, &args).await.expect(0).json();
    let id = std::fs::read_to_string(dir.join("client-id")).unwrap();
    let id = id.trim();
    assert_eq!(id.len(), 32, "a generated id: {id:?}");
    let want = if relreg::domain::in_cohort(&salt, 5000, id) {
        &r2
    } else {
        &r1
    };
    assert_eq!(json["release_id"], want.as_str(), "the cohort of {id}");
    let again = relreg(&base, &args).await.expect(10).json();
    assert_eq!(again["release_id"], want.as_str());
    let kept = std::fs::read_to_string(dir.join("client-id")).unwrap();
    assert_eq!(kept.trim(), id, "the id is generated once");

    set_rollout(&server, &r2, 10_000).await.unwrap();
    let json = relreg(&base, &args).await.json();
    assert_eq!(json["release_id"], r2.as_str(), "100% is everyone");
}
