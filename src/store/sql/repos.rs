//! The repos area: the `repos` and `packages` tables, behind `RepoStore` (repos, their policy
//! JSON, and the packages in them).

use async_trait::async_trait;

use super::{Columns, Dialect, SqlStore, sql};
use crate::{
    domain::{AuditRecord, Name, Package, Policy, Repo},
    store::{RepoStore, StoreError, StoreResult},
};

const REPO_COLUMNS: &str = "key, public, display_name, created_at, policy";
const PACKAGE_COLUMNS: &str = "repo, name, kind, description, created_at";

fn repo_from_row(row: &impl Columns) -> StoreResult<Repo> {
    let key = row.name(&"a repo", "key")?;
    let policy = Policy::from_stored(&key, &row.text("policy")?)
        .map_err(|e| StoreError::Internal(e.cause.unwrap_or(e.message)))?;
    Ok(Repo {
        key,
        public: row.flag("public")?,
        display_name: Some(row.text("display_name")?).filter(|d| !d.is_empty()),
        created_at: row.int("created_at")?,
        policy,
    })
}

fn package_from_row(row: &impl Columns) -> StoreResult<Package> {
    Ok(Package {
        repo: row.name(&"a package", "repo")?,
        name: row.name(&"a package", "name")?,
        kind: row.text("kind")?,
        description: row.text("description")?,
        created_at: row.int("created_at")?,
    })
}

#[async_trait]
impl<DB: Dialect> RepoStore for SqlStore<DB> {
    async fn create_repo(&self, repo: &Repo, audit: &AuditRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        tx.execute(
            sql(
                "INSERT INTO repos (key, public, display_name, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&repo.key)
            .bind(repo.public)
            .bind(repo.display_name.as_deref().unwrap_or_default())
            .bind(repo.created_at),
        )
        .await?;
        tx.write_audit(audit).await?;
        tx.commit().await
    }

    async fn get_repo(&self, key: &Name) -> StoreResult<Option<Repo>> {
        let text = format!("SELECT {REPO_COLUMNS} FROM repos WHERE key = $1");
        let row = self.optional(sql(&text).bind(key)).await?;
        row.as_ref().map(repo_from_row).transpose()
    }

    async fn list_repos(
        &self,
        all: bool,
        also: Option<&Name>,
        after: Option<&Name>,
        limit: i64,
    ) -> StoreResult<Vec<Repo>> {
        let text = format!(
            "SELECT {REPO_COLUMNS} FROM repos WHERE ($1 OR public OR key = $2) \
             AND ($3 IS NULL OR key > $3) ORDER BY key LIMIT $4"
        );
        let rows = self
            .all(sql(&text).bind(all).bind(also).bind(after).bind(limit))
            .await?;
        rows.iter().map(repo_from_row).collect()
    }

    async fn set_repo_policy(
        &self,
        repo: &Name,
        policy: &Policy,
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        let policy = policy.to_json();
        let mut tx = self.begin_write().await?;
        let changed = tx
            .execute(
                sql("UPDATE repos SET policy = $1 WHERE key = $2")
                    .bind(&policy)
                    .bind(repo),
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        tx.write_audit(audit).await?;
        tx.commit().await
    }

    async fn create_package(&self, p: &Package, audit: &AuditRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        tx.execute(
            sql(
                "INSERT INTO packages (repo, name, kind, description, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&p.repo)
            .bind(&p.name)
            .bind(&p.kind)
            .bind(&p.description)
            .bind(p.created_at),
        )
        .await?;
        tx.write_audit(audit).await?;
        tx.commit().await
    }

    async fn get_package(&self, repo: &Name, name: &Name) -> StoreResult<Option<Package>> {
        let text = format!("SELECT {PACKAGE_COLUMNS} FROM packages WHERE repo = $1 AND name = $2");
        let row = self.optional(sql(&text).bind(repo).bind(name)).await?;
        row.as_ref().map(package_from_row).transpose()
    }

    async fn list_packages(
        &self,
        repo: &Name,
        after: Option<&Name>,
        limit: i64,
    ) -> StoreResult<Vec<Package>> {
        let text = format!(
            "SELECT {PACKAGE_COLUMNS} FROM packages WHERE repo = $1 \
             AND ($2 IS NULL OR name > $2) ORDER BY name LIMIT $3"
        );
        let rows = self
            .all(sql(&text).bind(repo).bind(after).bind(limit))
            .await?;
        rows.iter().map(package_from_row).collect()
    }
}
