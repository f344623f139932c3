//! Blob throughput benchmark, driven by `scripts/bench-blobs.sh`, which creates the test file,
//! times `sha256sum` and `dd` on it, starts relreg and nginx on 127.0.0.1 and passes all of
//! that in `BENCH_*` variables. This program uploads the file over gRPC while sampling the
//! server's RSS, downloads it over HTTP from relreg and from nginx, and prints the figures
//! against the budgets. It measures: it exits 0 whether the budgets hold or not.

use std::{
    env,
    io::Read as _,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};
use bytes::Bytes;
use relreg::pb::{
    CreateRepoRequest, UploadBlobHeader, UploadBlobRequest,
    release_admin_client::ReleaseAdminClient, upload_blob_request::Payload,
};
use tonic::{Code, Request, metadata::MetadataValue, transport::Channel};

const MIB: f64 = 1024.0 * 1024.0;
const CHUNK: usize = 1024 * 1024;
const REPO: &str = "bench";
const DOWNLOAD_RUNS: usize = 3;
const RSS_SAMPLE: Duration = Duration::from_millis(50);

/// Budgets from the issue.
const UPLOAD_MIN_RATIO: f64 = 0.70;
const RSS_MAX_GROWTH_MIB: f64 = 64.0;
const DOWNLOAD_MIN_RATIO: f64 = 0.75;

/// What the script passes in.
struct Setup {
    addr: String,
    pid: u32,
    token: String,
    file: String,
    size: u64,
    nginx_url: String,
    sha256_secs: f64,
    sha256_hex: String,
    dd_secs: f64,
    clk_tck: f64,
}

fn var(name: &str) -> Result<String> {
    env::var(name).with_context(|| format!("{name} is not set: run scripts/bench-blobs.sh"))
}

fn num<T: std::str::FromStr>(name: &str) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    var(name)?
        .trim()
        .parse()
        .with_context(|| format!("{name} is not a number"))
}

impl Setup {
    fn from_env() -> Result<Self> {
        let file = var("BENCH_FILE")?;
        let size = std::fs::metadata(&file)
            .with_context(|| format!("reading {file}"))?
            .len();
        Ok(Self {
            addr: var("BENCH_ADDR")?,
            pid: num("BENCH_PID")?,
            token: var("BENCH_TOKEN")?,
            file,
            size,
            nginx_url: var("BENCH_NGINX_URL")?,
            sha256_secs: num("BENCH_SHA256_SECS")?,
            sha256_hex: var("BENCH_SHA256_HEX")?,
            dd_secs: num("BENCH_DD_SECS")?,
            clk_tck: num("BENCH_CLK_TCK")?,
        })
    }

    fn rate(&self, secs: f64) -> f64 {
        self.size as f64 / MIB / secs
    }
}

/// A `kB` field of `/proc/PID/status` (`VmRSS`, `VmHWM`), in bytes.
fn proc_status_bytes(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    let kib: u64 = line.trim().trim_end_matches("kB").trim().parse()?;
    Ok(kib * 1024)
}

/// User plus system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: &str) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is parenthesised and may contain spaces.
    let rest = stat.rsplit_once(')').context("bad stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); `rest` starts at field 3.
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

/// Samples a process's RSS until stopped; returns the largest value seen.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak.clone());
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                if let Ok(rss) = proc_status_bytes(pid, "VmRSS") {
                    p.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(RSS_SAMPLE).await;
            }
        });
        Self { stop, peak, task }
    }

    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.peak.load(Ordering::Relaxed)
    }
}

struct Upload {
    secs: f64,
    digest: String,
    rss_before: u64,
    rss_peak: u64,
    server_cpu_secs: f64,
    client_cpu_secs: f64,
}

