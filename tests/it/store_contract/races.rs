//! Races of the contract, decided by the database: concurrent callers on tokio tasks of a
//! multi-thread runtime, released together by a barrier, with exactly one winner.

use std::sync::Arc;

use relreg::{
    domain::{AuditFilter, VersionState, VersionStep},
    store::{Guard, Outcome, Store, StoreError},
};

use super::{T0, audit, change_at, count, event, key, seed, store_tests, version};

store_tests!(
    concurrent_creates_of_one_version_make_one_row,
    concurrent_publishes_of_one_release_make_one_event,
    concurrent_version_publishes_apply_once,
);

/// How many callers race.
const RACERS: usize = 8;

/// Runs `RACERS` copies of `call` at once and returns their results in spawn order.
async fn race<T, F, Fut>(store: &Arc<dyn Store>, call: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<dyn Store>, usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let (barrier, fut) = (barrier.clone(), call(store.clone(), i));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("racer"));
    }
    results
}

async fn concurrent_creates_of_one_version_make_one_row(store: Arc<dyn Store>) {
    seed(&store).await;
    let results = race(&store, |store, i| async move {
        store
            .create_version(
                &key("1.0.0"),
                &super::et(&format!("etag-{i}")),
                T0,
                &audit("version.created", "acme", "1.0.0"),
            )
            .await
    })
    .await;
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, StoreError::Conflict), "{e:?}");
        }
    }
    assert_eq!(version(&store, "1.0.0").await, *winners[0]);
    assert_eq!(count(&store, "version.created").await, 1);
}

async fn concurrent_publishes_of_one_release_make_one_event(store: Arc<dyn Store>) {
    seed(&store).await;
    super::version_in(&store, "1.0.0", VersionState::Published).await;
    let release = relreg::domain::ReleaseRecord {
        etag: super::et("e"),
        ..super::releases::draft("r1", "stable", "1.0.0")
    };
    store
        .create_release(&release, &audit("release.created", "acme", "r1"))
        .await
        .unwrap();
    let results = race(&store, |store, i| async move {
        let records = super::releases::records("release.published", "r1");
        store
            .publish_release(&super::rid("r1"), &super::et("e"), T0 + i as i64, &records)
            .await
    })
    .await;
    let sequences: Vec<i64> = results
        .iter()
        .map(|r| r.as_ref().expect("no store error"))
        .filter_map(|s| *s)
        .collect();
    assert_eq!(sequences, [1], "{results:?}");
    let events = store.list_outbox(None, 100).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].payload,
        format!(r#"{{"release_id":"{}","sequence":1}}"#, super::rid("r1"))
    );
    let published = AuditFilter {
        action: Some("release.published".into()),
        ..AuditFilter::default()
    };
    assert_eq!(
        store.list_audit(&published, None, 100).await.unwrap().len(),
        1
    );
    let stored = store.get_release(&super::rid("r1")).await.unwrap().unwrap();
    assert_eq!(stored.sequence, Some(1));
}

async fn concurrent_version_publishes_apply_once(store: Arc<dyn Store>) {
    seed(&store).await;
    store
        .create_version(
            &key("1.0.0"),
            &super::et("etag-1"),
            T0,
            &audit("version.created", "acme", "1.0.0"),
        )
        .await
        .unwrap();
    let results = race(&store, |store, i| async move {
        let k = key("1.0.0");
        let etag = super::et("etag-1");
        let guard = Guard {
            key: &k,
            step: VersionStep::Publish,
            etag: Some(&etag),
        };
        let change = change_at(VersionStep::Publish, T0 + i as i64, &i.to_string());
        store
            .transition_version(
                guard,
                &change,
                &audit("version.published", "acme", "1.0.0"),
                Some(&event("version.published", &format!(r#"{{"racer":{i}}}"#))),
            )
            .await
    })
    .await;
    let outcomes: Vec<Outcome> = results
        .into_iter()
        .map(|r| r.expect("no store error"))
        .collect();
    let winner = outcomes
        .iter()
        .position(|o| *o == Outcome::Applied)
        .expect("one publish applies");
    let mut losers = outcomes.clone();
    losers.remove(winner);
    assert!(
        losers.iter().all(|o| *o == Outcome::GuardFailed),
        "{outcomes:?}"
    );
    let v = version(&store, "1.0.0").await;
    assert_eq!(v.state, VersionState::Published);
    assert_eq!(
        v.content_digest,
        Some(super::dg(&winner.to_string())),
        "the winner's digest"
    );
    let events = store.list_outbox(None, 100).await.unwrap();
    let payloads: Vec<&str> = events.iter().map(|e| e.payload.as_str()).collect();
    assert_eq!(payloads, [format!(r#"{{"racer":{winner}}}"#)]);
    assert_eq!(count(&store, "version.published").await, 1);
}
