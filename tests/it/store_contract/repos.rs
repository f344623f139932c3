//! The repos area of the contract: repos, their policy, and packages.

use std::sync::Arc;

use relreg::{
    domain::Policy,
    store::{Store, StoreError},
};

use super::{actions, audit, count, n, package, repo, store_tests};

store_tests!(
    repos_round_trip_and_refuse_duplicates,
    packages_need_their_repo_and_refuse_duplicates,
    list_repos_filters_by_visibility_and_pages,
    set_repo_policy_replaces_or_reports_missing,
    list_packages_pages_by_name,
);

async fn repos_round_trip_and_refuse_duplicates(store: Arc<dyn Store>) {
    let acme = repo("acme", true);
    store
        .create_repo(&acme, &audit("repo.created", "acme", "acme"))
        .await
        .unwrap();
    assert_eq!(
        store.get_repo(&n("acme")).await.unwrap(),
        Some(acme.clone())
    );
    assert_eq!(store.get_repo(&n("nope")).await.unwrap(), None);

    let mut again = repo("acme", false);
    again.display_name = Some("other".into());
    let err = store
        .create_repo(&again, &audit("repo.created", "acme", "acme"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(
        store.get_repo(&n("acme")).await.unwrap(),
        Some(acme),
        "the refused create changed nothing"
    );
    assert_eq!(actions(&store).await, ["repo.created"], "one audit row");
}

async fn packages_need_their_repo_and_refuse_duplicates(store: Arc<dyn Store>) {
    let err = store
        .create_package(
            &package("ghost", "app"),
            &audit("package.created", "ghost", "ghost/app"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");

    store
        .create_repo(&repo("acme", false), &audit("repo.created", "acme", "acme"))
        .await
        .unwrap();
    let app = package("acme", "app");
    store
        .create_package(&app, &audit("package.created", "acme", "acme/app"))
        .await
        .unwrap();
    assert_eq!(
        store.get_package(&n("acme"), &n("app")).await.unwrap(),
        Some(app.clone())
    );
    assert_eq!(
        store.get_package(&n("acme"), &n("other")).await.unwrap(),
        None
    );
    assert_eq!(
        store.get_package(&n("ghost"), &n("app")).await.unwrap(),
        None
    );

    let mut again = package("acme", "app");
    again.kind = "android".into();
    let err = store
        .create_package(&again, &audit("package.created", "acme", "acme/app"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(
        store.get_package(&n("acme"), &n("app")).await.unwrap(),
        Some(app)
    );
    assert_eq!(
        actions(&store).await,
        ["repo.created", "package.created"],
        "refused creates write no audit row"
    );
}

async fn list_repos_filters_by_visibility_and_pages(store: Arc<dyn Store>) {
    // Inserted out of key order: listings sort by key, not insertion.
    for (key, public) in [
        ("d", false),
        ("a", true),
        ("c", true),
        ("b", false),
        ("e", true),
    ] {
        store
            .create_repo(&repo(key, public), &audit("repo.created", key, key))
            .await
            .unwrap();
    }
    let keys = |repos: Vec<relreg::domain::Repo>| -> Vec<String> {
        repos.into_iter().map(|r| r.key.to_string()).collect()
    };
    assert_eq!(
        keys(store.list_repos(true, None, None, 100).await.unwrap()),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        keys(store.list_repos(false, None, None, 100).await.unwrap()),
        ["a", "c", "e"]
    );
    assert_eq!(
        keys(
            store
                .list_repos(false, Some(&n("d")), None, 100)
                .await
                .unwrap()
        ),
        ["a", "c", "d", "e"]
    );
    assert_eq!(
        keys(
            store
                .list_repos(false, Some(&n("zzz")), None, 100)
                .await
                .unwrap()
        ),
        ["a", "c", "e"]
    );
    assert_eq!(
        keys(store.list_repos(true, None, None, 2).await.unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        keys(
            store
                .list_repos(true, None, Some(&n("b")), 2)
                .await
                .unwrap()
        ),
        ["c", "d"]
    );
    assert_eq!(
        keys(
            store
                .list_repos(true, None, Some(&n("d")), 2)
                .await
                .unwrap()
        ),
        ["e"]
    );
    assert_eq!(
        keys(
            store
                .list_repos(false, Some(&n("b")), Some(&n("a")), 2)
                .await
                .unwrap()
        ),
        ["b", "c"]
    );
    assert!(
        store
            .list_repos(true, None, Some(&n("e")), 2)
            .await
            .unwrap()
            .is_empty()
    );
    // Whole records, not only keys.
    assert_eq!(
        store
            .list_repos(false, None, Some(&n("b")), 1)
            .await
            .unwrap(),
        [repo("c", true)]
    );
}

async fn set_repo_policy_replaces_or_reports_missing(store: Arc<dyn Store>) {
    let err = store
        .set_repo_policy(
            &n("ghost"),
            &Policy::default(),
            &audit("repo.policy", &n("ghost"), &n("ghost")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert!(actions(&store).await.is_empty(), "no audit row for a miss");

    store
        .create_repo(&repo("acme", false), &audit("repo.created", "acme", "acme"))
        .await
        .unwrap();
    let policy = Policy::from_channels(&[("stable".into(), vec!["android".into()])]).unwrap();
    store
        .set_repo_policy(
            &n("acme"),
            &policy,
            &audit("repo.policy", &n("acme"), &n("acme")),
        )
        .await
        .unwrap();
    let mut expected = repo("acme", false);
    expected.policy = policy;
    assert_eq!(store.get_repo(&n("acme")).await.unwrap(), Some(expected));
    assert_eq!(count(&store, "repo.policy").await, 1);
}

async fn list_packages_pages_by_name(store: Arc<dyn Store>) {
    for key in ["acme", "beta"] {
        store
            .create_repo(&repo(key, true), &audit("repo.created", key, key))
            .await
            .unwrap();
    }
    for name in ["web", "api", "ios", "android", "cli"] {
        store
            .create_package(
                &package("acme", name),
                &audit("package.created", "acme", name),
            )
            .await
            .unwrap();
    }
    store
        .create_package(
            &package("beta", "beta-only"),
            &audit("package.created", "beta", "x"),
        )
        .await
        .unwrap();
    let names = |packages: Vec<relreg::domain::Package>| -> Vec<String> {
        packages.into_iter().map(|p| p.name.to_string()).collect()
    };
    assert_eq!(
        names(store.list_packages(&n("acme"), None, 100).await.unwrap()),
        ["android", "api", "cli", "ios", "web"]
    );
    assert_eq!(
        names(store.list_packages(&n("acme"), None, 2).await.unwrap()),
        ["android", "api"]
    );
    assert_eq!(
        names(
            store
                .list_packages(&n("acme"), Some(&n("api")), 2)
                .await
                .unwrap()
        ),
        ["cli", "ios"]
    );
    assert_eq!(
        store
            .list_packages(&n("acme"), Some(&n("ios")), 2)
            .await
            .unwrap(),
        [package("acme", "web")]
    );
    assert!(
        store
            .list_packages(&n("ghost"), None, 100)
            .await
            .unwrap()
            .is_empty()
    );
}
