//! `relreg watch` (follows a repo's events, one JSON line each, resuming after the last id
//! seen when the connection drops) and `relreg webhook …`.

use std::time::Duration;

use tonic::Code;

use crate::{
    client::{ClientError, ClientResult, Connection},
    pb,
};

use super::output::{Out, next_page, short};

/// `relreg watch`.
#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    /// The repo.
    repo: String,
    /// Only events naming this channel.
    #[arg(long, default_value = "")]
    channel: String,
    /// Replays the events after this id first (0: every event kept); without it, only new
    /// events.
    #[arg(long)]
    after: Option<i64>,
    /// Exits after printing this many events (0: never).
    #[arg(long, default_value_t = 0)]
    max_events: u64,
}

/// Webhook commands.
#[derive(clap::Subcommand, Debug)]
pub enum WebhookCommand {
    /// Subscribes a URL to a repo's events; prints the signing secret (once) as the last line.
    Create {
        /// The repo.
        repo: String,
        /// The target URL (http or https).
        url: String,
        /// A topic to deliver (repeatable); none: every topic.
        #[arg(long = "topic")]
        topics: Vec<String>,
    },
    /// Lists a repo's webhooks.
    List {
        /// The repo.
        repo: String,
    },
    /// Deletes a webhook.
    Delete {
        /// The webhook id.
        id: String,
    },
    /// Lists a webhook's deliveries, newest first.
    Deliveries {
        /// The webhook id.
        id: String,
        /// Deliveries per page (50 when 0).
        #[arg(long, default_value_t = 0)]
        page_size: i32,
        /// The page to continue from.
        #[arg(long, default_value = "")]
        page_token: String,
    },
    /// Sends a delivery again now.
    Redeliver {
        /// The webhook id.
        id: String,
        /// The delivery id.
        delivery: i64,
    },
}

/// The JSON line printed for an event.
fn event_line(e: &pb::Event) -> String {
    let data: serde_json::Value =
        serde_json::from_str(&e.data_json).unwrap_or(serde_json::Value::Null);
    let time = e
        .time
        .as_ref()
        .and_then(|t| pb::to_json_value("google.protobuf.Timestamp", t))
        .unwrap_or_default();
    serde_json::json!({
        "id": e.id,
        "type": e.topic,
        "repo": e.repo,
        "timestamp": time,
        "data": data,
    })
    .to_string()
}

/// Follows a repo's events; reconnects after the last id seen when the stream breaks.
pub(super) async fn watch(args: WatchArgs, conn: Connection, out: &Out) -> ClientResult<()> {
    let mut last = args.after;
    let mut printed = 0u64;
    let mut wait = Duration::from_millis(250);
    loop {
        let request = pb::WatchReleasesRequest {
            repo: args.repo.clone(),
            channel: args.channel.clone(),
            after_event_id: last,
        };
        let broke = match conn.catalog().watch_releases(request).await {
            Ok(answer) => {
                let mut stream = answer.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(message)) => {
                            wait = Duration::from_millis(250);
                            match message.kind {
                                Some(pb::watch_releases_response::Kind::Event(e)) => {
                                    last = Some(e.id);
                                    out.line(&event_line(&e))?;
                                    printed += 1;
                                    if args.max_events > 0 && printed >= args.max_events {
                                        return Ok(());
                                    }
                                }
                                Some(pb::watch_releases_response::Kind::Heartbeat(h))
                                    if last.is_none() =>
                                {
                                    last = Some(h.last_event_id);
                                }
                                _ => {}
                            }
                        }
                        Ok(None) => break None,
                        Err(status) => break Some(status),
                    }
                }
            }
            Err(status) => Some(status),
        };
        if let Some(status) = broke {
            if !matches!(
                status.code(),
                Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled
            ) {
                return Err(ClientError::from(status));
            }
            eprintln!(
                "watch: {} ({}); reconnecting after event {}",
                status.message(),
                status.code(),
                last.unwrap_or(0)
            );
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

fn webhook_text(w: &pb::Webhook) -> String {
    let topics = if w.topics.is_empty() {
        "every topic".to_owned()
    } else {
        w.topics.join(", ")
    };
    format!("{} {} {} ({topics})", w.id, w.repo, w.url)
}

fn delivery_text(d: &pb::WebhookDelivery) -> String {
    let state = pb::DeliveryState::try_from(d.state).map_or_else(
        |_| d.state.to_string(),
        |s| short(s.as_str_name(), "DELIVERY_STATE_").to_lowercase(),
    );
    let mut text = format!(
        "{} event {} {} {state} after {} attempt(s)",
        d.id, d.event_id, d.topic, d.attempts
    );
    if d.last_status != 0 {
        text.push_str(&format!(", last status {}", d.last_status));
    }
    if !d.last_error.is_empty() {
        text.push_str(&format!(", last error: {}", d.last_error));
    }
    text
}

/// Runs a webhook command.
pub(super) async fn run_webhook(
    command: WebhookCommand,
    conn: Connection,
    out: &Out,
) -> ClientResult<()> {
    let mut admin = conn.admin();
    match command {
        WebhookCommand::Create { repo, url, topics } => {
            let answer = admin
                .create_webhook(pb::CreateWebhookRequest { repo, url, topics })
                .await?
                .into_inner();
            out.answer("CreateWebhookResponse", &answer, |a| {
                let hook = a.webhook.as_ref().map(webhook_text).unwrap_or_default();
                format!("created webhook {hook}\n{}", a.secret)
            })
        }
        WebhookCommand::List { repo } => {
            let answer = admin
                .list_webhooks(pb::ListWebhooksRequest { repo })
                .await?
                .into_inner();
            out.answer("ListWebhooksResponse", &answer, |a| {
                a.webhooks
                    .iter()
                    .map(webhook_text)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        WebhookCommand::Delete { id } => {
            let answer = admin
                .delete_webhook(pb::DeleteWebhookRequest { id: id.clone() })
                .await?
                .into_inner();
            out.answer("DeleteWebhookResponse", &answer, |_| {
                format!("deleted webhook {id}")
            })
        }
        WebhookCommand::Deliveries {
            id,
            page_size,
            page_token,
        } => {
            let answer = admin
                .list_webhook_deliveries(pb::ListWebhookDeliveriesRequest {
                    webhook_id: id,
                    page_size,
                    page_token,
                })
                .await?
                .into_inner();
            out.answer("ListWebhookDeliveriesResponse", &answer, |a| {
                let mut text = a
                    .deliveries
                    .iter()
                    .map(delivery_text)
                    .collect::<Vec<_>>()
                    .join("\n");
                text.push_str(&next_page(&a.next_page_token));
                text
            })
        }
        WebhookCommand::Redeliver { id, delivery } => {
            let answer = admin
                .redeliver_webhook(pb::RedeliverWebhookRequest {
                    webhook_id: id.clone(),
                    delivery_id: delivery,
                })
                .await?
                .into_inner();
            out.answer("RedeliverWebhookResponse", &answer, |_| {
                format!("delivery {delivery} of webhook {id} is due now")
            })
        }
    }
}
