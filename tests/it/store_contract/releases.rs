//! The releases area of the contract, first half: draft releases, their listing and their
//! artifacts, and the helpers every release case shares. `channels.rs` holds the second half.
//! (`latest_candidates` is left out: its contract is being replaced.)

use std::sync::Arc;

use relreg::{
    domain::{
        AppVersion, Artifact, AuditRecord, Compatibility, ReleaseRecord, ReleaseState, VersionState,
    },
    store::{NewEvent, Outcome, ReleaseEdit, Store, StoreError},
};

use super::{T0, audit, count, et, n, rid, seed, store_tests, v, version_in};

store_tests!(
    create_release_round_trips_and_refuses_duplicates,
    edit_release_attaches_and_detaches_with_etags,
);

/// Returns a draft release of `acme` as `create_release` takes it.
pub(crate) fn draft(id: &str, channel: &str, version: &str) -> ReleaseRecord {
    ReleaseRecord {
        id: rid(id),
        seq: 0,
        repo: n("acme"),
        channel: n(channel),
        version: v(version),
        state: ReleaseState::Draft,
        etag: et(&format!("{id}-etag")),
        compatibility: Compatibility {
            min: Some(AppVersion::parse("min_app_version", "1.0").unwrap()),
            max: None,
            platforms: vec![n("android"), n("ios")],
        },
        notes: format!("notes of {version}"),
        mandatory: false,
        sequence: None,
        deprecation_reason: None,
        replacement: None,
        artifacts: Vec::new(),
        created_at: T0,
        updated_at: T0,
        published_at: None,
    }
}

/// Returns the records of a channel change: the sequence goes into the audit details and the
/// event payload.
pub(crate) fn records(
    action: &str,
    id: &str,
) -> impl Fn(i64) -> (AuditRecord, NewEvent) + Send + Sync {
    let (action, id) = (action.to_owned(), rid(id).to_string());
    move |sequence| {
        let payload = format!(r#"{{"release_id":"{id}","sequence":{sequence}}}"#);
        let audit = AuditRecord {
            details: payload.clone(),
            ..audit(&action, "acme", &id)
        };
        let event = NewEvent {
            topic: action.clone(),
            repo: "acme".into(),
            payload,
        };
        (audit, event)
    }
}

/// Creates a draft release, which must succeed.
pub(crate) async fn create(store: &Arc<dyn Store>, release: &ReleaseRecord) -> ReleaseRecord {
    store
        .create_release(
            release,
            &audit("release.created", "acme", &release.id.to_string()),
        )
        .await
        .expect("create release")
}

/// Returns a stored release, which must exist.
pub(crate) async fn release(store: &Arc<dyn Store>, id: &str) -> ReleaseRecord {
    store
        .get_release(&rid(id))
        .await
        .expect("get release")
        .unwrap_or_else(|| panic!("release {id} exists"))
}

/// Attaches `app@version` as the `android` artifact, with no etag check.
pub(crate) async fn attach(store: &Arc<dyn Store>, id: &str, version: &str) {
    let edit = ReleaseEdit::Attach(artifact("android", version));
    let outcome = store
        .edit_release(
            &rid(id),
            None,
            &et(&format!("{id}-etag-{version}")),
            T0,
            &edit,
            &audit("release.attached", "acme", id),
        )
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Applied);
}

pub(crate) fn artifact(role: &str, version: &str) -> Artifact {
    Artifact {
        role: n(role),
        package: n("app"),
        version: v(version),
    }
}

/// Publishes a release with its current etag; returns the channel sequence.
pub(crate) async fn publish(store: &Arc<dyn Store>, id: &str, at: i64) -> Option<i64> {
    let etag = release(store, id).await.etag;
    store
        .publish_release(&rid(id), &etag, at, &records("release.published", id))
        .await
        .unwrap()
}

