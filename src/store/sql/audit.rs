//! The audit area: the `audit_events` and `outbox` tables. It writes them for every other
//! area (`Tx::write_audit`, `Tx::write_event`, inside the caller's transaction so a change and
//! its record commit together) and reads them back behind `AuditStore`.

use async_trait::async_trait;

use super::{Columns, Dialect, SqlStore, Tx, sql};
use crate::{
    domain::{AuditEvent, AuditFilter, AuditRecord, OutboxEvent},
    store::{AuditStore, NewEvent, StoreResult},
};

const AUDIT_COLUMNS: &str = "id, at, actor, action, repo, target, details, request_id";

impl<DB: Dialect> Tx<DB> {
    /// Writes an audit record in this transaction.
    pub(crate) async fn write_audit(&mut self, a: &AuditRecord) -> StoreResult<()> {
        self.execute(
            sql(
                "INSERT INTO audit_events (at, actor, action, repo, target, details, request_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(a.at)
            .bind(&a.actor)
            .bind(&a.action)
            .bind(&a.repo)
            .bind(&a.target)
            .bind(&a.details)
            .bind(&a.request_id),
        )
        .await
        .map(drop)
    }

    /// Writes an outbox event in this transaction.
    pub(crate) async fn write_event(&mut self, at: i64, e: &NewEvent) -> StoreResult<()> {
        self.1.wrote_event = true;
        self.execute(
            sql("INSERT INTO outbox (at, topic, repo, payload) VALUES ($1, $2, $3, $4)")
                .bind(at)
                .bind(&e.topic)
                .bind(&e.repo)
                .bind(&e.payload),
        )
        .await
        .map(drop)
    }
}

fn audit_from_row(r: &impl Columns) -> StoreResult<AuditEvent> {
    Ok(AuditEvent {
        id: r.int("id")?,
        record: AuditRecord {
            at: r.int("at")?,
            actor: r.text("actor")?,
            action: r.text("action")?,
            repo: r.text("repo")?,
            target: r.text("target")?,
            details: r.text("details")?,
            request_id: r.text("request_id")?,
        },
    })
}

/// The columns `outbox_from_row` reads.
pub(super) const OUTBOX_COLUMNS: &str = "id, at, topic, repo, payload";

/// Reads an outbox row (`OUTBOX_COLUMNS`).
pub(super) fn outbox_from_row(r: &impl Columns) -> StoreResult<OutboxEvent> {
    Ok(OutboxEvent {
        id: r.int("id")?,
        at: r.int("at")?,
        topic: r.text("topic")?,
        repo: r.text("repo")?,
        payload: r.text("payload")?,
    })
}

#[async_trait]
impl<DB: Dialect> AuditStore for SqlStore<DB> {
    async fn list_audit(
        &self,
        f: &AuditFilter,
        after_id: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEvent>> {
        let text = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE ($1 IS NULL OR id > $1) \
             AND ($2 IS NULL OR repo = $2) AND ($3 IS NULL OR action = $3) \
             AND ($4 IS NULL OR actor = $4) AND ($5 IS NULL OR at >= $5) \
             AND ($6 IS NULL OR at < $6) ORDER BY id LIMIT $7"
        );
        let rows = self
            .all(
                sql(&text)
                    .bind(after_id)
                    .bind(f.repo.as_deref())
                    .bind(f.action.as_deref())
                    .bind(f.actor.as_deref())
                    .bind(f.start)
                    .bind(f.end)
                    .bind(limit),
            )
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn list_outbox(
        &self,
        after_id: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<OutboxEvent>> {
        // A plain bound, not `($2 IS NULL OR id > $2)`, so that the primary key's range starts
        // at `after_id` whatever plan the database caches.
        let rows = match after_id {
            Some(after) => {
                self.all(
                    sql(
                        "SELECT id, at, topic, repo, payload FROM outbox WHERE id > $2 \
                         ORDER BY id LIMIT $1",
                    )
                    .bind(limit)
                    .bind(after),
                )
                .await?
            }
            None => {
                self.all(
                    sql("SELECT id, at, topic, repo, payload FROM outbox ORDER BY id LIMIT $1")
                        .bind(limit),
                )
                .await?
            }
        };
        rows.iter().map(outbox_from_row).collect()
    }

    async fn last_outbox_id(&self) -> StoreResult<i64> {
        self.one(sql("SELECT COALESCE(MAX(id), 0) AS last FROM outbox"))
            .await?
            .int("last")
    }
}
