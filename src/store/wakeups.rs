//! Outbox wake-ups: how loops that read the outbox (the cache follower, the relay, watch
//! streams) learn at once that an event committed, instead of waiting for their next poll.
//!
//! Every store has one `Wakeups`. A write transaction that wrote an outbox event wakes it in
//! process right after its commit (all backends). On PostgreSQL a trigger also sends
//! `pg_notify('relreg_outbox', id)` with every outbox insert (migration 0009), delivered when
//! the transaction commits, and each server holds a `PgListener` on that channel
//! (`listen_postgres`, reconnecting) that wakes its loops: a publish on one server wakes the
//! followers of every other. Loops keep their poll as a safety net (a notification lost while
//! the listener reconnects), which `changed_or` expresses: wait for a change or the timeout.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{sync::watch, task::AbortHandle};

/// The PostgreSQL channel outbox inserts are announced on.
pub const OUTBOX_CHANNEL: &str = "relreg_outbox";
/// How long the listener waits before connecting again after a failure.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// A store's outbox wake-ups; clones share them.
#[derive(Clone, Debug)]
pub struct Wakeups {
    changes: Arc<watch::Sender<u64>>,
    /// The PostgreSQL listener task, stopped when the store closes.
    listener: Arc<Mutex<Option<AbortHandle>>>,
}

impl Default for Wakeups {
    fn default() -> Self {
        Self {
            changes: Arc::new(watch::channel(0).0),
            listener: Arc::default(),
        }
    }
}

/// One loop's view of the wake-ups: remembers which changes it has seen.
#[derive(Debug)]
pub struct OutboxWaiter {
    changes: watch::Receiver<u64>,
}

impl Wakeups {
    /// Announces that the outbox changed.
    pub fn wake(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Returns a waiter for one loop.
    pub fn subscribe(&self) -> OutboxWaiter {
        OutboxWaiter {
            changes: self.changes.subscribe(),
        }
    }

    /// Stops the PostgreSQL listener, if one runs.
    pub fn stop(&self) {
        if let Some(task) = self.listener.lock().ok().and_then(|mut l| l.take()) {
            task.abort();
        }
    }

    /// Listens for outbox notifications on PostgreSQL and wakes every waiter on each,
    /// reconnecting after failures, until `stop`.
    pub(crate) fn listen_postgres(&self, pool: sqlx::PgPool) {
        let wakeups = self.clone();
        let task = tokio::spawn(async move {
            loop {
                if pool.is_closed() {
                    return;
                }
                if let Err(e) = wakeups.listen_once(&pool).await {
                    tracing::warn!(error = %e, "outbox listener failed; reconnecting");
                }
                // Whatever was announced while not listening is only found by reading.
                wakeups.wake();
                tokio::time::sleep(RECONNECT_AFTER).await;
            }
        });
        let old = self
            .listener
            .lock()
            .ok()
            .and_then(|mut l| l.replace(task.abort_handle()));
        if let Some(old) = old {
            old.abort();
        }
    }

    async fn listen_once(&self, pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(OUTBOX_CHANNEL).await?;
        self.wake();
        loop {
            // `None`: the connection was lost; the next call reconnects and listens again.
            if listener.try_recv().await?.is_none() {
                tracing::warn!("outbox listener lost its connection; reconnecting");
            }
            self.wake();
        }
    }
}

impl OutboxWaiter {
    /// Waits until the outbox changed since this waiter last returned (or was made), or
    /// `timeout` passed; returns whether a change woke it.
    pub async fn changed_or(&mut self, timeout: Duration) -> bool {
        match tokio::time::timeout(timeout, self.changes.changed()).await {
            Ok(Ok(())) => {
                self.changes.borrow_and_update();
                true
            }
            Ok(Err(_)) => {
                // The store is gone: only the timeout is left.
                tokio::time::sleep(timeout).await;
                false
            }
            Err(_) => false,
        }
    }

    /// Returns a waiter that only times out (poll-only mode, for comparisons).
    pub fn never() -> Self {
        // Without a sender, `changed` fails at once, which `changed_or` answers with a sleep.
        let (_, changes) = watch::channel(0);
        Self { changes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_before_the_wait_is_not_lost() {
        let wakeups = Wakeups::default();
        let mut waiter = wakeups.subscribe();
        wakeups.wake();
        assert!(waiter.changed_or(Duration::from_secs(5)).await);
        // Seen: the next wait times out.
        assert!(!waiter.changed_or(Duration::from_millis(20)).await);
        assert!(
            !OutboxWaiter::never()
                .changed_or(Duration::from_millis(5))
                .await
        );
    }
}
