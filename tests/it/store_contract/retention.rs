//! The retention area of the store: a dry run writes nothing and a run removes the same set
//! with one audit row each, leaving tombstones; what a release names stays; `delete_package`
//! deletes drafts with their package but never a package with a published (or removed) version.

use std::sync::Arc;

use relreg::{
    domain::{Retention, VersionState},
    store::{PackageDeletion, Removal, Store},
};

use super::{T0, audit, count, n, package, seed, store_tests, version, version_in};
use crate::store_contract::releases::{attach, create, draft};

store_tests!(
    retention_dry_run_writes_nothing_and_run_leaves_tombstones,
    delete_package_keeps_what_was_published,
);

fn removal_audit(removal: &Removal) -> relreg::domain::AuditRecord {
    match removal {
        Removal::Version {
            package, version, ..
        } => audit("version.removed", "acme", &format!("{package}@{version}")),
        Removal::Release { id, .. } => audit("release.removed", "acme", id),
    }
}

async fn retention_dry_run_writes_nothing_and_run_leaves_tombstones(store: Arc<dyn Store>) {
    seed(&store).await;
    for (v, state) in [
        ("1.0.0", VersionState::Yanked),
        ("1.1.0", VersionState::Deprecated),
        ("1.2.0", VersionState::Yanked),
        ("1.3.0", VersionState::Published),
        ("1.4.0", VersionState::Yanked),
    ] {
        version_in(&store, v, state).await;
    }
    // A draft release names 1.1.0: it stays.
    create(&store, &draft("r1", "stable", "1.0.0")).await;
    attach(&store, "r1", "1.1.0").await;
    let rules = Retention {
        keep_versions: 1,
        ..Retention::default()
    };
    // All were published at the same moment: the newest by seq (1.4.0) is kept.
    let now = T0 + 10;
    let plan = store
        .run_retention("acme", &rules, now, true, &removal_audit)
        .await
        .unwrap();
    let names = |all: &[Removal]| -> Vec<String> {
        all.iter()
            .map(|r| match r {
                Removal::Version { version, state, .. } => format!("{version} {state}"),
                Removal::Release { id, .. } => id.clone(),
            })
            .collect()
    };
    // Withdrawn or not (1.3.0 is still published), what the rules no longer keep expires.
    assert_eq!(
        names(&plan),
        ["1.0.0 YANKED", "1.2.0 YANKED", "1.3.0 PUBLISHED"]
    );
    assert_eq!(
        count(&store, "version.removed").await,
        0,
        "a dry run audits nothing"
    );
    assert_eq!(version(&store, "1.0.0").await.state, VersionState::Yanked);

    let ran = store
        .run_retention("acme", &rules, now, false, &removal_audit)
        .await
        .unwrap();
    assert_eq!(ran, plan);
    assert_eq!(count(&store, "version.removed").await, 3);
    let tomb = version(&store, "1.0.0").await;
    assert_eq!(tomb.state, VersionState::Removed);
    assert!(tomb.files.is_empty());
    assert_eq!(tomb.manifest, "{}");
    assert_eq!(
        version(&store, "1.1.0").await.state,
        VersionState::Deprecated
    );
    assert_eq!(version(&store, "1.4.0").await.state, VersionState::Yanked);
    // Nothing more to do; no rules, nothing at all.
    let again = store
        .run_retention("acme", &rules, now, false, &removal_audit)
        .await
        .unwrap();
    assert!(again.is_empty());
    let none = store
        .run_retention("acme", &Retention::default(), now, false, &removal_audit)
        .await
        .unwrap();
    assert!(none.is_empty());
}

async fn delete_package_keeps_what_was_published(store: Arc<dyn Store>) {
    seed(&store).await;
    version_in(&store, "1.0.0", VersionState::Published).await;
    let deleted = store
        .delete_package("acme", "app", &audit("package.deleted", "acme", "app"))
        .await
        .unwrap();
    assert_eq!(deleted, PackageDeletion::InUse);
    store
        .create_package(
            &package("acme", "tmp"),
            &audit("package.created", "acme", "acme/tmp"),
        )
        .await
        .unwrap();
    let draft_key = relreg::domain::VersionKey::parse("acme", "tmp", "0.1.0").unwrap();
    store
        .create_version(
            &draft_key,
            &super::et("e"),
            T0,
            &audit("version.created", "acme", "tmp"),
        )
        .await
        .unwrap();
    let deleted = store
        .delete_package("acme", "tmp", &audit("package.deleted", "acme", "tmp"))
        .await
        .unwrap();
    assert_eq!(deleted, PackageDeletion::Deleted { drafts: 1 });
    assert!(
        store
            .get_package(&n("acme"), &n("tmp"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.get_version(&draft_key).await.unwrap().is_none());
    let missing = store
        .delete_package("acme", "tmp", &audit("package.deleted", "acme", "tmp"))
        .await
        .unwrap();
    assert_eq!(missing, PackageDeletion::Missing);
    assert_eq!(count(&store, "package.deleted").await, 1);
}
