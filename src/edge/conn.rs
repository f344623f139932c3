//! The accept loop: one task per connection, at most `connection_cap` of them (more are
//! closed at once), each served by hyper's HTTP/1.1 + HTTP/2 builder with a header-read
//! timeout, a first-request and an idle timeout, over TCP or TLS. On shutdown it stops
//! accepting, asks every connection to finish gracefully and returns once all have; dropping
//! the future closes whatever is still open (the caller's grace period).

use std::{
    convert::Infallible,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
    sync::{Notify, watch},
    task::JoinSet,
};
use tower::ServiceExt as _;

use super::EdgeConfig;

/// How long after an idle connection was asked to close it is dropped if it has not.
const CLOSE_LINGER: Duration = Duration::from_secs(1);
/// The pause after an accept error that is not about one connection (e.g. out of files).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until `shutdown` resolves and every connection has ended.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    config: &EdgeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let tls = super::tls::load(config)?;
    let cap = config.connection_cap();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let limits = Arc::new(Limits {
        builder,
        header_read: config.header_read_timeout,
        idle: config.idle_timeout,
    });
    tracing::info!(
        max_connections = cap,
        tls = tls.is_some(),
        header_read_timeout_ms = config.header_read_timeout.as_millis() as u64,
        idle_timeout_ms = config.idle_timeout.as_millis() as u64,
        "accepting connections"
    );
    let (close_tx, close_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut refused = Refusals::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    if connections.len() >= cap {
                        refused.note(cap);
                        drop(tcp);
                        continue;
                    }
                    // Without TCP_NODELAY, Nagle's algorithm holds back HTTP/2 window updates
                    // until the peer ACKs, which stalls streaming uploads.
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::warn!(error = %e, "cannot set TCP_NODELAY");
                    }
                    let (app, limits, close) = (app.clone(), limits.clone(), close_rx.clone());
                    match tls.clone() {
                        None => connections.spawn(connection(tcp, app, limits, close)),
                        Some(acceptor) => connections.spawn(async move {
                            match tokio::time::timeout(limits.header_read, acceptor.accept(tcp)).await {
                                Ok(Ok(stream)) => connection(stream, app, limits, close).await,
                                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                            }
                        }),
                    };
                }
                Err(e) if per_connection(&e) => tracing::debug!(error = %e, "accept: connection lost"),
                Err(e) => {
                    tracing::error!(error = %e, "accepting a connection failed; backing off");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    let _ = close_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// What every connection is served with.
struct Limits {
    builder: auto::Builder<TokioExecutor>,
    header_read: Duration,
    idle: Duration,
}

/// Logs refused connections at most once a second.
#[derive(Default)]
struct Refusals {
    since_log: u64,
    logged: Option<Instant>,
}

impl Refusals {
    fn note(&mut self, cap: usize) {
        self.since_log += 1;
        if self
            .logged
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            tracing::warn!(
                max_connections = cap,
                refused = self.since_log,
                "connection cap reached: closing new connections"
            );
            self.logged = Some(Instant::now());
            self.since_log = 0;
        }
    }
}

/// Tells whether an accept error concerns only the connection being accepted.
fn per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::ConnectionRefused | K::Interrupted
    )
}

/// Serves one connection until it ends, is idle too long, or the server shuts down.
async fn connection<I>(
    io: I,
    app: axum::Router,
    limits: Arc<Limits>,
    mut close: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let service = hyper::service::service_fn({
        let activity = activity.clone();
        move |request: http::Request<Incoming>| {
            let busy = Busy::begin(&activity);
            let app = app.clone();
            async move {
                let response = app.oneshot(request).await?;
                Ok::<_, Infallible>(response.map(|body| super::held::hold(body, busy)))
            }
        }
    });
    let conn = limits
        .builder
        .serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut closing = false;
    let mut linger: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = activity.idle(limits.header_read, limits.idle), if !closing => {
                tracing::debug!("closing an idle connection");
                conn.as_mut().graceful_shutdown();
                closing = true;
                linger = Some(tokio::time::Instant::now() + CLOSE_LINGER);
            }
            _ = close.changed(), if !closing => {
                // Shutting down: in-flight calls finish within the server's grace period.
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            () = tokio::time::sleep_until(linger.unwrap_or_else(tokio::time::Instant::now)), if linger.is_some() => {
                tracing::debug!("dropping an idle connection that did not close");
                return;
            }
        }
    }
}

/// When a connection last had a request in flight, and how many it has.
struct Activity {
    in_flight: AtomicUsize,
    served: AtomicBool,
    since: Mutex<Instant>,
    /// Woken when a request begins or ends, so that the watchdog re-reads the rest.
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            since: Mutex::new(Instant::now()),
            changed: Notify::new(),
        }
    }

    /// Resolves once the connection has had no request in flight for its limit: the
    /// first-request limit until a request came, the idle limit after.
    async fn idle(&self, first_request: Duration, idle: Duration) {
        loop {
            let limit = if self.served.load(Ordering::Acquire) {
                idle
            } else {
                first_request
            };
            if self.in_flight.load(Ordering::Acquire) > 0 {
                self.changed.notified().await;
                continue;
            }
            let elapsed = self.since.lock().map(|t| t.elapsed()).unwrap_or_default();
            if elapsed >= limit {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(limit - elapsed) => {}
                () = self.changed.notified() => {}
            }
        }
    }
}

/// A request in flight on a connection, until its response body is done.
struct Busy(Arc<Activity>);

impl Busy {
    fn begin(activity: &Arc<Activity>) -> Self {
        activity.served.store(true, Ordering::Release);
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.changed.notify_one();
        Self(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Ok(mut since) = self.0.since.lock() {
            *since = Instant::now();
        }
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_one();
    }
}
