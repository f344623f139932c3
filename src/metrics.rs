//! Process metrics in the Prometheus text format, through the `metrics` facade with
//! `metrics-exporter-prometheus` as its recorder: every layer counts with the facade's macros
//! (a no-op until [`install`] runs, as in the offline commands), and `/metrics` renders the
//! recorder's series plus the process series read from `/proc` at scrape time.
//!
//! Series (every label value comes from a closed set, so nothing from outside can add series):
//! - `relreg_requests_total{protocol,route,code}` and `relreg_request_duration_seconds` (a
//!   histogram): requests by protocol, route (a route template or known RPC; anything else is
//!   one `unknown`/`unmatched` label) and real result code;
//! - `relreg_request_errors_total{protocol,route,class}`: failed requests by whose fault
//!   (`client` or `server`); a malformed gRPC frame answers INTERNAL, as gRPC's table says,
//!   but counts here as a client error;
//! - `relreg_publishes_total{kind}`, `relreg_uploaded_bytes_total`, `relreg_downloaded_bytes_total`;
//! - `relreg_cache_hits_total{kind}` and `relreg_cache_misses_total{kind}` (the warm cache);
//! - `relreg_db_pool_connections`, `relreg_db_pool_idle_connections`,
//!   `relreg_db_pool_max_connections`, `relreg_db_up` and `relreg_db_acquire_seconds`;
//! - `relreg_build_info{version,profile} 1`;
//! - `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
//!   `process_cpu_seconds_total`, `process_open_fds`, `process_max_fds`, `process_threads`.

use std::{borrow::Cow, fmt::Write as _, net::SocketAddr, sync::OnceLock, time::Duration};

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Where `/metrics` is served.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct MetricsConfig {
    /// Serve `/metrics` on this address instead of the main port (e.g. 127.0.0.1:9090).
    #[arg(
        id = "metrics_listen",
        long = "metrics-listen",
        value_name = "ADDR",
        env = "RELREG_METRICS_LISTEN"
    )]
    pub listen: Option<SocketAddr>,
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder as the process's `metrics` recorder (once; later calls
/// return at once) and sets the build-info series.
pub fn install() {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = [
            "relreg_request_duration_seconds",
            "relreg_db_acquire_seconds",
        ]
        .into_iter()
        .fold(builder, |b, name| {
            b.set_buckets_for_metric(Matcher::Full(name.to_owned()), &BUCKETS)
                .expect("the buckets are not empty")
        });
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Histogram samples are kept raw until upkeep folds them into their buckets; without
        // it (no scrape for a while) they grow by every request (~60 bytes each, measured).
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let handle = handle.clone();
            runtime.spawn(async move {
                let mut every = tokio::time::interval(UPKEEP_EVERY);
                loop {
                    every.tick().await;
                    handle.run_upkeep();
                }
            });
        }
        if let Err(e) = metrics::set_global_recorder(recorder) {
            tracing::warn!(error = %e, "another metrics recorder is installed: /metrics stays empty");
            return None;
        }
        describe();
        let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
        gauge!("relreg_build_info", "version" => env!("CARGO_PKG_VERSION"), "profile" => profile)
            .set(1.0);
        Some(handle)
    });
}

/// Writes every series' HELP text.
fn describe() {
    describe_counter!(
        "relreg_requests_total",
        "Requests by protocol, route and result code."
    );
    describe_histogram!(
        "relreg_request_duration_seconds",
        Unit::Seconds,
        "Time to the response head, or to the status of a gRPC answer that sends messages."
    );
    describe_counter!(
        "relreg_request_errors_total",
        "Failed requests by protocol, route and whose fault (client or server)."
    );
    describe_counter!("relreg_publishes_total", "Versions and releases published.");
    describe_counter!("relreg_uploaded_bytes_total", "Blob bytes received.");
    describe_counter!("relreg_downloaded_bytes_total", "Blob bytes sent.");
    describe_counter!(
        "relreg_cache_hits_total",
        "Reads the warm cache answered, by kind."
    );
    describe_counter!(
        "relreg_cache_misses_total",
        "Reads the warm cache could not answer, by kind."
    );
    describe_gauge!(
        "relreg_db_pool_connections",
        "Open database connections in the pool."
    );
    describe_gauge!(
        "relreg_db_pool_idle_connections",
        "Idle database connections in the pool."
    );
    describe_gauge!(
        "relreg_db_pool_max_connections",
        "The pool's connection limit."
    );
    describe_gauge!(
        "relreg_db_up",
        "1 while the database answers its health probe, 0 while calls fail fast."
    );
    describe_histogram!(
        "relreg_db_acquire_seconds",
        Unit::Seconds,
        "Time waited for a database connection."
    );
    describe_gauge!(
        "relreg_build_info",
        "The running build: version and profile."
    );
}

