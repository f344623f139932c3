//! The tokens area: the `tokens` table, behind `TokenStore` (creating, finding by secret hash,
//! listing and revoking access tokens).

use async_trait::async_trait;

use super::{Columns, Dialect, SqlStore, parsed, sql};
use crate::{
    domain::{AuditRecord, Token, TokenScope},
    store::{StoreResult, TokenStore},
};

const TOKEN_COLUMNS: &str = "id, name, repo, role, created_at, expires_at, revoked_at";

fn token_from_row(row: &impl Columns) -> StoreResult<Token> {
    let id = row.text("id")?;
    let what = format!("token {id}");
    Ok(Token {
        scope: match row.opt_text("repo")? {
            None => TokenScope::AllRepos,
            Some(_) => TokenScope::Repo(row.name(&what, "repo")?),
        },
        role: parsed(&what, "role", &row.text("role")?, str::parse)?,
        id,
        name: row.text("name")?,
        created_at: row.int("created_at")?,
        expires_at: row.opt_int("expires_at")?,
        revoked_at: row.opt_int("revoked_at")?,
    })
}

#[async_trait]
impl<DB: Dialect> TokenStore for SqlStore<DB> {
    async fn create_token(
        &self,
        t: &Token,
        secret_hash: &str,
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        tx.execute(
            sql(
                "INSERT INTO tokens (id, secret_hash, name, repo, role, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&t.id)
            .bind(secret_hash)
            .bind(&t.name)
            .bind(t.scope.repo())
            .bind(t.role.as_str())
            .bind(t.created_at)
            .bind(t.expires_at),
        )
        .await?;
        tx.write_audit(audit).await?;
        tx.commit().await
    }

    async fn token_by_hash(&self, secret_hash: &str) -> StoreResult<Option<Token>> {
        let text = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE secret_hash = $1");
        let row = self.optional(sql(&text).bind(secret_hash)).await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn get_token(&self, id: &str) -> StoreResult<Option<Token>> {
        let text = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1");
        let row = self.optional(sql(&text).bind(id)).await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn list_tokens(
        &self,
        repo: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<Token>> {
        let text = format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE ($1 IS NULL OR repo = $1) \
             AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        let rows = self
            .all(sql(&text).bind(repo).bind(after).bind(limit))
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_token(&self, id: &str, at: i64, audit: &AuditRecord) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let changed = tx
            .execute(
                sql("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(at)
                    .bind(id),
            )
            .await?
            == 1;
        if changed {
            tx.write_audit(audit).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }
}
