//! Cold "latest" at depth, cold "latest" against a primary-key read, and the memory of a warm
//! cache. Driven by `scripts/bench-latest.sh` (or run directly: `cargo bench --bench latest`).
//!
//! On SQLite, and on Postgres when `RELREG_BENCH_POSTGRES_URL` names a server (a fresh
//! database is created there and dropped at the end), it:
//!
//! 1. seeds two channels of 1,000 and 100,000 published releases straight into the tables and
//!    opens the store, which writes their offer steps (see `seeding.rs`);
//! 2. serves them in-process with the cache off and times sequential GetLatestRelease calls,
//!    rounds interleaving the cases so background load hits them alike: an app version only the
//!    oldest release admits, and one the newest release answers, at both depths;
//! 3. prints the plans of `relreg::store::offer_sql()`, literal and bound;
//! 4. measures the request rate of GetLatestRelease (random depths) and of GetRelease (random
//!    ids) on the same server, alternating rounds.
//!
//! Then, on SQLite, it seeds 1,000,000 releases over 10,000 channels, serves them from a
//! `relreg serve` subprocess with the cache off (the baseline) and then one with the cache on,
//! asks every channel for several app versions and then for as many as a channel keeps answers
//! for, and reports each server's RSS growth.
//!
//! `RELREG_BENCH_SIZE=reduced` divides the large datasets by ten for a busy machine (`smoke`:
//! tiny, to check that it runs);
//! `RELREG_BENCH_PARTS=cold` or `=memory` runs one part. It exits 0 whether or not the
//! budgets hold.

#[path = "../../tests/shared/harness.rs"]
mod harness;
mod measuring;
mod plans;
mod reporting;
mod seeding;
mod servers;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use rand::{SeedableRng as _, rngs::StdRng};

use harness::ScratchDb;
use measuring::{Call, load, request_rate, rss_mib, sample, stats};
use reporting::{ColdReport, Depth, MemoryReport, Phase, print_summary, thousands};
use seeding::{Channels, Kind, Pool, seed};
use servers::{Process, Server, latest_is};

/// What a run measures: `full` the budgets' sizes, `reduced` a tenth, `smoke` a check that it runs.
struct Plan {
    deep: [u64; 2],
    memory_channels: u64,
    memory_per_channel: u64,
    rounds: usize,
    /// Latency samples per case, over all rounds.
    calls: usize,
    rate_window: Duration,
    rate_rounds: usize,
}

impl Plan {
    fn from_env() -> (Self, &'static str) {
        match std::env::var("RELREG_BENCH_SIZE").as_deref() {
            Ok("smoke") => (
                Self {
                    deep: [100, 1_000],
                    memory_channels: 100,
                    memory_per_channel: 20,
                    rounds: 2,
                    calls: 20,
                    rate_window: Duration::from_secs(1),
                    rate_rounds: 2,
                },
                "smoke",
            ),
            Ok("reduced") => (
                Self {
                    deep: [1_000, 10_000],
                    memory_channels: 1_000,
                    memory_per_channel: 100,
                    rounds: 5,
                    calls: 100,
                    rate_window: Duration::from_secs(3),
                    rate_rounds: 3,
                },
                "reduced",
            ),
            _ => (
                Self {
                    deep: [1_000, 100_000],
                    memory_channels: 10_000,
                    memory_per_channel: 100,
                    rounds: 5,
                    calls: 300,
                    rate_window: Duration::from_secs(5),
                    rate_rounds: 5,
                },
                "full",
            ),
        }
    }
}

const WARMUP_CALLS: usize = 200;
const CONNECTIONS: usize = 4;
const CONCURRENCY: usize = 16;
/// How many app versions the cache keeps answers for per channel (`ANSWERS_PER_CHANNEL`).
const ANSWERS_PER_CHANNEL: u64 = 64;

