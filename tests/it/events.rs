//! Events leaving the database: `WatchReleases` over native gRPC and gRPC-Web (replay,
//! live, heartbeats, resume, private repos), webhooks (admin RPCs, target checks, Standard
//! Webhooks signatures checked by the `standardwebhooks` PyPI library, retries, failure and
//! redelivery), the NATS JetStream sink against the real server, the relay lease, and the
//! relay surviving `kill -9` of the `relreg` binary.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::StreamExt as _;
use relreg::pb;
use tonic::Code;

use crate::common::{
    Backend, TestServer, assert_error, authed, backend_tests, draft, exec, fixture, publish,
    python_json, require_python, scalar,
};

backend_tests!(
    watch_replays_follows_and_resumes,
    watch_needs_a_reader_on_private_repos,
    watch_streams_over_grpc_web,
    webhooks_are_managed_by_repo_admins,
    webhook_targets_are_checked,
    webhooks_retry_fail_and_redeliver,
    standard_webhooks_library_verifies_deliveries,
    nats_sink_publishes_each_event_once,
    relay_lease_has_one_holder,
    delivered_events_are_purged_after_retention,
    relay_survives_kill9_of_the_binary,
    cli_watch_and_webhook_commands,
);

/// A quick server for event tests: short heartbeats, private webhook targets allowed.
async fn start(backend: &Backend) -> TestServer {
    TestServer::start_with(backend, |c| {
        c.events.heartbeat_secs = 0.3;
        c.events.webhook_allow_private = true;
        c.events.webhook_retries = vec![0.2, 0.2];
        c.events.webhook_timeout_secs = 2.0;
    })
    .await
}

/// Publishes version `v` (one event, `version.published`).
async fn publish_version(server: &TestServer, v: &str) {
    draft(server, v, &[("a.txt", v.as_bytes())]).await;
    publish(server, v).await;
}

/// Reads stream messages until `n` events came (heartbeats skipped), within 10 s.
async fn events(
    stream: &mut tonic::Streaming<pb::WatchReleasesResponse>,
    n: usize,
) -> Vec<pb::Event> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, stream.message())
            .await
            .expect("events within 10 s")
            .expect("stream ok")
            .expect("stream open");
        if let Some(pb::watch_releases_response::Kind::Event(e)) = message.kind {
            out.push(e);
        }
    }
    out
}

async fn watch(
    server: &TestServer,
    repo: &str,
    after: Option<i64>,
    token: Option<&str>,
) -> Result<tonic::Streaming<pb::WatchReleasesResponse>, tonic::Status> {
    let request = pb::WatchReleasesRequest {
        repo: repo.into(),
        channel: String::new(),
        after_event_id: after,
    };
    let request = match token {
        Some(t) => authed(request, t),
        None => tonic::Request::new(request),
    };
    server
        .catalog_client()
        .await
        .watch_releases(request)
        .await
        .map(|r| r.into_inner())
}

