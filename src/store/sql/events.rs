//! The events area: `EventStore` over the `outbox` (pending reads, marking delivered,
//! purging), `webhooks` and `webhook_deliveries` tables, and the relay lease.

use async_trait::async_trait;
use sqlx::pool::PoolConnection;

use super::{
    Columns, Dialect, SqlStore,
    audit::{OUTBOX_COLUMNS, outbox_from_row},
    sql,
};
use crate::{
    domain::{AuditRecord, DeliveryState, OutboxEvent, Webhook, WebhookDelivery},
    store::{Attempt, DueDelivery, EventStore, RelayLease, Relayed, StoreError, StoreResult},
};

const WEBHOOK_COLUMNS: &str = "id, repo, url, topics, secret, created_at, created_by";
const DELIVERY_COLUMNS: &str = "d.id, d.webhook_id, d.event_id, d.topic, d.body, d.state, \
     d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error, \
     d.created_at, d.delivered_at";

/// The relay lease: on PostgreSQL a connection of its own (taken out of the pool, so that the
/// session's advisory lock ends with it); on SQLite nothing (the one process relays).
struct SessionLease<DB: sqlx::Database> {
    conn: Option<DB::Connection>,
}

#[async_trait]
impl<DB: Dialect> RelayLease for SessionLease<DB> {
    async fn held(&mut self) -> StoreResult<bool> {
        match &mut self.conn {
            None => Ok(true),
            Some(conn) => DB::optional(conn, sql("SELECT 1 AS one"))
                .await
                .map(|row| row.is_some()),
        }
    }
}

fn webhook_from_row(r: &impl Columns) -> StoreResult<Webhook> {
    Ok(Webhook {
        id: r.text("id")?,
        repo: r.text("repo")?,
        url: r.text("url")?,
        topics: r
            .text("topics")?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        secret: r.text("secret")?,
        created_at: r.int("created_at")?,
        created_by: r.text("created_by")?,
    })
}

fn delivery_from_row(r: &impl Columns) -> StoreResult<WebhookDelivery> {
    let state = r.text("state")?;
    Ok(WebhookDelivery {
        id: r.int("id")?,
        webhook_id: r.text("webhook_id")?,
        event_id: r.int("event_id")?,
        topic: r.text("topic")?,
        body: r.text("body")?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| StoreError::Internal(format!("bad delivery state {state:?}")))?,
        attempts: r.int("attempts")?,
        next_attempt_at: r.opt_int("next_attempt_at")?,
        last_attempt_at: r.opt_int("last_attempt_at")?,
        last_status: r.opt_int("last_status")?,
        last_error: r.opt_text("last_error")?,
        created_at: r.int("created_at")?,
        delivered_at: r.opt_int("delivered_at")?,
    })
}

#[async_trait]
impl<DB: Dialect> EventStore for SqlStore<DB> {
    async fn try_lease_relay(&self) -> StoreResult<Option<Box<dyn RelayLease>>> {
        if !DB::ADVISORY_LOCKS {
            return Ok(Some(Box::new(SessionLease::<DB> { conn: None })));
        }
        let mut conn: PoolConnection<DB> = self.acquire().await?;
        let row = DB::optional(
            &mut *conn,
            sql("SELECT pg_try_advisory_lock(hashtext('relreg.relay')) AS locked"),
        )
        .await?;
        if row.map(|r| r.flag("locked")).transpose()? == Some(true) {
            // Out of the pool: the lock lives as long as this connection, which closes (and
            // releases it) when the lease is dropped or the process dies.
            Ok(Some(Box::new(SessionLease::<DB> {
                conn: Some(conn.detach()),
            })))
        } else {
            // Nothing held: back to the pool.
            Ok(None)
        }
    }