async fn create_release_round_trips_and_refuses_duplicates(store: Arc<dyn Store>) {
    seed(&store).await;
    let r1 = draft("r1", "stable", "1.0.0");
    let created = create(&store, &r1).await;
    assert!(created.seq > 0);
    let expected = ReleaseRecord {
        seq: created.seq,
        ..r1.clone()
    };
    assert_eq!(created, expected);
    assert_eq!(
        store.get_release(&rid("r1")).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(store.get_release(&rid("nope")).await.unwrap(), None);

    let err = store
        .create_release(
            &draft("r2", "stable", "1.0.0"),
            &audit("release.created", "acme", "r2"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    let err = store
        .create_release(
            &draft("r1", "beta", "9.0.0"),
            &audit("release.created", "acme", "r1"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "same id: {err:?}");
    let ghost = ReleaseRecord {
        repo: n("ghost"),
        ..draft("r3", "stable", "1.0.0")
    };
    let err = store
        .create_release(&ghost, &audit("release.created", "ghost", "r3"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(count(&store, "release.created").await, 1);

    // The same version in another channel is another release.
    let beta = create(&store, &draft("r4", "beta", "1.0.0")).await;
    let listed = store
        .list_releases(&n("acme"), None, true, None, 100)
        .await
        .unwrap();
    assert_eq!(listed, [expected.clone(), beta.clone()]);
    let stable = store
        .list_releases(&n("acme"), Some(&n("stable")), true, None, 100)
        .await
        .unwrap();
    assert_eq!(stable, std::slice::from_ref(&expected));
    let paged = store
        .list_releases(&n("acme"), None, true, Some(expected.seq), 1)
        .await
        .unwrap();
    assert_eq!(paged, [beta]);
    assert!(
        store
            .list_releases(&n("acme"), None, false, None, 100)
            .await
            .unwrap()
            .is_empty(),
        "drafts hidden"
    );
}

async fn edit_release_attaches_and_detaches_with_etags(store: Arc<dyn Store>) {
    seed(&store).await;
    create(&store, &draft("r1", "stable", "1.0.0")).await;
    let attach_ios = ReleaseEdit::Attach(artifact("ios", "1.0.0"));
    let edit = |etag: Option<&'static str>, new_etag: &'static str, e: ReleaseEdit| {
        let store = store.clone();
        async move {
            store
                .edit_release(
                    &rid("r1"),
                    etag.map(et).as_ref(),
                    &et(new_etag),
                    T0 + 1,
                    &e,
                    &audit("release.edited", "acme", "r1"),
                )
                .await
                .unwrap()
        }
    };
    assert_eq!(
        edit(Some("r1-etag"), "e2", attach_ios.clone()).await,
        Outcome::Applied
    );
    let after = release(&store, "r1").await;
    assert_eq!((after.etag.as_str(), after.updated_at), ("e2", T0 + 1));
    assert_eq!(after.artifacts, [artifact("ios", "1.0.0")]);

    let attach_android = ReleaseEdit::Attach(artifact("android", "1.0.0"));
    assert_eq!(
        edit(Some("r1-etag"), "e3", attach_android.clone()).await,
        Outcome::GuardFailed,
        "stale etag"
    );
    assert_eq!(release(&store, "r1").await, after);
    assert_eq!(edit(None, "e3", attach_android).await, Outcome::Applied);
    // Attaching a role again replaces its artifact; artifacts come back ordered by role.
    let replace = ReleaseEdit::Attach(artifact("ios", "1.1.0"));
    assert_eq!(edit(Some("e3"), "e4", replace).await, Outcome::Applied);
    assert_eq!(
        release(&store, "r1").await.artifacts,
        [artifact("android", "1.0.0"), artifact("ios", "1.1.0")]
    );

    let before = release(&store, "r1").await;
    let detach_missing = ReleaseEdit::Detach(n("web"));
    assert_eq!(
        edit(Some("e4"), "e5", detach_missing).await,
        Outcome::Missing
    );
    assert_eq!(release(&store, "r1").await, before, "etag kept");
    let detach = ReleaseEdit::Detach(n("ios"));
    assert_eq!(edit(Some("e4"), "e5", detach).await, Outcome::Applied);
    assert_eq!(
        release(&store, "r1").await.artifacts,
        [artifact("android", "1.0.0")]
    );
    assert_eq!(
        count(&store, "release.edited").await,
        4,
        "one per applied edit"
    );

    // A published release refuses edits.
    version_in(&store, "1.0.0", VersionState::Published).await;
    assert_eq!(publish(&store, "r1", T0 + 2).await, Some(1));
    let published = release(&store, "r1").await;
    assert_eq!(
        edit(Some("e5"), "e6", attach_ios.clone()).await,
        Outcome::GuardFailed
    );
    assert_eq!(edit(None, "e6", attach_ios).await, Outcome::GuardFailed);
    assert_eq!(release(&store, "r1").await, published);
    let outcome = store
        .edit_release(
            &rid("nope"),
            None,
            &et("e"),
            T0,
            &ReleaseEdit::Detach(n("ios")),
            &audit("release.edited", "acme", "nope"),
        )
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::GuardFailed);
    assert_eq!(count(&store, "release.edited").await, 4);
}
