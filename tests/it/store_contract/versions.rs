//! The versions area of the contract: drafts, their guarded edits, deletion and listings.

use std::sync::Arc;

use relreg::{
    domain::{Etag, FilePath, VersionFile, VersionKey, VersionRecord, VersionState, VersionStep},
    store::{DraftEdit, Guard, Outcome, Store, StoreError},
};

use super::{T0, actions, audit, count, dg, et, key, n, seed, store_tests, version, version_in};

store_tests!(
    create_version_makes_a_draft_once,
    edit_draft_checks_state_and_etag,
    deleting_a_missing_file_rolls_back,
    files_come_back_ordered_by_path,
    delete_version_removes_a_draft_only,
    list_versions_pages_and_hides_drafts,
    released_versions_are_every_published_one,
);

/// Returns a file bound to the blob of its path.
fn file(path: &str, size: u64) -> VersionFile {
    VersionFile {
        path: FilePath::parse("path", path).unwrap(),
        digest: dg(&path.len().to_string()),
        size,
        media_type: "application/octet-stream".into(),
    }
}

/// Seeds the repo and uploads the blobs `file` names: a file binds only a blob its repo holds.
async fn seed_with_blobs(store: &Arc<dyn Store>) {
    seed(store).await;
    for i in 1..=16 {
        let blob = relreg::domain::BlobInfo {
            digest: dg(&i.to_string()),
            size: 3,
            media_type: "application/octet-stream".into(),
        };
        store
            .add_blob(
                &n("acme"),
                &blob,
                T0,
                &audit("blob.uploaded", "acme", &blob.digest.to_string()),
            )
            .await
            .unwrap();
    }
}

fn draft_guard<'a>(key: &'a VersionKey, etag: Option<&'a Etag>) -> Guard<'a> {
    Guard {
        key,
        step: VersionStep::Edit,
        etag,
    }
}

