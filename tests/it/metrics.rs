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
    assert!(counter(&after, unimplemented) >= 200.0, "{after}");
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