async fn watch_replays_follows_and_resumes(backend: Backend) {
    let server = start(&backend).await;
    fixture(&server, "generic").await;
    publish_version(&server, "1.0.0").await;
    publish_version(&server, "1.0.1").await;
    // Without an id: only what happens from now on (a heartbeat first, no replay).
    let mut live_only = watch(&server, "acme", None, None).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), live_only.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(
            first.kind,
            Some(pb::watch_releases_response::Kind::Heartbeat(_))
        ),
        "{first:?}"
    );
    // From 0: every event kept, in order, then live ones.
    let mut stream = watch(&server, "acme", Some(0), None).await.unwrap();
    let past = events(&mut stream, 2).await;
    let versions = |es: &[pb::Event]| -> Vec<String> {
        es.iter()
            .map(|e| {
                let data: serde_json::Value = serde_json::from_str(&e.data_json).unwrap();
                data["version"].as_str().unwrap_or("").to_owned()
            })
            .collect()
    };
    assert_eq!(versions(&past), ["1.0.0", "1.0.1"]);
    assert!(past[0].id < past[1].id);
    assert!(
        past.iter()
            .all(|e| e.topic == "version.published" && e.repo == "acme")
    );
    publish_version(&server, "1.0.2").await;
    let live = events(&mut stream, 1).await;
    assert_eq!(versions(&live), ["1.0.2"]);
    let seen_live = events(&mut live_only, 1).await;
    assert_eq!(seen_live[0].id, live[0].id, "both streams saw it");
    // Disconnect, miss two publishes, resume with the last id seen: nothing lost.
    drop(stream);
    publish_version(&server, "1.0.3").await;
    publish_version(&server, "1.0.4").await;
    let mut resumed = watch(&server, "acme", Some(live[0].id), None)
        .await
        .unwrap();
    let missed = events(&mut resumed, 2).await;
    assert_eq!(versions(&missed), ["1.0.3", "1.0.4"]);
    publish_version(&server, "1.0.5").await;
    assert_eq!(versions(&events(&mut resumed, 1).await), ["1.0.5"]);
    // Heartbeats carry the last id sent.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), resumed.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(pb::watch_releases_response::Kind::Heartbeat(h)) = m.kind {
            assert!(h.last_event_id > live[0].id);
            break;
        }
        assert!(Instant::now() < deadline);
    }
    // A channel filter: version events name no channel, so nothing comes but heartbeats.
    let mut filtered = server
        .catalog_client()
        .await
        .watch_releases(pb::WatchReleasesRequest {
            repo: "acme".into(),
            channel: "stable".into(),
            after_event_id: Some(0),
        })
        .await
        .unwrap()
        .into_inner();
    let m = tokio::time::timeout(Duration::from_secs(5), filtered.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(
            m.kind,
            Some(pb::watch_releases_response::Kind::Heartbeat(_))
        ),
        "{m:?}"
    );
    server.stop().await;
}

async fn watch_needs_a_reader_on_private_repos(backend: Backend) {
    let server = start(&backend).await;
    fixture(&server, "generic").await;
    let mut admin = server.admin_client().await;
    admin
        .create_repo(authed(
            pb::CreateRepoRequest {
                repo: "secret".into(),
                public: false,
                display_name: "S".into(),
            },
            &server.admin,
        ))
        .await
        .unwrap();
    assert_error(
        watch(&server, "secret", None, None).await,
        Code::NotFound,
        "",
    );
    let other = server.token("acme", pb::Role::Reader).await;
    assert_error(
        watch(&server, "secret", None, Some(&other)).await,
        Code::PermissionDenied,
        "",
    );
    let reader = server.token("secret", pb::Role::Reader).await;
    let mut stream = watch(&server, "secret", None, Some(&reader)).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.kind.is_some());
    assert_error(
        watch(&server, "Bad Name", None, None).await,
        Code::InvalidArgument,
        "",
    );
    assert_error(watch(&server, "nope", None, None).await, Code::NotFound, "");
    server.stop().await;
}

/// Splits gRPC-Web frames: data frames (flag 0) and the trailer frame (flag 0x80).
fn grpc_web_frames(buf: &mut Vec<u8>) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while buf.len() >= 5 {
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        if buf.len() < 5 + len {
            break;
        }
        let frame: Vec<u8> = buf.drain(..5 + len).collect();
        out.push((frame[0], frame[5..].to_vec()));
    }
    out
}

