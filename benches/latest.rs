//! GetLatestRelease at scale, and the warm-server cache. Driven by `scripts/bench-latest.sh`
//! (or run directly: `cargo bench --bench latest`).
//!
//! For SQLite, and for Postgres when `RELREG_BENCH_POSTGRES_URL` names a server (a fresh
//! `relreg_bench_*` database per dataset is created there and dropped at the end), it:
//!
//! 1. creates the schema by opening the store, then seeds published releases over 1,000
//!    channels straight into the tables in one transaction: 1 per channel (1,000 releases),
//!    16 per channel (a middle point) and
//!    1,000 per channel (1,000,000 releases); then ANALYZE (VACUUM ANALYZE on Postgres);
//! 2. serves each dataset in-process on 127.0.0.1 with the cache off and measures
//!    GetLatestRelease latency over random channels, interleaving datasets round by round so
//!    background load hits them alike: the typical path (the highest release admits the app),
//!    the store's `latest_candidates` query alone, and an app version only an old release
//!    admits (informative: the cold path then reads the whole channel);
//! 3. prints the plans of the store's exact `latest_candidates` query texts;
//! 4. on the 1,000,000 dataset, measures the request rate of GetLatestRelease and
//!    GetReleaseManifest with and without the cache, the memory a fully warm cache holds, and
//!    (Postgres) that a warm server answers with its database refusing connections.
//!
//! It measures: it exits 0 whether the budgets hold or not.

use std::{
    collections::HashMap,
    net::SocketAddr,
    str::FromStr as _,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};
