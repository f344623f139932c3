//! Set-up shared by the integration tests (`tests/it/common.rs`) and the latest benchmark
//! (`benches/latest/`), each including this file with `#[path]`: scratch databases (a file in
//! a temp dir on SQLite, a fresh database on a PostgreSQL server, dropped afterwards) and
//! relreg servers running in-process on 127.0.0.1.

use std::{net::SocketAddr, path::Path};

use relreg::{config::Config, server};
use tokio::{sync::oneshot, task::JoinHandle};

/// An empty database for one test or benchmark dataset; a Postgres one is dropped on drop.
pub(crate) struct ScratchDb {
    pub(crate) url: String,
    /// The server URL it was created from, and its name.
    created_on: Option<(String, String)>,
}

impl ScratchDb {
    /// Creates an empty database: on the PostgreSQL server of `postgres` (a URL whose path
    /// names an existing database to connect to) named `<prefix>_<random>`, otherwise a
    /// SQLite file `<prefix>.db` in `dir`.
    pub(crate) async fn create(
        postgres: Option<&str>,
        dir: &Path,
        prefix: &str,
    ) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        use sqlx::Connection as _;
        let Some(base) = postgres else {
            return Ok(Self {
                url: format!("sqlite://{}", dir.join(format!("{prefix}.db")).display()),
                created_on: None,
            });
        };
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(base)
            .await
            .with_context(|| format!("connecting to {base}"))?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .context("creating a database")?;
        conn.close().await.ok();
        let (path_start, query) = match base.split_once('?') {
            Some((url, query)) => (url, format!("?{query}")),
            None => (base, String::new()),
        };
        let (prefix_url, _) = path_start
            .rsplit_once('/')
            .context("a postgres URL with a database path")?;
        Ok(Self {
            url: format!("{prefix_url}/{name}{query}"),
            created_on: Some((base.to_owned(), name)),
        })
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if let Some((base, name)) = self.created_on.take() {
            // Best effort, on a thread of its own because Drop cannot await.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    use sqlx::Connection as _;
                    let mut conn = sqlx::PgConnection::connect(&base).await.ok()?;
                    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

/// A relreg server serving in this process on 127.0.0.1 until stopped.
pub(crate) struct Spawned {
    pub(crate) addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Spawned {
    /// Binds a free port on 127.0.0.1 and serves `config` there.
    pub(crate) async fn start(config: Config) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(server::serve(config, listener, async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            shutdown: Some(shutdown),
            handle: Some(handle),
        })
    }

    /// Signals shutdown without waiting.
    pub(crate) fn signal_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Signals shutdown and waits up to `within` for the server to stop; returns how serving
    /// ended.
    pub(crate) async fn stop(mut self, within: std::time::Duration) -> anyhow::Result<()> {
        self.signal_shutdown();
        match self.handle.take() {
            Some(handle) => tokio::time::timeout(within, handle)
                .await
                .map_err(|_| anyhow::anyhow!("server did not stop within {within:?}"))??,
            None => Ok(()),
        }
    }
}