async fn watch_streams_over_grpc_web(backend: Backend) {
    use prost::Message as _;
    let server = start(&backend).await;
    fixture(&server, "generic").await;
    publish_version(&server, "1.0.0").await;
    // HTTP/1.1 gRPC-Web, as a browser sends it.
    let http = reqwest::Client::builder().http1_only().build().unwrap();
    let body = crate::common::frame(&pb::WatchReleasesRequest {
        repo: "acme".into(),
        channel: String::new(),
        after_event_id: Some(0),
    });
    let response = http
        .post(server.url("/relreg.v1.ReleaseCatalog/WatchReleases"))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut chunks = response.bytes_stream();
    let mut buf = Vec::new();
    let mut got_events = Vec::new();
    let mut heartbeats = 0;
    let mut published_live = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while got_events.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, chunks.next())
            .await
            .expect("gRPC-Web frames within 10 s")
            .expect("stream open")
            .unwrap();
        buf.extend_from_slice(&chunk);
        for (flag, bytes) in grpc_web_frames(&mut buf) {
            assert_eq!(flag, 0, "no trailers while the stream lives");
            let m = pb::WatchReleasesResponse::decode(&bytes[..]).unwrap();
            match m.kind {
                Some(pb::watch_releases_response::Kind::Event(e)) => got_events.push(e),
                Some(pb::watch_releases_response::Kind::Heartbeat(_)) => heartbeats += 1,
                None => {}
            }
        }
        if !got_events.is_empty() && !published_live {
            published_live = true;
            publish_version(&server, "1.0.1").await;
        }
    }
    assert_eq!(got_events[0].topic, "version.published");
    assert!(got_events[1].id > got_events[0].id);
    let _ = heartbeats;
    server.stop().await;
}

/// A loopback webhook receiver: records every request, answers from a script of statuses
/// (then 200), after an optional delay.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) got: Arc<Mutex<Vec<Received>>>,
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: String,
}

