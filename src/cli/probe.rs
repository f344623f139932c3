//! `relreg probe`: one HTTP GET against a health endpoint, for container health checks
//! (the image's `HEALTHCHECK` runs it, so the runtime image needs no curl).
//!
//! It exits 0 when the server answers 200 and 1 otherwise (another status, no answer within
//! the timeout, a refused connection, a malformed URL), the two codes Docker's
//! `HEALTHCHECK` gives a meaning to (healthy, unhealthy).

use std::{process::ExitCode, time::Duration};

/// `relreg probe`: is the server answering 200 on a health URL?
#[derive(clap::Args, Debug)]
pub struct ProbeArgs {
    /// The URL to GET (`/healthz`: the process answers; `/readyz`: it can serve, database
    /// included).
    #[arg(
        long,
        env = "RELREG_PROBE_URL",
        default_value = "http://127.0.0.1:8080/healthz"
    )]
    url: String,
    /// Seconds to wait for the whole answer (connect included) before giving up.
    #[arg(long, env = "RELREG_PROBE_TIMEOUT", default_value_t = 2.0)]
    timeout: f64,
}

/// Sends the GET; prints `STATUS URL` on success, `probe: …` on stderr otherwise.
pub(super) async fn run(args: ProbeArgs) -> ExitCode {
    match probe(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("probe: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn probe(args: &ProbeArgs) -> Result<(), String> {
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| format!("--timeout {} is not a positive number", args.timeout))?;
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .no_proxy()
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))?;
    let response = client
        .get(&args.url)
        .send()
        .await
        .map_err(|e| describe(&args.url, &e, timeout))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(format!("{} answered {status}", args.url));
    }
    println!("{} {}", status.as_u16(), args.url);
    Ok(())
}

/// A one-line reason for a failed request, naming the URL.
fn describe(url: &str, e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("{url}: no answer within {timeout:?}")
    } else if e.is_builder() {
        format!("{url}: not a usable URL ({e})")
    } else {
        let mut message = format!("{url}: {e}");
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        message
    }
}
