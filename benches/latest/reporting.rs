//! What a run found, and its printing: per backend the cold-latest latencies at both depths and
//! answer depths, the plan verdicts, and the request rates of GetLatestRelease and GetRelease;
//! the cache's memory; then one summary with a PASS/FAIL per budget.

use crate::{measuring::Stats, plans::Verdict, seeding::Kind};

/// The most cold "latest" at the oldest release may take, as a multiple of the newest's p50.
pub(crate) const DEPTH_RATIO: f64 = 1.5;
/// The least cold GetLatestRelease throughput, as a share of GetRelease's.
pub(crate) const PK_SHARE: f64 = 0.5;
/// The most a fully warm cache may grow the process, in MiB.
pub(crate) const MEMORY_MIB: f64 = 100.0;

/// Cold latency of one channel depth.
pub(crate) struct Depth {
    pub(crate) releases: u64,
    /// The oldest release answers (the app version only it admits).
    pub(crate) oldest: Stats,
    /// The newest release answers.
    pub(crate) newest: Stats,
}

/// The cold path on one backend.
pub(crate) struct ColdReport {
    pub(crate) kind: Kind,
    pub(crate) seed: String,
    pub(crate) depths: Vec<Depth>,
    pub(crate) plans: Vec<Verdict>,
    /// Requests per second by round: (GetLatestRelease, GetRelease).
    pub(crate) rates: Vec<(f64, f64)>,
    pub(crate) rate_setup: String,
    pub(crate) load: Vec<String>,
}

/// The warm cache's memory.
pub(crate) struct MemoryReport {
    pub(crate) releases: u64,
    pub(crate) channels: u64,
    pub(crate) seed: String,
    pub(crate) phases: Vec<Phase>,
    pub(crate) load: Vec<String>,
}

/// One round of asking every channel, on a cache-on and a cache-off server.
pub(crate) struct Phase {
    pub(crate) what: String,
    /// Answers the cache holds after it.
    pub(crate) answers: u64,
    /// Seconds it took: (cache on, cache off).
    pub(crate) secs: (f64, f64),
    /// Server RSS growth since before the first round, in MiB: (cache on, cache off).
    pub(crate) growth: (f64, f64),
}

pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(us: f64) -> String {
    format!("{:.3}", us / 1000.0)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

pub(crate) fn print_summary(cold: &[ColdReport], memory: Option<&MemoryReport>) {
    println!("\n=============== summary ===============");
    println!(
        "Cold latest (cache off), sequential GetLatestRelease calls over gRPC, latencies in ms; \
         oldest = an app version only the oldest release admits, newest = the newest release answers"
    );
    println!(
        "{:<9} {:>9} | {:>7} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} | {:>9} | budget",
        "backend",
        "releases",
        "calls",
        "old p50",
        "old p99",
        "old mean",
        "new p50",
        "new p99",
        "new mean",
        "old/new"
    );
    for r in cold {
        for d in &r.depths {
            let ratio = d.oldest.p50 / d.newest.p50;
            println!(
                "{:<9} {:>9} | {:>7} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} | {:>8.2}x | {} (<= {DEPTH_RATIO}x)",
                r.kind.name(),
                thousands(d.releases),
                d.oldest.n,
                ms(d.oldest.p50),
                ms(d.oldest.p99),
                ms(d.oldest.mean),
                ms(d.newest.p50),
                ms(d.newest.p99),
                ms(d.newest.mean),
                ratio,
                verdict(ratio <= DEPTH_RATIO)
            );
        }
        if let [small, .., large] = r.depths.as_slice() {
            println!(
                "{:<9} depth alone: oldest at {} over newest at {} releases: p50 x{:.2}",
                "",
                thousands(large.releases),
                thousands(small.releases),
                large.oldest.p50 / small.newest.p50
            );
        }
        let bad: Vec<&str> = r
            .plans
            .iter()
            .filter(|(_, ok)| !*ok)
            .map(|(t, _)| t.as_str())
            .collect();
        println!(
            "{:<9} plans of offer_sql(): {}",
            "",
            if bad.is_empty() {
                format!(
                    "all {} index-backed (primary key of channel_offers, key lookup of releases), no scan, no sort",
                    r.plans.len()
                )
            } else {
                format!("NOT index-backed: {}", bad.join("; "))
            }
        );
        println!(
            "{:<9} seeding: {}; load during the run: {}",
            "",
            r.seed,
            r.load.join(" | ")
        );
    }

    println!(
        "\nCold GetLatestRelease vs GetRelease (a primary-key read), cache off, same server and data"
    );
    println!(
        "{:<9} {:>14} {:>14} {:>8}  rounds (latest/get, req/s)",
        "backend", "latest req/s", "get req/s", "share"
    );
    for r in cold {
        let latest = median(r.rates.iter().map(|x| x.0).collect());
        let get = median(r.rates.iter().map(|x| x.1).collect());
        let share = latest / get;
        let rounds: Vec<String> = r
            .rates
            .iter()
            .map(|(l, g)| format!("{l:.0}/{g:.0}"))
            .collect();
        println!(
            "{:<9} {:>14.0} {:>14.0} {:>7.2}x  {}  => {} (>= {PK_SHARE}x; medians of the rounds)",
            r.kind.name(),
            latest,
            get,
            share,
            rounds.join(" "),
            verdict(share >= PK_SHARE)
        );
        println!("{:<9} {}", "", r.rate_setup);
    }

    if let Some(m) = memory {
        println!(
            "\nCache memory: {} releases over {} channels (seeding {}), cache on, every channel asked",
            thousands(m.releases),
            thousands(m.channels),
            m.seed
        );
        for p in &m.phases {
            println!(
                "  {:<72} {:>9} answers  cache on: {:>6.1} s, server RSS +{:>6.1} MiB | cache off: {:>6.1} s, +{:>5.1} MiB  => {} (<= {MEMORY_MIB} MiB)",
                p.what,
                thousands(p.answers),
                p.secs.0,
                p.growth.0,
                p.secs.1,
                p.growth.1,
                verdict(p.growth.0 <= MEMORY_MIB)
            );
        }
        println!("  load: {}", m.load.join(" | "));
    }
    println!(
        "\nnote: client, server and database share this machine ({} cores) and other work; \
         figures are noisy under concurrent load.",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}