async fn upload(setup: &Setup) -> Result<Upload> {
    let channel = Channel::from_shared(format!("http://{}", setup.addr))?
        .connect()
        .await
        .context("connecting to relreg")?;
    let auth: MetadataValue<_> = format!("Bearer {}", setup.token).parse()?;
    let mut client = ReleaseAdminClient::with_interceptor(channel, move |mut r: Request<()>| {
        r.metadata_mut().insert("authorization", auth.clone());
        Ok(r)
    });
    let repo = CreateRepoRequest {
        repo: REPO.into(),
        public: true,
        ..Default::default()
    };
    match client.create_repo(repo).await {
        Ok(_) => {}
        Err(s) if s.code() == Code::AlreadyExists => {}
        Err(s) => bail!("CreateRepo: {s}"),
    }

    // The file is read on a blocking thread into 1 MiB chunks; the bounded channel keeps
    // the client's memory at a few chunks whatever the file's size.
    let (tx, rx) = tokio::sync::mpsc::channel::<UploadBlobRequest>(4);
    let header = UploadBlobRequest {
        payload: Some(Payload::Header(UploadBlobHeader {
            repo: REPO.into(),
            expected_digest: String::new(),
            expected_size: Some(i64::try_from(setup.size)?),
            media_type: "application/octet-stream".into(),
        })),
    };
    tx.send(header).await?;
    let path = setup.file.clone();
    let reader = tokio::task::spawn_blocking(move || -> Result<()> {
        let mut file = std::fs::File::open(&path)?;
        loop {
            let mut buf = Vec::with_capacity(CHUNK);
            (&mut file).take(CHUNK as u64).read_to_end(&mut buf)?;
            if buf.is_empty() {
                return Ok(());
            }
            let chunk = Payload::Chunk(Bytes::from(buf));
            if tx
                .blocking_send(UploadBlobRequest {
                    payload: Some(chunk),
                })
                .is_err()
            {
                return Ok(()); // the call ended early; its status says why
            }
        }
    });

    let rss_before = proc_status_bytes(setup.pid, "VmRSS")?;
    // Resets the server's VmHWM to its current RSS (Linux ≥ 4.0; needs the right to write
    // to the process's clear_refs), so that VmHWM afterwards is the upload's peak.
    let hwm_reset = std::fs::write(format!("/proc/{}/clear_refs", setup.pid), "5").is_ok();
    let (server_cpu, client_cpu) = (cpu_ticks(&setup.pid.to_string())?, cpu_ticks("self")?);
    let sampler = RssSampler::start(setup.pid);
    let started = Instant::now();
    let result = client
        .upload_blob(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await;
    let secs = started.elapsed().as_secs_f64();
    let sampled_peak = sampler.finish().await;
    let server_cpu_secs = (cpu_ticks(&setup.pid.to_string())? - server_cpu) as f64 / setup.clk_tck;
    let client_cpu_secs = (cpu_ticks("self")? - client_cpu) as f64 / setup.clk_tck;
    reader.await??;
    let response = result.context("UploadBlob")?.into_inner();
    ensure!(
        response.size as u64 == setup.size,
        "relreg stored {} bytes of {}",
        response.size,
        setup.size
    );
    let hwm = if hwm_reset {
        proc_status_bytes(setup.pid, "VmHWM")?
    } else {
        0
    };
    Ok(Upload {
        secs,
        digest: response.digest,
        rss_before,
        rss_peak: sampled_peak.max(hwm),
        server_cpu_secs,
        client_cpu_secs,
    })
}

/// Streams a GET's body, counting bytes without keeping them; returns the seconds taken.
async fn download(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    size: u64,
) -> Result<f64> {
    let started = Instant::now();
    let mut request = client.get(url);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let mut response = request.send().await?.error_for_status()?;
    let mut received: u64 = 0;
    while let Some(chunk) = response.chunk().await? {
        received += chunk.len() as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    ensure!(
        received == size,
        "{url}: received {received} bytes of {size}"
    );
    Ok(secs)
}

#[tokio::main]
async fn main() -> Result<()> {
    let setup = Setup::from_env()?;
    let size_mib = setup.size as f64 / MIB;
    println!(
        "relreg blob benchmark: {size_mib:.0} MiB file, relreg at {} (pid {}), nginx at {}",
        setup.addr, setup.pid, setup.nginx_url
    );

    let up = upload(&setup).await?;
    let expected_digest = format!("sha256:{}", setup.sha256_hex);
    ensure!(
        up.digest == expected_digest,
        "relreg digest {} differs from sha256sum's {expected_digest}",
        up.digest
    );

    let http = reqwest::Client::builder().no_proxy().build()?;
    let relreg_url = format!("http://{}/v1/repos/{REPO}/blobs/{}", setup.addr, up.digest);
    let (mut relreg_best, mut nginx_best) = (f64::INFINITY, f64::INFINITY);
    for run in 1..=DOWNLOAD_RUNS {
        let r = download(&http, &relreg_url, Some(&setup.token), setup.size).await?;
        let n = download(&http, &setup.nginx_url, None, setup.size).await?;
        println!(
            "  download run {run}: relreg {:7.1} MiB/s   nginx {:7.1} MiB/s",
            setup.rate(r),
            setup.rate(n)
        );
        relreg_best = relreg_best.min(r);
        nginx_best = nginx_best.min(n);
    }

    let sha = setup.rate(setup.sha256_secs);
    let dd = setup.rate(setup.dd_secs);
    let upload_rate = setup.rate(up.secs);
    let upload_ratio = upload_rate / sha;
    let growth_mib = up.rss_peak.saturating_sub(up.rss_before) as f64 / MIB;
    let (relreg_dl, nginx_dl) = (setup.rate(relreg_best), setup.rate(nginx_best));
    let download_ratio = relreg_dl / nginx_dl;

    let rows = [
        ("sha256sum".to_owned(), format!("{sha:8.1} MiB/s")),
        (
            "dd bs=8M conv=fsync (durable write)".into(),
            format!("{dd:8.1} MiB/s"),
        ),
        (
            "relreg gRPC upload".into(),
            format!(
                "{upload_rate:8.1} MiB/s  {:5.1}% of sha256sum",
                upload_ratio * 100.0
            ),
        ),
        (
            "  CPU during upload (server, client)".into(),
            format!("{:8.2} s, {:.2} s", up.server_cpu_secs, up.client_cpu_secs),
        ),
        (
            "relreg RSS growth during upload".into(),
            format!(
                "{growth_mib:8.1} MiB    {:.0} → {:.0} MiB",
                up.rss_before as f64 / MIB,
                up.rss_peak as f64 / MIB
            ),
        ),
        (
            format!("relreg HTTP download (best of {DOWNLOAD_RUNS})"),
            format!(
                "{relreg_dl:8.1} MiB/s  {:5.1}% of nginx",
                download_ratio * 100.0
            ),
        ),
        (
            format!("nginx sendfile download (best of {DOWNLOAD_RUNS})"),
            format!("{nginx_dl:8.1} MiB/s"),
        ),
    ];
    println!();
    for (label, value) in rows {
        println!("  {label:<38} {value}");
    }
    println!();
    let budgets = [
        (
            upload_ratio >= UPLOAD_MIN_RATIO,
            format!(
                "upload ≥ {:.0}% of sha256sum: {:.1}%",
                UPLOAD_MIN_RATIO * 100.0,
                upload_ratio * 100.0
            ),
        ),
        (
            growth_mib < RSS_MAX_GROWTH_MIB,
            format!("upload RSS growth < {RSS_MAX_GROWTH_MIB:.0} MiB: {growth_mib:.1} MiB"),
        ),
        (
            download_ratio >= DOWNLOAD_MIN_RATIO,
            format!(
                "download ≥ {:.0}% of nginx: {:.1}%",
                DOWNLOAD_MIN_RATIO * 100.0,
                download_ratio * 100.0
            ),
        ),
    ];
    for (pass, text) in budgets {
        println!("{}  {text}", if pass { "PASS" } else { "FAIL" });
    }
    Ok(())
}
