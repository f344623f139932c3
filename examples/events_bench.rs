//! The events budgets, measured against a running relreg (see scripts/bench-events.sh, which
//! starts one and passes its address, an admin token and its pid):
//!
//! 1. webhook: a loopback receiver gets each publish within 1 s p99. Side by side in the
//!    same run: a `WatchReleases` stream on the same server (same publishes) and the
//!    publish call's own round trip (the baseline every path includes).
//! 2. fan-out: 1,000 concurrent `WatchReleases` streams grow the server's RSS by < 100 MiB,
//!    and one publish reaches all of them within 1 s. Baseline: the RSS before the streams.
//!
//! Latency is measured from just before the publish call is sent to the arrival, on one
//! clock (everything runs on 127.0.0.1).
//!
//!   cargo run --example events_bench -- BASE TOKEN PID [STREAMS] [PUBLISHES]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use relreg::pb::{
    self, release_admin_client::ReleaseAdminClient, release_catalog_client::ReleaseCatalogClient,
};
use tonic::{Request, transport::Channel};

fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn publish(admin: &mut ReleaseAdminClient<Channel>, token: &str, v: &str) {
    admin
        .create_version(authed(
            pb::CreateVersionRequest {
                repo: "evbench".into(),
                package: "app".into(),
                version: v.into(),
            },
            token,
        ))
        .await
        .expect("create version");
    admin
        .publish_version(authed(
            pb::PublishVersionRequest {
                repo: "evbench".into(),
                package: "app".into(),
                version: v.into(),
                etag: String::new(),
            },
            token,
        ))
        .await
        .expect("publish");
}

