//! The PostgreSQL store, selected by a `postgres://` URL. Races are settled by row locks taken
//! by the conditional updates and by unique constraints.

use std::time::Duration;

use sqlx::{
    Postgres, Transaction,
    postgres::{PgPool, PgPoolOptions},
};

use super::{StoreError, StoreResult, sql::classify};

/// relreg's store on PostgreSQL.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
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
        Ok(Self { pool })
    }

    /// Returns the pool, for tests that must bypass the store (e.g. to prove the triggers).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(classify)
    }
}

super::sql::impl_sql_store!(PgStore, Postgres);