use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
use relreg::{
    config::Config,
    domain::ReleaseRecord,
    pb::{
        GetLatestReleaseRequest, GetReleaseManifestRequest, get_latest_release_response::Decision,
        release_catalog_client::ReleaseCatalogClient,
    },
    store::{Store, latest_candidates_sql},
};
use sha2::Digest as _;
use sqlx::{
    PgPool, Row as _, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::transport::Channel;

type Client = ReleaseCatalogClient<Channel>;

const REPO: &str = "bench";
const CHANNELS: u64 = 1_000;
/// Releases per channel of each dataset: the budget compares the first and the last; 16 per
/// channel is a middle point.
const DATASETS: [u64; 3] = [1, 16, 1_000];
const SMALL: usize = 0;
const LARGE: usize = 2;
/// Admitted by every release (their `min_app_version` is `<major>.0`, majors 1 to 10).
const TYPICAL_APP: &str = "100.0";
/// Admitted only by the releases of major 1, the oldest hundred of a channel.
const OLD_APP: &str = "1.5";

const ROUNDS: usize = 5;
const WARMUP_CALLS: usize = 200;
const TYPICAL_CALLS: usize = 2_000;
const STORE_CALLS: usize = 2_000;
const OLD_CALLS: usize = 300;
/// The cold path's batch.
const COLD_BATCH: i64 = relreg::registry::LATEST_BATCH;

const RATE_WINDOW: Duration = Duration::from_secs(5);
const CONCURRENCY: usize = 16;
const CONNECTIONS: usize = 4;
const HOT_CHANNELS: u64 = 8;
const WARM_ALL_TASKS: u64 = 8;
const PROBE_CALLS: usize = 200;

const BUDGET_RATIO: f64 = 1.5;
const MIB: f64 = 1024.0 * 1024.0;
const EPOCH_MICROS: i64 = 1_700_000_000_000_000;
const TOKEN_SECRET: &str = "relreg-bench-reader-secret";
const PLAN_CHANNEL: &str = "ch7";
/// The release of the manifest calls: `ch0`'s lowest, no artifacts.
const MANIFEST_ID: &str = "rel_0";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

fn thousands(n: u64) -> String {
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

fn dataset_label(per_channel: u64) -> String {
    format!(
        "{} ({}/channel)",
        thousands(per_channel * CHANNELS),
        per_channel
    )
}

/// Version of the release at a per-channel index: majors of a hundred minors each.
fn version_at(index: u64) -> String {
    format!("{}.{}.0", index / 100 + 1, index % 100)
}

/// The version GetLatestRelease must answer for an app version.
fn expected_version(per_channel: u64, app: &str) -> String {
    if app == OLD_APP {
        version_at((per_channel - 1).min(99))
    } else {
        version_at(per_channel - 1)
    }
}

/// Replaces the database of a `postgres://` URL.
fn with_database(url: &str, name: &str) -> Result<String> {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").context("not a URL")? + 3;
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{name}", &base[..path]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

/// The store's `latest_candidates` query with literal values in place of its parameters.
fn literal_query(channel: &str, before: Option<&str>, limit: i64) -> String {
    let mut sql = latest_candidates_sql(before.is_some()).to_owned();
    if let Some(key) = before {
        sql = sql.replace("$4", &format!("'{key}'"));
    }
    sql.replace("$3", &limit.to_string())
        .replace("$2", &format!("'{channel}'"))
        .replace("$1", &format!("'{REPO}'"))
}

// ---------------------------------------------------------------------------------------------
// Databases and seeding

/// A direct connection to a dataset's database, for seeding and plans.
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

const SQLITE_SEED: &str = "WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n + 1 < $3), \
     v(n, i) AS (SELECT n, n / $1 FROM g) \
     INSERT INTO releases (id, repo, channel, version, sort_key, state, etag, min_app_version, \
       max_app_version, platforms, notes, mandatory, sequence, created_at, updated_at, published_at) \
     SELECT 'rel_' || n, $4, 'ch' || (n % $1), (i / 100 + 1) || '.' || (i % 100) || '.0', \
       printf('%020d.%020d.%020d~', i / 100 + 1, i % 100, 0), 'PUBLISHED', '', (i / 100 + 1) || '.0', \
       '', '', '', FALSE, i + 1, $2 + n, $2 + n, $2 + n \
     FROM v";

const SQLITE_CHANNELS: &str = "WITH RECURSIVE c(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM c WHERE k + 1 < $1) \
     INSERT INTO channels (repo, channel, last_sequence) SELECT $3, 'ch' || k, $2 FROM c";

const PG_SEED: &str = "INSERT INTO releases (id, repo, channel, version, sort_key, state, etag, min_app_version, \
       max_app_version, platforms, notes, mandatory, sequence, created_at, updated_at, published_at) \
     SELECT 'rel_' || g, $4, 'ch' || (g % $1), (g / $1 / 100 + 1)::text || '.' || (g / $1 % 100)::text || '.0', \
       lpad((g / $1 / 100 + 1)::text, 20, '0') || '.' || lpad((g / $1 % 100)::text, 20, '0') || '.' \
         || lpad('0', 20, '0') || '~', \
       'PUBLISHED', '', (g / $1 / 100 + 1)::text || '.0', '', '', '', FALSE, g / $1 + 1, $2 + g, $2 + g, $2 + g \
     FROM generate_series(0::bigint, $3 - 1) AS g";

const PG_CHANNELS: &str = "INSERT INTO channels (repo, channel, last_sequence) \
     SELECT $3, 'ch' || k, $2 FROM generate_series(0::bigint, $1 - 1) AS k";

const REPO_ROW: &str =
    "INSERT INTO repos (key, public, display_name, created_at) VALUES ($1, TRUE, 'Bench', $2)";

const TOKEN_ROW: &str = "INSERT INTO tokens (id, secret_hash, name, repo, role, created_at) \
     VALUES ('tok_bench', $1, 'bench reader', NULL, 'reader', $2)";

impl Pool {
    async fn open(kind: Kind, url: &str) -> Result<Self> {
        Ok(match kind {
            Kind::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)?
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Off)
                    .pragma("cache_size", "-262144");
                Self::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(1)
                        .connect_with(options)
                        .await?,
                )
            }
            Kind::Postgres => {
                Self::Postgres(PgPoolOptions::new().max_connections(1).connect(url).await?)
            }
        })
    }

    async fn close(&self) {
        match self {
            Self::Sqlite(p) => p.close().await,
            Self::Postgres(p) => p.close().await,
        }
    }

    /// Seeds the repo, a reader token, the releases and the channels in one transaction.
    async fn seed(&self, per_channel: u64) -> Result<()> {
        let total = (per_channel * CHANNELS) as i64;
        let channels = CHANNELS as i64;
        let hash = hex::encode(sha2::Sha256::digest(TOKEN_SECRET.as_bytes()));
        macro_rules! seed {
            ($pool:expr, $releases:expr, $channel_rows:expr) => {{
                let mut tx = $pool.begin().await?;
                sqlx::query(REPO_ROW)
                    .bind(REPO)
                    .bind(EPOCH_MICROS)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(TOKEN_ROW)
                    .bind(&hash)
                    .bind(EPOCH_MICROS)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query($releases)
                    .bind(channels)
                    .bind(EPOCH_MICROS)
                    .bind(total)
                    .bind(REPO)
                    .execute(&mut *tx)
                    .await
                    .context("inserting releases")?;
                sqlx::query($channel_rows)
                    .bind(channels)
                    .bind(per_channel as i64)
                    .bind(REPO)
                    .execute(&mut *tx)
                    .await
                    .context("inserting channels")?;
                tx.commit().await?;
            }};
        }
        match self {
            Self::Sqlite(p) => {
                seed!(p, SQLITE_SEED, SQLITE_CHANNELS);
                sqlx::raw_sql("ANALYZE").execute(p).await?;
                sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(p)
                    .await?;
            }
            Self::Postgres(p) => {
                seed!(p, PG_SEED, PG_CHANNELS);
                sqlx::raw_sql("VACUUM (ANALYZE)").execute(p).await?;
            }
        }
        Ok(())
    }

    async fn count(&self, sql: &str) -> Result<i64> {
        Ok(match self {
            Self::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await?,
            Self::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await?,
        })
    }

    async fn pairs(&self, sql: &str) -> Result<Vec<(String, String)>> {
        Ok(match self {
            Self::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await?,
            Self::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await?,
        })
    }

    /// Checks the seeded rows: counts, and sort keys equal to `relreg::domain::sort_key`.
    async fn verify(&self, per_channel: u64) -> Result<()> {
        let total = per_channel * CHANNELS;
        let published = self
            .count("SELECT COUNT(*) FROM releases WHERE state = 'PUBLISHED'")
            .await?;
        ensure!(
            published == total as i64,
            "{published} releases seeded, not {total}"
        );
        let channels = self.count("SELECT COUNT(*) FROM channels").await?;
        ensure!(channels == CHANNELS as i64, "{channels} channels seeded");
        let ids = [0, total / 2, total - 1]
            .map(|n| format!("'rel_{n}'"))
            .join(", ");
        let rows = self
            .pairs(&format!(
                "SELECT version, sort_key FROM releases WHERE id IN ({ids})"
            ))
            .await?;
        ensure!(rows.len() == 3, "sample releases missing");
        for (version, key) in rows {
            let want = relreg::domain::sort_key(&semver::Version::parse(&version)?);
            ensure!(
                key == want,
                "sort_key of {version} is {key:?}, the domain's is {want:?}"
            );
        }
        Ok(())
    }

    /// Prints the plans of the `latest_candidates` query; returns each with whether it is
    /// index-backed with no full scan and no sort.
    async fn plans(&self, full: bool) -> Result<Vec<(String, bool)>> {
        let before = relreg::domain::sort_key(&semver::Version::parse(&version_at(500))?);
        let typical = literal_query(PLAN_CHANNEL, None, COLD_BATCH);
        let paging = literal_query(PLAN_CHANNEL, Some(&before), 1000);
        let mut verdicts = Vec::new();
        match self {
            Self::Sqlite(p) => {
                let mut cases: Vec<SqlitePlanCase<'_>> = vec![(
                    format!("EXPLAIN QUERY PLAN (literal values, cold path: LIMIT {COLD_BATCH})"),
                    typical,
                    None,
                )];
                if full {
                    cases.push((
                        "EXPLAIN QUERY PLAN (literal values, load_channel's next page: sort_key < key, LIMIT 1000)"
                            .into(),
                        paging,
                        None,
                    ));
                    cases.push((
                        format!(
                            "EXPLAIN QUERY PLAN (bound parameters, as the store sends it: $3 = {COLD_BATCH})"
                        ),
                        latest_candidates_sql(false).to_owned(),
                        Some((None, COLD_BATCH)),
                    ));
                    cases.push((
                        "EXPLAIN QUERY PLAN (bound parameters: $3 = 1000, $4 = a sort key)".into(),
                        latest_candidates_sql(true).to_owned(),
                        Some((Some(before.as_str()), 1000)),
                    ));
                }
                for (title, sql, binds) in cases {
                    let eqp = format!("EXPLAIN QUERY PLAN {sql}");
                    let mut q = sqlx::query(&eqp);
                    if let Some((before, limit)) = binds {
                        q = q.bind(REPO).bind(PLAN_CHANNEL).bind(limit);
                        if let Some(key) = before {
                            q = q.bind(key);
                        }
                    }
                    let rows = q.fetch_all(p).await?;
                    let mut depth: HashMap<i64, usize> = HashMap::new();
                    let mut lines = Vec::new();
                    for row in rows {
                        let (id, parent): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
                        let d = depth.get(&parent).map_or(0, |d| d + 1);
                        depth.insert(id, d);
                        lines.push(format!(
                            "{}{}",
                            "  ".repeat(d),
                            row.try_get::<String, _>(3)?
                        ));
                    }
                    let ok = lines.iter().any(|l| {
                        l.trim_start().starts_with("SEARCH releases USING")
                            && l.contains("releases_latest")
                    }) && !lines
                        .iter()
                        .any(|l| l.contains("TEMP B-TREE") || l.trim_start().starts_with("SCAN"));
                    print_plan(&title, &sql, &lines, ok);
                    verdicts.push((title, ok));
                }
            }
            Self::Postgres(p) => {
                let mut conn = p.acquire().await?;
                let mut cases = vec![(
                    format!(
                        "EXPLAIN (ANALYZE, BUFFERS) (literal values, cold path: LIMIT {COLD_BATCH})"
                    ),
                    typical.clone(),
                )];
                if full {
                    cases.push((
                        "EXPLAIN (ANALYZE, BUFFERS) (literal values, load_channel's next page: sort_key < key, LIMIT 1000)"
                            .into(),
                        paging,
                    ));
                    sqlx::raw_sql(&format!(
                        "PREPARE bench_top (text, text, bigint) AS {}; \
                         PREPARE bench_page (text, text, bigint, text) AS {}; \
                         SET plan_cache_mode = force_generic_plan",
                        latest_candidates_sql(false),
                        latest_candidates_sql(true)
                    ))
                    .execute(&mut *conn)
                    .await?;
                    cases.push((
                        format!(
                            "EXPLAIN (ANALYZE, BUFFERS) of the generic plan of the prepared statement \
                             (what a cached sqlx statement may run after 5 executions): $3 = {COLD_BATCH}"
                        ),
                        format!("EXECUTE bench_top ('{REPO}', '{PLAN_CHANNEL}', {COLD_BATCH})"),
                    ));
                    cases.push((
                        "EXPLAIN (ANALYZE, BUFFERS) of the generic plan: $3 = 1000, $4 = a sort key"
                            .into(),
                        format!("EXECUTE bench_page ('{REPO}', '{PLAN_CHANNEL}', 1000, '{before}')"),
                    ));
                }
                for (title, sql) in cases {
                    let lines: Vec<String> =
                        sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"))
                            .fetch_all(&mut *conn)
                            .await?;
                    let ok = lines
                        .iter()
                        .any(|l| l.contains("Index Scan") && l.contains("using releases_latest"))
                        && !lines.iter().any(|l| {
                            let l = l.trim_start().trim_start_matches("->").trim_start();
                            l.starts_with("Seq Scan")
                                || l.starts_with("Sort")
                                || l.starts_with("Bitmap Heap Scan")
                        });
                    print_plan(&title, &sql, &lines, ok);
                    verdicts.push((title, ok));
                }
                if full {
                    sqlx::raw_sql(
                        "RESET plan_cache_mode; DEALLOCATE bench_top; DEALLOCATE bench_page",
                    )
                    .execute(&mut *conn)
                    .await?;
                }
            }
        }
        Ok(verdicts)
    }
}