async fn create_version_makes_a_draft_once(store: Arc<dyn Store>) {
    seed(&store).await;
    let k = key("1.0.0");
    let created = store
        .create_version(
            &k,
            &et("etag-1"),
            T0 + 5,
            &audit("version.created", "acme", "1.0.0"),
        )
        .await
        .unwrap();
    assert!(created.seq > 0);
    let expected = VersionRecord {
        key: k.clone(),
        seq: created.seq,
        state: VersionState::Draft,
        etag: super::et("etag-1"),
        content_digest: None,
        manifest: "{}".into(),
        files: Vec::new(),
        deprecation_reason: None,
        replacement: None,
        yank_reason: None,
        created_at: T0 + 5,
        updated_at: T0 + 5,
        published_at: None,
    };
    assert_eq!(created, expected);
    assert_eq!(store.get_version(&k).await.unwrap(), Some(expected.clone()));
    assert_eq!(store.get_version(&key("9.9.9")).await.unwrap(), None);

    let err = store
        .create_version(
            &k,
            &et("etag-2"),
            T0 + 6,
            &audit("version.created", "acme", "1.0.0"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(store.get_version(&k).await.unwrap(), Some(expected));

    let orphan = VersionKey::parse("acme", "ghost", "1.0.0").unwrap();
    let err = store
        .create_version(
            &orphan,
            &et("e"),
            T0,
            &audit("version.created", "acme", "ghost"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(
        count(&store, "version.created").await,
        1,
        "refusals unaudited"
    );
}

async fn edit_draft_checks_state_and_etag(store: Arc<dyn Store>) {
    seed_with_blobs(&store).await;
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
    let edit = DraftEdit::PutFile(file("a.txt", 3));
    let applied = store
        .edit_draft(
            draft_guard(&k, Some(&et("etag-1"))),
            &et("etag-2"),
            T0 + 1,
            &edit,
            &audit("version.file_put", "acme", "1.0.0"),
        )
        .await
        .unwrap();
    assert_eq!(applied, Outcome::Applied);
    let after = version(&store, "1.0.0").await;
    assert_eq!(after.etag, "etag-2");
    assert_eq!(after.updated_at, T0 + 1);
    assert_eq!(after.created_at, T0);
    assert_eq!(after.files, [file("a.txt", 3)]);

    // A stale etag: refused, nothing written.
    let stale = DraftEdit::PutFile(file("b.txt", 4));
    let outcome = store
        .edit_draft(
            draft_guard(&k, Some(&et("etag-1"))),
            &et("etag-3"),
            T0 + 2,
            &stale,
            &audit("version.file_put", "acme", "1.0.0"),
        )
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::GuardFailed);
    assert_eq!(version(&store, "1.0.0").await, after);

    // No etag: any draft passes. The same path again replaces its file.
    let replace = DraftEdit::PutFile(file("a.txt", 30));
    let outcome = store
        .edit_draft(
            draft_guard(&k, None),
            &et("etag-3"),
            T0 + 3,
            &replace,
            &audit("version.file_put", "acme", "1.0.0"),
        )
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Applied);
    let manifest = DraftEdit::SetManifest(r#"{"name":"app"}"#.into());
    let outcome = store
        .edit_draft(
            draft_guard(&k, Some(&et("etag-3"))),
            &et("etag-4"),
            T0 + 4,
            &manifest,
            &audit("version.manifest_set", "acme", "1.0.0"),
        )
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Applied);
    let draft = version(&store, "1.0.0").await;
    assert_eq!(draft.files, [file("a.txt", 30)]);
    assert_eq!(draft.manifest, r#"{"name":"app"}"#);
    assert_eq!(draft.etag, "etag-4");

    // A version that is not a draft refuses every edit, with or without its etag.
    version_in(&store, "2.0.0", VersionState::Published).await;
    let published = version(&store, "2.0.0").await;
    let k2 = key("2.0.0");
    for etag in [Some(et("etag-0")), None] {
        let outcome = store
            .edit_draft(
                draft_guard(&k2, etag.as_ref()),
                &et("etag-9"),
                T0 + 9,
                &DraftEdit::PutFile(file("x", 1)),
                &audit("version.file_put", "acme", "2.0.0"),
            )
            .await
            .unwrap();
        assert_eq!(outcome, Outcome::GuardFailed);
    }
    assert_eq!(version(&store, "2.0.0").await, published);
    // A missing version fails its guard too.
    let outcome = store
        .edit_draft(
            draft_guard(&key("3.0.0"), None),
            &et("etag-9"),
            T0,
            &DraftEdit::SetManifest("{}".into()),
            &audit("version.manifest_set", "acme", "3.0.0"),
        )
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::GuardFailed);
    assert_eq!(
        count(&store, "version.file_put").await,
        2,
        "one per applied edit"
    );
    assert_eq!(count(&store, "version.manifest_set").await, 1);
}

async fn deleting_a_missing_file_rolls_back(store: Arc<dyn Store>) {
    seed_with_blobs(&store).await;
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
    store
        .edit_draft(
            draft_guard(&k, Some(&et("etag-1"))),
            &et("etag-2"),
            T0 + 1,
            &DraftEdit::PutFile(file("a.txt", 1)),
            &audit("version.file_put", "acme", "1.0.0"),
        )
        .await
        .unwrap();
    let before = version(&store, "1.0.0").await;
    let audited = actions(&store).await;
    let outcome = store
        .edit_draft(
            draft_guard(&k, Some(&et("etag-2"))),
            &et("etag-3"),
            T0 + 2,
            &DraftEdit::DeleteFile(FilePath::parse("path", "b.txt").unwrap()),
            &audit("version.file_deleted", "acme", "1.0.0"),
        )
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Missing);
    assert_eq!(
        version(&store, "1.0.0").await,
        before,
        "the etag and updated_at claimed by the guard were rolled back"
    );
    assert_eq!(actions(&store).await, audited, "no audit row");

    let outcome = store
        .edit_draft(
            draft_guard(&k, Some(&et("etag-2"))),
            &et("etag-3"),
            T0 + 3,
            &DraftEdit::DeleteFile(FilePath::parse("path", "a.txt").unwrap()),
            &audit("version.file_deleted", "acme", "1.0.0"),
        )
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Applied);
    let after = version(&store, "1.0.0").await;
    assert_eq!((after.etag.as_str(), after.files.len()), ("etag-3", 0));
    assert_eq!(count(&store, "version.file_deleted").await, 1);
}

async fn files_come_back_ordered_by_path(store: Arc<dyn Store>) {
    seed_with_blobs(&store).await;
    let k = key("1.0.0");
    store
        .create_version(
            &k,
            &et("etag-0"),
            T0,
            &audit("version.created", "acme", "1.0.0"),
        )
        .await
        .unwrap();
    let paths = [
        "lib/z.so", "README", "lib/a.so", "bin/app", "a-b", "a/b", "Z",
    ];
    for (i, path) in paths.iter().enumerate() {
        store
            .edit_draft(
                draft_guard(&k, None),
                &et(&format!("etag-{}", i + 1)),
                T0,
                &DraftEdit::PutFile(file(path, i as u64)),
                &audit("version.file_put", "acme", "1.0.0"),
            )
            .await
            .unwrap();
    }
    let mut sorted = paths.to_vec();
    sorted.sort();
    let got: Vec<String> = version(&store, "1.0.0")
        .await
        .files
        .into_iter()
        .map(|f| f.path.to_string())
        .collect();
    assert_eq!(got, sorted, "byte-wise path order");
}

