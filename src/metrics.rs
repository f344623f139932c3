//! Process metrics in the Prometheus text format: requests by protocol, route and code,
//! request latency histograms, publishes, and uploaded and downloaded blob bytes. A global
//! registry, because every layer counts something and none should depend on another for it.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        LazyLock, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// What is counted of one route of one protocol.
#[derive(Default)]
struct RouteStats {
    /// Requests by result code.
    codes: BTreeMap<String, u64>,
    latency: Histogram,
}

#[derive(Default)]
struct Metrics {
    /// By protocol, then route: nested so that counting a known route allocates nothing.
    requests: Mutex<BTreeMap<&'static str, BTreeMap<String, RouteStats>>>,
    publishes: Mutex<BTreeMap<&'static str, u64>>,
    uploaded_bytes: AtomicU64,
    downloaded_bytes: AtomicU64,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

/// Records one finished request.
pub fn record_request(protocol: &'static str, route: &str, code: &str, elapsed: Duration) {
    let mut requests = METRICS
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let routes = requests.entry(protocol).or_default();
    let stats = match routes.get_mut(route) {
        Some(stats) => stats,
        None => routes.entry(route.to_owned()).or_default(),
    };
    match stats.codes.get_mut(code) {
        Some(n) => *n += 1,
        None => {
            stats.codes.insert(code.to_owned(), 1);
        }
    }
    let h = &mut stats.latency;
    let seconds = elapsed.as_secs_f64();
    for (count, bound) in h.counts.iter_mut().zip(BUCKETS) {
        if seconds <= bound {
            *count += 1;
        }
    }
    h.count += 1;
    h.sum += seconds;
}

/// Records a publish of a version or a release (`kind`).
pub fn record_publish(kind: &'static str) {
    if let Ok(mut publishes) = METRICS.publishes.lock() {
        *publishes.entry(kind).or_default() += 1;
    }
}

/// Records blob bytes received.
pub fn record_uploaded(bytes: u64) {
    METRICS.uploaded_bytes.fetch_add(bytes, Ordering::Relaxed);
}

/// Records blob bytes sent.
pub fn record_downloaded(bytes: u64) {
    METRICS.downloaded_bytes.fetch_add(bytes, Ordering::Relaxed);
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders every metric in the Prometheus text exposition format.
pub fn render() -> String {
    let mut out = String::new();
    out.push_str("# HELP relreg_requests_total Requests by protocol, route and result code.\n");
    out.push_str("# TYPE relreg_requests_total counter\n");
    let requests = METRICS
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let routes = || {
        requests.iter().flat_map(|(protocol, routes)| {
            routes.iter().map(move |(route, s)| (*protocol, route, s))
        })
    };
    for (protocol, route, stats) in routes() {
        for (code, n) in &stats.codes {
            let _ = writeln!(
                out,
                "relreg_requests_total{{protocol=\"{}\",route=\"{}\",code=\"{}\"}} {n}",
                escape(protocol),
                escape(route),
                escape(code)
            );
        }
    }
    out.push_str(
        "# HELP relreg_request_duration_seconds Time to the response head, or to the status of a gRPC answer that sends messages.\n",
    );
    out.push_str("# TYPE relreg_request_duration_seconds histogram\n");
    for (protocol, route, stats) in routes() {
        let h = &stats.latency;
        let labels = format!(
            "protocol=\"{}\",route=\"{}\"",
            escape(protocol),
            escape(route)
        );
        for (bound, count) in BUCKETS.iter().zip(h.counts) {
            let _ = writeln!(
                out,
                "relreg_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "relreg_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            out,
            "relreg_request_duration_seconds_sum{{{labels}}} {}",
            h.sum
        );
        let _ = writeln!(
            out,
            "relreg_request_duration_seconds_count{{{labels}}} {}",
            h.count
        );
    }
    drop(requests);
    out.push_str("# HELP relreg_publishes_total Versions and releases published.\n");
    out.push_str("# TYPE relreg_publishes_total counter\n");
    if let Ok(publishes) = METRICS.publishes.lock() {
        for (kind, n) in publishes.iter() {
            let _ = writeln!(out, "relreg_publishes_total{{kind=\"{kind}\"}} {n}");
        }
    }
    let bytes = [
        (
            "relreg_uploaded_bytes_total",
            "Blob bytes received.",
            &METRICS.uploaded_bytes,
        ),
        (
            "relreg_downloaded_bytes_total",
            "Blob bytes sent.",
            &METRICS.downloaded_bytes,
        ),
    ];
    for (name, help, value) in bytes {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            value.load(Ordering::Relaxed)
        );
    }
    out
}
