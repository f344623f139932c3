//! Events leave the database: the relay (one holder across servers) hands every outbox event
//! to the sinks (webhook deliveries, NATS JetStream) at least once and in id order, and marks
//! it delivered; `WatchReleases` streams are fed by one outbox tailer per process.
//!
//! Ordering. On PostgreSQL an outbox id is drawn at insert, not at commit; migration 0008
//! makes an insert take a transaction lock on its repo before drawing the id, so within one
//! repo ids become visible in order (across repos a smaller id may still appear later). The
//! relay reads `delivered_at IS NULL` rather than "after the last id", so an event that
//! becomes visible late is still relayed; per repo it can never be overtaken. The tailer uses
//! the cache follower's window (re-read the last seconds, apply each id once), and a stream
//! resumes from "the repo's events after id N", which per-repo ordering makes complete.
//!
//! Crash safety. The relay publishes to NATS (awaiting JetStream's ack), then in one
//! transaction queues the webhook deliveries and sets `delivered_at`. Killed in between, the
//! next holder relays the same events again: JetStream drops the duplicates by `Nats-Msg-Id`,
//! and the deliveries are unique per (webhook, event). A webhook attempt interrupted by a
//! kill is made again (receivers de-dup by `webhook-id`).

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use futures::Stream;
use tokio::sync::broadcast;

use super::{Caller, Registry, now_micros, store_error};
use crate::{
    domain::{Error, Name, OutboxEvent, Result},
    store::{RelayLease, Relayed, StoreResult},
};

/// Events read per relay step.
const RELAY_BATCH: i64 = 256;
/// Rows deleted per purge statement.
const PURGE_BATCH: i64 = 1000;
/// How long the tailer re-reads events (transactions of other repos committing late).
const TAIL_WINDOW_MICROS: i64 = 10_000_000;
/// Events the broadcast holds for slow streams; a stream further behind re-reads the database.
const BROADCAST_CAPACITY: usize = 4096;

/// The NATS JetStream sink's settings.
#[derive(Debug, Clone)]
pub struct NatsSettings {
    /// E.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// The stream, created when missing with subjects `<subject_prefix>.>`.
    pub stream: String,
    /// Subjects are `<prefix>.<repo>.<topic>`.
    pub subject_prefix: String,
}

/// How events leave this server.
#[derive(Debug, Clone)]
pub struct EventSettings {
    /// How often the relay and the tailer read the outbox when nothing wakes them.
    pub poll: Duration,
    /// How long delivered events (and delivered webhook deliveries) are kept.
    pub retention: Duration,
    /// How often an idle `WatchReleases` stream sends a heartbeat.
    pub heartbeat: Duration,
    /// Whether webhooks may target loopback and private addresses.
    pub webhook_allow_private: bool,
    /// The waits between webhook attempts; after the last one a delivery is failed.
    pub webhook_retries: Vec<Duration>,
    /// How long one webhook attempt may take.
    pub webhook_timeout: Duration,
    /// The NATS sink, when configured.
    pub nats: Option<NatsSettings>,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(100),
            retention: Duration::from_secs(7 * 24 * 3600),
            heartbeat: Duration::from_secs(15),
            webhook_allow_private: false,
            webhook_retries: [5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800]
                .map(Duration::from_secs)
                .to_vec(),
            webhook_timeout: Duration::from_secs(10),
            nats: None,
        }
    }
}

/// This process's event machinery: the settings and the tailer's broadcast.
pub(super) struct Hub {
    pub(super) settings: EventSettings,
    feed: broadcast::Sender<Arc<OutboxEvent>>,
    pub(super) http: reqwest::Client,
    nats: tokio::sync::Mutex<Option<async_nats::jetstream::Context>>,
}

impl Hub {
    pub(super) fn new(settings: EventSettings) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.webhook_timeout)
            .user_agent(concat!("relreg-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            settings,
            feed: broadcast::channel(BROADCAST_CAPACITY).0,
            http,
            nats: tokio::sync::Mutex::new(None),
        }
    }
}

/// The JSON every sink sends for an event (the webhook body, the NATS payload).
pub fn envelope(event: &OutboxEvent) -> String {
    let data: serde_json::Value =
        serde_json::from_str(&event.payload).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "id": event.id,
        "type": event.topic,
        "repo": event.repo,
        "timestamp": prost_types::Timestamp {
            seconds: event.at.div_euclid(1_000_000),
            nanos: (event.at.rem_euclid(1_000_000) * 1000) as i32,
        }
        .to_string(),
        "data": data,
    })
    .to_string()
}

