//! The SQL both backends share: one store type, [`SqlStore`], generic over the sqlx database,
//! implementing every store trait in plain code, one file per area, each owning its tables'
//! queries and row mappers:
//!
//! - `repos.rs`: `RepoStore` (repos, policy, packages);
//! - `versions.rs`: `VersionStore` (versions, drafts, transitions, blobs);
//! - `releases.rs`: `ReleaseStore` (releases, channels, and the offer "latest" reads);
//! - `offers.rs`: the `channel_offers` steps every channel change rewrites;
//! - `rollouts.rs`: `RolloutStore` (staged rollouts and floors);
//! - `tokens.rs`: `TokenStore`;
//! - `audit.rs`: `AuditStore`, and the audit and outbox writes every other area makes;
//! - `db.rs`: statements, running them on any sqlx database, reading columns.
//!
//! Every query is portable (`$1` placeholders, `RETURNING`, `ON CONFLICT`), so it is written
//! once; a backend contributes only its [`Dialect`] (how a write transaction begins, how many
//! rows a statement changed) and, in `sqlite.rs` and `postgres.rs`, connecting and migrating.
//! One generic implementation rather than `sqlx::Any`: Any cannot read SQLite's BOOLEAN
//! columns and converts every row; rather than two copies: the copies would drift.
//! This file owns what the areas share: the store type, write transactions ([`Tx`]),
//! mapping driver errors (`classify`), taking connections (failing fast while `health.rs` says
//! the database is down), and `Store` itself (`ping`, `close`, `pool_stats`).

use std::{sync::Arc, time::Instant};

use async_trait::async_trait;
use sqlx::{Pool, Transaction, pool::PoolConnection};

use super::{Outcome, Store, StoreError, StoreResult, health::Health};
use crate::domain::AuditRecord;

pub(super) mod audit;
mod db;
mod events;
mod gc;
mod offers;
pub(super) mod releases;
pub(super) mod repos;
mod retention;
mod rollouts;
pub(super) mod tokens;
pub(super) mod trust;
pub(super) mod versions;

pub(crate) use db::{Columns, Db, Stmt, names, parsed, placeholders, sql};
pub use offers::offer_sql;

/// Maps a driver error to a store error with portable checks (no constraint names).
pub(crate) fn classify(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        // SQLSTATE classes 08 (connection), 53 (insufficient resources), 55 (prerequisite state,
        // e.g. a database not accepting connections) and 57 (operator intervention, e.g. a
        // shutting-down server): the database is not answering.
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|c| c.len() == 5 && ["08", "53", "55", "57"].contains(&&c[..2])) =>
        {
            StoreError::Unavailable(db.to_string())
        }
        e @ (sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed) => StoreError::Unavailable(e.to_string()),
        other => StoreError::Internal(other.to_string()),
    }
}

/// What differs between the backends' SQL execution.
pub(crate) trait Dialect: Db {
    /// The statement that opens a write transaction (`BEGIN IMMEDIATE` on SQLite, so that
    /// read-then-write races wait for the single writer instead of failing on a stale snapshot).
    const BEGIN_WRITE: &'static str;

    /// Whether the database has session advisory locks (PostgreSQL), which keep the events
    /// relay to one holder across servers; without them the one process relays.
    const ADVISORY_LOCKS: bool = false;

    /// Returns how many rows a statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

/// relreg's store on a SQL database: `SqlStore<Sqlite>` or `SqlStore<Postgres>`.
pub struct SqlStore<DB: sqlx::Database> {
    pub(super) pool: Pool<DB>,
    /// Whether the database answers; calls fail fast while it does not.
    pub(super) health: Arc<Health>,
    /// Announces committed outbox events to this process's outbox readers.
    pub(super) wakeups: crate::store::Wakeups,
}

impl<DB: sqlx::Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            health: self.health.clone(),
            wakeups: self.wakeups.clone(),
        }
    }
}

impl<DB: sqlx::Database> SqlStore<DB> {
    /// Returns the pool, for tests that must bypass the store (e.g. to prove the triggers).
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }
}

// Every method here is crate-private: the bound names a crate-private trait on purpose.
#[allow(private_bounds)]
impl<DB: Dialect> SqlStore<DB> {
    /// Opens a write transaction.
    pub(crate) async fn begin_write(&self) -> StoreResult<Tx<DB>> {
        let start = Instant::now();
        let begin = async {
            self.pool
                .begin_with(DB::BEGIN_WRITE)
                .await
                .map_err(classify)
        };
        let tx = self.health.guard(begin).await?;
        crate::metrics::record_acquire(start.elapsed());
        Ok(Tx(tx, Wake::armed(&self.wakeups)))
    }