/// A plan to print: title, SQL, and the `before_key` and limit to bind, if parameterised.
type SqlitePlanCase<'a> = (String, String, Option<(Option<&'a str>, i64)>);

fn print_plan(title: &str, sql: &str, lines: &[String], ok: bool) {
    println!("  -- {title}");
    println!("     {sql}");
    for l in lines {
        println!("     | {l}");
    }
    println!(
        "     => index-backed (releases_latest), no full scan, no sort: {}",
        if ok { "yes" } else { "NO" }
    );
    println!();
}

/// Where a backend's datasets live; Postgres databases are dropped by `cleanup`.
struct Databases {
    kind: Kind,
    dir: tempfile::TempDir,
    admin: Option<PgPool>,
    admin_url: String,
    run_id: String,
    created: Vec<String>,
}

impl Databases {
    async fn new(kind: Kind, admin_url: Option<&str>) -> Result<Self> {
        let admin = match admin_url {
            Some(url) => Some(
                PgPoolOptions::new()
                    .max_connections(2)
                    .connect(url)
                    .await
                    .with_context(|| format!("connecting to {url}"))?,
            ),
            None => None,
        };
        if let Some(admin) = &admin {
            let stale: Vec<String> = sqlx::query_scalar(
                "SELECT datname FROM pg_database WHERE datname LIKE 'relreg\\_bench\\_%' ORDER BY 1",
            )
            .fetch_all(admin)
            .await?;
            if !stale.is_empty() {
                println!(
                    "note: databases left by an earlier interrupted run (drop them with DROP DATABASE … WITH (FORCE)): {}",
                    stale.join(", ")
                );
            }
        }
        Ok(Self {
            kind,
            dir: tempfile::Builder::new()
                .prefix("relreg-bench-latest")
                .tempdir()?,
            admin,
            admin_url: admin_url.unwrap_or_default().to_owned(),
            run_id: uuid::Uuid::new_v4().simple().to_string()[..10].to_owned(),
            created: Vec::new(),
        })
    }

