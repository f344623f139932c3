//! Several servers on one PostgreSQL database and one S3 bucket (moto), as behind a load
//! balancer: a release published on any server is "latest" on every server within a second
//! (the outbox NOTIFY wakes their cache followers), and blobs, including a resumable upload
//! whose requests land on different servers, are shared through the bucket.
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