async fn delete_version_removes_a_draft_only(store: Arc<dyn Store>) {
    seed_with_blobs(&store).await;
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
    store
        .edit_draft(
            draft_guard(&k, None),
            &et("etag-2"),
            T0,
            &DraftEdit::PutFile(file("a.txt", 1)),
            &audit("version.file_put", "acme", "1.0.0"),
        )
        .await
        .unwrap();
    let deleted = audit("version.deleted", "acme", "1.0.0");
    let outcome = store
        .delete_version(draft_guard(&k, Some(&et("etag-1"))), &deleted)
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::GuardFailed, "stale etag");
    assert!(store.get_version(&k).await.unwrap().is_some());
    let outcome = store
        .delete_version(draft_guard(&k, Some(&et("etag-2"))), &deleted)
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Applied);
    assert_eq!(store.get_version(&k).await.unwrap(), None);
    let outcome = store
        .delete_version(draft_guard(&k, None), &deleted)
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::GuardFailed, "already gone");

    // The key is free again, and its files went with the deleted draft.
    let again = store
        .create_version(
            &k,
            &et("etag-9"),
            T0,
            &audit("version.created", "acme", "1.0.0"),
        )
        .await
        .unwrap();
    assert!(again.files.is_empty());
    assert_eq!(version(&store, "1.0.0").await.files, []);

    version_in(&store, "2.0.0", VersionState::Published).await;
    let k2 = key("2.0.0");
    let outcome = store
        .delete_version(draft_guard(&k2, None), &deleted)
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::GuardFailed);
    // Even a guard that admits published versions (a deprecation's) cannot delete one: the
    // database refuses.
    let guard = Guard {
        key: &k2,
        step: VersionStep::Deprecate,
        etag: None,
    };
    let err = store.delete_version(guard, &deleted).await.unwrap_err();
    assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
    assert_eq!(
        version(&store, "2.0.0").await.state,
        VersionState::Published
    );
    assert_eq!(count(&store, "version.deleted").await, 1);
}

async fn list_versions_pages_and_hides_drafts(store: Arc<dyn Store>) {
    seed(&store).await;
    store
        .create_package(
            &super::package("acme", "other"),
            &audit("package.created", "acme", "other"),
        )
        .await
        .unwrap();
    let states = [
        ("1.0.0", VersionState::Published),
        ("0.9.0", VersionState::Draft),
        ("2.0.0", VersionState::Deprecated),
        ("1.1.0", VersionState::Draft),
        ("3.0.0", VersionState::Yanked),
    ];
    for (v, state) in states {
        version_in(&store, v, state).await;
    }
    let other = VersionKey::parse("acme", "other", "1.0.0").unwrap();
    store
        .create_version(
            &other,
            &et("e"),
            T0,
            &audit("version.created", "acme", "other"),
        )
        .await
        .unwrap();
    // Files are left out of listings.
    store
        .edit_draft(
            draft_guard(&key("0.9.0"), None),
            &et("etag-1"),
            T0,
            &DraftEdit::PutFile(file("a", 1)),
            &audit("version.file_put", "acme", "0.9.0"),
        )
        .await
        .unwrap();

    let list = |after: Option<i64>, limit: i64, drafts: bool| {
        let store = store.clone();
        async move {
            store
                .list_versions(&n("acme"), &n("app"), after, limit, drafts)
                .await
                .unwrap()
        }
    };
    let all = list(None, 100, true).await;
    let names: Vec<String> = all.iter().map(|v| v.key.version.to_string()).collect();
    assert_eq!(names, ["1.0.0", "0.9.0", "2.0.0", "1.1.0", "3.0.0"]);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    for listed in &all {
        let mut full = version(&store, &listed.key.version.to_string()).await;
        full.files.clear();
        assert_eq!(*listed, full);
    }
    assert_eq!(list(None, 2, true).await, all[..2]);
    assert_eq!(list(Some(all[1].seq), 2, true).await, all[2..4]);
    assert_eq!(list(Some(all[3].seq), 2, true).await, all[4..]);
    assert!(list(Some(all[4].seq), 2, true).await.is_empty());

    let released: Vec<VersionRecord> = [0, 2, 4].map(|i| all[i].clone()).into();
    assert_eq!(list(None, 100, false).await, released);
    assert_eq!(list(None, 2, false).await, released[..2]);
    assert_eq!(list(Some(all[0].seq), 1, false).await, released[1..2]);
    assert!(
        store
            .list_versions(&n("acme"), &n("ghost"), None, 100, true)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn released_versions_are_every_published_one(store: Arc<dyn Store>) {
    seed(&store).await;
    assert!(
        store
            .released_versions(&n("acme"), &n("app"))
            .await
            .unwrap()
            .is_empty()
    );
    for (v, state) in [
        ("1.0.0", VersionState::Yanked),
        ("1.1.0", VersionState::Draft),
        ("1.2.0", VersionState::Published),
        ("0.1.0", VersionState::Deprecated),
    ] {
        version_in(&store, v, state).await;
    }
    let released = store
        .released_versions(&n("acme"), &n("app"))
        .await
        .unwrap();
    let got: Vec<(String, VersionState)> = released
        .iter()
        .map(|v| (v.key.version.to_string(), v.state))
        .collect();
    let got: Vec<(&str, VersionState)> = got.iter().map(|(v, s)| (v.as_str(), *s)).collect();
    assert_eq!(
        got,
        [
            ("1.0.0", VersionState::Yanked),
            ("1.2.0", VersionState::Published),
            ("0.1.0", VersionState::Deprecated),
        ]
    );
    assert!(released.iter().all(|v| v.published_at == Some(T0 + 1)));
}