    async fn pending_events(&self, limit: i64) -> StoreResult<Vec<OutboxEvent>> {
        let text = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE delivered_at IS NULL ORDER BY id LIMIT $1"
        );
        let rows = self.all(sql(&text).bind(limit)).await?;
        rows.iter().map(outbox_from_row).collect()
    }

    async fn repo_events(
        &self,
        repo: &str,
        after_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxEvent>> {
        let text = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE repo = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows = self
            .all(sql(&text).bind(repo).bind(after_id).bind(limit))
            .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    async fn last_repo_event_id(&self, repo: &str) -> StoreResult<i64> {
        self.one(sql("SELECT COALESCE(MAX(id), 0) AS last FROM outbox WHERE repo = $1").bind(repo))
            .await?
            .int("last")
    }

    async fn finish_relay(&self, events: &[Relayed<'_>], at: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for Relayed { event, body } in events {
            let text = format!(
                "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE repo = $1 AND created_at <= $2 \
                 ORDER BY id"
            );
            let rows = tx.all(sql(&text).bind(&event.repo).bind(event.at)).await?;
            for row in &rows {
                let hook = webhook_from_row(row)?;
                if !hook.wants(&event.topic) {
                    continue;
                }
                tx.execute(
                    sql(
                        "INSERT INTO webhook_deliveries (webhook_id, event_id, topic, body, \
                         state, attempts, next_attempt_at, created_at) \
                         VALUES ($1, $2, $3, $4, 'PENDING', 0, $5, $5) \
                         ON CONFLICT (webhook_id, event_id) DO NOTHING",
                    )
                    .bind(&hook.id)
                    .bind(event.id)
                    .bind(&event.topic)
                    .bind(body)
                    .bind(at),
                )
                .await?;
            }
            tx.execute(
                sql("UPDATE outbox SET delivered_at = $1 WHERE id = $2 AND delivered_at IS NULL")
                    .bind(at)
                    .bind(event.id),
            )
            .await?;
        }
        tx.commit().await
    }

    async fn purge_delivered(&self, before: i64, batch: i64) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let events = tx
            .execute(
                sql("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
                     WHERE delivered_at IS NOT NULL AND delivered_at < $1 LIMIT $2)")
                .bind(before)
                .bind(batch),
            )
            .await?;
        let deliveries = tx
            .execute(
                sql(
                    "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM \
                     webhook_deliveries WHERE state = 'DELIVERED' AND delivered_at < $1 LIMIT $2)",
                )
                .bind(before)
                .bind(batch),
            )
            .await?;
        tx.commit().await?;
        Ok(events + deliveries)
    }

    async fn create_webhook(&self, w: &Webhook, audit: &AuditRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let topics = w.topics.join(" ");
        tx.execute(
            sql(
                "INSERT INTO webhooks (id, repo, url, topics, secret, created_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&w.id)
            .bind(&w.repo)
            .bind(&w.url)
            .bind(&topics)
            .bind(&w.secret)
            .bind(w.created_at)
            .bind(&w.created_by),
        )
        .await?;
        tx.write_audit(audit).await?;
        tx.commit().await
    }

    async fn get_webhook(&self, id: &str) -> StoreResult<Option<Webhook>> {
        let text = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1");
        self.optional(sql(&text).bind(id))
            .await?
            .as_ref()
            .map(webhook_from_row)
            .transpose()
    }

    async fn list_webhooks(&self, repo: &str) -> StoreResult<Vec<Webhook>> {
        let text = format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE repo = $1 ORDER BY created_at, id"
        );
        let rows = self.all(sql(&text).bind(repo)).await?;
        rows.iter().map(webhook_from_row).collect()
    }

    async fn delete_webhook(&self, id: &str, audit: &AuditRecord) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        tx.execute(sql("DELETE FROM webhook_deliveries WHERE webhook_id = $1").bind(id))
            .await?;
        let gone = tx
            .execute(sql("DELETE FROM webhooks WHERE id = $1").bind(id))
            .await?;
        if gone == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.write_audit(audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn due_deliveries(&self, now: i64, limit: i64) -> StoreResult<Vec<DueDelivery>> {
        let text = format!(
            "SELECT {DELIVERY_COLUMNS}, w.url AS url, w.secret AS secret \
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.state = 'PENDING' AND d.next_attempt_at <= $1 \
             ORDER BY d.next_attempt_at, d.id LIMIT $2"
        );
        let rows = self.all(sql(&text).bind(now).bind(limit)).await?;
        rows.iter()
            .map(|r| {
                Ok(DueDelivery {
                    delivery: delivery_from_row(r)?,
                    url: r.text("url")?,
                    secret: r.text("secret")?,
                })
            })
            .collect()
    }

    async fn record_attempt(&self, delivery_id: i64, a: &Attempt) -> StoreResult<()> {
        let state = match (&a.error, a.next_attempt_at) {
            (None, _) => DeliveryState::Delivered,
            (Some(_), Some(_)) => DeliveryState::Pending,
            (Some(_), None) => DeliveryState::Failed,
        };
        let delivered_at = (state == DeliveryState::Delivered).then_some(a.at);
        let mut tx = self.begin_write().await?;
        tx.execute(
            sql(
                "UPDATE webhook_deliveries SET state = $1, attempts = attempts + 1, \
                 next_attempt_at = $2, last_attempt_at = $3, last_status = $4, \
                 last_error = $5, delivered_at = $6 WHERE id = $7 AND state = 'PENDING'",
            )
            .bind(state.as_str())
            .bind(a.next_attempt_at)
            .bind(a.at)
            .bind(a.status)
            .bind(a.error.as_deref())
            .bind(delivered_at)
            .bind(delivery_id),
        )
        .await?;
        tx.commit().await
    }

    async fn list_deliveries(
        &self,
        webhook_id: &str,
        before_id: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let text = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.webhook_id = $1 \
             AND d.id < $2 ORDER BY d.id DESC LIMIT $3"
        );
        let rows = self
            .all(
                sql(&text)
                    .bind(webhook_id)
                    .bind(before_id.unwrap_or(i64::MAX))
                    .bind(limit),
            )
            .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    async fn redeliver(
        &self,
        webhook_id: &str,
        delivery_id: i64,
        at: i64,
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let changed = tx
            .execute(
                sql(
                    "UPDATE webhook_deliveries SET state = 'PENDING', next_attempt_at = $1, \
                     delivered_at = NULL WHERE id = $2 AND webhook_id = $3",
                )
                .bind(at)
                .bind(delivery_id)
                .bind(webhook_id),
            )
            .await?;
        if changed == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.write_audit(audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}
