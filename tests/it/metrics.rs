//! `/metrics` counts gRPC answers by their real status and cannot be grown from outside:
//! made-up paths fold into one route label.

use relreg::pb;

use crate::common::{Backend, TestServer};

/// Reads a counter's value (0 when absent).
fn counter(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

async fn metrics(http: &reqwest::Client, server: &TestServer) -> String {
    let answer = http.get(server.url("/metrics")).send().await.unwrap();
    answer.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_grpc_paths_fold_into_one_label_and_count_as_failures() {
    let server = TestServer::start(&Backend::Sqlite).await;
    let http = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    // The first unknown path creates the `unknown` series; later ones must add none.
    let warm_up = http
        .post(server.url("/made.up.Service/Method"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(vec![0u8, 0, 0, 0, 0]);
    drop(warm_up.send().await.unwrap().bytes().await);
    let before = metrics(&http, &server).await;
    for i in 0..200 {
        let answer = http
            .post(server.url(&format!("/made.up{i}.Service/Method{i}")))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(vec![0u8, 0, 0, 0, 0])
            .send()
            .await
            .unwrap();
        drop(answer.bytes().await);
    }
    let after = metrics(&http, &server).await;
    assert!(
        after.lines().count() <= before.lines().count() + 40,
        "200 made-up paths grew /metrics from {} to {} lines",
        before.lines().count(),
        after.lines().count()
    );
    assert!(!after.contains("made.up"), "a made-up path became a label");
    let unknown = "relreg_requests_total{protocol=\"grpc\",route=\"unknown\",code=\"0\"}";
    assert_eq!(
        counter(&after, unknown),
        0.0,
        "a made-up path counted as a success"
    );
    let unimplemented = "relreg_requests_total{protocol=\"grpc\",route=\"unknown\",code=\"12\"}";
    assert!(counter(&after, unimplemented) >= 201.0, "{after}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_answers_count_under_their_real_status() {
    let server = TestServer::start(&Backend::Sqlite).await;
    let http = reqwest::Client::new();
    let route = "/relreg.v1.ReleaseCatalog/GetPackage";
    let ok = format!("relreg_requests_total{{protocol=\"grpc\",route=\"{route}\",code=\"0\"}}");
    let missing =
        format!("relreg_requests_total{{protocol=\"grpc\",route=\"{route}\",code=\"5\"}}");
    let before = metrics(&http, &server).await;
    crate::common::fixture(&server, "generic").await;
    let mut catalog = server.catalog_client().await;
    for package in ["app", "app", "ghost"] {
        let request = pb::GetPackageRequest {
            repo: "acme".into(),
            package: package.into(),
        };
        let _ = catalog.get_package(request).await;
    }
    let after = metrics(&http, &server).await;
    assert_eq!(counter(&after, &ok) - counter(&before, &ok), 2.0, "{after}");
    assert_eq!(
        counter(&after, &missing) - counter(&before, &missing),
        1.0,
        "{after}"
    );
    server.stop().await;
}

/// Counts the series lines (not comments) of a `/metrics` text.
fn series(metrics: &str) -> usize {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count()
}

/// Returns a random path of 1 to 4 segments, sometimes under the real route prefixes.
fn random_path(rng: &mut impl rand::Rng) -> String {
    const PREFIXES: [&str; 6] = [
        "",
        "/v1/repos",
        "/repos",
        "/relreg.v1.ReleaseCatalog",
        "/relreg.v1.ReleaseAdmin",
        "/browse",
    ];
    let mut path = PREFIXES[rng.random_range(0..PREFIXES.len())].to_owned();
    for _ in 0..rng.random_range(1..=4) {
        let len = rng.random_range(1..12);
        let segment: String = (0..len)
            .map(|_| {
                char::from(b"abcdefghijklmnopqrstuvwxyz0123456789._-"[rng.random_range(0..39)])
            })
            .collect();
        path.push('/');
        path.push_str(&segment);
    }
    path
}

/// Sends each path as plain GET, JSON POST, gRPC (h2) or gRPC-Web, 32 at a time.
async fn send_all(
    h1: &reqwest::Client,
    h2: &reqwest::Client,
    server: &TestServer,
    requests: Vec<(usize, String)>,
) {
    use futures::StreamExt as _;

    futures::stream::iter(requests)
        .for_each_concurrent(32, |(i, path)| {
            let url = server.url(&path);
            async move {
                let request = match i % 4 {
                    0 => h1.get(url),
                    1 => h1
                        .post(url)
                        .header("content-type", "application/json")
                        .body("{}"),
                    2 => h2
                        .post(url)
                        .header("content-type", "application/grpc")
                        .header("te", "trailers")
                        .body(vec![0u8, 0, 0, 0, 0]),
                    _ => h1
                        .post(url)
                        .header("content-type", "application/grpc-web+proto")
                        .body(vec![0u8, 0, 0, 0, 0]),
                };
                let answer = request.send().await.expect("the server answers");
                drop(answer.bytes().await);
            }
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_random_paths_leave_the_series_count_bounded() {
    use rand::SeedableRng as _;

    let server = TestServer::start(&Backend::Sqlite).await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let h1 = reqwest::Client::new();
    let before = metrics(&h1, &server).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(10);
    let mut paths = Vec::new();
    let mut counts = vec![series(&before)];
    for _round in 0..2 {
        let requests: Vec<(usize, String)> =
            (0..5_000).map(|i| (i, random_path(&mut rng))).collect();
        paths.extend(requests.iter().map(|(_, p)| p.clone()));
        send_all(&h1, &h2, &server, requests).await;
        counts.push(series(&metrics(&h1, &server).await));
    }
    let after = metrics(&h1, &server).await;
    eprintln!("series after 0, 5,000 and 10,000 random paths: {counts:?}");
    // The first round may reach each route template and status once (a bounded set); the
    // second, as many new paths again, must add next to nothing.
    assert!(
        counts[1] <= counts[0] + 300 && counts[2] <= counts[1] + 20,
        "series after 0, 5,000 and 10,000 random paths: {counts:?}\n{after}"
    );
    let leaked: Vec<&String> = paths
        .iter()
        .filter(|p| p.len() > 12 && after.contains(p.as_str()))
        .take(5)
        .collect();
    assert!(leaked.is_empty(), "paths became labels: {leaked:?}");
    let unknown_ok = "relreg_requests_total{protocol=\"grpc\",route=\"unknown\",code=\"0\"}";
    assert_eq!(
        counter(&after, unknown_ok),
        0.0,
        "a made-up RPC counted as a success"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_grpc_frames_answer_internal_but_count_as_client_errors() {
    let server = TestServer::start(&Backend::Sqlite).await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let route = "/relreg.v1.ReleaseCatalog/GetPackage";
    let client = format!(
        "relreg_request_errors_total{{protocol=\"grpc\",route=\"{route}\",class=\"client\"}}"
    );
    let server_errors = format!(
        "relreg_request_errors_total{{protocol=\"grpc\",route=\"{route}\",class=\"server\"}}"
    );
    let internal =
        format!("relreg_requests_total{{protocol=\"grpc\",route=\"{route}\",code=\"13\"}}");
    let before = metrics(&h2, &server).await;
    let frames: [&[u8]; 3] = [
        // A frame whose message is not protobuf (field 0, wire type 7).
        &[0, 0, 0, 0, 3, 0xff, 0xff, 0xff],
        // A frame cut short: says 10 bytes, carries 2.
        &[0, 0, 0, 0, 10, 0x0a, 0x01],
        // An invalid compression flag.
        &[7, 0, 0, 0, 0],
    ];
    for frame in frames {
        let answer = h2
            .post(server.url(route))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(frame.to_vec())
            .send()
            .await
            .unwrap();
        let head = answer.headers().get("grpc-status").cloned();
        let body = answer.bytes().await;
        assert_eq!(
            head.as_ref().and_then(|v| v.to_str().ok()),
            Some("13"),
            "gRPC's table: an unparsable request is INTERNAL ({body:?})"
        );
    }
    let after = metrics(&h2, &server).await;
    assert_eq!(
        counter(&after, &internal) - counter(&before, &internal),
        3.0,
        "{after}"
    );
    assert_eq!(
        counter(&after, &client) - counter(&before, &client),
        3.0,
        "{after}"
    );
    assert_eq!(counter(&after, &server_errors), 0.0, "{after}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_listen_serves_every_series_on_its_own_address() {
    use crate::common::{Rel, draft, fixture, publish, released};

    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics_addr = free.local_addr().unwrap();
    drop(free);
    let server =
        TestServer::start_with(&Backend::Sqlite, |c| c.metrics.listen = Some(metrics_addr)).await;
    let http = reqwest::Client::new();
    let main = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(main.status(), 404, "/metrics moved off the main port");

    fixture(&server, "generic").await;
    draft(&server, "1.0.0", &[("a.txt", b"a")]).await;
    publish(&server, "1.0.0").await;
    released(&server, Rel::default()).await;
    let mut catalog = server.catalog_client().await;
    for _ in 0..3 {
        let request = pb::GetLatestReleaseRequest {
            repo: "acme".into(),
            channel: "stable".into(),
            app_version: "1.2".into(),
            ..Default::default()
        };
        catalog.get_latest_release(request).await.expect("latest");
    }

    let answer = http
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.unwrap();
    let build = format!(
        "relreg_build_info{{version=\"{}\",profile=\"debug\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(counter(&text, &build), 1.0, "{text}");
    assert!(
        counter(&text, "process_resident_memory_bytes") > 1e6,
        "{text}"
    );
    assert!(counter(&text, "process_open_fds") >= 3.0, "{text}");
    assert!(text.contains("\nprocess_cpu_seconds_total "), "{text}");
    assert!(
        counter(&text, "relreg_db_pool_max_connections") >= 1.0,
        "{text}"
    );
    assert!(
        counter(&text, "relreg_db_pool_connections") >= 1.0,
        "{text}"
    );
    assert_eq!(counter(&text, "relreg_db_up"), 1.0, "{text}");
    assert!(
        counter(&text, "relreg_db_acquire_seconds_count") >= 1.0,
        "{text}"
    );
    let hits = "relreg_cache_hits_total{kind=\"answer\"}";
    let misses = "relreg_cache_misses_total{kind=\"answer\"}";
    assert!(
        counter(&text, hits) >= 2.0,
        "warm answers count as hits: {text}"
    );
    assert!(
        counter(&text, misses) >= 1.0,
        "the first answer was a miss: {text}"
    );
    let latest_ok = "relreg_requests_total{protocol=\"grpc\",route=\"/relreg.v1.ReleaseCatalog/GetLatestRelease\",code=\"0\"}";
    assert_eq!(counter(&text, latest_ok), 3.0, "{text}");
    server.stop().await;
}
