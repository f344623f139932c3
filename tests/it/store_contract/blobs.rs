//! The blobs of the contract: a blob becomes visible to a repo once, and only to the repos
//! that added it.

use std::sync::Arc;

use relreg::{
    domain::BlobInfo,
    store::{Store, StoreError},
};

use super::{T0, audit, count, dg, n, repo, store_tests};

store_tests!(add_blob_is_new_once_per_repo);

async fn add_blob_is_new_once_per_repo(store: Arc<dyn Store>) {
    for key in ["acme", "beta"] {
        store
            .create_repo(&repo(key, true), &audit("repo.created", key, key))
            .await
            .unwrap();
    }
    let digest = dg("ab");
    let blob = BlobInfo {
        digest,
        size: 1234,
        media_type: "application/zip".into(),
    };
    let added = |repo: &'static str, blob: BlobInfo| {
        let store = store.clone();
        async move {
            store
                .add_blob(
                    &n(repo),
                    &blob,
                    T0,
                    &audit("blob.added", repo, &blob.digest.to_string()),
                )
                .await
        }
    };
    assert!(added("acme", blob.clone()).await.unwrap(), "new to acme");
    assert!(!added("acme", blob.clone()).await.unwrap(), "known to acme");
    assert_eq!(count(&store, "blob.added").await, 1, "one audit row");
    assert_eq!(
        store.get_blob(&n("acme"), &digest).await.unwrap(),
        Some(blob.clone())
    );
    assert_eq!(store.get_blob(&n("beta"), &digest).await.unwrap(), None);
    assert_eq!(store.get_blob(&n("ghost"), &digest).await.unwrap(), None);
    assert_eq!(store.get_blob(&n("acme"), &dg("00")).await.unwrap(), None);

    // Another repo adds the same bytes under its own media type.
    let theirs = BlobInfo {
        media_type: "text/plain".into(),
        ..blob.clone()
    };
    assert!(added("beta", theirs.clone()).await.unwrap(), "new to beta");
    assert_eq!(
        store.get_blob(&n("beta"), &digest).await.unwrap(),
        Some(theirs)
    );
    assert_eq!(
        store.get_blob(&n("acme"), &digest).await.unwrap(),
        Some(blob)
    );
    assert_eq!(count(&store, "blob.added").await, 2);

    let other = BlobInfo {
        digest: dg("cd"),
        size: 1,
        media_type: String::new(),
    };
    let err = added("ghost", other.clone()).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(count(&store, "blob.added").await, 2);
    assert_eq!(
        store.get_blob(&n("acme"), &other.digest).await.unwrap(),
        None
    );
}
