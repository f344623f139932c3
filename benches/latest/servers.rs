//! relreg servers in this process (started by the harness the integration tests share) and
//! the calls the benchmark makes to them, each checking its answer.

use std::{net::SocketAddr, time::Duration};

use anyhow::{Result, bail, ensure};
use relreg::{
    config::Config,
    pb::{
        GetLatestReleaseRequest, GetReleaseRequest, get_latest_release_response::Decision,
        release_catalog_client::ReleaseCatalogClient,
    },
};
use tonic::transport::Channel;

use crate::{harness::Spawned, seeding::REPO};

pub(crate) type Client = ReleaseCatalogClient<Channel>;

/// A server on a dataset's database, with its own blob directory.
pub(crate) struct Server {
    running: Spawned,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Serves the database at `database_url`; `no_cache` turns the in-memory cache off, so
    /// every read runs the cold path.
    pub(crate) async fn start(database_url: &str, no_cache: bool) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut config = Config::for_dir(dir.path());
        config.storage.database_url = database_url.to_owned();
        config.no_cache = no_cache;
        config.shutdown_grace_secs = 1;
        Ok(Self {
            running: Spawned::start(config).await?,
            _dir: dir,
        })
    }

    /// Opens `n` connections (HTTP/2, each carrying many concurrent calls).
    pub(crate) async fn clients(&self, n: usize) -> Result<Vec<Client>> {
        connect(self.running.addr, n).await
    }

    pub(crate) async fn stop(self) -> Result<()> {
        self.running.stop(Duration::from_secs(30)).await
    }
}

/// Opens `n` connections to `addr` (HTTP/2, each carrying many concurrent calls).
async fn connect(addr: SocketAddr, n: usize) -> Result<Vec<Client>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let channel = Channel::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect()
            .await?;
        out.push(ReleaseCatalogClient::new(channel));
    }
    Ok(out)
}

/// `relreg serve` as a subprocess (the binary cargo built with this benchmark), so that its
/// memory is measured alone.
pub(crate) struct Process {
    child: std::process::Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Process {
    /// Serves the database at `database_url` on a free port; `no_cache` turns the cache off.
    pub(crate) async fn start(database_url: &str, no_cache: bool) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        // The port is free when asked; nothing else here binds ports meanwhile.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_relreg"));
        command
            .arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--database-url")
            .arg(database_url)
            .arg("--blob-dir")
            .arg(dir.path().join("blobs"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("relreg.log"))?);
        if no_cache {
            command.arg("--no-cache");
        }
        let mut process = Self {
            child: command.spawn()?,
            addr,
            _dir: dir,
        };
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(process);
            }
            if let Some(status) = process.child.try_wait()? {
                bail!("relreg serve exited with {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        process.stop();
        bail!("relreg serve is not listening on {addr} after 30 s")
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) async fn clients(&self, n: usize) -> Result<Vec<Client>> {
        connect(self.addr, n).await
    }

    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Calls GetLatestRelease (no platform); returns the id and version of the release offered.
pub(crate) async fn latest(
    client: &mut Client,
    channel: &str,
    app: &str,
) -> Result<(String, String)> {
    let response = client
        .get_latest_release(GetLatestReleaseRequest {
            repo: REPO.into(),
            channel: channel.into(),
            app_version: app.into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    match response.decision {
        Some(Decision::Update(u)) => {
            let r = u.release.unwrap_or_default();
            Ok((r.id, r.version))
        }
        other => bail!("{channel}, app {app}: unexpected decision {other:?}"),
    }
}

/// Calls GetLatestRelease and checks it offers `want` (a release id).
pub(crate) async fn latest_is(
    client: &mut Client,
    channel: &str,
    app: &str,
    want: &str,
) -> Result<()> {
    let (id, _) = latest(client, channel, app).await?;
    ensure!(id == want, "{channel}, app {app}: offered {id}, not {want}");
    Ok(())
}

/// Calls GetRelease and checks it answers the release asked for.
pub(crate) async fn get_release(client: &mut Client, id: &str) -> Result<()> {
    let response = client
        .get_release(GetReleaseRequest {
            release_id: id.into(),
        })
        .await?
        .into_inner();
    ensure!(
        response.release.is_some_and(|r| r.id == id),
        "GetRelease {id} answered another release"
    );
    Ok(())
}
