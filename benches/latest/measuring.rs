//! Measuring: latency samples and their percentiles, request rates of many concurrent callers,
//! the process's resident memory, and the machine's load average to print beside each figure.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Result;
use rand::{Rng as _, SeedableRng as _, rngs::StdRng};

use crate::{
    seeding::Channels,
    servers::{Client, get_release, latest_is},
};

/// Percentiles of latency samples, in microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stats {
    pub(crate) n: usize,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) mean: f64,
}

pub(crate) fn stats(samples: &[f64]) -> Stats {
    if samples.is_empty() {
        return Stats::default();
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at =
        |q: f64| sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1];
    Stats {
        n: sorted.len(),
        p50: at(0.50),
        p99: at(0.99),
        mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
    }
}

/// Times `calls` sequential calls of `call` on one connection, appending microseconds.
pub(crate) async fn sample(
    client: &mut Client,
    call: &Call,
    calls: usize,
    rng: &mut StdRng,
    out: &mut Vec<f64>,
) -> Result<()> {
    for _ in 0..calls {
        let n = rng.random::<u64>();
        let start = Instant::now();
        call.run(client, n).await?;
        out.push(start.elapsed().as_secs_f64() * 1e6);
    }
    Ok(())
}

/// A call the benchmark repeats, over the releases of a group of channels.
#[derive(Clone)]
pub(crate) enum Call {
    /// GetLatestRelease with an app version only release `j` and older admit, so release `j`
    /// answers; `None` picks `j` (and the channel) at random.
    Latest(Arc<Channels>, Option<u64>),
    /// GetRelease of a release picked at random.
    GetRelease(Arc<Channels>),
}

impl Call {
    /// Makes the call, `n` choosing the channel and release where the call picks at random.
    pub(crate) async fn run(&self, client: &mut Client, n: u64) -> Result<()> {
        match self {
            Self::Latest(group, depth) => {
                let k = n % group.channels;
                let j = depth.unwrap_or((n / group.channels) % group.per_channel);
                latest_is(
                    client,
                    &group.channel(k),
                    &Channels::app_for(j),
                    &group.release_id(k, j),
                )
                .await
            }
            Self::GetRelease(group) => {
                let k = n % group.channels;
                let j = (n / group.channels) % group.per_channel;
                get_release(client, &group.release_id(k, j)).await
            }
        }
    }
}

/// Requests per second of `call` from `concurrency` tasks over `clients` for `window`.
pub(crate) async fn request_rate(
    clients: &[Client],
    call: &Call,
    concurrency: usize,
    window: Duration,
) -> Result<f64> {
    let start = Instant::now();
    let deadline = start + window;
    let mut tasks = Vec::with_capacity(concurrency);
    for t in 0..concurrency {
        let mut client = clients[t % clients.len()].clone();
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(t as u64);
            let mut done = 0u64;
            while Instant::now() < deadline {
                call.run(&mut client, rng.random()).await?;
                done += 1;
            }
            anyhow::Ok(done)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// The resident memory of process `pid`, in MiB.
pub(crate) fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` shows them.
pub(crate) fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