/// The channel an event's body names, if any.
fn channel_of(event: &OutboxEvent) -> Option<String> {
    let payload: serde_json::Value = serde_json::from_str(&event.payload).ok()?;
    payload["channel"].as_str().map(str::to_owned)
}

/// What a `WatchReleases` stream yields.
#[derive(Debug, Clone)]
pub enum Watched {
    /// An event of the repo.
    Event(Arc<OutboxEvent>),
    /// Nothing happened for a while; the last id sent.
    Heartbeat(i64),
}

impl Registry {
    /// Replaces the event settings (the server calls this once, before serving).
    pub fn with_events(mut self, settings: EventSettings) -> Self {
        self.events = Arc::new(Hub::new(settings));
        self
    }

    /// Follows the outbox and broadcasts every event to this process's `WatchReleases`
    /// streams, until the future is dropped.
    pub async fn tail_events(&self) {
        let every = self.events.settings.poll;
        let mut floor: Option<i64> = None;
        let mut seen: BTreeMap<i64, i64> = BTreeMap::new();
        // Woken as soon as an event commits on any server (NOTIFY), polled as a safety net.
        let mut waiter = self.outbox_waiter();
        loop {
            if let Err(e) = self.tail_step(&mut floor, &mut seen).await {
                tracing::warn!(error = %e, "cannot read the outbox for event streams");
            }
            waiter.changed_or(every).await;
        }
    }

    async fn tail_step(
        &self,
        floor: &mut Option<i64>,
        seen: &mut BTreeMap<i64, i64>,
    ) -> StoreResult<()> {
        let floor_now = match *floor {
            Some(f) => f,
            None => *floor.insert(self.store.last_outbox_id().await?),
        };
        let mut after = floor_now;
        loop {
            let events = self.store.list_outbox(Some(after), 1000).await?;
            for event in &events {
                if seen.insert(event.id, event.at).is_none() {
                    // No receiver is fine: nobody watches.
                    let _ = self.events.feed.send(Arc::new(event.clone()));
                }
            }
            match events.last() {
                Some(last) if events.len() == 1000 => after = last.id,
                _ => break,
            }
        }
        let horizon = now_micros() - TAIL_WINDOW_MICROS;
        if let Some(settled) = seen
            .iter()
            .filter(|(_, at)| **at < horizon)
            .map(|(id, _)| *id)
            .max()
        {
            *floor = Some(settled);
            *seen = seen.split_off(&(settled + 1));
        }
        Ok(())
    }

