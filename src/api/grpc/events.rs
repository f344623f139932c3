//! Events over gRPC: `ReleaseCatalog/WatchReleases` (a server stream) and the webhook RPCs
//! of `ReleaseAdmin`, with their conversions.

use std::pin::Pin;

use futures::{Stream, StreamExt as _};
use tonic::{Request, Response, Status};

use super::{caller, convert::timestamp};
use crate::{
    api::error::status,
    domain::{DeliveryState, Error, Name, OutboxEvent, Webhook, WebhookDelivery},
    pb,
    registry::{Registry, Watched},
};

/// The server stream of `WatchReleases`.
pub(super) type WatchStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchReleasesResponse, Status>> + Send>>;

type Answer<T> = Result<Response<T>, Status>;

/// Converts an outbox event.
pub(crate) fn event(e: &OutboxEvent) -> pb::Event {
    pb::Event {
        id: e.id,
        topic: e.topic.clone(),
        repo: e.repo.clone(),
        time: Some(timestamp(e.at)),
        data_json: e.payload.clone(),
    }
}

fn webhook(w: Webhook) -> pb::Webhook {
    pb::Webhook {
        id: w.id,
        repo: w.repo,
        url: w.url,
        topics: w.topics,
        create_time: Some(timestamp(w.created_at)),
    }
}

fn delivery(d: WebhookDelivery) -> pb::WebhookDelivery {
    let state = match d.state {
        DeliveryState::Pending => pb::DeliveryState::Pending,
        DeliveryState::Delivered => pb::DeliveryState::Delivered,
        DeliveryState::Failed => pb::DeliveryState::Failed,
    };
    pb::WebhookDelivery {
        id: d.id,
        webhook_id: d.webhook_id,
        event_id: d.event_id,
        topic: d.topic,
        state: state as i32,
        attempts: d.attempts,
        next_attempt_time: d.next_attempt_at.map(timestamp),
        last_attempt_time: d.last_attempt_at.map(timestamp),
        last_status: d.last_status.unwrap_or(0) as i32,
        last_error: d.last_error.unwrap_or_default(),
        create_time: Some(timestamp(d.created_at)),
        deliver_time: d.delivered_at.map(timestamp),
    }
}

/// Serves `ReleaseCatalog/WatchReleases`.
pub(super) async fn watch_releases(
    registry: &Registry,
    request: Request<pb::WatchReleasesRequest>,
) -> Answer<WatchStream> {
    let c = caller(&request);
    let r = request.into_inner();
    let repo = Name::parse_owned("repo", r.repo).map_err(status)?;
    let channel = (!r.channel.is_empty())
        .then(|| Name::parse_owned("channel", r.channel))
        .transpose()
        .map_err(status)?;
    let stream = registry
        .watch_releases(&c, &repo, channel.as_ref(), r.after_event_id)
        .await
        .map_err(status)?;
    let stream = stream.map(|item| {
        item.map_err(status).map(|watched| {
            use pb::watch_releases_response::Kind;
            let kind = match watched {
                Watched::Event(e) => Kind::Event(event(&e)),
                Watched::Heartbeat(last) => Kind::Heartbeat(pb::Heartbeat {
                    time: Some(timestamp(crate::registry::now())),
                    last_event_id: last,
                }),
            };
            pb::WatchReleasesResponse { kind: Some(kind) }
        })
    });
    Ok(Response::new(Box::pin(stream)))
}

/// Serves `ReleaseAdmin/CreateWebhook`.
pub(super) async fn create_webhook(
    registry: &Registry,
    request: Request<pb::CreateWebhookRequest>,
) -> Answer<pb::CreateWebhookResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let repo = Name::parse_owned("repo", r.repo).map_err(status)?;
    let (hook, secret) = registry
        .create_webhook(&c, &repo, &r.url, &r.topics)
        .await
        .map_err(status)?;
    Ok(Response::new(pb::CreateWebhookResponse {
        webhook: Some(webhook(hook)),
        secret,
    }))
}

/// Serves `ReleaseAdmin/ListWebhooks`.
pub(super) async fn list_webhooks(
    registry: &Registry,
    request: Request<pb::ListWebhooksRequest>,
) -> Answer<pb::ListWebhooksResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let repo = Name::parse_owned("repo", r.repo).map_err(status)?;
    let hooks = registry.list_webhooks(&c, &repo).await.map_err(status)?;
    Ok(Response::new(pb::ListWebhooksResponse {
        webhooks: hooks.into_iter().map(webhook).collect(),
    }))
}

/// Serves `ReleaseAdmin/DeleteWebhook`.
pub(super) async fn delete_webhook(
    registry: &Registry,
    request: Request<pb::DeleteWebhookRequest>,
) -> Answer<pb::DeleteWebhookResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    registry.delete_webhook(&c, &r.id).await.map_err(status)?;
    Ok(Response::new(pb::DeleteWebhookResponse {}))
}

/// Serves `ReleaseAdmin/ListWebhookDeliveries`: newest first; the page token is the last
/// delivery id of the previous page.
pub(super) async fn list_webhook_deliveries(
    registry: &Registry,
    request: Request<pb::ListWebhookDeliveriesRequest>,
) -> Answer<pb::ListWebhookDeliveriesResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let limit = match r.page_size {
        0 => 50,
        n if n < 0 => {
            return Err(status(Error::invalid("page_size", "must not be negative")));
        }
        n => i64::from(n.min(1000)),
    };
    let before = if r.page_token.is_empty() {
        None
    } else {
        Some(
            r.page_token
                .parse::<i64>()
                .map_err(|_| status(Error::invalid("page_token", "not a token this RPC gave")))?,
        )
    };
    let list = registry
        .list_webhook_deliveries(&c, &r.webhook_id, before, limit + 1)
        .await
        .map_err(status)?;
    let more = list.len() as i64 > limit;
    let page: Vec<_> = list.into_iter().take(limit as usize).collect();
    let next_page_token = match (more, page.last()) {
        (true, Some(last)) => last.id.to_string(),
        _ => String::new(),
    };
    Ok(Response::new(pb::ListWebhookDeliveriesResponse {
        deliveries: page.into_iter().map(delivery).collect(),
        next_page_token,
    }))
}

/// Serves `ReleaseAdmin/RedeliverWebhook`.
pub(super) async fn redeliver_webhook(
    registry: &Registry,
    request: Request<pb::RedeliverWebhookRequest>,
) -> Answer<pb::RedeliverWebhookResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    registry
        .redeliver_webhook(&c, &r.webhook_id, r.delivery_id)
        .await
        .map_err(status)?;
    Ok(Response::new(pb::RedeliverWebhookResponse {}))
}
