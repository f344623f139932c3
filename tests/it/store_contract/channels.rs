//! The releases area of the contract, second half: the changes of a channel (publishing with
//! its next sequence, deprecation, rollback) and the audit row and outbox event each writes.

use std::sync::Arc;

use relreg::{
    domain::{Artifact, AuditFilter, ReleaseRecord, ReleaseState, VersionState},
    store::{ReleaseEdit, Store},
};

use super::{
    T0, audit, count, et, n,
    releases::{attach, create, draft, publish, records, release},
    repo, rid, seed, store_tests, v, version_in,
};

store_tests!(
    publish_release_assigns_channel_sequences,
    publish_release_refuses_unpublishable_artifacts,
    deprecate_release_takes_a_sequence,
    rollback_channel_deprecates_exactly_the_newer_releases,
);

async fn publish_release_assigns_channel_sequences(store: Arc<dyn Store>) {
    seed(&store).await;
    version_in(&store, "1.0.0", VersionState::Published).await;
    for (id, channel, version) in [
        ("r1", "stable", "1.0.0"),
        ("r2", "stable", "1.1.0"),
        ("r3", "beta", "2.0.0-rc.1"),
        ("r4", "stable", "0.9.0"),
    ] {
        create(&store, &draft(id, channel, version)).await;
        attach(&store, id, "1.0.0").await;
    }
    let draft_r1 = release(&store, "r1").await;
    let outbox_before = store.last_outbox_id().await.unwrap();

    assert_eq!(publish(&store, "r1", T0 + 10).await, Some(1));
    assert_eq!(publish(&store, "r3", T0 + 11).await, Some(1), "own channel");
    assert_eq!(publish(&store, "r2", T0 + 12).await, Some(2));
    assert_eq!(
        publish(&store, "r4", T0 + 13).await,
        Some(3),
        "by time, not semver"
    );
    assert_eq!(
        publish(&store, "r1", T0 + 14).await,
        None,
        "already published"
    );

    let r1 = release(&store, "r1").await;
    let expected = ReleaseRecord {
        state: ReleaseState::Published,
        sequence: Some(1),
        published_at: Some(T0 + 10),
        updated_at: T0 + 10,
        ..draft_r1
    };
    assert_eq!(r1, expected);
    assert_eq!(release(&store, "r4").await.sequence, Some(3));

    // One audit row and one outbox event per publish, each carrying its sequence.
    let published = store
        .list_audit(
            &AuditFilter {
                action: Some("release.published".into()),
                ..AuditFilter::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
    let details: Vec<&str> = published
        .iter()
        .map(|e| e.record.details.as_str())
        .collect();
    let payload = |id: &str, sequence: i64| {
        format!(r#"{{"release_id":"{}","sequence":{sequence}}}"#, rid(id))
    };
    assert_eq!(
        details,
        [
            payload("r1", 1),
            payload("r3", 1),
            payload("r2", 2),
            payload("r4", 3),
        ]
    );
    let events = store.list_outbox(Some(outbox_before), 100).await.unwrap();
    let got: Vec<(&str, &str, i64)> = events
        .iter()
        .map(|e| (e.topic.as_str(), e.payload.as_str(), e.at))
        .collect();
    assert_eq!(
        got,
        [
            ("release.published", details[0], T0 + 10),
            ("release.published", details[1], T0 + 11),
            ("release.published", details[2], T0 + 12),
            ("release.published", details[3], T0 + 13),
        ]
    );
}

async fn publish_release_refuses_unpublishable_artifacts(store: Arc<dyn Store>) {
    seed(&store).await;
    for (v, state) in [
        ("1.0.0", VersionState::Draft),
        ("1.1.0", VersionState::Yanked),
        ("1.2.0", VersionState::Deprecated),
        ("1.3.0", VersionState::Published),
    ] {
        version_in(&store, v, state).await;
    }
    create(&store, &draft("r1", "stable", "1.0.0")).await;
    let audited = count(&store, "release.published").await;
    for refused in ["1.0.0", "1.1.0", "9.9.9"] {
        attach(&store, "r1", refused).await;
        let before = release(&store, "r1").await;
        assert_eq!(publish(&store, "r1", T0 + 5).await, None, "{refused}");
        assert_eq!(
            release(&store, "r1").await,
            before,
            "{refused}: still a draft"
        );
    }
    let etag = release(&store, "r1").await.etag;
    let stale = store
        .publish_release(
            &rid("r1"),
            &et("stale"),
            T0,
            &records("release.published", "r1"),
        )
        .await
        .unwrap();
    assert_eq!(stale, None, "stale etag");
    assert!(
        store
            .publish_release(
                &rid("nope"),
                &etag,
                T0,
                &records("release.published", "nope")
            )
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(count(&store, "release.published").await, audited);
    assert_eq!(store.last_outbox_id().await.unwrap(), 0, "no event");

    // A deprecated or published artifact may be published; no sequence was used by refusals.
    attach(&store, "r1", "1.2.0").await;
    let two = ReleaseEdit::Attach(Artifact {
        role: n("ios"),
        package: n("app"),
        version: v("1.3.0"),
    });
    store
        .edit_release(
            &rid("r1"),
            None,
            &et("last"),
            T0,
            &two,
            &audit("x", "acme", "r1"),
        )
        .await
        .unwrap();
    assert_eq!(publish(&store, "r1", T0 + 6).await, Some(1));
}

async fn deprecate_release_takes_a_sequence(store: Arc<dyn Store>) {
    seed(&store).await;
    create(&store, &draft("r1", "stable", "1.0.0")).await;
    create(&store, &draft("r2", "stable", "2.0.0")).await;
    let deprecate = |id: &'static str| {
        let store = store.clone();
        async move {
            store
                .deprecate_release(
                    &rid(id),
                    "bad",
                    Some(&rid("r2")),
                    T0 + 20,
                    &records("release.deprecated", id),
                )
                .await
                .unwrap()
        }
    };
    assert_eq!(deprecate("r1").await, None, "a draft is not deprecated");
    assert_eq!(publish(&store, "r1", T0 + 10).await, Some(1));
    assert_eq!(publish(&store, "r2", T0 + 11).await, Some(2));
    let published = release(&store, "r1").await;
    assert_eq!(deprecate("r1").await, Some(3));
    assert_eq!(
        release(&store, "r1").await,
        ReleaseRecord {
            state: ReleaseState::Deprecated,
            deprecation_reason: Some("bad".into()),
            replacement: Some(rid("r2")),
            updated_at: T0 + 20,
            ..published
        },
        "its publish sequence is kept"
    );
    assert_eq!(deprecate("r1").await, None, "already deprecated");
    assert_eq!(deprecate("nope").await, None);
    let events = store.list_outbox(None, 100).await.unwrap();
    let deprecations: Vec<&str> = events
        .iter()
        .filter(|e| e.topic == "release.deprecated")
        .map(|e| e.payload.as_str())
        .collect();
    assert_eq!(
        deprecations,
        [format!(r#"{{"release_id":"{}","sequence":3}}"#, rid("r1"))]
    );
    assert_eq!(count(&store, "release.deprecated").await, 1);
}

async fn rollback_channel_deprecates_exactly_the_newer_releases(store: Arc<dyn Store>) {
    seed(&store).await;
    store
        .create_repo(&repo("beta", true), &audit("repo.created", "beta", "beta"))
        .await
        .unwrap();
    let stable = [
        ("a", "1.0.0"),
        ("b", "2.0.0"),
        ("c", "1.5.0"),
        ("d", "3.0.0-beta.1"),
        ("e", "2.5.0"),
        ("f", "1.5.1"),
    ];
    for (i, (id, version)) in stable.iter().enumerate() {
        create(&store, &draft(id, "stable", version)).await;
        assert_eq!(publish(&store, id, T0 + i as i64).await, Some(i as i64 + 1));
    }
    // Not published in stable, or not in stable at all: untouched.
    create(&store, &draft("g", "stable", "4.0.0")).await;
    create(&store, &draft("h", "nightly", "9.0.0")).await;
    assert_eq!(publish(&store, "h", T0).await, Some(1));
    let other_repo = ReleaseRecord {
        repo: n("beta"),
        ..draft("i", "stable", "9.0.0")
    };
    create(&store, &other_repo).await;
    store
        .deprecate_release(
            &rid("e"),
            "old",
            None,
            T0,
            &records("release.deprecated", "e"),
        )
        .await
        .unwrap();
    let mut untouched = Vec::new();
    for id in ["a", "c", "e", "g", "h", "i"] {
        untouched.push(release(&store, id).await);
    }

    let target = release(&store, "c").await;
    let rollback = records("release.rolled_back", "c");
    let done = store
        .rollback_channel(&target, "rolled back to 1.5.0", T0 + 50, &rollback)
        .await
        .unwrap()
        .expect("target published");
    assert_eq!(
        done.sequence,
        Some(8),
        "one sequence after 6 publishes and 1 deprecation"
    );
    assert_eq!(done.deprecated, [rid("b"), rid("d"), rid("f")]);
    for id in ["b", "d", "f"] {
        let r = release(&store, id).await;
        assert_eq!(r.state, ReleaseState::Deprecated, "{id}");
        assert_eq!(
            r.deprecation_reason.as_deref(),
            Some("rolled back to 1.5.0")
        );
        assert_eq!(r.replacement, Some(rid("c")), "{id} points at the target");
        assert_eq!(r.updated_at, T0 + 50);
    }
    for before in &untouched {
        let now = store.get_release(&before.id).await.unwrap();
        assert_eq!(now.as_ref(), Some(before));
    }
    let events = store.list_outbox(None, 100).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (last.topic.as_str(), last.payload.as_str()),
        (
            "release.rolled_back",
            format!(r#"{{"release_id":"{}","sequence":8}}"#, rid("c")).as_str()
        )
    );
    assert_eq!(count(&store, "release.rolled_back").await, 1);

    // Nothing newer any more: no sequence, no records.
    let outbox = store.last_outbox_id().await.unwrap();
    let again = store
        .rollback_channel(&target, "again", T0 + 60, &rollback)
        .await
        .unwrap();
    assert_eq!(
        again,
        Some(relreg::store::Rollback {
            sequence: None,
            deprecated: Vec::new(),
        })
    );
    assert_eq!(store.last_outbox_id().await.unwrap(), outbox);
    assert_eq!(count(&store, "release.rolled_back").await, 1);
    assert_eq!(release(&store, "c").await, target);
    assert_eq!(
        publish(&store, "g", T0 + 70).await,
        Some(9),
        "no sequence was taken"
    );

    // A target that is not published is refused.
    let deprecated = release(&store, "b").await;
    assert_eq!(
        store
            .rollback_channel(&deprecated, "x", T0, &rollback)
            .await
            .unwrap(),
        None
    );
}