impl Receiver {
    pub(crate) async fn start(statuses: Vec<u16>, delay: Duration) -> Self {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script = Arc::new(Mutex::new(statuses.into_iter()));
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post({
                let got = got.clone();
                move |headers: axum::http::HeaderMap, body: String| {
                    let got = got.clone();
                    let script = script.clone();
                    async move {
                        tokio::time::sleep(delay).await;
                        let headers = headers
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                            .collect();
                        got.lock().unwrap().push(Received { headers, body });
                        let status = script.lock().unwrap().next().unwrap_or(200);
                        axum::http::StatusCode::from_u16(status).unwrap()
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, got }
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests came, within `within`.
    pub(crate) async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} of {n} requests",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn create_webhook(
    server: &TestServer,
    url: &str,
    topics: &[&str],
) -> Result<pb::CreateWebhookResponse, tonic::Status> {
    server
        .admin_client()
        .await
        .create_webhook(authed(
            pb::CreateWebhookRequest {
                repo: "acme".into(),
                url: url.into(),
                topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            },
            &server.admin,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn webhooks_are_managed_by_repo_admins(backend: Backend) {
    let server = start(&backend).await;
    fixture(&server, "generic").await;
    let receiver = Receiver::start(vec![], Duration::ZERO).await;
    let created = create_webhook(&server, &receiver.url, &["version.published"])
        .await
        .unwrap();
    assert!(created.secret.starts_with("whsec_"), "{}", created.secret);
    let hook = created.webhook.unwrap();
    assert!(hook.id.starts_with("wh_"));
    assert_eq!(hook.topics, vec!["version.published".to_owned()]);
    let mut admin = server.admin_client().await;
    let listed = admin
        .list_webhooks(authed(
            pb::ListWebhooksRequest {
                repo: "acme".into(),
            },
            &server.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.webhooks, vec![hook.clone()]);
    // The secret is shown once: nothing listed carries it.
    assert!(!format!("{listed:?}").contains(&created.secret[6..]));
    // Publishers cannot manage webhooks; repo admins can.
    let publisher = server.token("acme", pb::Role::Publisher).await;
    assert_error(
        admin
            .list_webhooks(authed(
                pb::ListWebhooksRequest {
                    repo: "acme".into(),
                },
                &publisher,
            ))
            .await,
        Code::PermissionDenied,
        "",
    );
    assert_error(
        admin
            .delete_webhook(authed(
                pb::DeleteWebhookRequest {
                    id: hook.id.clone(),
                },
                &publisher,
            ))
            .await,
        Code::PermissionDenied,
        "",
    );
    assert_error(
        create_webhook(&server, &receiver.url, &["Bad Topic"]).await,
        Code::InvalidArgument,
        "",
    );
    let audit = crate::common::audit_actions(&server).await;
    assert!(audit.contains(&"webhook.created".to_owned()), "{audit:?}");
    admin
        .delete_webhook(authed(
            pb::DeleteWebhookRequest {
                id: hook.id.clone(),
            },
            &server.admin,
        ))
        .await
        .unwrap();
    assert_error(
        admin
            .delete_webhook(authed(
                pb::DeleteWebhookRequest { id: hook.id },
                &server.admin,
            ))
            .await,
        Code::NotFound,
        "",
    );
    server.stop().await;
}

async fn webhook_targets_are_checked(backend: Backend) {
    // The default server: private targets refused.
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    for bad in [
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/x",
        "http://127.0.0.1:9/hook",
        "http://10.0.0.1/hook",
        "http://localhost:9/hook",
        "ftp://example.com/",
        "http://user:pw@example.com/",
        "not a url",
    ] {
        assert_error(
            create_webhook(&server, bad, &[]).await,
            Code::InvalidArgument,
            "",
        );
    }
    let mut admin = server.admin_client().await;
    let listed = admin
        .list_webhooks(authed(
            pb::ListWebhooksRequest {
                repo: "acme".into(),
            },
            &server.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.webhooks.is_empty(), "nothing was stored: {listed:?}");
    server.stop().await;
    // Allowing private targets never allows link-local or metadata ones.
    let server = start(&backend).await;
    fixture(&server, "generic").await;
    assert!(
        create_webhook(&server, "http://127.0.0.1:9/hook", &[])
            .await
            .is_ok()
    );
    for bad in [
        "http://169.254.169.254/",
        "http://[fe80::1]/x",
        "http://[fd00:ec2::254]/",
    ] {
        assert_error(
            create_webhook(&server, bad, &[]).await,
            Code::InvalidArgument,
            "",
        );
    }
    server.stop().await;
}

async fn deliveries(server: &TestServer, id: &str) -> Vec<pb::WebhookDelivery> {
    server
        .admin_client()
        .await
        .list_webhook_deliveries(authed(
            pb::ListWebhookDeliveriesRequest {
                webhook_id: id.into(),
                page_size: 0,
                page_token: String::new(),
            },
            &server.admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .deliveries
}

async fn webhooks_retry_fail_and_redeliver(backend: Backend) {
    let server = start(&backend).await;
    fixture(&server, "generic").await;
    // Three failures: the first attempt and both retries (schedule 0.2 s, 0.2 s).
    let receiver = Receiver::start(vec![500, 503, 500], Duration::ZERO).await;
    let hook = create_webhook(&server, &receiver.url, &[])
        .await
        .unwrap()
        .webhook
        .unwrap();
    publish_version(&server, "1.0.0").await;
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    let ids: Vec<&str> = got
        .iter()
        .map(|r| r.headers["webhook-id"].as_str())
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "retries keep the id: {ids:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let failed = loop {
        let list = deliveries(&server, &hook.id).await;
        if list.len() == 1 && list[0].state == pb::DeliveryState::Failed as i32 {
            break list[0].clone();
        }
        assert!(Instant::now() < deadline, "not failed: {list:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(failed.attempts, 3);
    assert_eq!(failed.last_status, 500);
    // No fourth attempt by itself.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.received().len(), 3);
    // Redelivery: the receiver now answers 200.
    server
        .admin_client()
        .await
        .redeliver_webhook(authed(
            pb::RedeliverWebhookRequest {
                webhook_id: hook.id.clone(),
                delivery_id: failed.id,
            },
            &server.admin,
        ))
        .await
        .unwrap();
    let got = receiver.wait_for(4, Duration::from_secs(10)).await;
    assert_eq!(got[3].headers["webhook-id"], ids[0]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let list = deliveries(&server, &hook.id).await;
        if list[0].state == pb::DeliveryState::Delivered as i32 {
            assert_eq!(list[0].attempts, 4);
            break;
        }
        assert!(Instant::now() < deadline, "not delivered: {list:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_error(
        server
            .admin_client()
            .await
            .redeliver_webhook(authed(
                pb::RedeliverWebhookRequest {
                    webhook_id: hook.id.clone(),
                    delivery_id: 999_999,
                },
                &server.admin,
            ))
            .await,
        Code::NotFound,
        "",
    );
    server.stop().await;
}

/// Verifies deliveries with the `standardwebhooks` library; returns its verdict per delivery.
fn verify_with_library(secret: &str, got: &[Received]) -> Vec<bool> {
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
cases = json.load(sys.stdin)
wh = Webhook(cases["secret"])
out = []
for c in cases["deliveries"]:
    try:
        wh.verify(c["body"], c["headers"])
        out.append(True)
    except Exception as e:
        out.append(False)
print(json.dumps(out))
"#;
    let cases = serde_json::json!({
        "secret": secret,
        "deliveries": got.iter().map(|r| serde_json::json!({
            "body": r.body,
            "headers": {
                "webhook-id": r.headers["webhook-id"],
                "webhook-timestamp": r.headers["webhook-timestamp"],
                "webhook-signature": r.headers["webhook-signature"],
            },
        })).collect::<Vec<_>>(),
    });
    serde_json::from_value(python_json(script, &cases)).unwrap()
}

async fn standard_webhooks_library_verifies_deliveries(backend: Backend) {
    require_python("standardwebhooks", "standardwebhooks");
    let server = start(&backend).await;
    fixture(&server, "generic").await;
    let receiver = Receiver::start(vec![], Duration::ZERO).await;
    let created = create_webhook(&server, &receiver.url, &["version.published"])
        .await
        .unwrap();
    // Another subscription whose filter matches nothing published here.
    let other = Receiver::start(vec![], Duration::ZERO).await;
    create_webhook(&server, &other.url, &["release.published"])
        .await
        .unwrap();
    publish_version(&server, "1.0.0").await;
    publish_version(&server, "1.0.1").await;
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(verify_with_library(&created.secret, &got), vec![true, true]);
    // A wrong secret, or a body changed by one byte, fails the library's check.
    let mut tampered = got.clone();
    tampered[0].body = tampered[0].body.replacen("1.0.0", "1.0.9", 1);
    assert_eq!(
        verify_with_library("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &got[..1]),
        vec![false]
    );
    assert_eq!(
        verify_with_library(&created.secret, &tampered[..1]),
        vec![false]
    );
    // In outbox order, each with the event's id; the body is the event envelope.
    let bodies: Vec<serde_json::Value> = got
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(bodies[0]["type"], "version.published");
    assert_eq!(bodies[0]["data"]["version"], "1.0.0");
    assert_eq!(bodies[1]["data"]["version"], "1.0.1");
    assert_eq!(
        got[0].headers["webhook-id"],
        format!("evt_{}", bodies[0]["id"])
    );
    assert!(bodies[0]["id"].as_i64() < bodies[1]["id"].as_i64());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(other.received().is_empty(), "the topic filter holds");
    assert_eq!(receiver.received().len(), 2, "delivered once each");
    server.stop().await;
}

/// Fails when NATS is not answering on 127.0.0.1:4222.
async fn require_nats() -> async_nats::Client {
    async_nats::connect("nats://127.0.0.1:4222")
        .await
        .expect("this test needs NATS with JetStream on 127.0.0.1:4222 (nats-server -js)")
}

async fn nats_sink_publishes_each_event_once(backend: Backend) {
    let nats = require_nats().await;
    let js = async_nats::jetstream::new(nats);
    let stream = format!("RELREG_TEST_{}", uuid::Uuid::new_v4().simple());
    let prefix = format!("relreg_test.{}", uuid::Uuid::new_v4().simple());
    let server = TestServer::start_with(&backend, |c| {
        c.events.nats_url = Some("nats://127.0.0.1:4222".into());
        c.events.nats_stream = stream.clone();
        c.events.nats_subject_prefix = prefix.clone();
    })
    .await;
    fixture(&server, "generic").await;
    publish_version(&server, "1.0.0").await;
    publish_version(&server, "1.0.1").await;
    let count = || async {
        js.get_stream(&stream)
            .await
            .map(|mut s| async move { s.info().await.map(|i| i.state.messages).unwrap_or(0) })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(n) = count().await
            && n.await == 2
        {
            break;
        }
        assert!(Instant::now() < deadline, "two messages in the stream");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Relaying them again (as after a kill between publish and marking) adds nothing:
    // JetStream drops the duplicates by Nats-Msg-Id.
    mark_undelivered(&server).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while pending(&server).await > 0 {
        assert!(Instant::now() < deadline, "relayed again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count().await.unwrap().await, 2);
    let s = js.get_stream(&stream).await.unwrap();
    let first = s.get_raw_message(1).await.unwrap();
    assert!(first.subject.starts_with(&prefix), "{}", first.subject);
    let headers = first.headers;
    let body: serde_json::Value = serde_json::from_slice(&first.payload).unwrap();
    assert_eq!(
        headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .map(|v| v.to_string()),
        Some(format!("evt_{}", body["id"]))
    );
    js.delete_stream(&stream).await.unwrap();
    server.stop().await;
}

async fn mark_undelivered(server: &TestServer) {
    exec(server, "UPDATE outbox SET delivered_at = NULL").await;
}

async fn pending(server: &TestServer) -> i64 {
    scalar(
        server,
        "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL",
    )
    .await
}

async fn relay_lease_has_one_holder(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let other = relreg::store::open(&server.db.url).await.unwrap();
    if backend.postgres_url().is_some() {
        // Two servers on one database: exactly one holds the relay lease.
        let replica = server.start_replica().await;
        let holders = || {
            scalar(
                &server,
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 \
                 AND granted AND database = (SELECT oid FROM pg_database \
                 WHERE datname = current_database())",
            )
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while holders().await != 1 {
            assert!(Instant::now() < deadline, "one server took the relay lease");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(holders().await, 1, "the other server did not take it too");
        assert!(other.try_lease_relay().await.unwrap().is_none());
        // The replica stops: whoever held it, one server holds it afterwards.
        replica.stop().await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while holders().await != 1 {
            assert!(
                Instant::now() < deadline,
                "the remaining server took the lease over"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(other.try_lease_relay().await.unwrap().is_none());
    } else {
        // SQLite: the one process relays.
        let mut lease = other.try_lease_relay().await.unwrap().expect("lease");
        assert!(lease.held().await.unwrap());
    }
    server.stop().await;
}

async fn delivered_events_are_purged_after_retention(backend: Backend) {
    let server = start(&backend).await;
    fixture(&server, "generic").await;
    publish_version(&server, "1.0.0").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while pending(&server).await > 0 {
        assert!(Instant::now() < deadline, "relayed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let store = server.store.clone();
    let total = scalar(&server, "SELECT COUNT(*) FROM outbox").await;
    assert!(total >= 1);
    // Nothing is younger than "now minus a week": nothing goes.
    let week = 7 * 24 * 3600 * 1_000_000i64;
    let now = relreg::registry::now();
    assert_eq!(store.purge_delivered(now - week, 1000).await.unwrap(), 0);
    // Everything delivered before now goes, in batches of the given size.
    let mut gone = 0;
    loop {
        let n = store.purge_delivered(now + 1, 1).await.unwrap();
        assert!(n <= 2, "one event and one delivery per batch at most");
        if n == 0 {
            break;
        }
        gone += n;
    }
    assert_eq!(gone as i64, total);
    assert_eq!(scalar(&server, "SELECT COUNT(*) FROM outbox").await, 0);
    // Pending events are never purged.
    publish_version(&server, "1.0.1").await;
    server.stop().await;
}

/// A `relreg serve` subprocess.
struct Served {
    child: std::process::Child,
    base: String,
}

impl Served {
    async fn start(db: &str, dir: &std::path::Path, extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let blobs = dir.join("blobs").display().to_string();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_relreg"));
        command
            .args(["serve", "--database-url", db, "--blob-dir", &blobs])
            .args(["--listen", &listen])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let served = Self {
            child: command.spawn().expect("spawn relreg serve"),
            base: format!("http://{listen}"),
        };
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = http.get(format!("{}/healthz", served.base)).send().await
                && r.status() == 200
            {
                return served;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("relreg serve did not come up on {listen}");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // SIGKILL, as kill -9 sends.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Publishes version `v` of acme/app through the API of a server at `base`.
async fn publish_at(base: &str, token: &str, v: &str) {
    let mut admin = pb::release_admin_client::ReleaseAdminClient::connect(base.to_owned())
        .await
        .unwrap();
    let data = v.as_bytes().to_vec();
    let digest = crate::common::digest(&data);
    use pb::upload_blob_request::Payload;
    let header = pb::UploadBlobRequest {
        payload: Some(Payload::Header(pb::UploadBlobHeader {
            repo: "acme".into(),
            expected_digest: digest.clone(),
            expected_size: Some(data.len() as i64),
            media_type: "text/plain".into(),
        })),
    };
    let chunk = pb::UploadBlobRequest {
        payload: Some(Payload::Chunk(data.into())),
    };
    admin
        .upload_blob(authed(futures::stream::iter([header, chunk]), token))
        .await
        .unwrap();
    admin
        .create_version(authed(
            pb::CreateVersionRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: v.into(),
            },
            token,
        ))
        .await
        .unwrap();
    admin
        .put_version_file(authed(
            pb::PutVersionFileRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: v.into(),
                path: "a.txt".into(),
                digest,
                media_type: String::new(),
                etag: String::new(),
            },
            token,
        ))
        .await
        .unwrap();
    admin
        .publish_version(authed(
            pb::PublishVersionRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: v.into(),
                etag: String::new(),
            },
            token,
        ))
        .await
        .unwrap();
}

async fn relay_survives_kill9_of_the_binary(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::common::TestDb::create(backend.postgres_url(), dir.path(), "relreg_kill9")
        .await
        .unwrap();
    let blobs = dir.path().join("blobs").display().to_string();
    let out = tokio::task::spawn_blocking({
        let url = db.url.clone();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_relreg"))
                .args([
                    "token",
                    "bootstrap",
                    "--database-url",
                    &url,
                    "--blob-dir",
                    &blobs,
                ])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    // A slow receiver, so that the kill lands mid-delivery.
    let receiver = Receiver::start(vec![], Duration::from_millis(150)).await;
    let flags = [
        "--webhook-allow-private",
        "--webhook-retry-schedule",
        "0.2,0.5,1,2,4",
    ];
    let server = Served::start(&db.url, dir.path(), &flags).await;
    let mut admin = pb::release_admin_client::ReleaseAdminClient::connect(server.base.clone())
        .await
        .unwrap();
    admin
        .create_repo(authed(
            pb::CreateRepoRequest {
                repo: "acme".into(),
                public: true,
                display_name: "Acme".into(),
            },
            &token,
        ))
        .await
        .unwrap();
    admin
        .create_package(authed(
            pb::CreatePackageRequest {
                repo: "acme".into(),
                package: "app".into(),
                kind: "generic".into(),
                description: String::new(),
            },
            &token,
        ))
        .await
        .unwrap();
    admin
        .create_webhook(authed(
            pb::CreateWebhookRequest {
                repo: "acme".into(),
                url: receiver.url.clone(),
                topics: vec![],
            },
            &token,
        ))
        .await
        .unwrap();
    const N: usize = 12;
    for i in 0..N {
        publish_at(&server.base, &token, &format!("1.0.{i}")).await;
    }
    receiver.wait_for(3, Duration::from_secs(20)).await;
    drop(server); // kill -9, mid-delivery
    let before = receiver.received().len();
    assert!(before < N, "the kill came before every delivery ({before})");
    let server = Served::start(&db.url, dir.path(), &flags).await;
    // Every event arrives (at least once), in order per first arrival.
    let deadline = Instant::now() + Duration::from_secs(60);
    let ids = loop {
        let mut firsts: Vec<String> = Vec::new();
        for r in receiver.received() {
            let id = r.headers["webhook-id"].clone();
            if !firsts.contains(&id) {
                firsts.push(id);
            }
        }
        if firsts.len() >= N {
            break firsts;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {N} events arrived after the restart",
            firsts.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(ids.len(), N, "no event arrived that was not published");
    let numbers: Vec<i64> = ids
        .iter()
        .map(|id| id.trim_start_matches("evt_").parse().unwrap())
        .collect();
    let mut sorted = numbers.clone();
    sorted.sort();
    assert_eq!(numbers, sorted, "first arrivals in event order");
    // Duplicates only for deliveries the kill interrupted (at most one per concurrent target).
    let total = receiver.received().len();
    assert!(total <= N + 1, "{total} requests for {N} events");
    drop(server);
}

async fn cli_watch_and_webhook_commands(backend: Backend) {
    let server = start(&backend).await;
    fixture(&server, "generic").await;
    let user = crate::cli::User::new(&server);
    let receiver = Receiver::start(vec![], Duration::ZERO).await;
    let created = user
        .json(&[
            "webhook",
            "create",
            "acme",
            &receiver.url,
            "--topic",
            "version.published",
        ])
        .await;
    let id = created["webhook"]["id"].as_str().unwrap().to_owned();
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    let listed = user.json(&["webhook", "list", "acme"]).await;
    assert_eq!(listed["webhooks"][0]["id"], id.as_str());
    publish_version(&server, "1.0.0").await;
    publish_version(&server, "1.0.1").await;
    receiver.wait_for(2, Duration::from_secs(10)).await;
    // `relreg watch` replays from an id: one JSON line per event.
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        user.run(&["watch", "acme", "--after", "0", "--max-events", "2"]),
    )
    .await
    .expect("relreg watch printed two events within 30 s");
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["type"], "version.published");
    assert_eq!(lines[0]["data"]["version"], "1.0.0");
    assert_eq!(lines[1]["data"]["version"], "1.0.1");
    let deadline = Instant::now() + Duration::from_secs(5);
    let deliveries = loop {
        let d = user.json(&["webhook", "deliveries", &id]).await;
        let all_done = d["deliveries"].as_array().is_some_and(|a| {
            a.len() == 2 && a.iter().all(|x| x["state"] == "DELIVERY_STATE_DELIVERED")
        });
        if all_done {
            break d;
        }
        assert!(Instant::now() < deadline, "{d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let delivery = deliveries["deliveries"][0]["id"].as_str().map_or_else(
        || {
            deliveries["deliveries"][0]["id"]
                .as_i64()
                .unwrap()
                .to_string()
        },
        str::to_owned,
    );
    user.json(&["webhook", "redeliver", &id, &delivery]).await;
    receiver.wait_for(3, Duration::from_secs(10)).await;
    user.json(&["webhook", "delete", &id]).await;
    let out = user.run(&["webhook", "delete", &id]).await;
    assert!(!out.status.success());
    // Watching a repo that does not exist fails at once (no reconnect loop).
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        user.run(&["watch", "nope", "--max-events", "1"]),
    )
    .await
    .expect("relreg watch gave up at once");
    assert!(!out.status.success());
    server.stop().await;
}