async fn run_cold(kind: Kind, postgres: Option<&str>, plan: &Plan) -> Result<ColdReport> {
    println!(
        "\n=============== cold latest: {} ===============",
        kind.name()
    );
    let dir = tempfile::tempdir()?;
    let db = ScratchDb::create(postgres, dir.path(), "relreg_bench_latest").await?;
    let groups: Vec<Arc<Channels>> = plan
        .deep
        .iter()
        .map(|&n| {
            Arc::new(Channels {
                prefix: format!("deep-{n}-"),
                channels: 1,
                per_channel: n,
            })
        })
        .collect();
    let owned: Vec<Channels> = groups.iter().map(|g| (**g).clone()).collect();
    let seeded = seed(kind, &db.url, &owned).await?;
    let seed_note = format!(
        "{} releases inserted in {:.1} s, {} offer steps written at store open in {:.1} s",
        thousands(seeded.releases),
        seeded.insert_secs,
        thousands(seeded.steps as u64),
        seeded.steps_secs
    );
    println!("{seed_note}");
    let mut load_notes = vec![format!("start {}", load())];

    let server = Server::start(&db.url, true).await?;
    let mut clients = server.clients(CONNECTIONS).await?;
    let mut rng = StdRng::seed_from_u64(7);
    // (group, oldest call, newest call)
    let cases: Vec<(Call, Call)> = groups
        .iter()
        .map(|g| {
            (
                Call::Latest(g.clone(), Some(0)),
                Call::Latest(g.clone(), Some(g.per_channel - 1)),
            )
        })
        .collect();
    let mut warm = Vec::new();
    for (old, new) in &cases {
        sample(&mut clients[0], old, WARMUP_CALLS, &mut rng, &mut warm).await?;
        sample(&mut clients[0], new, WARMUP_CALLS, &mut rng, &mut warm).await?;
    }
    let mut samples = vec![(Vec::new(), Vec::new()); cases.len()];
    let per_round = plan.calls / plan.rounds;
    for _ in 0..plan.rounds {
        for (i, (old, new)) in cases.iter().enumerate() {
            let (old_samples, new_samples) = &mut samples[i];
            sample(&mut clients[0], old, per_round, &mut rng, old_samples).await?;
            sample(&mut clients[0], new, per_round, &mut rng, new_samples).await?;
        }
    }
    load_notes.push(format!("after latency {}", load()));
    let depths: Vec<Depth> = groups
        .iter()
        .zip(&samples)
        .map(|(g, (old, new))| Depth {
            releases: g.per_channel,
            oldest: stats(old),
            newest: stats(new),
        })
        .collect();
    for d in &depths {
        println!(
            "  {:>9} releases: oldest answers p50 {:.3} ms, newest answers p50 {:.3} ms",
            thousands(d.releases),
            d.oldest.p50 / 1000.0,
            d.newest.p50 / 1000.0
        );
    }

    println!("\nquery plans of offer_sql() on {}:", kind.name());
    let pool = Pool::open(kind, &db.url).await?;
    let deepest = groups.last().context("no groups")?;
    let key = |j| -> Result<String> {
        Ok(relreg::domain::sort_key(
            &relreg::domain::parse_app_version("app", &Channels::app_for(j))?,
        ))
    };
    let plan_cases = vec![
        (
            format!(
                "{} releases, oldest answers",
                thousands(deepest.per_channel)
            ),
            deepest.channel(0),
            key(0)?,
        ),
        (
            format!(
                "{} releases, newest answers",
                thousands(deepest.per_channel)
            ),
            deepest.channel(0),
            key(deepest.per_channel - 1)?,
        ),
    ];
    let verdicts = plans::explain(&pool, &plan_cases).await?;
    pool.close().await;

    let latest_call = Call::Latest(deepest.clone(), None);
    let get_call = Call::GetRelease(deepest.clone());
    for call in [&latest_call, &get_call] {
        request_rate(&clients, call, CONCURRENCY, Duration::from_secs(1)).await?;
    }
    let mut rates = Vec::new();
    for round in 0..plan.rate_rounds {
        // Alternate which goes first, so neither always follows the other.
        let (a, b) = if round % 2 == 0 {
            (&latest_call, &get_call)
        } else {
            (&get_call, &latest_call)
        };
        let ra = request_rate(&clients, a, CONCURRENCY, plan.rate_window).await?;
        let rb = request_rate(&clients, b, CONCURRENCY, plan.rate_window).await?;
        let (l, g) = if round % 2 == 0 { (ra, rb) } else { (rb, ra) };
        println!(
            "  rate round {}: GetLatestRelease {l:.0}/s, GetRelease {g:.0}/s (load {})",
            round + 1,
            load()
        );
        rates.push((l, g));
    }
    load_notes.push(format!("after rates {}", load()));
    drop(clients);
    server.stop().await?;
    Ok(ColdReport {
        kind,
        seed: seed_note,
        depths,
        plans: verdicts,
        rates,
        rate_setup: format!(
            "{CONCURRENCY} concurrent callers over {CONNECTIONS} connections, {} s per round; \
             latest: random app versions (random answer depth) in the {}-release channel; get: random ids there",
            plan.rate_window.as_secs(),
            thousands(deepest.per_channel)
        ),
        load: load_notes,
    })
}

