//! The tokens area: the `tokens` table, behind `TokenStore` (creating, finding by secret hash,
//! listing and revoking access tokens). `impl_token_store!` instantiates it for one backend.

pub(crate) const TOKEN_COLUMNS: &str = "id, name, repo, role, created_at, expires_at, revoked_at";

/// Implements `TokenStore` for `$store` inside a backend's `impl_sql_store!` module.
macro_rules! impl_token_store {
    ($store:ident) => {
        mod tokens {
        use async_trait::async_trait;
        use sqlx::Row as _;

        use super::$store;
        use super::{DbRow, audit::write_audit};
        use crate::domain::{AuditRecord, Token, TokenScope};
        use crate::store::{
            StoreResult, TokenStore,
            sql::{classify, tokens::TOKEN_COLUMNS},
        };

        fn token_from_row(row: &DbRow) -> Result<Token, sqlx::Error> {
            let repo: Option<String> = row.try_get("repo")?;
            let role: String = row.try_get("role")?;
            Ok(Token {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                scope: repo.map_or(TokenScope::AllRepos, TokenScope::Repo),
                role: role.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                revoked_at: row.try_get("revoked_at")?,
            })
        }

        #[async_trait]
        impl TokenStore for $store {
            async fn create_token(
                &self,
                t: &Token,
                secret_hash: &str,
                audit: &AuditRecord,
            ) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO tokens (id, secret_hash, name, repo, role, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&t.id)
                .bind(secret_hash)
                .bind(&t.name)
                .bind(t.scope.repo())
                .bind(t.role.as_str())
                .bind(t.created_at)
                .bind(t.expires_at)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                write_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(classify)
            }

            async fn token_by_hash(&self, secret_hash: &str) -> StoreResult<Option<Token>> {
                let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE secret_hash = $1");
                let row = sqlx::query(&sql)
                    .bind(secret_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(classify)?;
                row.as_ref().map(token_from_row).transpose().map_err(classify)
            }

            async fn get_token(&self, id: &str) -> StoreResult<Option<Token>> {
                let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1");
                let row = sqlx::query(&sql)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(classify)?;
                row.as_ref().map(token_from_row).transpose().map_err(classify)
            }

            async fn list_tokens(
                &self,
                repo: Option<&str>,
                after: Option<&str>,
                limit: i64,
            ) -> StoreResult<Vec<Token>> {
                let sql = format!(
                    "SELECT {TOKEN_COLUMNS} FROM tokens WHERE ($1 IS NULL OR repo = $1) \
                     AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
                );
                let rows = sqlx::query(&sql)
                    .bind(repo)
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(classify)?;
                rows.iter().map(token_from_row).collect::<Result<_, _>>().map_err(classify)
            }

            async fn revoke_token(&self, id: &str, at: i64, audit: &AuditRecord) -> StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let changed = sqlx::query(
                    "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(classify)?
                .rows_affected()
                    == 1;
                if changed {
                    write_audit(&mut tx, audit).await?;
                }
                tx.commit().await.map_err(classify)?;
                Ok(changed)
            }
        }
        }
    };
}

pub(crate) use impl_token_store;