    /// Streams a repo's events: those after `after_event_id` from the database (none when
    /// `None`), then live ones from the tailer, with heartbeats while idle. Private repos need
    /// a reader.
    pub async fn watch_releases(
        &self,
        caller: &Caller,
        repo: &Name,
        channel: Option<&Name>,
        after_event_id: Option<i64>,
    ) -> Result<impl Stream<Item = Result<Watched>> + Send + 'static> {
        if after_event_id.is_some_and(|a| a < 0) {
            return Err(Error::invalid("after_event_id", "must not be negative"));
        }
        self.readable_repo(caller, repo).await?;
        // Subscribe before the replay reads, so nothing committed in between is missed.
        let mut live = self.events.feed.subscribe();
        let registry = self.clone();
        let repo = repo.to_string();
        let channel = channel.map(Name::to_string);
        let heartbeat = self.events.settings.heartbeat;
        let replay = after_event_id.is_some();
        // From now on: after the repo's newest visible event. Within a repo ids become
        // visible in order, so every later event of the repo has a larger id.
        let mut last = match after_event_id {
            Some(after) => after,
            None => self
                .store
                .last_repo_event_id(&repo)
                .await
                .map_err(store_error)?,
        };
        Ok(async_stream::try_stream! {
            let wanted = |e: &OutboxEvent| match &channel {
                None => true,
                Some(c) => channel_of(e).as_deref() == Some(c.as_str()),
            };
            let mut catch_up = replay;
            loop {
                if catch_up {
                    loop {
                        let page = registry
                            .store
                            .repo_events(&repo, last, 500)
                            .await
                            .map_err(store_error)?;
                        let full = page.len() == 500;
                        for event in page {
                            last = event.id;
                            if wanted(&event) {
                                yield Watched::Event(Arc::new(event));
                            }
                        }
                        if !full {
                            break;
                        }
                    }
                    catch_up = false;
                }
                match tokio::time::timeout(heartbeat, live.recv()).await {
                    Err(_) => yield Watched::Heartbeat(last),
                    Ok(Ok(event)) => {
                        if event.repo == repo && event.id > last {
                            last = event.id;
                            if wanted(&event) {
                                yield Watched::Event(event);
                            }
                        }
                    }
                    // Too slow for the broadcast: read what was missed from the database.
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => catch_up = true,
                    Ok(Err(broadcast::error::RecvError::Closed)) => break,
                }
            }
        })
    }

    /// Takes part in relaying until the future is dropped: whoever holds the relay lease
    /// relays and delivers; the others wait and try again.
    pub async fn run_relay(&self) {
        loop {
            match self.store.try_lease_relay().await {
                Ok(Some(lease)) => {
                    tracing::info!("this server now relays events");
                    if let Err(e) = self.relay_while_held(lease).await {
                        tracing::warn!(error = %e, "relaying stopped; trying again");
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot take the relay lease"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Relays and delivers while the lease holds.
    async fn relay_while_held(&self, mut lease: Box<dyn RelayLease>) -> Result<()> {
        let relay = async {
            let mut last_purge = now_micros() - 3_600_000_000;
            let mut waiter = self.outbox_waiter();
            loop {
                if !lease.held().await.map_err(store_error)? {
                    return Err(Error::internal("the relay lease was lost"));
                }
                let relayed = self.relay_step().await?;
                if now_micros() - last_purge > 60_000_000 {
                    last_purge = now_micros();
                    self.purge_delivered().await?;
                }
                if relayed == 0 {
                    waiter.changed_or(self.events.settings.poll).await;
                }
            }
        };
        let deliver = async {
            loop {
                let sent = self.deliver_due_webhooks().await;
                if sent == 0 {
                    tokio::time::sleep(self.events.settings.poll).await;
                }
            }
        };
        tokio::select! {
            r = relay => r,
            _ = deliver => Ok(()),
        }
    }

    /// Relays one batch of pending events; returns how many.
    pub async fn relay_step(&self) -> Result<usize> {
        let events = self
            .store
            .pending_events(RELAY_BATCH)
            .await
            .map_err(store_error)?;
        if events.is_empty() {
            return Ok(0);
        }
        let relayed: Vec<Relayed<'_>> = events
            .iter()
            .map(|event| Relayed {
                event,
                body: envelope(event),
            })
            .collect();
        if self.events.settings.nats.is_some() {
            self.publish_to_nats(&relayed).await?;
        }
        self.store
            .finish_relay(&relayed, now_micros())
            .await
            .map_err(store_error)?;
        metrics::counter!("relreg_events_relayed_total").increment(relayed.len() as u64);
        Ok(relayed.len())
    }

    /// Deletes delivered events older than the retention period, a batch at a time.
    async fn purge_delivered(&self) -> Result<()> {
        let before = now_micros() - self.events.settings.retention.as_micros() as i64;
        loop {
            let gone = self
                .store
                .purge_delivered(before, PURGE_BATCH)
                .await
                .map_err(store_error)?;
            if gone == 0 {
                return Ok(());
            }
            tokio::task::yield_now().await;
        }
    }

    /// Publishes events to JetStream, each with `Nats-Msg-Id` = `evt_<id>`, awaiting the acks.
    async fn publish_to_nats(&self, events: &[Relayed<'_>]) -> Result<()> {
        let Some(nats) = &self.events.settings.nats else {
            return Ok(());
        };
        let mut slot = self.events.nats.lock().await;
        if slot.is_none() {
            let client = async_nats::connect(nats.url.as_str())
                .await
                .map_err(|e| Error::internal(format!("connecting to NATS at {}: {e}", nats.url)))?;
            let js = async_nats::jetstream::new(client);
            js.get_or_create_stream(async_nats::jetstream::stream::Config {
                name: nats.stream.clone(),
                subjects: vec![format!("{}.>", nats.subject_prefix)],
                duplicate_window: Duration::from_secs(600),
                ..Default::default()
            })
            .await
            .map_err(|e| Error::internal(format!("creating NATS stream {}: {e}", nats.stream)))?;
            *slot = Some(js);
        }
        let js = slot.as_ref().expect("set above");
        let mut acks = Vec::with_capacity(events.len());
        for r in events {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(
                async_nats::header::NATS_MESSAGE_ID,
                format!("evt_{}", r.event.id).as_str(),
            );
            let subject = format!(
                "{}.{}.{}",
                nats.subject_prefix,
                r.event.repo.replace('.', "_"),
                r.event.topic
            );
            let ack = js
                .publish_with_headers(subject, headers, r.body.clone().into())
                .await;
            match ack {
                Ok(ack) => acks.push(ack),
                Err(e) => {
                    *slot = None;
                    return Err(Error::internal(format!("publishing to NATS: {e}")));
                }
            }
        }
        for ack in acks {
            if let Err(e) = ack.await {
                *slot = None;
                return Err(Error::internal(format!("NATS did not ack: {e}")));
            }
        }
        Ok(())
    }
}

/// The events flags of `relreg serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct EventsConfig {
    /// How long delivered events and webhook deliveries are kept, in seconds.
    #[arg(long = "events-retention", env = "RELREG_EVENTS_RETENTION", default_value_t = 7 * 24 * 3600)]
    pub retention_secs: u64,
    /// How often the relay and the event streams read the outbox, in milliseconds.
    #[arg(
        long = "events-poll-ms",
        env = "RELREG_EVENTS_POLL_MS",
        default_value_t = 100
    )]
    pub poll_ms: u64,
    /// How often an idle WatchReleases stream sends a heartbeat, in seconds.
    #[arg(
        long = "watch-heartbeat",
        env = "RELREG_WATCH_HEARTBEAT",
        default_value_t = 15.0
    )]
    pub heartbeat_secs: f64,
    /// Lets webhooks target loopback and private addresses (never link-local or metadata).
    #[arg(long = "webhook-allow-private", env = "RELREG_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
    /// The waits between webhook attempts, in seconds; after the last a delivery is failed.
    #[arg(
        long = "webhook-retry-schedule",
        env = "RELREG_WEBHOOK_RETRY_SCHEDULE",
        value_delimiter = ',',
        default_value = "5,30,120,600,1800,3600,7200,14400,28800"
    )]
    pub webhook_retries: Vec<f64>,
    /// How long one webhook attempt may take, in seconds.
    #[arg(
        long = "webhook-timeout",
        env = "RELREG_WEBHOOK_TIMEOUT",
        default_value_t = 10.0
    )]
    pub webhook_timeout_secs: f64,
    /// Publishes every event to this NATS server's JetStream, e.g. nats://127.0.0.1:4222.
    #[arg(long = "nats-url", env = "RELREG_NATS_URL")]
    pub nats_url: Option<String>,
    /// The JetStream stream (created when missing).
    #[arg(
        long = "nats-stream",
        env = "RELREG_NATS_STREAM",
        default_value = "RELREG_EVENTS"
    )]
    pub nats_stream: String,
    /// Subjects are `<prefix>.<repo>.<topic>`.
    #[arg(
        long = "nats-subject-prefix",
        env = "RELREG_NATS_SUBJECT_PREFIX",
        default_value = "relreg.events"
    )]
    pub nats_subject_prefix: String,
}