    /// Creates an empty database for a dataset and returns its URL.
    async fn create(&mut self, per_channel: u64) -> Result<String> {
        match (self.kind, &self.admin) {
            (Kind::Postgres, Some(admin)) => {
                let name = format!("relreg_bench_{}_{per_channel}", self.run_id);
                sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                    .execute(admin)
                    .await?;
                self.created.push(name.clone());
                with_database(&self.admin_url, &name)
            }
            _ => Ok(format!(
                "sqlite://{}",
                self.dir
                    .path()
                    .join(format!("releases-{per_channel}.db"))
                    .display()
            )),
        }
    }

    fn name_of(&self, per_channel: u64) -> Option<String> {
        let name = format!("relreg_bench_{}_{per_channel}", self.run_id);
        self.created.contains(&name).then_some(name)
    }

    async fn cleanup(self) {
        if let Some(admin) = &self.admin {
            for name in &self.created {
                let dropped =
                    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(admin)
                        .await;
                if let Err(e) = dropped {
                    eprintln!("could not drop database {name}: {e}");
                }
            }
            admin.close().await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Servers and calls

struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(database_url: &str, no_cache: bool) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut config = Config::for_dir(dir.path());
        config.storage.database_url = database_url.to_owned();
        config.no_cache = no_cache;
        config.shutdown_grace_secs = 1;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        config.listen = addr;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(relreg::server::serve(config, listener, async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            stop,
            task,
            _dir: dir,
        })
    }

    async fn client(&self) -> Result<Client> {
        let channel = Channel::from_shared(format!("http://{}", self.addr))?
            .tcp_nodelay(true)
            .connect()
            .await?;
        Ok(ReleaseCatalogClient::new(channel))
    }

    async fn clients(&self, n: usize) -> Result<Vec<Client>> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.client().await?);
        }
        Ok(out)
    }

    async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.task.await?
    }
}

/// Calls GetLatestRelease; returns the version it says to run.
async fn latest(
    client: &mut Client,
    channel: u64,
    app: &str,
    token: Option<&str>,
) -> Result<String> {
    let mut request = tonic::Request::new(GetLatestReleaseRequest {
        repo: REPO.into(),
        channel: format!("ch{channel}"),
        app_version: app.into(),
        ..Default::default()
    });
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
    }
    let response = client.get_latest_release(request).await?.into_inner();
    match response.decision {
        Some(Decision::Update(u)) => Ok(u.release.map(|r| r.version).unwrap_or_default()),
        other => bail!("ch{channel}, app {app}: unexpected decision {other:?}"),
    }
}

