//! One listener for everything: gRPC (h2c), gRPC-Web (HTTP/1.1 and h2), server reflection v1
//! and v1alpha, `grpc.health.v1`, and the plain HTTP routes. `serve` is used by `relreg serve`
//! and by the tests alike.

use std::future::Future;

use ::http::{HeaderName, HeaderValue, Method};
use anyhow::Context as _;
use tokio::net::TcpListener;
use tonic_health::ServingStatus;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{
    api::{
        gateway,
        grpc::{AdminService, CatalogService},
        http,
        limits::{self, MAX_MESSAGE_BYTES},
    },
    blobs::BlobStore,
    config::Config,
    pb::{
        self, release_admin_server::ReleaseAdminServer,
        release_catalog_server::ReleaseCatalogServer,
    },
    registry::{FOLLOW_EVERY, Registry, Settings, WAVES_EVERY},
    store,
};

/// Opens the store and blob store a configuration names.
pub async fn open_registry(config: &Config) -> anyhow::Result<Registry> {
    let blobs = match BlobStore::from_url(&config.storage.remote)
        .context("opening the blob store")?
    {
        Some(remote) => remote,
        None => BlobStore::local(&config.storage.blob_dir).context("opening the blob directory")?,
    };
    open_registry_with(config, blobs).await
}

/// Opens the store a configuration names, over the given blob store: commands that only need
/// the database (`token bootstrap`) pass a memory one and touch no blob directory.
pub async fn open_registry_with(config: &Config, blobs: BlobStore) -> anyhow::Result<Registry> {
    let store = store::open(&config.storage.database_url)
        .await
        .context("opening the database")?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen));
    let settings = Settings {
        max_blob_size: config.max_blob_size,
        public_url: public_url.trim_end_matches('/').to_owned(),
        cache: !config.no_cache,
        outbox_poll_only: config.outbox_poll_only,
        keyring: crate::domain::Keyring::load(&config.trust.signing_keys)
            .map_err(|e| anyhow::anyhow!("loading signing keys: {}", e.message))?,
        head_expiry_secs: config.trust.head_expiry_secs,
    };
    Ok(Registry::new(store, blobs, settings).with_events(config.events.settings()?))
}