/// Asks every channel of `group` for release `j` of each of `depths`, from CONCURRENCY tasks.
async fn warm_all(
    clients: &[servers::Client],
    group: &Arc<Channels>,
    depths: &[u64],
) -> Result<()> {
    let mut tasks = Vec::new();
    for t in 0..CONCURRENCY {
        let mut client = clients[t % clients.len()].clone();
        let (group, depths) = (group.clone(), depths.to_vec());
        tasks.push(tokio::spawn(async move {
            let mut k = t as u64;
            while k < group.channels {
                for &j in &depths {
                    latest_is(
                        &mut client,
                        &group.channel(k),
                        &Channels::app_for(j),
                        &group.release_id(k, j),
                    )
                    .await?;
                }
                k += CONCURRENCY as u64;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

async fn run_memory(plan: &Plan) -> Result<MemoryReport> {
    println!("\n=============== cache memory: sqlite ===============");
    let dir = tempfile::tempdir()?;
    let db = ScratchDb::create(None, dir.path(), "relreg_bench_memory").await?;
    let group = Arc::new(Channels {
        prefix: "ch-".into(),
        channels: plan.memory_channels,
        per_channel: plan.memory_per_channel,
    });
    let seeded = seed(Kind::Sqlite, &db.url, std::slice::from_ref(&*group)).await?;
    let seed_note = format!(
        "rows {:.1} s, offer steps at store open {:.1} s",
        seeded.insert_secs, seeded.steps_secs
    );
    println!("{seed_note}");
    let mut load_notes = vec![format!("start {}", load())];
    let last = group.per_channel - 1;
    let typical = vec![last, last / 2, last / 4, 0];
    // The first ones again and others, up to as many as a channel keeps: one more would
    // start the channel's answers over.
    let mut every = typical.clone();
    every.extend(
        (0..group.per_channel)
            .filter(|j| !typical.contains(j))
            .take(ANSWERS_PER_CHANNEL as usize - typical.len()),
    );
    let asks = [
        ("4 app versions per channel (4 different answers)", &typical),
        (
            "then up to as many as a channel keeps (64), each answered by another release",
            &every,
        ),
        ("the same again (from the cache when it is on)", &every),
    ];
    // The same calls against a cache-off server first: what serving them costs without a cache
    // (connections, SQLite's page cache, allocator), the baseline of the cache's growth.
    let mut growth = [Vec::new(), Vec::new()];
    let mut secs = [Vec::new(), Vec::new()];
    for (side, no_cache) in [(0, true), (1, false)] {
        let mut server = Process::start(&db.url, no_cache).await?;
        let clients = server.clients(CONNECTIONS).await?;
        latest_is(
            &mut clients[0].clone(),
            &group.channel(0),
            "1.0",
            &group.release_id(0, 0),
        )
        .await?;
        let before = rss_mib(server.pid());
        for (what, depths) in asks {
            let start = Instant::now();
            warm_all(&clients, &group, depths).await?;
            let took = start.elapsed().as_secs_f64();
            let grew = rss_mib(server.pid()) - before;
            println!(
                "  cache {}: {what}: {took:.1} s, server RSS +{grew:.1} MiB (load {})",
                if no_cache { "off" } else { "on" },
                load()
            );
            growth[side].push(grew);
            secs[side].push(took);
        }
        drop(clients);
        server.stop();
    }
    let mut phases = Vec::new();
    let mut cached = 0;
    for (i, (what, depths)) in asks.iter().enumerate() {
        cached = cached.max(depths.len() as u64 * group.channels);
        phases.push(Phase {
            what: (*what).to_owned(),
            answers: cached,
            secs: (secs[1][i], secs[0][i]),
            growth: (growth[1][i], growth[0][i]),
        });
    }
    load_notes.push(format!("end {}", load()));
    Ok(MemoryReport {
        releases: group.releases(),
        channels: group.channels,
        seed: seed_note,
        phases,
        load: load_notes,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let started = Instant::now();
    let (plan, size) = Plan::from_env();
    let parts = std::env::var("RELREG_BENCH_PARTS").unwrap_or_else(|_| "cold,memory".into());
    let postgres = std::env::var("RELREG_BENCH_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    println!("size: {size}; parts: {parts}; load {}", load());
    let mut cold = Vec::new();
    if parts.contains("cold") {
        let mut kinds = vec![(Kind::Sqlite, None)];
        match &postgres {
            Some(url) => kinds.push((Kind::Postgres, Some(url.as_str()))),
            None => println!("RELREG_BENCH_POSTGRES_URL is not set: SQLite only"),
        }
        for (kind, url) in kinds {
            match run_cold(kind, url, &plan).await {
                Ok(r) => cold.push(r),
                Err(e) => println!("{} cold benchmark failed: {e:#}", kind.name()),
            }
        }
    }
    let memory = if parts.contains("memory") {
        match run_memory(&plan).await {
            Ok(m) => Some(m),
            Err(e) => {
                println!("memory benchmark failed: {e:#}");
                None
            }
        }
    } else {
        None
    };
    print_summary(&cold, memory.as_ref());
    println!(
        "size {size}; total time {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
