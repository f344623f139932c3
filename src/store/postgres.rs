//! The PostgreSQL store, selected by a `postgres://` URL. Races are settled by row locks taken
//! by the conditional updates and by unique constraints.

use std::time::Duration;

use sqlx::{
    Postgres,
    postgres::{PgPoolOptions, PgQueryResult},
};

use super::{
    StoreError, StoreResult,
    sql::{Dialect, SqlStore, classify},
};

/// relreg's store on PostgreSQL.
pub type PgStore = SqlStore<Postgres>;

impl Dialect for Postgres {
    const BEGIN_WRITE: &'static str = "BEGIN";

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }
}

impl SqlStore<Postgres> {
    /// Connects to a `postgres://` URL and applies migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(classify)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Internal(format!("migration failed: {e}")))?;
        let store = Self { pool };
        store.fill_missing_offers().await?;
        Ok(store)
    }
}
