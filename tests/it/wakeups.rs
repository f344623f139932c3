//! Outbox wake-ups (`store/wakeups.rs`): a commit that writes an outbox event wakes the outbox
//! readers of its own process at once, and on PostgreSQL those of every other process through
//! `NOTIFY`.

use std::time::Duration;

use relreg::{registry::Caller, server};

use crate::common::{Backend, TestServer, backend_tests, draft, fixture, publish};

backend_tests!(outbox_waiters_wake_when_an_event_commits);

async fn outbox_waiters_wake_when_an_event_commits(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    draft(&server, "1.0.0", &[("a.txt", b"a")]).await;
    draft(&server, "2.0.0", &[("b.txt", b"b")]).await;
    // A registry of its own on the same database, as another process opens it.
    let other = server::open_registry(&server.config).await.unwrap();
    let mut waiter = other.outbox_waiter();
    // Quiet first (the PostgreSQL listener wakes once when it starts listening).
    while waiter.changed_or(Duration::from_millis(300)).await {}

    // A publish through this registry wakes its readers.
    let caller = Caller {
        bearer: Some(server.admin.clone()),
        request_id: "wakeups".into(),
    };
    other
        .publish_version(
            &caller,
            &relreg::domain::VersionKey::parse("acme", "app", "1.0.0").unwrap(),
            None,
        )
        .await
        .unwrap();
    assert!(
        waiter.changed_or(Duration::from_secs(5)).await,
        "the committing process wakes its own outbox readers"
    );
    while waiter.changed_or(Duration::from_millis(300)).await {}

    // A publish through the server (another pool, as another process) wakes them through
    // NOTIFY on PostgreSQL; SQLite has no wake-up across processes (the poll finds it).
    publish(&server, "2.0.0").await;
    let woken = waiter.changed_or(Duration::from_secs(2)).await;
    assert_eq!(
        woken,
        matches!(backend, Backend::Postgres(_)),
        "woken: {woken}"
    );
    other.close().await;
    server.stop().await;
}
