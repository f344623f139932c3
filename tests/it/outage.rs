//! A PostgreSQL outage: on a throwaway cluster of the test's own (never the shared server),
//! stopped while relreg serves it. Calls that need the database answer 503 with `Retry-After`
//! (UNAVAILABLE over gRPC) at once instead of hanging, `/readyz` answers at once, cached
//! catalog reads keep answering (with a token verified before the outage too), and once the
//! cluster is back, writes work again without a restart.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use relreg::pb;
use tonic::Code;

use crate::common::{Backend, Rel, TestServer, authed, draft, fixture, publish, released};

/// How long a call may take to answer during the outage before it counts as hanging: the
/// server fails fast within about a second; the margin covers a loaded test machine.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// A PostgreSQL cluster in a temp dir on a free port, stopped when dropped.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Creates and starts a cluster (as the `postgres` OS user when running as root, since
    /// PostgreSQL refuses to run as root).
    fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect(
                "PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)",
            )
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .find(|b| b.join("initdb").exists())
            .expect("initdb under /usr/lib/postgresql/*/bin");
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        if is_root() {
            let owned = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(owned.success());
        }
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let cluster = Self {
            bin,
            data,
            port,
            _dir: dir,
        };
        let data = cluster.data.to_str().unwrap().to_owned();
        cluster.run(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        cluster.pg_ctl_start();
        cluster
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = command.args(args).output().expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl_start(&self) {
        let data = self.data.to_str().unwrap();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.data.display()
        );
        let log = self.data.join("log");
        let log = log.to_str().unwrap();
        self.run(
            "pg_ctl",
            &["-D", data, "-o", &options, "-l", log, "-w", "start"],
        );
    }

    fn pg_ctl_stop(&self) {
        let data = self.data.to_str().unwrap();
        self.run("pg_ctl", &["-D", data, "-m", "fast", "-w", "stop"]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.data.join("postmaster.pid").exists() {
            let data = self.data.to_str().unwrap_or_default().to_owned();
            let _ = std::panic::catch_unwind(|| {
                self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
            });
        }
    }
}

fn is_root() -> bool {
    Path::new("/proc/self/status").exists()
        && std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

fn latest_request() -> pb::GetLatestReleaseRequest {
    pb::GetLatestReleaseRequest {
        repo: "acme".into(),
        channel: "stable".into(),
        app_version: "1.2".into(),
        ..Default::default()
    }
}

fn repo_request(key: &str) -> pb::CreateRepoRequest {
    pb::CreateRepoRequest {
        repo: key.into(),
        public: true,
        display_name: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_fails_fast_keeps_cached_reads_and_recovers() {
    let cluster = Cluster::start();
    let server = TestServer::start(&Backend::Postgres(cluster.url())).await;
    fixture(&server, "generic").await;
    draft(&server, "1.0.0", &[("a.txt", b"a")]).await;
    publish(&server, "1.0.0").await;
    released(&server, Rel::default()).await;
    let reader = server.token("acme", pb::Role::Reader).await;
    let http = reqwest::Client::builder()
        .timeout(ANSWER_WITHIN)
        .build()
        .unwrap();
    let latest_url = server.url("/v1/repos/acme/channels/stable/latest?app_version=1.2");
    let mut catalog = server.catalog_client().await;
    let mut admin = server.admin_client().await;
    // Warm: the answer, and the reader's token, are read once before the outage.
    for _ in 0..2 {
        catalog
            .get_latest_release(authed(latest_request(), &reader))
            .await
            .expect("latest before the outage");
        assert_eq!(http.get(&latest_url).send().await.unwrap().status(), 200);
    }
    let ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    cluster.pg_ctl_stop();

    // /readyz and a write over the JSON bridge answer 503 with Retry-After, not a hang (the
    // client gives up after ANSWER_WITHIN).
    for round in 0..3 {
        let start = std::time::Instant::now();
        let ready = http
            .get(server.url("/readyz"))
            .send()
            .await
            .expect("/readyz answers during the outage");
        assert_eq!(ready.status(), 503);
        assert!(ready.headers().contains_key("retry-after"));
        let write = http
            .post(server.url("/v1/repos"))
            .bearer_auth(&server.admin)
            .json(&serde_json::json!({ "repo": "during", "public": true }))
            .send()
            .await
            .expect("a write answers during the outage");
        assert_eq!(write.status(), 503, "{:?}", write.text().await);
        assert_eq!(write.headers()["retry-after"], "1");
        // Reported, not asserted (the bound is the client's timeout above).
        eprintln!(
            "outage round {round}: /readyz and a write answered in {:?}",
            start.elapsed()
        );
    }
    // Over gRPC: UNAVAILABLE, within the same bound.
    let write = tokio::time::timeout(
        ANSWER_WITHIN,
        admin.create_repo(authed(repo_request("during"), &server.admin)),
    )
    .await
    .expect("a gRPC write answers during the outage");
    assert_eq!(write.unwrap_err().code(), Code::Unavailable);

    // Cached catalog reads keep answering, anonymous and with a token verified before the
    // outage, also after that token's usual reuse window (10 s) has passed.
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(http.get(&latest_url).send().await.unwrap().status(), 200);
    let answer = tokio::time::timeout(
        ANSWER_WITHIN,
        catalog.get_latest_release(authed(latest_request(), &reader)),
    )
    .await
    .expect("a cached read answers during the outage");
    assert_eq!(
        crate::common::decision(answer.expect("cached latest").into_inner()),
        "update 1.0.0"
    );
    // A token never seen before cannot be verified: 503, not a guess.
    let unknown = catalog
        .get_latest_release(authed(latest_request(), "rr_not_a_token"))
        .await;
    assert_eq!(unknown.unwrap_err().code(), Code::Unavailable);

    cluster.pg_ctl_start();

    // Recovery needs no restart: readiness comes back, then writes work.
    let mut ready = false;
    for _ in 0..100 {
        let answer = http.get(server.url("/readyz")).send().await;
        if answer.is_ok_and(|a| a.status() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "/readyz did not come back after the database did");
    admin
        .create_repo(authed(repo_request("after"), &server.admin))
        .await
        .expect("a write after the outage");
    let write = http
        .post(server.url("/v1/repos"))
        .bearer_auth(&server.admin)
        .json(&serde_json::json!({ "repo": "after-http", "public": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 200, "{:?}", write.text().await);
    server.stop().await;
    drop(cluster);
}
