//! Several servers on one PostgreSQL database and one S3 bucket (moto), as behind a load
//! balancer: a release published on any server is "latest" on every server within a second
//! (the outbox NOTIFY wakes their cache followers), and blobs, including a resumable upload
//! whose requests land on different servers, are shared through the bucket.
//!
//! `three_servers_relay_watch_and_webhooks_once`: one relay between the three servers, each
//! event delivered to a webhook once, a `WatchReleases` stream on one server following
//! publishes on another (the lag is printed), and the relay holder stopping mid-delivery with
//! another server taking over, losing nothing.
//!
//! `freshness_notify_vs_poll` (ignored; run it with `--run-ignored only`) measures
//! publish→visible on the other servers with the wake-ups and poll-only, side by side.

use std::time::{Duration, Instant};

use relreg::pb::{
    self, release_admin_client::ReleaseAdminClient, release_catalog_client::ReleaseCatalogClient,
};
use reqwest::{Client, StatusCode};
use tonic::transport::Channel;

use crate::{
    common::{Backend, TestServer, authed, decision, digest, draft, fixture, publish, upload},
    s3::Moto,
};

/// The clients of one server.
struct Node {
    addr: std::net::SocketAddr,
    admin: ReleaseAdminClient<Channel>,
    catalog: ReleaseCatalogClient<Channel>,
}

