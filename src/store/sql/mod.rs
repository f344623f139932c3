//! The SQL both backends share, one file per store area; each area file owns its tables'
//! queries and row mappers and defines a macro implementing its trait:
//!
//! - `repos.rs`: `RepoStore` (repos, policy, packages);
//! - `versions.rs`: `VersionStore` (versions, drafts, transitions, blobs);
//! - `releases.rs`: `ReleaseStore` (releases, channels, `latest_candidates`);
//! - `tokens.rs`: `TokenStore`;
//! - `audit.rs`: `AuditStore`, and the audit and outbox writes every other area makes.
//!
//! Every query is portable (`$1` placeholders, `RETURNING`, `ON CONFLICT`), so it is written
//! once and instantiated per backend by `impl_sql_store!` with the backend's concrete sqlx
//! types; what differs (connecting, starting a write transaction, migrations, triggers) stays
//! in `sqlite.rs` and `postgres.rs`. This file owns what the areas share: mapping driver errors
//! (`classify`), the backend's row, connection and transaction types, committing an edit
//! (`finish_edit`), and `Store` itself (`ping`, `close`).

use super::StoreError;

pub(super) mod audit;
pub(super) mod releases;
pub(super) mod repos;
pub(super) mod tokens;
pub(super) mod versions;

pub use releases::latest_candidates_sql;

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

/// Implements `Store` and every area trait for `$store`, whose `pool` field is a
/// `sqlx::Pool<$db>` and which has an inherent `begin_write` starting a write transaction.
macro_rules! impl_sql_store {
    ($store:ident, $db:ident) => {
        mod imp {
            use super::$store;
            use async_trait::async_trait;

            use crate::domain::AuditRecord;
            use crate::store::{Outcome, Store, StoreResult, sql::classify};

            type Conn = <sqlx::$db as sqlx::Database>::Connection;
            type DbRow = <sqlx::$db as sqlx::Database>::Row;
            type Tx = sqlx::Transaction<'static, sqlx::$db>;

            /// Commits an edit that changed `affected` rows, with its audit record; an edit that
            /// changed nothing is rolled back as `Missing`.
            async fn finish_edit(
                mut tx: Tx,
                affected: u64,
                audit: &AuditRecord,
            ) -> StoreResult<Outcome> {
                if affected == 0 {
                    tx.rollback().await.map_err(classify)?;
                    return Ok(Outcome::Missing);
                }
                audit::write_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(classify)?;
                Ok(Outcome::Applied)
            }

            #[async_trait]
            impl Store for $store {
                async fn ping(&self) -> StoreResult<()> {
                    sqlx::query("SELECT 1")
                        .execute(&self.pool)
                        .await
                        .map_err(classify)?;
                    Ok(())
                }

                async fn close(&self) {
                    self.pool.close().await;
                }
            }

            crate::store::sql::audit::impl_audit_store!($store);
            crate::store::sql::repos::impl_repo_store!($store);
            crate::store::sql::versions::impl_version_store!($store);
            crate::store::sql::releases::impl_release_store!($store);
            crate::store::sql::tokens::impl_token_store!($store);
        }
    };
}

pub(super) use impl_sql_store;