/// Records one finished request: `client_fault` tells whose fault a failure was (`None`: it
/// succeeded).
pub fn record_request(
    protocol: &'static str,
    route: Cow<'static, str>,
    code: &str,
    client_fault: Option<bool>,
    elapsed: Duration,
) {
    counter!(
        "relreg_requests_total",
        "protocol" => protocol,
        "route" => route.clone(),
        "code" => static_code(code)
    )
    .increment(1);
    if let Some(client) = client_fault {
        let class = if client { "client" } else { "server" };
        counter!(
            "relreg_request_errors_total",
            "protocol" => protocol,
            "route" => route.clone(),
            "class" => class
        )
        .increment(1);
    }
    histogram!(
        "relreg_request_duration_seconds",
        "protocol" => protocol,
        "route" => route
    )
    .record(elapsed.as_secs_f64());
}

/// Returns a result code as a static label value when it is a common one (no allocation on
/// the hot path), else as owned text.
fn static_code(code: &str) -> Cow<'static, str> {
    const CODES: [&str; 36] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
        "200", "201", "204", "206", "304", "400", "401", "403", "404", "405", "409", "412", "413",
        "416", "429", "500", "502", "503", "504",
    ];
    match CODES.iter().find(|c| **c == code) {
        Some(c) => Cow::Borrowed(c),
        None => Cow::Owned(code.to_owned()),
    }
}

/// Records a publish of a version or a release (`kind`).
pub fn record_publish(kind: &'static str) {
    counter!("relreg_publishes_total", "kind" => kind).increment(1);
}

/// Records blob bytes received.
pub fn record_uploaded(bytes: u64) {
    counter!("relreg_uploaded_bytes_total").increment(bytes);
}

/// Records blob bytes sent.
pub fn record_downloaded(bytes: u64) {
    counter!("relreg_downloaded_bytes_total").increment(bytes);
}

/// Records a read of the warm cache (`kind`: `answer`, `record`, `manifest`, `repo`, `token`).
pub fn record_cache(kind: &'static str, hit: bool) {
    if hit {
        counter!("relreg_cache_hits_total", "kind" => kind).increment(1);
    } else {
        counter!("relreg_cache_misses_total", "kind" => kind).increment(1);
    }
}

/// Records how long a call waited for a database connection.
pub fn record_acquire(waited: Duration) {
    histogram!("relreg_db_acquire_seconds").record(waited.as_secs_f64());
}

/// The state of a database connection pool, set at each scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections.
    pub size: u32,
    /// Idle connections.
    pub idle: usize,
    /// The pool's limit.
    pub max: u32,
    /// Whether the database answers its health probe.
    pub up: bool,
}

/// Sets the pool series.
pub fn record_pool(stats: PoolStats) {
    gauge!("relreg_db_pool_connections").set(f64::from(stats.size));
    gauge!("relreg_db_pool_idle_connections").set(stats.idle as f64);
    gauge!("relreg_db_pool_max_connections").set(f64::from(stats.max));
    gauge!("relreg_db_up").set(if stats.up { 1.0 } else { 0.0 });
}

/// Renders every series in the Prometheus text exposition format (installing the recorder
/// first if need be).
pub fn render() -> String {
    install();
    let mut out = HANDLE
        .get()
        .and_then(Option::as_ref)
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    if let Some(process) = process_series() {
        out.push_str(&process);
    }
    out
}

/// Reads the process series from `/proc/self` (Linux); `None` elsewhere.
fn process_series() -> Option<String> {
    // Clock ticks per second in /proc/PID/stat: USER_HZ, 100 on every Linux ABI.
    const TICKS: f64 = 100.0;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    let cpu = (field(14)? + field(15)?) / TICKS;
    let threads = field(20)?;
    let virtual_bytes = field(23)?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count();
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok());
    let mut out = String::new();
    let mut series = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    series(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        rss_kb * 1024.0,
    );
    series(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        virtual_bytes,
    );
    series(
        "process_cpu_seconds_total",
        "counter",
        "User and system CPU time spent, in seconds.",
        cpu,
    );
    series(
        "process_open_fds",
        "gauge",
        "Open file descriptors.",
        open_fds.saturating_sub(1) as f64, // less the one read_dir held
    );
    if let Some(max) = max_fds {
        series(
            "process_max_fds",
            "gauge",
            "The limit of open file descriptors.",
            max,
        );
    }
    series("process_threads", "gauge", "OS threads.", threads);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_series_read_proc() {
        let text = process_series().expect("Linux has /proc");
        for name in [
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
            "process_open_fds",
            "process_threads",
        ] {
            let value: f64 = text
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("{name} missing in {text}"));
            assert!(value >= 0.0, "{name} = {value}");
        }
    }
}
