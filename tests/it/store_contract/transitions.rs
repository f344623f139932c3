//! The version state changes of the contract: `transition_version` with its guard, the fields
//! each change records, its audit row, and an outbox event only when one is given.

use std::sync::Arc;

use relreg::{
    domain::{OutboxEvent, VersionState, VersionStep},
    store::{Guard, Outcome, Recorded, Store, Transition},
};

use super::{T0, actions, audit, change_at, dg, et, event, key, seed, store_tests, v, version};

store_tests!(
    transition_version_checks_its_guard,
    transitions_record_their_fields_and_events,
);

async fn transition_version_checks_its_guard(store: Arc<dyn Store>) {
    seed(&store).await;
    let k = key("1.0.0");
    store
        .create_version(
            &k,
            &et("etag-1"),
            T0,
            &audit("version.created", "acme", "1.0.0"),
        )
        .await
        .unwrap();
    let before = version(&store, "1.0.0").await;
    let publish = change_at(VersionStep::Publish, T0 + 10, "abc");
    // A stale etag; steps that start from states the draft is not in.
    let refused = [
        (VersionStep::Publish, Some(et("etag-0"))),
        (VersionStep::Yank, None),
        (VersionStep::Deprecate, Some(et("etag-1"))),
    ];
    for (step, etag) in refused {
        let guard = Guard {
            key: &k,
            step,
            etag: etag.as_ref(),
        };
        let outcome = store
            .transition_version(
                guard,
                &publish,
                &audit("version.published", "acme", "1.0.0"),
                Some(&event("version.published", "{}")),
            )
            .await
            .unwrap();
        assert_eq!(outcome, Outcome::GuardFailed, "{step:?} {etag:?}");
    }
    let missing = key("9.0.0");
    let guard = Guard {
        key: &missing,
        step: VersionStep::Publish,
        etag: None,
    };
    let outcome = store
        .transition_version(guard, &publish, &audit("x", "acme", "9.0.0"), None)
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::GuardFailed);
    assert_eq!(version(&store, "1.0.0").await, before, "nothing changed");
    assert_eq!(
        actions(&store).await,
        ["repo.created", "package.created", "version.created"],
        "refused transitions write no audit row"
    );
    assert!(store.list_outbox(None, 100).await.unwrap().is_empty());
    assert_eq!(store.last_outbox_id().await.unwrap(), 0);

    let guard = Guard {
        key: &k,
        step: VersionStep::Publish,
        etag: Some(&et("etag-1")),
    };
    let outcome = store
        .transition_version(
            guard,
            &publish,
            &audit("version.published", "acme", "1.0.0"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Applied);
    assert_eq!(
        version(&store, "1.0.0").await.state,
        VersionState::Published
    );
}

async fn transitions_record_their_fields_and_events(store: Arc<dyn Store>) {
    seed(&store).await;
    let k = key("1.0.0");
    store
        .create_version(
            &k,
            &et("etag-1"),
            T0,
            &audit("version.created", "acme", "1.0.0"),
        )
        .await
        .unwrap();
    let draft = version(&store, "1.0.0").await;

    let publish = change_at(VersionStep::Publish, T0 + 10, "abc");
    let guard = Guard {
        key: &k,
        step: VersionStep::Publish,
        etag: Some(&et("etag-1")),
    };
    let published = event("version.published", r#"{"version":"1.0.0"}"#);
    let outcome = store
        .transition_version(
            guard,
            &publish,
            &audit("version.published", "acme", "1.0.0"),
            Some(&published),
        )
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Applied);
    let mut expected = draft.clone();
    expected.state = VersionState::Published;
    expected.content_digest = Some(dg("abc"));
    expected.updated_at = T0 + 10;
    expected.published_at = Some(T0 + 10);
    assert_eq!(version(&store, "1.0.0").await, expected);
    let outbox = store.list_outbox(None, 100).await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        outbox[0],
        OutboxEvent {
            id: outbox[0].id,
            at: T0 + 10,
            topic: "version.published".into(),
            repo: "acme".into(),
            payload: r#"{"version":"1.0.0"}"#.into(),
        }
    );

    // Deprecating without an event: fields set, publish time kept, no outbox row.
    let deprecate = Transition {
        at: T0 + 20,
        records: Recorded::Deprecate {
            reason: "old".into(),
            replacement: Some(v("2.0.0")),
        },
    };
    let guard = Guard {
        key: &k,
        step: VersionStep::Deprecate,
        etag: None,
    };
    let outcome = store
        .transition_version(
            guard,
            &deprecate,
            &audit("version.deprecated", "acme", "1.0.0"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Applied);
    expected.state = VersionState::Deprecated;
    expected.deprecation_reason = Some("old".into());
    expected.replacement = Some(v("2.0.0"));
    expected.updated_at = T0 + 20;
    assert_eq!(version(&store, "1.0.0").await, expected);
    assert_eq!(store.list_outbox(None, 100).await.unwrap(), outbox);

    // Yanking keeps the deprecation fields it does not name.
    let yank = Transition {
        at: T0 + 30,
        records: Recorded::Yank {
            reason: "broken".into(),
        },
    };
    let guard = Guard {
        key: &k,
        step: VersionStep::Yank,
        etag: None,
    };
    let outcome = store
        .transition_version(
            guard,
            &yank,
            &audit("version.yanked", "acme", "1.0.0"),
            Some(&event("version.yanked", "{}")),
        )
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Applied);
    expected.state = VersionState::Yanked;
    expected.yank_reason = Some("broken".into());
    expected.updated_at = T0 + 30;
    assert_eq!(version(&store, "1.0.0").await, expected);
    let topics: Vec<String> = store
        .list_outbox(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.topic)
        .collect();
    assert_eq!(topics, ["version.published", "version.yanked"]);
    assert_eq!(
        actions(&store).await[3..],
        ["version.published", "version.deprecated", "version.yanked"],
        "one audit row per applied transition"
    );
}
