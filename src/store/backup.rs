//! Online backup of the SQLite store: `VACUUM INTO` writes a consistent, compacted copy of
//! the database while the server keeps serving (readers are not blocked; writers wait only
//! for the copy's read transaction on SQLite's single writer lock at its start).

use std::path::Path;

use sqlx::Sqlite;

use super::{StoreError, StoreResult, sql::SqlStore};

impl SqlStore<Sqlite> {
    /// Writes a consistent copy of the database to `path`, which must not exist.
    pub async fn backup_into(&self, path: &Path) -> StoreResult<()> {
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::Internal(format!("not a UTF-8 path: {}", path.display())))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await
            .map_err(super::sql::classify)?;
        Ok(())
    }
}
