//! Whether the database answers, so that calls fail fast during an outage instead of each
//! waiting out the pool's acquire timeout. A monitor (PostgreSQL only: an embedded SQLite file
//! has no outage) keeps one connection of its own, outside the pool so that a busy pool never
//! looks like a dead database, and pings it every `PROBE_EVERY`: a failed or slow ping marks
//! the database down, a good one marks it up again, so recovery needs no restart. While it is
//! down, calls that need a connection answer `Unavailable` at once, and calls already waiting
//! for one give up as soon as it goes down.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use sqlx::{ConnectOptions as _, Connection as _, postgres::PgConnectOptions};
use tokio::sync::watch;

use super::{StoreError, StoreResult};

/// How often the monitor pings.
const PROBE_EVERY: Duration = Duration::from_millis(250);
/// How long a ping or a reconnection may take before the database counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);

/// The database's health, shared by a store's clones and its monitor.
#[derive(Debug)]
pub(crate) struct Health {
    up: watch::Sender<bool>,
}

impl Health {
    /// Returns a health that starts up.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            up: watch::Sender::new(true),
        })
    }

    /// Tells whether the database answered its last probe.
    pub(crate) fn is_up(&self) -> bool {
        *self.up.borrow()
    }

    fn set(&self, up: bool) {
        let changed = self
            .up
            .send_if_modified(|now| std::mem::replace(now, up) != up);
        if changed {
            if up {
                tracing::info!("database answers again");
            } else {
                tracing::error!("database is not answering: calls fail fast until it does");
            }
        }
    }

    /// Runs `work` (which waits for a connection) unless the database is down, giving up as
    /// soon as it goes down.
    pub(crate) async fn guard<T>(
        &self,
        work: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        let mut up = self.up.subscribe();
        if !*up.borrow_and_update() {
            return Err(down());
        }
        tokio::select! {
            result = work => result,
            _ = up.wait_for(|up| !*up) => Err(down()),
        }
    }
}

fn down() -> StoreError {
    StoreError::Unavailable("the database is not answering its health probe".into())
}

/// Probes a PostgreSQL database until every store holding `health` is dropped.
pub(crate) fn monitor_postgres(options: PgConnectOptions, health: &Arc<Health>) {
    let health: Weak<Health> = Arc::downgrade(health);
    tokio::spawn(async move {
        let mut conn: Option<sqlx::PgConnection> = None;
        let mut tick = tokio::time::interval(PROBE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(health) = health.upgrade() else {
                return;
            };
            let answered = match conn.as_mut() {
                Some(c) => matches!(
                    tokio::time::timeout(PROBE_TIMEOUT, c.ping()).await,
                    Ok(Ok(()))
                ),
                None => match tokio::time::timeout(PROBE_TIMEOUT, options.connect()).await {
                    Ok(Ok(c)) => {
                        conn = Some(c);
                        true
                    }
                    _ => false,
                },
            };
            if !answered {
                conn = None;
            }
            health.set(answered);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_fail_fast_while_down_and_waiting_ones_give_up() {
        let health = Health::new();
        assert_eq!(health.guard(async { Ok(1) }).await.ok(), Some(1));
        let waiting = {
            let health = health.clone();
            tokio::spawn(async move {
                health
                    .guard(std::future::pending::<StoreResult<()>>())
                    .await
            })
        };
        tokio::task::yield_now().await;
        health.set(false);
        let gave_up = waiting.await.unwrap();
        assert!(matches!(gave_up, Err(StoreError::Unavailable(_))));
        let refused = health.guard(async { Ok(()) }).await;
        assert!(matches!(refused, Err(StoreError::Unavailable(_))));
        health.set(true);
        assert!(health.guard(async { Ok(()) }).await.is_ok());
    }
}