async fn manifest(client: &mut Client, id: &str) -> Result<()> {
    let response = client
        .get_release_manifest(GetReleaseManifestRequest {
            release_id: id.into(),
        })
        .await?
        .into_inner();
    ensure!(
        response.manifest.is_some_and(|m| m.release_id == id),
        "manifest of {id} missing"
    );
    Ok(())
}

#[derive(Clone)]
enum Call {
    Latest { token: Option<&'static str> },
    Manifest,
}

impl Call {
    async fn run(&self, client: &mut Client, channel: u64, per_channel: u64) -> Result<()> {
        match self {
            Self::Latest { token } => {
                let got = latest(client, channel, TYPICAL_APP, *token).await?;
                let want = expected_version(per_channel, TYPICAL_APP);
                ensure!(got == want, "ch{channel}: got {got}, want {want}");
                Ok(())
            }
            Self::Manifest => manifest(client, MANIFEST_ID).await,
        }
    }
}

/// Requests per second of `call` from CONCURRENCY tasks over the hot channels for RATE_WINDOW.
async fn request_rate(clients: &[Client], call: &Call, per_channel: u64) -> Result<f64> {
    // Warm: every hot channel (and the manifest) once on every connection.
    for client in clients {
        let mut client = client.clone();
        for ch in 0..HOT_CHANNELS {
            call.run(&mut client, ch, per_channel).await?;
        }
    }
    let start = Instant::now();
    let deadline = start + RATE_WINDOW;
    let mut tasks = Vec::with_capacity(CONCURRENCY);
    for t in 0..CONCURRENCY {
        let mut client = clients[t % clients.len()].clone();
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                call.run(&mut client, (t as u64 + done) % HOT_CHANNELS, per_channel)
                    .await?;
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

// ---------------------------------------------------------------------------------------------
// Figures

#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    n: usize,
    p50: f64,
    p99: f64,
    mean: f64,
}

fn stats(samples: &[f64]) -> Stats {
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

fn ms(us: f64) -> String {
    format!("{:.3}", us / 1000.0)
}

#[derive(Default)]
struct Samples {
    typical: Vec<f64>,
    store: Vec<f64>,
    old: Vec<f64>,
}

struct Rates {
    latest_off: f64,
    latest_on: f64,
    manifest_off: f64,
    manifest_on: f64,
    latest_on_token: f64,
}

/// What a warm server did with its database refusing connections (Postgres only).
struct Probe {
    latest_ok: usize,
    manifest_ok: usize,
    token_call: String,
    no_cache_call: String,
}

struct Report {
    kind: Kind,
    seed_secs: Vec<f64>,
    latency: Vec<(Stats, Stats, Stats)>,
    plans: Vec<(String, bool)>,
    rates: Rates,
    /// Seconds to warm every channel, process RSS growth (MiB), and the heap the cached
    /// records take by their sizes (MiB).
    warm_all: (f64, f64, f64),
    probe: Option<Probe>,
}

/// The bytes a release record takes in memory: the struct and its strings' buffers (allocator
/// overhead not counted).
fn record_bytes(r: &ReleaseRecord) -> usize {
    let c = &r.compatibility;
    std::mem::size_of::<ReleaseRecord>()
        + [
            &r.id,
            &r.repo,
            &r.channel,
            &r.version,
            &r.etag,
            &c.min_app_version,
            &c.max_app_version,
            &r.notes,
            &r.deprecation_reason,
            &r.replacement,
        ]
        .iter()
        .map(|s| s.capacity())
        .sum::<usize>()
        + c.platforms.capacity() * std::mem::size_of::<String>()
        + c.platforms.iter().map(String::capacity).sum::<usize>()
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

// ---------------------------------------------------------------------------------------------
// A backend's run

async fn run_backend(kind: Kind, dbs: &mut Databases) -> Result<Report> {
    println!("\n=============== {} ===============", kind.name());
    let mut urls = Vec::new();
    let mut seed_secs = Vec::new();
    for per_channel in DATASETS {
        let url = dbs.create(per_channel).await?;
        // Opening the store applies the migrations.
        let store = relreg::store::open(&url).await?;
        store.close().await;
        let pool = Pool::open(kind, &url).await?;
        let start = Instant::now();
        pool.seed(per_channel)
            .await
            .with_context(|| format!("seeding {}", dataset_label(per_channel)))?;
        let secs = start.elapsed().as_secs_f64();
        pool.verify(per_channel).await?;
        pool.close().await;
        println!(
            "seeded {:<24} in {secs:>6.1} s (incl. ANALYZE), sort keys match relreg::domain::sort_key",
            dataset_label(per_channel)
        );
        seed_secs.push(secs);
        urls.push(url);
    }

    // Cache off: every call runs the cold path.
    let mut servers = Vec::new();
    let mut clients = Vec::new();
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for url in &urls {
        let server = Server::start(url, true).await?;
        clients.push(server.client().await?);
        servers.push(server);
        stores.push(relreg::store::open(url).await?);
    }
    let mut rng = StdRng::seed_from_u64(7);
    for (i, &per_channel) in DATASETS.iter().enumerate() {
        for _ in 0..WARMUP_CALLS {
            let ch = rng.random_range(0..CHANNELS);
            latest(&mut clients[i], ch, TYPICAL_APP, None).await?;
            stores[i]
                .latest_candidates(REPO, &format!("ch{ch}"), None, COLD_BATCH)
                .await?;
        }
        let got = latest(&mut clients[i], 0, OLD_APP, None).await?;
        ensure!(got == expected_version(per_channel, OLD_APP));
    }
    println!(
        "measuring GetLatestRelease latency, cache off: {ROUNDS} rounds interleaving the datasets \
         (load {})",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let mut samples: Vec<Samples> = DATASETS.iter().map(|_| Samples::default()).collect();
    for _ in 0..ROUNDS {
        for (i, &per_channel) in DATASETS.iter().enumerate() {
            let s = &mut samples[i];
            let want = expected_version(per_channel, TYPICAL_APP);
            for _ in 0..TYPICAL_CALLS / ROUNDS {
                let ch = rng.random_range(0..CHANNELS);
                let t = Instant::now();
                let got = latest(&mut clients[i], ch, TYPICAL_APP, None).await?;
                s.typical.push(t.elapsed().as_secs_f64() * 1e6);
                ensure!(got == want, "ch{ch}: got {got}, want {want}");
            }
            let rows = per_channel.min(COLD_BATCH as u64) as usize;
            for _ in 0..STORE_CALLS / ROUNDS {
                let channel = format!("ch{}", rng.random_range(0..CHANNELS));
                let t = Instant::now();
                let got = stores[i]
                    .latest_candidates(REPO, &channel, None, COLD_BATCH)
                    .await?;
                s.store.push(t.elapsed().as_secs_f64() * 1e6);
                ensure!(got.len() == rows, "{channel}: {} candidates", got.len());
            }
            let want = expected_version(per_channel, OLD_APP);
            for _ in 0..OLD_CALLS / ROUNDS {
                let ch = rng.random_range(0..CHANNELS);
                let t = Instant::now();
                let got = latest(&mut clients[i], ch, OLD_APP, None).await?;
                s.old.push(t.elapsed().as_secs_f64() * 1e6);
                ensure!(got == want, "ch{ch}: got {got}, want {want}");
            }
        }
    }
    let latency: Vec<_> = samples
        .iter()
        .map(|s| (stats(&s.typical), stats(&s.store), stats(&s.old)))
        .collect();
    for (i, &per_channel) in DATASETS.iter().enumerate() {
        let (t, s, o) = latency[i];
        println!(
            "  {:<24} GetLatestRelease p50 {} p99 {} mean {} ms | query alone p50 {} p99 {} mean {} ms | old app p50 {} p99 {} mean {} ms",
            dataset_label(per_channel),
            ms(t.p50),
            ms(t.p99),
            ms(t.mean),
            ms(s.p50),
            ms(s.p99),
            ms(s.mean),
            ms(o.p50),
            ms(o.p99),
            ms(o.mean),
        );
    }

    println!("\nquery plans of latest_candidates (channel {PLAN_CHANNEL}):");
    let mut plans = Vec::new();
    for (i, &per_channel) in DATASETS.iter().enumerate() {
        if i != SMALL && i != LARGE {
            continue;
        }
        println!("{} — {}", kind.name(), dataset_label(per_channel));
        let pool = Pool::open(kind, &urls[i]).await?;
        for (title, ok) in pool.plans(i == LARGE).await? {
            plans.push((format!("{}: {title}", dataset_label(per_channel)), ok));
        }
        pool.close().await;
    }

    // Cache on vs off, on the largest dataset.
    let per_channel = DATASETS[LARGE];
    println!(
        "request rates on {}: {CONCURRENCY} concurrent callers over {CONNECTIONS} connections, \
         {HOT_CHANNELS} hot channels, {} s each",
        dataset_label(per_channel),
        RATE_WINDOW.as_secs()
    );
    let on = Server::start(&urls[LARGE], false).await?;
    let off_clients = servers[LARGE].clients(CONNECTIONS).await?;
    let on_clients = on.clients(CONNECTIONS).await?;
    let latest_call = Call::Latest { token: None };
    let rates = Rates {
        latest_off: request_rate(&off_clients, &latest_call, per_channel).await?,
        latest_on: request_rate(&on_clients, &latest_call, per_channel).await?,
        manifest_off: request_rate(&off_clients, &Call::Manifest, per_channel).await?,
        manifest_on: request_rate(&on_clients, &Call::Manifest, per_channel).await?,
        latest_on_token: request_rate(
            &on_clients,
            &Call::Latest {
                token: Some(TOKEN_SECRET),
            },
            per_channel,
        )
        .await?,
    };
    println!(
        "  GetLatestRelease   cache off {:>8.0}/s  cache on {:>8.0}/s  (x{:.1}); with a bearer token, cache on {:>8.0}/s",
        rates.latest_off,
        rates.latest_on,
        rates.latest_on / rates.latest_off,
        rates.latest_on_token
    );
    println!(
        "  GetReleaseManifest cache off {:>8.0}/s  cache on {:>8.0}/s  (x{:.1})",
        rates.manifest_off,
        rates.manifest_on,
        rates.manifest_on / rates.manifest_off
    );

    // Memory of a cache holding every channel.
    let rss_before = rss_mib();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..WARM_ALL_TASKS {
        let mut client = on_clients[t as usize % on_clients.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut ch = t;
            while ch < CHANNELS {
                latest(&mut client, ch, TYPICAL_APP, None).await?;
                ch += WARM_ALL_TASKS;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let warm_secs = start.elapsed().as_secs_f64();
    let growth = rss_mib() - rss_before;
    let one_channel = stores[LARGE]
        .latest_candidates(REPO, "ch0", None, per_channel as i64)
        .await?;
    let heap = one_channel
        .iter()
        .map(|(_, r)| record_bytes(r))
        .sum::<usize>() as f64
        * CHANNELS as f64
        / MIB;
    println!(
        "  warming all {CHANNELS} channels of the cache took {warm_secs:.1} s; the cached records take \
         {heap:.0} MiB by their sizes ({:.0} B per release, allocator overhead not counted); process RSS \
         grew by {growth:.0} MiB (meaningful for the first backend only: later ones reuse freed memory)",
        heap * MIB / (per_channel * CHANNELS) as f64
    );

    let probe = match dbs.name_of(per_channel) {
        Some(name) if kind == Kind::Postgres => {
            Some(probe_without_database(dbs, &name, &on_clients[0], &off_clients[0]).await?)
        }
        _ => None,
    };

    drop((clients, off_clients, on_clients));
    on.stop().await?;
    for server in servers {
        server.stop().await?;
    }
    for store in stores {
        store.close().await;
    }
    Ok(Report {
        kind,
        seed_secs,
        latency,
        plans,
        rates,
        warm_all: (warm_secs, growth, heap),
        probe,
    })
}

/// Describes how a call ended, waiting at most 15 s.
async fn bounded(call: impl Future<Output = Result<String>>) -> String {
    match tokio::time::timeout(Duration::from_secs(15), call).await {
        Ok(Ok(_)) => "answered".to_owned(),
        Ok(Err(e)) => format!(
            "failed ({})",
            e.to_string().lines().next().unwrap_or_default()
        ),
        Err(_) => "no answer in 15 s".to_owned(),
    }
}

/// Makes the database refuse connections and drops the servers' sessions, then calls the warm
/// server: cached answers need no database.
async fn probe_without_database(
    dbs: &Databases,
    name: &str,
    on: &Client,
    off: &Client,
) -> Result<Probe> {
    let admin = dbs.admin.as_ref().context("no admin pool")?;
    sqlx::raw_sql(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .execute(admin)
        .await?;
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(name)
        .execute(admin)
        .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut on = on.clone();
    let mut latest_ok = 0;
    let mut manifest_ok = 0;
    for i in 0..PROBE_CALLS {
        let ch = i as u64 % HOT_CHANNELS;
        if latest(&mut on, ch, TYPICAL_APP, None).await.is_ok() {
            latest_ok += 1;
        }
        if manifest(&mut on, MANIFEST_ID).await.is_ok() {
            manifest_ok += 1;
        }
    }
    let token_call = bounded(latest(&mut on, 0, TYPICAL_APP, Some(TOKEN_SECRET))).await;
    let no_cache_call = bounded(latest(&mut off.clone(), 0, TYPICAL_APP, None)).await;
    println!(
        "  database refusing connections: warm server answered {latest_ok}/{PROBE_CALLS} GetLatestRelease \
         and {manifest_ok}/{PROBE_CALLS} GetReleaseManifest; with a bearer token: {token_call}; \
         cache-off server: {no_cache_call}"
    );
    sqlx::raw_sql(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .execute(admin)
        .await?;
    Ok(Probe {
        latest_ok,
        manifest_ok,
        token_call,
        no_cache_call,
    })
}

fn print_summary(reports: &[Report]) {
    println!("\n=============== summary ===============");
    println!(
        "GetLatestRelease, cache off (cold path), sequential calls over random channels; latencies in ms"
    );
    println!(
        "{:<9} {:<24} {:>7} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8}",
        "backend",
        "dataset",
        "calls",
        "p50",
        "p99",
        "mean",
        "query50",
        "query99",
        "querymu",
        "old50",
        "old99",
        "oldmu"
    );
    for r in reports {
        for (i, &per_channel) in DATASETS.iter().enumerate() {
            let (t, s, o) = r.latency[i];
            println!(
                "{:<9} {:<24} {:>7} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8}",
                r.kind.name(),
                dataset_label(per_channel),
                t.n,
                ms(t.p50),
                ms(t.p99),
                ms(t.mean),
                ms(s.p50),
                ms(s.p99),
                ms(s.mean),
                ms(o.p50),
                ms(o.p99),
                ms(o.mean)
            );
        }
    }
    println!(
        "(p50/p99/mean: GetLatestRelease over gRPC, app {TYPICAL_APP}; query*: the store's latest_candidates \
         LIMIT {COLD_BATCH} alone; old*: app {OLD_APP}, whose answer is 900 releases deep in the largest dataset, \
         informative only)"
    );
    println!();
    for r in reports {
        let (small, large) = (r.latency[SMALL], r.latency[LARGE]);
        let ratio = |a: f64, b: f64| if a > 0.0 { b / a } else { f64::NAN };
        let p50 = ratio(small.0.p50, large.0.p50);
        let verdict = if p50 <= BUDGET_RATIO { "PASS" } else { "FAIL" };
        println!(
            "budget [{}] latency with {} within {BUDGET_RATIO}x of {}: p50 x{p50:.2} (p99 x{:.2}, mean x{:.2}; query alone p50 x{:.2}) => {verdict}",
            r.kind.name(),
            thousands(DATASETS[LARGE] * CHANNELS),
            thousands(DATASETS[SMALL] * CHANNELS),
            ratio(small.0.p99, large.0.p99),
            ratio(small.0.mean, large.0.mean),
            ratio(small.1.p50, large.1.p50),
        );
        let mid = r.latency[1];
        println!(
            "         table size alone: {} over {} p50 x{:.2}; {} over {} ({}x the table) p50 x{:.2} (query alone x{:.2})",
            thousands(DATASETS[1] * CHANNELS),
            thousands(DATASETS[SMALL] * CHANNELS),
            ratio(small.0.p50, mid.0.p50),
            thousands(DATASETS[LARGE] * CHANNELS),
            thousands(DATASETS[1] * CHANNELS),
            DATASETS[LARGE] / DATASETS[1],
            ratio(mid.0.p50, large.0.p50),
            ratio(mid.1.p50, large.1.p50),
        );
        let plans_ok = r.plans.iter().all(|(_, ok)| *ok);
        println!(
            "         plans: {}",
            if plans_ok {
                "every plan index-backed on releases_latest, no full scan, no sort".to_owned()
            } else {
                let bad: Vec<&str> = r
                    .plans
                    .iter()
                    .filter(|(_, ok)| !ok)
                    .map(|(t, _)| t.as_str())
                    .collect();
                format!("NOT index-backed without sort: {}", bad.join("; "))
            }
        );
    }
    println!();
    println!(
        "request rate on {} ({CONCURRENCY} concurrent callers, {} s each), requests/s",
        dataset_label(DATASETS[LARGE]),
        RATE_WINDOW.as_secs()
    );
    println!(
        "{:<9} {:>12} {:>12} {:>7} {:>14} {:>14} {:>7} {:>14}",
        "backend",
        "latest off",
        "latest on",
        "gain",
        "manifest off",
        "manifest on",
        "gain",
        "latest on+tok"
    );
    for r in reports {
        let x = &r.rates;
        println!(
            "{:<9} {:>12.0} {:>12.0} {:>6.1}x {:>14.0} {:>14.0} {:>6.1}x {:>14.0}",
            r.kind.name(),
            x.latest_off,
            x.latest_on,
            x.latest_on / x.latest_off,
            x.manifest_off,
            x.manifest_on,
            x.manifest_on / x.manifest_off,
            x.latest_on_token
        );
    }
    for r in reports {
        println!(
            "{:<9} cache of all {} releases: warmed in {:.1} s, records {:.0} MiB by size, process RSS +{:.0} MiB; \
             seeding took {}",
            r.kind.name(),
            thousands(DATASETS[LARGE] * CHANNELS),
            r.warm_all.0,
            r.warm_all.2,
            r.warm_all.1,
            r.seed_secs
                .iter()
                .map(|s| format!("{s:.1} s"))
                .collect::<Vec<_>>()
                .join(" / ")
        );
        if let Some(p) = &r.probe {
            println!(
                "{:<9} no database round trip when warm: {}/{PROBE_CALLS} GetLatestRelease and {}/{PROBE_CALLS} \
                 GetReleaseManifest answered with the database refusing connections => {}; \
                 with a bearer token: {}; cache-off server: {}",
                r.kind.name(),
                p.latest_ok,
                p.manifest_ok,
                if p.latest_ok == PROBE_CALLS && p.manifest_ok == PROBE_CALLS {
                    "PASS"
                } else {
                    "FAIL"
                },
                p.token_call,
                p.no_cache_call
            );
        }
    }
    println!(
        "\nnote: client, server and database share this machine ({} cores); figures are noisy under \
         concurrent load.",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}

#[tokio::main]
async fn main() -> Result<()> {
    let started = Instant::now();
    let postgres = std::env::var("RELREG_BENCH_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let mut kinds = vec![Kind::Sqlite];
    if postgres.is_some() {
        kinds.push(Kind::Postgres);
    } else {
        println!("RELREG_BENCH_POSTGRES_URL is not set: SQLite only");
    }
    let mut reports = Vec::new();
    for kind in kinds {
        let admin = (kind == Kind::Postgres)
            .then_some(postgres.as_deref())
            .flatten();
        let mut dbs = Databases::new(kind, admin).await?;
        let report = run_backend(kind, &mut dbs).await;
        dbs.cleanup().await;
        match report {
            Ok(r) => reports.push(r),
            Err(e) => println!("{} benchmark failed: {e:#}", kind.name()),
        }
    }
    print_summary(&reports);
    println!("total time {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