impl Node {
    async fn connect(addr: std::net::SocketAddr) -> Self {
        let url = format!("http://{addr}");
        Self {
            addr,
            admin: ReleaseAdminClient::connect(url.clone()).await.unwrap(),
            catalog: ReleaseCatalogClient::connect(url).await.unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Creates, attaches and publishes release `version` in `stable`.
    async fn release(&mut self, token: &str, version: &str) {
        let release = self
            .admin
            .create_release(authed(
                pb::CreateReleaseRequest {
                    repo: "acme".into(),
                    channel: "stable".into(),
                    version: version.into(),
                    min_app_version: "1.0".into(),
                    ..Default::default()
                },
                token,
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
        self.admin
            .attach_artifact(authed(attach, token))
            .await
            .unwrap();
        let publish = pb::PublishReleaseRequest {
            release_id: release.id,
            etag: String::new(),
        };
        self.admin
            .publish_release(authed(publish, token))
            .await
            .unwrap();
    }

    async fn latest(&mut self) -> String {
        let request = pb::GetLatestReleaseRequest {
            repo: "acme".into(),
            channel: "stable".into(),
            app_version: "1.5.0".into(),
            ..Default::default()
        };
        match self.catalog.get_latest_release(request).await {
            Ok(answer) => decision(answer.into_inner()),
            // No release in the channel yet.
            Err(status) => format!("{:?}", status.code()),
        }
    }
}

/// Three servers on one PostgreSQL database and one fresh bucket, with a published version
/// 1.0.0 of acme/app to release.
async fn three_servers(moto: &Moto, poll_only: bool) -> (TestServer, Vec<crate::common::Replica>) {
    let bucket = moto.bucket().await;
    let server = TestServer::start_with(&Backend::postgres(), |c| {
        bucket.apply(c);
        c.outbox_poll_only = poll_only;
    })
    .await;
    fixture(&server, "generic").await;
    draft(&server, "1.0.0", &[("a.txt", b"shared bytes")]).await;
    publish(&server, "1.0.0").await;
    let replicas = vec![server.start_replica().await, server.start_replica().await];
    (server, replicas)
}

/// Publishes `rounds` releases, each on the next server in turn, and returns how long each
/// took to be "latest" on the two other servers (whose caches hold the previous answer).
async fn publish_to_visible(
    server: &TestServer,
    nodes: &mut [Node],
    rounds: usize,
    first_minor: usize,
) -> Vec<Duration> {
    let mut lags = Vec::new();
    for round in 0..rounds {
        let version = format!("1.{}.0", first_minor + round);
        let expected = format!("update {version}");
        // Every cache holds the current answer.
        for node in nodes.iter_mut() {
            node.latest().await;
        }
        let on = round % nodes.len();
        nodes[on].release(&server.admin, &version).await;
        let published = Instant::now();
        assert_eq!(
            nodes[on].latest().await,
            expected,
            "on the publishing server"
        );
        for (i, node) in nodes.iter_mut().enumerate() {
            if i == on {
                continue;
            }
            loop {
                if node.latest().await == expected {
                    lags.push(published.elapsed());
                    break;
                }
                assert!(
                    published.elapsed() < Duration::from_secs(10),
                    "{version} not latest on server {i} after 10 s"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
    lags
}

/// Returns the p50 and p99 of some durations, in milliseconds.
fn percentiles(lags: &mut [Duration]) -> (f64, f64) {
    lags.sort();
    let at = |q: f64| {
        let i = ((lags.len() as f64 * q).ceil() as usize).clamp(1, lags.len()) - 1;
        lags[i].as_secs_f64() * 1000.0
    };
    (at(0.50), at(0.99))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_s3_server_three_servers_share_latest_and_blobs() {
    let moto = Moto::start().await;
    let (server, replicas) = three_servers(&moto, false).await;
    let mut nodes = vec![Node::connect(server.addr).await];
    for r in &replicas {
        nodes.push(Node::connect(r.addr).await);
    }

    let mut lags = publish_to_visible(&server, &mut nodes, 20, 1).await;
    let (p50, p99) = percentiles(&mut lags);
    println!(
        "publish -> latest on another server (NOTIFY), {} samples: p50 {p50:.1} ms, p99 {p99:.1} ms",
        lags.len()
    );
    assert!(p99 < 1000.0, "p99 {p99:.1} ms: not within 1 s");

    // A blob uploaded through one server downloads from the others, with ranges.
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let stored = upload(&server, &server.admin, "acme", &bytes)
        .await
        .unwrap();
    assert_eq!(stored.digest, digest(&bytes));
    let http = Client::new();
    for node in &nodes[1..] {
        let path = format!("/v1/repos/acme/blobs/{}", stored.digest);
        let whole = http.get(node.url(&path)).send().await.unwrap();
        assert_eq!(whole.status(), StatusCode::OK);
        assert_eq!(whole.bytes().await.unwrap(), bytes);
        let part = http
            .get(node.url(&path))
            .header("range", "bytes=1000-1999")
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(part.bytes().await.unwrap(), bytes[1000..2000]);
    }

    // A resumable upload opened on one server, continued on a second, completed on a third.
    let data: Vec<u8> = (0..30_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let opened = http
        .post(nodes[0].url("/v1/repos/acme/blobs/uploads"))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), StatusCode::ACCEPTED, "{opened:?}");
    let location = opened.headers()["location"].to_str().unwrap().to_owned();
    let chunk = http
        .patch(nodes[1].url(&location))
        .bearer_auth(&server.admin)
        .header("content-range", format!("0-{}", 19_999))
        .body(data[..20_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(chunk.status(), StatusCode::ACCEPTED, "{chunk:?}");
    let status = http
        .get(nodes[2].url(&location))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(status.headers()["range"], "0-19999");
    let done = http
        .put(nodes[2].url(&format!("{location}?digest={}", digest(&data))))
        .bearer_auth(&server.admin)
        .header("content-range", "20000-29999")
        .body(data[20_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::CREATED, "{done:?}");
    let back = http
        .get(nodes[1].url(&format!("/v1/repos/acme/blobs/{}", digest(&data))))
        .send()
        .await
        .unwrap();
    assert_eq!(back.bytes().await.unwrap(), data);

    drop(nodes);
    for r in replicas {
        r.stop().await;
    }
    server.stop().await;
}

/// The freshness budget, side by side: publish→latest on another server with the outbox
/// wake-ups (PostgreSQL NOTIFY) and with the one-second poll alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: cargo nextest run --profile full --run-ignored only -E 'test(/freshness_notify_vs_poll/)' --no-capture"]
async fn postgres_s3_server_freshness_notify_vs_poll() {
    let moto = Moto::start().await;
    for poll_only in [false, true] {
        let (server, replicas) = three_servers(&moto, poll_only).await;
        let mut nodes = vec![Node::connect(server.addr).await];
        for r in &replicas {
            nodes.push(Node::connect(r.addr).await);
        }
        let mut lags = publish_to_visible(&server, &mut nodes, 30, 1).await;
        let (p50, p99) = percentiles(&mut lags);
        let mode = if poll_only { "poll only" } else { "NOTIFY" };
        println!(
            "{mode:>9}: publish -> latest on another server, {} samples: p50 {p50:.1} ms, p99 {p99:.1} ms",
            lags.len()
        );
        drop(nodes);
        for r in replicas {
            r.stop().await;
        }
        server.stop().await;
    }
}

/// Waits until `n` sessions hold the relay lease (a PostgreSQL advisory lock), within 10 s.
async fn wait_for_relay_holders(db_url: &str, n: i64) {
    let pool = sqlx::PgPool::connect(db_url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let holders: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 \
             AND granted AND database = (SELECT oid FROM pg_database \
             WHERE datname = current_database())",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if holders == n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{holders} relay lease holders, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.close().await;
}

/// Reads the next event of a stream (heartbeats skipped), within 10 s.
async fn next_event(stream: &mut tonic::Streaming<pb::WatchReleasesResponse>) -> pb::Event {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, stream.message())
            .await
            .expect("an event within 10 s")
            .expect("the stream stays up")
            .expect("the stream does not end");
        if let Some(pb::watch_releases_response::Kind::Event(event)) = message.kind {
            return event;
        }
    }
}

/// Counts deliveries per `webhook-id`.
fn delivery_counts(got: &[crate::events::Received]) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for r in got {
        *counts
            .entry(r.headers.get("webhook-id").cloned().unwrap_or_default())
            .or_insert(0) += 1;
    }
    counts
}

/// Three servers on one PostgreSQL database and one bucket run one relay between them: a
/// release published on one server reaches a `WatchReleases` stream on another (the figure is
/// printed), the webhook receives each event once although three servers run, and when the
/// relay holder stops in the middle of delivering, another server takes over without losing
/// an event (the delivery in flight may come twice: at least once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_s3_server_three_servers_relay_watch_and_webhooks_once() {
    let moto = Moto::start().await;
    let bucket = moto.bucket().await;
    // Each delivery takes 100 ms, so that the relay holder can be stopped mid-delivery.
    let receiver = crate::events::Receiver::start(Vec::new(), Duration::from_millis(100)).await;
    let mut server = TestServer::start_with(&Backend::postgres(), |c| {
        bucket.apply(c);
        c.events.webhook_allow_private = true;
        c.events.heartbeat_secs = 0.5;
        c.events.webhook_timeout_secs = 2.0;
    })
    .await;
    fixture(&server, "generic").await;
    draft(&server, "1.0.0", &[("a.txt", b"shared bytes")]).await;
    publish(&server, "1.0.0").await;
    // Alone, the first server takes the relay lease.
    wait_for_relay_holders(&server.db.url, 1).await;
    let hook = server
        .admin_client()
        .await
        .create_webhook(authed(
            pb::CreateWebhookRequest {
                repo: "acme".into(),
                url: receiver.url.clone(),
                topics: vec!["release.published".into()],
            },
            &server.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(hook.secret.starts_with("whsec_"));
    let replicas = vec![server.start_replica().await, server.start_replica().await];
    tokio::time::sleep(Duration::from_millis(1500)).await;
    wait_for_relay_holders(&server.db.url, 1).await;

    // A stream on the third server sees what the second publishes.
    let mut publisher = Node::connect(replicas[0].addr).await;
    let mut stream = replicas[1]
        .catalog_client()
        .await
        .watch_releases(pb::WatchReleasesRequest {
            repo: "acme".into(),
            channel: "stable".into(),
            after_event_id: None,
        })
        .await
        .unwrap()
        .into_inner();
    let mut lags = Vec::new();
    for minor in 1..=10 {
        let started = Instant::now();
        publisher
            .release(&server.admin, &format!("1.{minor}.0"))
            .await;
        let event = next_event(&mut stream).await;
        lags.push(started.elapsed());
        assert_eq!(event.topic, "release.published");
        assert!(
            event.data_json.contains(&format!("1.{minor}.0")),
            "{event:?}"
        );
    }
    let (p50, p99) = percentiles(&mut lags);
    println!(
        "publish on one server -> WatchReleases on another, {} samples: p50 {p50:.1} ms, p99 {p99:.1} ms",
        lags.len()
    );
    assert!(p99 < 1000.0, "p99 {p99:.1} ms");

    // Three servers, one relay: each event reaches the webhook once.
    receiver.wait_for(10, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let counts = delivery_counts(&receiver.received());
    assert_eq!(counts.len(), 10, "{counts:?}");
    assert!(
        counts.values().all(|n| *n == 1),
        "delivered once each: {counts:?}"
    );

    // The relay holder stops while it delivers; another server takes over.
    for minor in 11..=20 {
        publisher
            .release(&server.admin, &format!("1.{minor}.0"))
            .await;
    }
    receiver.wait_for(12, Duration::from_secs(30)).await;
    server.signal_shutdown();
    let got = receiver.wait_for(20, Duration::from_secs(60)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let counts = loop {
        let counts = delivery_counts(&receiver.received());
        if counts.len() == 20 {
            break counts;
        }
        assert!(
            Instant::now() < deadline,
            "{} of 20 events delivered after the takeover ({} requests)",
            counts.len(),
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let repeated: usize = counts.values().map(|n| n - 1).sum();
    assert!(
        repeated <= 1,
        "only the delivery in flight may repeat: {counts:?}"
    );
    wait_for_relay_holders(&server.db.url, 1).await;
    for replica in replicas {
        replica.stop().await;
    }
}