/// Opens a stream and sends every version it sees, with the arrival time, to `tx`.
async fn open_stream(
    channel: Channel,
    tx: tokio::sync::mpsc::UnboundedSender<(String, Instant)>,
    ready: tokio::sync::mpsc::UnboundedSender<()>,
) {
    let mut catalog = ReleaseCatalogClient::new(channel);
    let mut stream = catalog
        .watch_releases(pb::WatchReleasesRequest {
            repo: "evbench".into(),
            channel: String::new(),
            after_event_id: None,
        })
        .await
        .expect("watch")
        .into_inner();
    let mut first = true;
    while let Ok(Some(m)) = stream.message().await {
        if first {
            first = false;
            let _ = ready.send(());
        }
        if let Some(pb::watch_releases_response::Kind::Event(e)) = m.kind {
            let data: serde_json::Value = serde_json::from_str(&e.data_json).unwrap_or_default();
            let version = data["version"].as_str().unwrap_or("").to_owned();
            if tx.send((version, Instant::now())).is_err() {
                return;
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (base, token, pid) = (&args[1], &args[2], &args[3]);
    let streams: usize = args.get(4).map_or(1000, |s| s.parse().unwrap());
    let publishes: usize = args.get(5).map_or(200, |s| s.parse().unwrap());
    let connect = || async {
        Channel::from_shared(base.clone())
            .unwrap()
            .connect()
            .await
            .expect("connect")
    };
    let mut admin = ReleaseAdminClient::new(connect().await);
    admin
        .create_repo(authed(
            pb::CreateRepoRequest {
                repo: "evbench".into(),
                public: true,
                display_name: "events bench".into(),
            },
            token,
        ))
        .await
        .expect("create repo");
    admin
        .create_package(authed(
            pb::CreatePackageRequest {
                repo: "evbench".into(),
                package: "app".into(),
                kind: "generic".into(),
                description: String::new(),
            },
            token,
        ))
        .await
        .expect("create package");

    // The loopback receiver.
    let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let arrivals = arrivals.clone();
            move |body: String| {
                let arrivals = arrivals.clone();
                async move {
                    let now = Instant::now();
                    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                    if let Some(version) = v["data"]["version"].as_str() {
                        arrivals
                            .lock()
                            .unwrap()
                            .entry(version.to_owned())
                            .or_insert(now);
                    }
                    axum::http::StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    admin
        .create_webhook(authed(
            pb::CreateWebhookRequest {
                repo: "evbench".into(),
                url: hook_url,
                topics: vec!["version.published".into()],
            },
            token,
        ))
        .await
        .expect("create webhook (the server needs --webhook-allow-private)");

    // 1. Webhook latency, with one stream and the publish round trip side by side.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (ready_tx, mut ready) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(open_stream(connect().await, tx, ready_tx));
    ready.recv().await;
    let mut hook = Vec::new();
    let mut stream = Vec::new();
    let mut call = Vec::new();
    for i in 0..publishes {
        let v = format!("1.0.{i}");
        let t0 = Instant::now();
        publish(&mut admin, token, &v).await;
        call.push(t0.elapsed());
        let deadline = t0 + Duration::from_secs(30);
        loop {
            if let Some(at) = arrivals.lock().unwrap().get(&v) {
                hook.push(at.duration_since(t0));
                break;
            }
            assert!(Instant::now() < deadline, "webhook for {v} never came");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        loop {
            let (got, at) = rx.recv().await.expect("stream open");
            if got == v {
                stream.push(at.duration_since(t0));
                break;
            }
        }
    }
    for l in [&mut hook, &mut stream, &mut call] {
        l.sort();
    }
    println!("publishes: {publishes}, one at a time");
    println!(
        "webhook arrival:       p50 {}  p99 {}  max {}",
        ms(percentile(&hook, 0.5)),
        ms(percentile(&hook, 0.99)),
        ms(*hook.last().unwrap())
    );
    println!(
        "WatchReleases arrival: p50 {}  p99 {}  max {}",
        ms(percentile(&stream, 0.5)),
        ms(percentile(&stream, 0.99)),
        ms(*stream.last().unwrap())
    );
    println!(
        "baseline, the publish calls' round trip: p50 {}  p99 {}",
        ms(percentile(&call, 0.5)),
        ms(percentile(&call, 0.99))
    );
    let hook_ok = percentile(&hook, 0.99) <= Duration::from_secs(1);
    println!(
        "budget webhook <= 1 s p99: {}",
        if hook_ok { "PASS" } else { "FAIL" }
    );

    // 2. Fan-out to many streams.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_kib(pid);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (ready_tx, mut ready) = tokio::sync::mpsc::unbounded_channel();
    let per_connection = 100;
    let mut channels = Vec::new();
    for _ in 0..streams.div_ceil(per_connection) {
        channels.push(connect().await);
    }
    for i in 0..streams {
        tokio::spawn(open_stream(
            channels[i / per_connection].clone(),
            tx.clone(),
            ready_tx.clone(),
        ));
    }
    drop(tx);
    let opened = Instant::now();
    for _ in 0..streams {
        tokio::time::timeout(Duration::from_secs(60), ready.recv())
            .await
            .expect("every stream answers (a heartbeat) within 60 s");
    }
    println!(
        "{streams} streams open and answering after {}",
        ms(opened.elapsed())
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(pid);
    let v = "2.0.0";
    let t0 = Instant::now();
    publish(&mut admin, token, v).await;
    let mut reached = Vec::with_capacity(streams);
    while reached.len() < streams {
        let (got, at) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("the publish reaches every stream within 30 s")
            .expect("streams open");
        if got == v {
            reached.push(at.duration_since(t0));
        }
    }
    reached.sort();
    let growth_mib = (rss_after.saturating_sub(rss_before)) as f64 / 1024.0;
    println!(
        "server RSS: {:.1} MiB before the streams (baseline), {:.1} MiB with {streams} streams: +{growth_mib:.1} MiB",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
    println!(
        "one publish reached all {streams} streams: p50 {}  p99 {}  last {}",
        ms(percentile(&reached, 0.5)),
        ms(percentile(&reached, 0.99)),
        ms(*reached.last().unwrap())
    );
    println!(
        "budget RSS growth < 100 MiB: {}",
        if growth_mib < 100.0 { "PASS" } else { "FAIL" }
    );
    println!(
        "budget all streams within 1 s: {}",
        if *reached.last().unwrap() <= Duration::from_secs(1) {
            "PASS"
        } else {
            "FAIL"
        }
    );
}
