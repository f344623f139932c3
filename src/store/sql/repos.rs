//! The repos area: the `repos` and `packages` tables, behind `RepoStore` (repos, their policy
//! JSON, and the packages in them). `impl_repo_store!` instantiates it for one backend.

/// Implements `RepoStore` for `$store` inside a backend's `impl_sql_store!` module.
macro_rules! impl_repo_store {
    ($store:ident) => {
        mod repos {
        use async_trait::async_trait;
        use sqlx::Row as _;

        use super::$store;
        use super::{DbRow, audit::write_audit};
        use crate::domain::{AuditRecord, Package, Repo};
        use crate::store::{RepoStore, StoreResult, sql::classify};

        fn repo_from_row(row: &DbRow) -> Result<Repo, sqlx::Error> {
            Ok(Repo {
                key: row.try_get("key")?,
                public: row.try_get("public")?,
                display_name: row.try_get("display_name")?,
                created_at: row.try_get("created_at")?,
                policy: row.try_get("policy")?,
            })
        }

        fn package_from_row(row: &DbRow) -> Result<Package, sqlx::Error> {
            Ok(Package {
                repo: row.try_get("repo")?,
                name: row.try_get("name")?,
                kind: row.try_get("kind")?,
                description: row.try_get("description")?,
                created_at: row.try_get("created_at")?,
            })
        }

        #[async_trait]
        impl RepoStore for $store {
            async fn create_repo(&self, repo: &Repo, audit: &AuditRecord) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO repos (key, public, display_name, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&repo.key)
                .bind(repo.public)
                .bind(&repo.display_name)
                .bind(repo.created_at)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                write_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(classify)
            }

            async fn get_repo(&self, key: &str) -> StoreResult<Option<Repo>> {
                let row = sqlx::query(
                    "SELECT key, public, display_name, created_at, policy FROM repos WHERE key = $1",
                )
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(classify)?;
                row.as_ref().map(repo_from_row).transpose().map_err(classify)
            }

            async fn list_repos(
                &self,
                all: bool,
                also: Option<&str>,
                after: Option<&str>,
                limit: i64,
            ) -> StoreResult<Vec<Repo>> {
                let rows = sqlx::query(
                    "SELECT key, public, display_name, created_at, policy FROM repos \
                     WHERE ($1 OR public OR key = $2) AND ($3 IS NULL OR key > $3) ORDER BY key LIMIT $4",
                )
                .bind(all)
                .bind(also)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
                rows.iter().map(repo_from_row).collect::<Result<_, _>>().map_err(classify)
            }

            async fn set_repo_policy(&self, repo: &str, policy: &str, audit: &AuditRecord) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let changed = sqlx::query("UPDATE repos SET policy = $1 WHERE key = $2")
                    .bind(policy)
                    .bind(repo)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?
                    .rows_affected();
                if changed == 0 {
                    return Err(crate::store::StoreError::NotFound);
                }
                write_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(classify)
            }

            async fn create_package(&self, p: &Package, audit: &AuditRecord) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO packages (repo, name, kind, description, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&p.repo)
                .bind(&p.name)
                .bind(&p.kind)
                .bind(&p.description)
                .bind(p.created_at)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                write_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(classify)
            }

            async fn get_package(&self, repo: &str, name: &str) -> StoreResult<Option<Package>> {
                let row = sqlx::query(
                    "SELECT repo, name, kind, description, created_at FROM packages \
                     WHERE repo = $1 AND name = $2",
                )
                .bind(repo)
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(classify)?;
                row.as_ref().map(package_from_row).transpose().map_err(classify)
            }

            async fn list_packages(
                &self,
                repo: &str,
                after: Option<&str>,
                limit: i64,
            ) -> StoreResult<Vec<Package>> {
                let rows = sqlx::query(
                    "SELECT repo, name, kind, description, created_at FROM packages \
                     WHERE repo = $1 AND ($2 IS NULL OR name > $2) ORDER BY name LIMIT $3",
                )
                .bind(repo)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
                rows.iter().map(package_from_row).collect::<Result<_, _>>().map_err(classify)
            }
        }
        }
    };
}

pub(crate) use impl_repo_store;
