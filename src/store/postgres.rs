//! The PostgreSQL store, selected by a `postgres://` URL. Races are settled by row locks taken
//! by the conditional updates and by unique constraints.

use std::{str::FromStr as _, time::Duration};

use sqlx::{
    Postgres,
    postgres::{PgConnectOptions, PgPoolOptions, PgQueryResult},
};

/// How long a call waits for a pooled connection while the database seems up (while it is
/// down, calls fail at once: see `health.rs`).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

use super::{
    StoreError, StoreResult,
    health::{self, Health},
    sql::{Dialect, SqlStore, classify},
};

/// relreg's store on PostgreSQL.
pub type PgStore = SqlStore<Postgres>;

impl Dialect for Postgres {
    const BEGIN_WRITE: &'static str = "BEGIN";
    const ADVISORY_LOCKS: bool = true;

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }
}

impl SqlStore<Postgres> {
    /// Connects to a `postgres://` URL, applies migrations, and starts the health monitor
    /// that makes calls fail fast while the database is down.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Internal(format!("bad postgres url: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(classify)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Internal(format!("migration failed: {e}")))?;
        let health = Health::new();
        health::monitor_postgres(options, &health);
        let wakeups = crate::store::Wakeups::default();
        wakeups.listen_postgres(pool.clone());
        let store = Self {
            pool,
            health,
            wakeups,
        };
        store.fill_missing_offers().await?;
        Ok(store)
    }
}