/// Serves relreg on `listener` until `shutdown` resolves; then health turns NOT_SERVING,
/// in-flight calls get the grace period to finish, and the database pool closes.
pub async fn serve(
    mut config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    config.public_url.get_or_insert_with(|| {
        let scheme = if config.edge.tls() { "https" } else { "http" };
        format!("{scheme}://{addr}")
    });
    crate::metrics::install();
    let registry = open_registry(&config).await?;
    if let Err(e) = registry.sweep_staging().await {
        tracing::warn!(error = %e, "sweeping dead staged uploads failed");
    }
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("", ServingStatus::Serving).await;
    health
        .set_serving::<ReleaseAdminServer<AdminService>>()
        .await;
    health
        .set_serving::<ReleaseCatalogServer<CatalogService>>()
        .await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_alpha = reflection().build_v1alpha()?;

    let grpc = tonic::service::Routes::from(axum::Router::new())
        .add_service(
            ReleaseAdminServer::new(AdminService::new(registry.clone()))
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            ReleaseCatalogServer::new(CatalogService::new(registry.clone()))
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_alpha)
        .into_axum_router()
        .layer(axum::middleware::from_fn(
            crate::api::text_guard::refuse_nul,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limits::MaxCallDuration(config.edge.max_call_duration),
            limits::enforce,
        ));
    let pool = prost_reflect::DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET)?;
    let json_bridge = gateway::router(grpc.clone(), &pool, registry.clone());
    let mut app = grpc
        .layer(tonic_web::GrpcWebLayer::new())
        .merge(http::router(registry.clone()))
        .merge(json_bridge);
    let metrics = http::metrics_router(registry.clone());
    let metrics_server = match config.metrics.listen {
        None => {
            app = app.merge(metrics);
            None
        }
        Some(at) => Some(serve_metrics(at, metrics).await?),
    };
    let mut app = app;
    if let Some(cors) = cors(&config.cors_origins)? {
        app = app.layer(cors);
    }
    // Outermost, so answers the edge gives by itself (shed, oversized chunks) are counted and
    // carry a request id too.
    let app = crate::edge::layers(app, &config.edge)
        .layer(axum::middleware::from_fn(crate::api::observe::track));

    tracing::info!(%addr, database = %redact(&config.storage.database_url), "relreg listening");
    let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: draining in-flight calls");
        health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        health
            .set_not_serving::<ReleaseAdminServer<AdminService>>()
            .await;
        health
            .set_not_serving::<ReleaseCatalogServer<CatalogService>>()
            .await;
        let _ = draining_tx.send(());
    };
    // Other processes serving the same database change channels too.
    let follower = tokio::spawn({
        let registry = registry.clone();
        async move { registry.follow_changes(FOLLOW_EVERY).await }
    });
    // Rollout waves fall due on a clock; any server may advance them (conditional updates).
    let waves = tokio::spawn({
        let registry = registry.clone();
        async move { registry.advance_waves_every(WAVES_EVERY).await }
    });
    // Signing catch-up at startup, then re-signing heads before they expire.
    let signer = tokio::spawn({
        let registry = registry.clone();
        let every =
            std::time::Duration::from_secs((config.trust.head_expiry_secs / 4).clamp(1, 60));
        async move { registry.keep_signatures(every).await }
    });
    // Events: this process's stream feed, and its part in the one relay across servers.
    let tailer = tokio::spawn({
        let registry = registry.clone();
        async move { registry.tail_events().await }
    });
    let relay = tokio::spawn({
        let registry = registry.clone();
        async move { registry.run_relay().await }
    });
    let retention = (config.retention_interval_secs > 0).then(|| {
        let registry = registry.clone();
        let every = std::time::Duration::from_secs(config.retention_interval_secs);
        tokio::spawn(async move { registry.run_retention_every(every).await })
    });
    let gc = (config.gc.interval_secs > 0).then(|| {
        let registry = registry.clone();
        let (every, grace) = (config.gc.interval_secs, config.gc.grace_secs);
        tokio::spawn(async move {
            let grace = std::time::Duration::from_secs(grace);
            registry
                .collect_garbage_every(std::time::Duration::from_secs(every), grace)
                .await
        })
    });
    // The edge: connection cap, TLS, timeouts, TCP_NODELAY, graceful shutdown.
    let server = crate::edge::serve(listener, app, &config.edge, signal);
    let grace = config.shutdown_grace();
    let served = tokio::select! {
        result = server => result.context("serving"),
        () = async move {
            if draining_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => {
            tracing::warn!(grace_secs = grace.as_secs(), "grace period over: closing open connections");
            Ok(())
        }
    };
    follower.abort();
    waves.abort();
    signer.abort();
    tailer.abort();
    relay.abort();
    if let Some(retention) = retention {
        retention.abort();
    }
    if let Some(gc) = gc {
        gc.abort();
    }
    if let Some(metrics) = metrics_server {
        metrics.abort();
    }
    registry.close().await;
    tracing::info!("stopped");
    served
}

/// Serves `/metrics` on an address of its own (`--metrics-listen`) until aborted.
async fn serve_metrics(
    at: std::net::SocketAddr,
    router: axum::Router,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(at)
        .await
        .with_context(|| format!("binding the metrics address {at}"))?;
    tracing::info!(addr = %listener.local_addr()?, "metrics listening");
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "metrics listener failed");
        }
    }))
}

/// Builds the CORS layer for the allowed origins, if any.
fn cors(origins: &[String]) -> anyhow::Result<Option<CorsLayer>> {
    let origins: Vec<&str> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.contains(&"*") {
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .map(|o| HeaderValue::from_str(o).with_context(|| format!("bad CORS origin {o:?}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        AllowOrigin::list(values)
    };
    let headers = [
        "authorization",
        "content-type",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
        "x-request-id",
        "if-match",
        "if-none-match",
        "range",
        "if-range",
        "content-range",
        "connect-protocol-version",
    ];
    let exposed = [
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "etag",
        "content-range",
        "content-length",
        "location",
        "x-request-id",
        "range",
        "upload-offset",
        "docker-upload-uuid",
        "docker-content-digest",
    ];
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers(headers.map(HeaderName::from_static))
            .expose_headers(exposed.map(HeaderName::from_static))
            .max_age(std::time::Duration::from_secs(600)),
    ))
}

/// Hides a password in a database URL before it is logged.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
