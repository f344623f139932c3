//! The events area's contract: what the relay, `WatchReleases` and webhooks need from the
//! database. The relay lease (one relay across every server) lives here too: on PostgreSQL a
//! session advisory lock held on a connection of its own, on SQLite the one process.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{AuditRecord, OutboxEvent, Webhook, WebhookDelivery};

/// Held by the one relay; dropping it gives the relay up (the PostgreSQL connection that
/// holds the advisory lock closes, which releases the lock even if this process is killed).
#[async_trait]
pub trait RelayLease: Send {
    /// Tells whether the lease is still held (the connection holding it still answers).
    async fn held(&mut self) -> StoreResult<bool>;
}

/// An outbox event with the body the sinks send.
#[derive(Debug, Clone)]
pub struct Relayed<'a> {
    /// The event.
    pub event: &'a OutboxEvent,
    /// The JSON envelope every sink sends (webhook body, NATS payload).
    pub body: String,
}

/// The result of one webhook attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// When it was made, unix microseconds.
    pub at: i64,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i64>,
    /// Why it failed (`None`: delivered).
    pub error: Option<String>,
    /// When to try again; `None` after a success or the last attempt.
    pub next_attempt_at: Option<i64>,
}

/// A delivery due now, with what sending it needs.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// The delivery.
    pub delivery: WebhookDelivery,
    /// Its subscription's target.
    pub url: String,
    /// Its subscription's signing key (base64).
    pub secret: String,
}

/// Events, webhook subscriptions and deliveries.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Tries to become the relay; `None` when another holder has it.
    async fn try_lease_relay(&self) -> StoreResult<Option<Box<dyn RelayLease>>>;
    /// Lists events not delivered yet, in id order.
    async fn pending_events(&self, limit: i64) -> StoreResult<Vec<OutboxEvent>>;
    /// Lists one repo's events after an id, in id order.
    async fn repo_events(
        &self,
        repo: &str,
        after_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxEvent>>;
    /// Returns the id of a repo's newest visible event (0 when none).
    async fn last_repo_event_id(&self, repo: &str) -> StoreResult<i64>;
    /// In one transaction: queues a webhook delivery of each event for every subscription of
    /// its repo that wants it (created before the event), and marks the events delivered.
    async fn finish_relay(&self, events: &[Relayed<'_>], at: i64) -> StoreResult<()>;
    /// Deletes up to `batch` delivered events (and delivered webhook deliveries) older than
    /// `before`; returns how many rows went.
    async fn purge_delivered(&self, before: i64, batch: i64) -> StoreResult<u64>;
    /// Stores a subscription with its audit record.
    async fn create_webhook(&self, webhook: &Webhook, audit: &AuditRecord) -> StoreResult<()>;
    /// Returns a subscription.
    async fn get_webhook(&self, id: &str) -> StoreResult<Option<Webhook>>;
    /// Lists a repo's subscriptions, oldest first.
    async fn list_webhooks(&self, repo: &str) -> StoreResult<Vec<Webhook>>;
    /// Deletes a subscription and its deliveries with an audit record; false when missing.
    async fn delete_webhook(&self, id: &str, audit: &AuditRecord) -> StoreResult<bool>;
    /// Lists deliveries due at `now`, oldest first.
    async fn due_deliveries(&self, now: i64, limit: i64) -> StoreResult<Vec<DueDelivery>>;
    /// Records an attempt: delivered, pending again, or failed for good.
    async fn record_attempt(&self, delivery_id: i64, attempt: &Attempt) -> StoreResult<()>;
    /// Lists a subscription's deliveries, newest first, before an id.
    async fn list_deliveries(
        &self,
        webhook_id: &str,
        before_id: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>>;
    /// Makes a delivery pending again, due at `at`, with an audit record; false when missing.
    async fn redeliver(
        &self,
        webhook_id: &str,
        delivery_id: i64,
        at: i64,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;
}