impl Default for EventsConfig {
    fn default() -> Self {
        let d = EventSettings::default();
        Self {
            retention_secs: d.retention.as_secs(),
            poll_ms: d.poll.as_millis() as u64,
            heartbeat_secs: d.heartbeat.as_secs_f64(),
            webhook_allow_private: false,
            webhook_retries: d
                .webhook_retries
                .iter()
                .map(Duration::as_secs_f64)
                .collect(),
            webhook_timeout_secs: d.webhook_timeout.as_secs_f64(),
            nats_url: None,
            nats_stream: "RELREG_EVENTS".into(),
            nats_subject_prefix: "relreg.events".into(),
        }
    }
}

impl EventsConfig {
    /// The settings these flags give.
    pub fn settings(&self) -> anyhow::Result<EventSettings> {
        let secs = |what: &str, s: f64| {
            if s.is_finite() && s >= 0.0 {
                Ok(Duration::from_secs_f64(s))
            } else {
                Err(anyhow::anyhow!("{what}: {s} is not a number of seconds"))
            }
        };
        let heartbeat = secs("--watch-heartbeat", self.heartbeat_secs)?;
        if heartbeat.is_zero() {
            anyhow::bail!("--watch-heartbeat must be positive");
        }
        Ok(EventSettings {
            poll: Duration::from_millis(self.poll_ms.max(1)),
            retention: Duration::from_secs(self.retention_secs),
            heartbeat,
            webhook_allow_private: self.webhook_allow_private,
            webhook_retries: self
                .webhook_retries
                .iter()
                .map(|s| secs("--webhook-retry-schedule", *s))
                .collect::<anyhow::Result<_>>()?,
            webhook_timeout: secs("--webhook-timeout", self.webhook_timeout_secs)?,
            nats: self.nats_url.as_ref().map(|url| NatsSettings {
                url: url.clone(),
                stream: self.nats_stream.clone(),
                subject_prefix: self.nats_subject_prefix.clone(),
            }),
        })
    }
}
