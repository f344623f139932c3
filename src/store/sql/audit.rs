//! The audit area: the `audit_events` and `outbox` tables. It writes them for every other
//! area (`write_audit`, `write_event`, called inside the caller's transaction so a change and
//! its record commit together) and reads them back behind `AuditStore`.
//! `impl_audit_store!` instantiates it for one backend.

pub(crate) const AUDIT_COLUMNS: &str = "id, at, actor, action, repo, target, details, request_id";

/// Implements `AuditStore` for `$store` inside a backend's `impl_sql_store!` module.
macro_rules! impl_audit_store {
    ($store:ident) => {
        mod audit {
        use async_trait::async_trait;
        use sqlx::Row as _;

        use super::$store;
        use super::Conn;
        use crate::domain::{AuditEvent, AuditFilter, AuditRecord, OutboxEvent};
        use crate::store::{
            AuditStore, NewEvent, StoreResult,
            sql::{audit::AUDIT_COLUMNS, classify},
        };

        /// Writes an audit record in the caller's transaction.
        pub(super) async fn write_audit(conn: &mut Conn, a: &AuditRecord) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO audit_events (at, actor, action, repo, target, details, request_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(a.at)
            .bind(&a.actor)
            .bind(&a.action)
            .bind(&a.repo)
            .bind(&a.target)
            .bind(&a.details)
            .bind(&a.request_id)
            .execute(conn)
            .await
            .map_err(classify)?;
            Ok(())
        }

        /// Writes an outbox event in the caller's transaction.
        pub(super) async fn write_event(conn: &mut Conn, at: i64, e: &NewEvent) -> StoreResult<()> {
            sqlx::query("INSERT INTO outbox (at, topic, repo, payload) VALUES ($1, $2, $3, $4)")
                .bind(at)
                .bind(&e.topic)
                .bind(&e.repo)
                .bind(&e.payload)
                .execute(conn)
                .await
                .map_err(classify)?;
            Ok(())
        }

        #[async_trait]
        impl AuditStore for $store {
            async fn list_audit(
                &self,
                f: &AuditFilter,
                after_id: Option<i64>,
                limit: i64,
            ) -> StoreResult<Vec<AuditEvent>> {
                let sql = format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE ($1 IS NULL OR id > $1) \
                     AND ($2 IS NULL OR repo = $2) AND ($3 IS NULL OR action = $3) \
                     AND ($4 IS NULL OR actor = $4) AND ($5 IS NULL OR at >= $5) \
                     AND ($6 IS NULL OR at < $6) ORDER BY id LIMIT $7"
                );
                let rows = sqlx::query(&sql)
                    .bind(after_id)
                    .bind(f.repo.as_deref())
                    .bind(f.action.as_deref())
                    .bind(f.actor.as_deref())
                    .bind(f.start)
                    .bind(f.end)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(classify)?;
                rows.iter()
                    .map(|r| {
                        Ok(AuditEvent {
                            id: r.try_get("id")?,
                            record: AuditRecord {
                                at: r.try_get("at")?,
                                actor: r.try_get("actor")?,
                                action: r.try_get("action")?,
                                repo: r.try_get("repo")?,
                                target: r.try_get("target")?,
                                details: r.try_get("details")?,
                                request_id: r.try_get("request_id")?,
                            },
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(classify)
            }

            async fn list_outbox(
                &self,
                after_id: Option<i64>,
                limit: i64,
            ) -> StoreResult<Vec<OutboxEvent>> {
                // A plain bound, not `($2 IS NULL OR id > $2)`, so that the primary key's range
                // starts at `after_id` whatever plan the database caches.
                let sql = if after_id.is_some() {
                    "SELECT id, at, topic, repo, payload FROM outbox WHERE id > $2 ORDER BY id LIMIT $1"
                } else {
                    "SELECT id, at, topic, repo, payload FROM outbox ORDER BY id LIMIT $1"
                };
                let mut query = sqlx::query(sql).bind(limit);
                if let Some(after) = after_id {
                    query = query.bind(after);
                }
                let rows = query.fetch_all(&self.pool).await.map_err(classify)?;
                rows.iter()
                    .map(|r| {
                        Ok(OutboxEvent {
                            id: r.try_get("id")?,
                            at: r.try_get("at")?,
                            topic: r.try_get("topic")?,
                            repo: r.try_get("repo")?,
                            payload: r.try_get("payload")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(classify)
            }

            async fn last_outbox_id(&self) -> StoreResult<i64> {
                sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM outbox")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(classify)
            }
        }
        }
    };
}

pub(crate) use impl_audit_store;
