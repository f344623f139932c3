//! Datasets written straight into the tables: a public repo and channels of published
//! releases, release `j` of a channel (counting from 0, oldest first) being version
//! `<j+1>.0.0` with `min_app_version` `<j+1>.0` and no upper bound. So app version `1.0` is
//! admitted by the oldest release of a channel alone, and an app version at or above the
//! channel's depth by every release (the newest answers). Opening the store afterwards writes
//! the channels' offer steps (`fill_missing_offers`), as it does for channels published before
//! the steps existed.

use std::{str::FromStr as _, time::Instant};

use anyhow::{Context as _, Result, ensure};
use relreg::domain::{Offer, sort_key};
use sqlx::{
    PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

/// The repo every dataset lives in (public: reads need no token).
pub(crate) const REPO: &str = "bench";
const EPOCH_MICROS: i64 = 1_700_000_000_000_000;

/// Which database a dataset lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A group of channels with the same depth: `<prefix><k>` for `k` below `channels`.
#[derive(Debug, Clone)]
pub(crate) struct Channels {
    pub(crate) prefix: String,
    pub(crate) channels: u64,
    pub(crate) per_channel: u64,
}

impl Channels {
    /// The name of channel `k`.
    pub(crate) fn channel(&self, k: u64) -> String {
        format!("{}{k}", self.prefix)
    }

    /// Four hex digits that tell the group's release ids apart from other groups'.
    pub(crate) fn tag(&self) -> String {
        let hash = self.prefix.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        format!("{:04x}", hash & 0xffff)
    }

    /// The id of release `j` (oldest first) of channel `k`: `rel_`, the group's tag and the
    /// release's number in 12 hex digits, as relreg's own ids look.
    pub(crate) fn release_id(&self, k: u64, j: u64) -> String {
        format!("rel_{}{:012x}", self.tag(), j * self.channels + k)
    }

    /// The version of release `j`, which `app_for(j)` is the lowest app version to admit.
    pub(crate) fn version(j: u64) -> String {
        format!("{}.0.0", j + 1)
    }

    /// The lowest app version release `j` admits; the newest release it is admitted by too.
    pub(crate) fn app_for(j: u64) -> String {
        format!("{}.0", j + 1)
    }

    pub(crate) fn releases(&self) -> u64 {
        self.channels * self.per_channel
    }
}

const SQLITE_RELEASES: &str = "WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n + 1 < $1) \
     INSERT INTO releases (id, repo, channel, version, sort_key, state, etag, min_app_version, \
       max_app_version, platforms, notes, mandatory, sequence, created_at, updated_at, published_at) \
     SELECT 'rel_' || $6 || printf('%012x', n), $4, $3 || (n % $2), (n / $2 + 1) || '.0.0', \
       printf('%020d.%020d.%020d~', n / $2 + 1, 0, 0), 'PUBLISHED', 'seeded', (n / $2 + 1) || '.0', \
       '', '', '', FALSE, n / $2 + 1, $5 + n, $5 + n, $5 + n \
     FROM g";

const SQLITE_CHANNELS: &str = "WITH RECURSIVE c(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM c WHERE k + 1 < $1) \
     INSERT INTO channels (repo, channel, last_sequence) SELECT $2, $3 || k, $4 FROM c";

const PG_RELEASES: &str = "INSERT INTO releases (id, repo, channel, version, sort_key, state, etag, \
       min_app_version, max_app_version, platforms, notes, mandatory, sequence, created_at, \
       updated_at, published_at) \
     SELECT 'rel_' || $6 || lpad(to_hex(g), 12, '0'), $4, $3 || (g % $2), (g / $2 + 1)::text || '.0.0', \
       lpad((g / $2 + 1)::text, 20, '0') || '.' || lpad('0', 20, '0') || '.' || lpad('0', 20, '0') || '~', \
       'PUBLISHED', 'seeded', (g / $2 + 1)::text || '.0', '', '', '', FALSE, g / $2 + 1, $5 + g, $5 + g, $5 + g \
     FROM generate_series(0::bigint, $1 - 1) AS g";

const PG_CHANNELS: &str = "INSERT INTO channels (repo, channel, last_sequence) \
     SELECT $2, $3 || k, $4 FROM generate_series(0::bigint, $1 - 1) AS k";

const REPO_ROW: &str =
    "INSERT INTO repos (key, public, display_name, created_at) VALUES ($1, TRUE, 'Bench', $2)";

/// A direct connection to a dataset's database, for seeding and plans.
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Pool {
    pub(crate) async fn open(kind: Kind, url: &str) -> Result<Self> {
        Ok(match kind {
            Kind::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)?
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Off);
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

    pub(crate) async fn close(&self) {
        match self {
            Self::Sqlite(p) => p.close().await,
            Self::Postgres(p) => p.close().await,
        }
    }

    async fn count(&self, sql: &str) -> Result<i64> {
        Ok(match self {
            Self::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await?,
            Self::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await?,
        })
    }

    async fn text(&self, sql: &str) -> Result<String> {
        Ok(match self {
            Self::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await?,
            Self::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await?,
        })
    }

    /// Inserts the repo row.
    async fn repo(&self) -> Result<()> {
        match self {
            Self::Sqlite(p) => {
                sqlx::query(REPO_ROW)
                    .bind(REPO)
                    .bind(EPOCH_MICROS)
                    .execute(p)
                    .await?;
            }
            Self::Postgres(p) => {
                sqlx::query(REPO_ROW)
                    .bind(REPO)
                    .bind(EPOCH_MICROS)
                    .execute(p)
                    .await?;
            }
        }
        Ok(())
    }

    /// Inserts a group's releases and channel rows in one transaction.
    async fn channels(&self, group: &Channels) -> Result<()> {
        let (total, channels) = (group.releases() as i64, group.channels as i64);
        macro_rules! insert {
            ($pool:expr, $releases:expr, $channel_rows:expr) => {{
                let mut tx = $pool.begin().await?;
                sqlx::query($releases)
                    .bind(total)
                    .bind(channels)
                    .bind(&group.prefix)
                    .bind(REPO)
                    .bind(EPOCH_MICROS)
                    .bind(group.tag())
                    .execute(&mut *tx)
                    .await
                    .context("inserting releases")?;
                sqlx::query($channel_rows)
                    .bind(channels)
                    .bind(REPO)
                    .bind(&group.prefix)
                    .bind(group.per_channel as i64)
                    .execute(&mut *tx)
                    .await
                    .context("inserting channels")?;
                tx.commit().await?;
            }};
        }
        match self {
            Self::Sqlite(p) => insert!(p, SQLITE_RELEASES, SQLITE_CHANNELS),
            Self::Postgres(p) => insert!(p, PG_RELEASES, PG_CHANNELS),
        }
        Ok(())
    }

    /// Refreshes the planner's statistics.
    pub(crate) async fn analyze(&self) -> Result<()> {
        match self {
            Self::Sqlite(p) => {
                sqlx::raw_sql("ANALYZE").execute(p).await?;
                sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(p)
                    .await?;
            }
            Self::Postgres(p) => {
                sqlx::raw_sql("VACUUM (ANALYZE)").execute(p).await?;
            }
        }
        Ok(())
    }
}

/// How long seeding a dataset took.
pub(crate) struct Seeded {
    /// Inserting the rows.
    pub(crate) insert_secs: f64,
    /// Opening the store, which writes the offer steps of every channel.
    pub(crate) steps_secs: f64,
    pub(crate) releases: u64,
    pub(crate) steps: i64,
}

/// Seeds the groups into the empty database at `url`, lets the store write their offer steps,
/// refreshes statistics, and checks the rows and a few offers against the domain's rules.
pub(crate) async fn seed(kind: Kind, url: &str, groups: &[Channels]) -> Result<Seeded> {
    // Opening the store applies the migrations.
    relreg::store::open(url).await?.close().await;
    let pool = Pool::open(kind, url).await?;
    let start = Instant::now();
    pool.repo().await?;
    for group in groups {
        pool.channels(group)
            .await
            .with_context(|| format!("seeding {}*", group.prefix))?;
    }
    let insert_secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let store = relreg::store::open(url).await?;
    let steps_secs = start.elapsed().as_secs_f64();
    pool.analyze().await?;

    let releases: u64 = groups.iter().map(Channels::releases).sum();
    let published = pool
        .count("SELECT COUNT(*) FROM releases WHERE state = 'PUBLISHED'")
        .await?;
    ensure!(
        published == releases as i64,
        "{published} releases seeded, not {releases}"
    );
    let steps = pool.count("SELECT COUNT(*) FROM channel_offers").await?;
    // One step below every minimum (app update required) and one per release.
    let want_steps: u64 = groups
        .iter()
        .map(|g| g.channels * (g.per_channel + 1))
        .sum();
    ensure!(
        steps == want_steps as i64,
        "{steps} offer steps written, not {want_steps}"
    );
    for group in groups {
        let (k, last) = (group.channels - 1, group.per_channel - 1);
        for (app, j) in [(Channels::app_for(0), 0), (Channels::app_for(last), last)] {
            let key = sort_key(&relreg::domain::parse_app_version("app", &app)?);
            let (repo, channel) = (
                relreg::domain::Name::parse("repo", REPO)?,
                relreg::domain::Name::parse("channel", &group.channel(k))?,
            );
            let offer = store.offer(&repo, &channel, None, &key).await?;
            let Some(Offer::Release(r)) = offer else {
                anyhow::bail!("{}: app {app} is offered {offer:?}", group.channel(k));
            };
            ensure!(
                r.id.to_string() == group.release_id(k, j)
                    && r.version.to_string() == Channels::version(j),
                "{}: app {app} is offered {} {}, not release {j}",
                group.channel(k),
                r.id,
                r.version
            );
            let stored = pool
                .text(&format!(
                    "SELECT sort_key FROM releases WHERE id = '{}'",
                    r.id
                ))
                .await?;
            ensure!(
                stored == sort_key(&r.version),
                "seeded sort_key of {} differs from relreg::domain::sort_key",
                r.version
            );
        }
    }
    store.close().await;
    pool.close().await;
    Ok(Seeded {
        insert_secs,
        steps_secs,
        releases,
        steps,
    })
}