    /// Takes a connection from the pool; fails fast while the database is down.
    pub(crate) async fn acquire(&self) -> StoreResult<PoolConnection<DB>> {
        let start = Instant::now();
        let acquire = async { self.pool.acquire().await.map_err(classify) };
        let conn = self.health.guard(acquire).await?;
        crate::metrics::record_acquire(start.elapsed());
        Ok(conn)
    }

    /// Runs a query outside a transaction and returns every row.
    pub(crate) async fn all(&self, stmt: Stmt<'_>) -> StoreResult<Vec<DB::Row>> {
        let mut conn = self.acquire().await?;
        DB::all(&mut conn, stmt).await
    }

    /// Runs a query outside a transaction and returns its first row, if any.
    pub(crate) async fn optional(&self, stmt: Stmt<'_>) -> StoreResult<Option<DB::Row>> {
        let mut conn = self.acquire().await?;
        DB::optional(&mut conn, stmt).await
    }

    /// Runs a query outside a transaction and returns its first row (`NotFound` without one).
    pub(crate) async fn one(&self, stmt: Stmt<'_>) -> StoreResult<DB::Row> {
        self.optional(stmt).await?.ok_or(StoreError::NotFound)
    }
}

/// A write transaction; dropped without `commit`, it rolls back.
pub(crate) struct Tx<DB: sqlx::Database>(Transaction<'static, DB>, pub(crate) Wake);

/// Whether a transaction wakes the outbox readers once it commits (it wrote an event).
#[derive(Default)]
pub(crate) struct Wake {
    wakeups: Option<crate::store::Wakeups>,
    pub(crate) wrote_event: bool,
}

impl Wake {
    fn armed(wakeups: &crate::store::Wakeups) -> Self {
        Self {
            wakeups: Some(wakeups.clone()),
            wrote_event: false,
        }
    }
}

impl<DB: Dialect> Tx<DB> {
    /// Runs a statement and returns how many rows it changed.
    pub(crate) async fn execute(&mut self, stmt: Stmt<'_>) -> StoreResult<u64> {
        let result = DB::run(&mut self.0, stmt).await?;
        Ok(DB::rows_affected(&result))
    }

    /// Runs a query and returns every row.
    pub(crate) async fn all(&mut self, stmt: Stmt<'_>) -> StoreResult<Vec<DB::Row>> {
        DB::all(&mut self.0, stmt).await
    }

    /// Runs a query and returns its first row, if any.
    pub(crate) async fn optional(&mut self, stmt: Stmt<'_>) -> StoreResult<Option<DB::Row>> {
        DB::optional(&mut self.0, stmt).await
    }

    /// Runs a query and returns its first row (`NotFound` without one).
    pub(crate) async fn one(&mut self, stmt: Stmt<'_>) -> StoreResult<DB::Row> {
        self.optional(stmt).await?.ok_or(StoreError::NotFound)
    }

    /// Commits.
    pub(crate) async fn commit(self) -> StoreResult<()> {
        let Tx(tx, wake) = self;
        tx.commit().await.map_err(classify)?;
        if let (true, Some(wakeups)) = (wake.wrote_event, wake.wakeups) {
            wakeups.wake();
        }
        Ok(())
    }

    /// Rolls back.
    pub(crate) async fn rollback(self) -> StoreResult<()> {
        self.0.rollback().await.map_err(classify)
    }

    /// Commits an edit that changed `affected` rows, with its audit record; an edit that
    /// changed nothing is rolled back as `Missing`.
    pub(crate) async fn finish_edit(
        mut self,
        affected: u64,
        audit: &AuditRecord,
    ) -> StoreResult<Outcome> {
        if affected == 0 {
            self.rollback().await?;
            return Ok(Outcome::Missing);
        }
        self.write_audit(audit).await?;
        self.commit().await?;
        Ok(Outcome::Applied)
    }
}

impl<DB: sqlx::Database> crate::store::OutboxWakeups for SqlStore<DB> {
    fn outbox_wakeups(&self) -> &crate::store::Wakeups {
        &self.wakeups
    }
}

#[async_trait]
impl<DB: Dialect> Store for SqlStore<DB> {
    async fn ping(&self) -> StoreResult<()> {
        self.one(sql("SELECT 1 AS one")).await.map(drop)
    }

    async fn close(&self) {
        // The listener holds a pooled connection, which `close` waits for.
        self.wakeups.stop();
        self.pool.close().await;
    }

    fn pool_stats(&self) -> crate::metrics::PoolStats {
        crate::metrics::PoolStats {
            size: self.pool.size(),
            idle: self.pool.num_idle(),
            max: self.pool.options().get_max_connections(),
            up: self.health.is_up(),
        }
    }
}
