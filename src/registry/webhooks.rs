//! Webhooks: per-repo subscriptions managed by the repo's admins, and their delivery. The
//! relay queues one delivery per subscription and event (`EventStore::finish_relay`); the
//! relay holder sends the due ones, signed as Standard Webhooks says (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`),
//! retrying on the configured schedule, then marking them failed (kept for redelivery).
//! Deliveries of one subscription go out one at a time in event order; a delivery waiting
//! for a retry does not hold back later ones.

use std::collections::BTreeMap;

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use futures::StreamExt as _;
use hmac::{Hmac, Mac as _};
use rand::Rng as _;
use serde_json::json;
use sha2::Sha256;

use super::{Caller, Registry, audit, now_micros, store_error};
use crate::{
    domain::{
        Error, ErrorCode, Name, Result, Role, Webhook, WebhookDelivery, check_address,
        parse_target, parse_topics,
    },
    store::{Attempt, DueDelivery},
};

/// Deliveries read per step.
const DUE_BATCH: i64 = 256;
/// Subscriptions delivered to at once.
const CONCURRENT_TARGETS: usize = 16;

/// Signs a payload as Standard Webhooks says; `secret` is the base64 key.
pub(super) fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String> {
    let key = B64
        .decode(secret)
        .map_err(|e| Error::internal(format!("bad webhook secret: {e}")))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(Error::internal)?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

impl Registry {
    /// Checks that a target URL resolves only to addresses webhooks may reach.
    async fn check_target(&self, url: &str) -> Result<()> {
        let (host, port) = parse_target(url)?;
        let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| Error::invalid("url", format!("cannot resolve {host}: {e}")))?
            .collect();
        if addrs.is_empty() {
            return Err(Error::invalid("url", format!("{host} resolves to nothing")));
        }
        for addr in addrs {
            check_address(addr.ip(), self.events.settings.webhook_allow_private)?;
        }
        Ok(())
    }

    /// Loads a webhook whose repo the caller administers (NOT_FOUND otherwise).
    async fn administered_webhook(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(Webhook, super::Principal)> {
        let principal = self.authenticate(caller).await?;
        let hook = self
            .store
            .get_webhook(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found(format!("webhook {id}")))?;
        principal.require(Some(&hook.repo), Role::Admin)?;
        Ok((hook, principal))
    }

    /// Subscribes a URL to a repo's events; returns the webhook and its secret (`whsec_…`,
    /// shown once). Repo admins only.
    pub async fn create_webhook(
        &self,
        caller: &Caller,
        repo: &Name,
        url: &str,
        topics: &[String],
    ) -> Result<(Webhook, String)> {
        let topics = parse_topics(topics)?;
        parse_target(url)?;
        let (principal, _) = self.writable_repo(caller, repo, Role::Admin).await?;
        self.check_target(url).await?;
        let key: [u8; 24] = rand::rng().random();
        let secret = B64.encode(key);
        let hook = Webhook {
            id: format!("wh_{}", uuid::Uuid::new_v4().simple()),
            repo: repo.to_string(),
            url: url.to_owned(),
            topics,
            secret: secret.clone(),
            created_at: now_micros(),
            created_by: principal.actor(),
        };
        let record = audit(
            &principal,
            caller,
            "webhook.created",
            repo,
            hook.id.clone(),
            json!({ "url": hook.url, "topics": hook.topics }),
        );
        self.store
            .create_webhook(&hook, &record)
            .await
            .map_err(store_error)?;
        Ok((hook, format!("whsec_{secret}")))
    }

    /// Lists a repo's webhooks. Repo admins only.
    pub async fn list_webhooks(&self, caller: &Caller, repo: &Name) -> Result<Vec<Webhook>> {
        self.writable_repo(caller, repo, Role::Admin).await?;
        self.store.list_webhooks(repo).await.map_err(store_error)
    }

    /// Deletes a webhook and its deliveries. Repo admins only.
    pub async fn delete_webhook(&self, caller: &Caller, id: &str) -> Result<()> {
        let (hook, principal) = self.administered_webhook(caller, id).await?;
        let record = audit(
            &principal,
            caller,
            "webhook.deleted",
            &hook.repo,
            id,
            json!({ "url": hook.url }),
        );
        if !self
            .store
            .delete_webhook(id, &record)
            .await
            .map_err(store_error)?
        {
            return Err(Error::not_found(format!("webhook {id}")));
        }
        Ok(())
    }

    /// Lists a webhook's deliveries, newest first, before a delivery id.
    pub async fn list_webhook_deliveries(
        &self,
        caller: &Caller,
        id: &str,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>> {
        self.administered_webhook(caller, id).await?;
        self.store
            .list_deliveries(id, before_id, limit)
            .await
            .map_err(store_error)
    }

    /// Makes a delivery due now (again), whatever its state.
    pub async fn redeliver_webhook(
        &self,
        caller: &Caller,
        id: &str,
        delivery_id: i64,
    ) -> Result<()> {
        if delivery_id <= 0 {
            return Err(Error::invalid("delivery_id", "must be positive"));
        }
        let (hook, principal) = self.administered_webhook(caller, id).await?;
        let record = audit(
            &principal,
            caller,
            "webhook.redelivered",
            &hook.repo,
            id,
            json!({ "delivery_id": delivery_id }),
        );
        if !self
            .store
            .redeliver(id, delivery_id, now_micros(), &record)
            .await
            .map_err(store_error)?
        {
            return Err(Error::new(
                ErrorCode::NotFound,
                format!("delivery {delivery_id} of webhook {id} not found"),
            ));
        }
        Ok(())
    }

    /// Sends the deliveries due now; returns how many were attempted.
    pub(super) async fn deliver_due_webhooks(&self) -> usize {
        let due = match self.store.due_deliveries(now_micros(), DUE_BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read due webhook deliveries");
                return 0;
            }
        };
        let count = due.len();
        let mut by_target: BTreeMap<String, Vec<DueDelivery>> = BTreeMap::new();
        for d in due {
            by_target
                .entry(d.delivery.webhook_id.clone())
                .or_default()
                .push(d);
        }
        for list in by_target.values_mut() {
            list.sort_by_key(|d| d.delivery.event_id);
        }
        futures::stream::iter(by_target.into_values())
            .for_each_concurrent(CONCURRENT_TARGETS, |list| async move {
                for d in list {
                    self.attempt(&d).await;
                }
            })
            .await;
        count
    }

    /// Makes one attempt and records it.
    async fn attempt(&self, d: &DueDelivery) {
        let outcome = self.send(d).await;
        let at = now_micros();
        let (status, error) = match outcome {
            Ok(status) if (200..300).contains(&status) => (Some(status), None),
            Ok(status) => (
                Some(status),
                Some(format!("the receiver answered {status}")),
            ),
            Err(e) => (None, Some(e.cause.clone().unwrap_or(e.message))),
        };
        let retries = &self.events.settings.webhook_retries;
        let next_attempt_at = match (&error, retries.get(d.delivery.attempts as usize)) {
            (Some(_), Some(wait)) => Some(at + wait.as_micros() as i64),
            _ => None,
        };
        if let Some(e) = &error {
            tracing::info!(webhook = %d.delivery.webhook_id, event = d.delivery.event_id,
                attempts = d.delivery.attempts + 1, error = %e, "webhook delivery failed");
        }
        let attempt = Attempt {
            at,
            status,
            error,
            next_attempt_at,
        };
        if let Err(e) = self.store.record_attempt(d.delivery.id, &attempt).await {
            tracing::warn!(error = %e, "cannot record a webhook attempt");
        }
    }

    /// Sends one delivery; returns the receiver's status.
    async fn send(&self, d: &DueDelivery) -> Result<i64> {
        // Checked again at every attempt: what a name resolves to may have changed.
        self.check_target(&d.url).await?;
        let id = format!("evt_{}", d.delivery.event_id);
        let timestamp = now_micros() / 1_000_000;
        let signature = sign(&d.secret, &id, timestamp, &d.delivery.body)?;
        let response = self
            .events
            .http
            .post(&d.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(d.delivery.body.clone())
            .send()
            .await
            .map_err(|e| Error::new(ErrorCode::Unavailable, format!("sending: {e}")))?;
        Ok(i64::from(response.status().as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification's reference libraries.
        let sig = sign(
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
