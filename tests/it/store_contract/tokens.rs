//! The tokens area of the contract: creating, finding by secret hash or id, listing and
//! revoking access tokens.

use std::sync::Arc;

use relreg::{
    domain::{Role, Token, TokenScope},
    store::{Store, StoreError},
};

use super::{T0, audit, count, store_tests};

store_tests!(
    tokens_round_trip_by_hash_and_id,
    list_tokens_filters_and_pages,
    revoke_token_changes_once
);

fn token(id: &str, scope: TokenScope, role: Role) -> Token {
    Token {
        id: id.into(),
        name: format!("token {id}"),
        scope,
        role,
        created_at: T0,
        expires_at: None,
        revoked_at: None,
    }
}

/// Creates a token whose secret hash is `hash-<id>`.
async fn create(store: &Arc<dyn Store>, t: &Token) {
    store
        .create_token(
            t,
            &format!("hash-{}", t.id),
            &audit("token.created", "", &t.id),
        )
        .await
        .expect("create token");
}

async fn tokens_round_trip_by_hash_and_id(store: Arc<dyn Store>) {
    let admin = token("t1", TokenScope::AllRepos, Role::Admin);
    let reader = Token {
        expires_at: Some(T0 + 1000),
        ..token("t2", TokenScope::Repo(super::n("acme")), Role::Reader)
    };
    create(&store, &admin).await;
    create(&store, &reader).await;
    assert_eq!(
        store.token_by_hash("hash-t1").await.unwrap(),
        Some(admin.clone())
    );
    assert_eq!(
        store.token_by_hash("hash-t2").await.unwrap(),
        Some(reader.clone())
    );
    assert_eq!(store.token_by_hash("t1").await.unwrap(), None);
    assert_eq!(store.get_token("t1").await.unwrap(), Some(admin));
    assert_eq!(store.get_token("t2").await.unwrap(), Some(reader));
    assert_eq!(store.get_token("hash-t1").await.unwrap(), None);

    let publisher = token("t3", TokenScope::AllRepos, Role::Publisher);
    for (hash, id) in [("hash-t1", "t3"), ("hash-new", "t1")] {
        let t = Token {
            id: id.into(),
            ..publisher.clone()
        };
        let err = store
            .create_token(&t, hash, &audit("token.created", "", id))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict), "{hash} {id}: {err:?}");
    }
    assert_eq!(store.get_token("t3").await.unwrap(), None);
    assert_eq!(store.token_by_hash("hash-new").await.unwrap(), None);
    assert_eq!(count(&store, "token.created").await, 2);
}

async fn list_tokens_filters_and_pages(store: Arc<dyn Store>) {
    let tokens = [
        token("t4", TokenScope::Repo(super::n("acme")), Role::Reader),
        token("t1", TokenScope::AllRepos, Role::Admin),
        token("t3", TokenScope::Repo(super::n("beta")), Role::Publisher),
        token("t2", TokenScope::Repo(super::n("acme")), Role::Publisher),
        token("t5", TokenScope::AllRepos, Role::Reader),
    ];
    for t in &tokens {
        create(&store, t).await;
    }
    let ids = |list: Vec<Token>| -> Vec<String> { list.into_iter().map(|t| t.id).collect() };
    assert_eq!(
        ids(store.list_tokens(None, None, 100).await.unwrap()),
        ["t1", "t2", "t3", "t4", "t5"]
    );
    assert_eq!(
        ids(store.list_tokens(None, Some("t2"), 2).await.unwrap()),
        ["t3", "t4"]
    );
    assert_eq!(
        store.list_tokens(Some("acme"), None, 100).await.unwrap(),
        [tokens[3].clone(), tokens[0].clone()]
    );
    assert_eq!(
        store.list_tokens(Some("acme"), None, 1).await.unwrap(),
        [tokens[3].clone()]
    );
    assert_eq!(
        store
            .list_tokens(Some("acme"), Some("t2"), 1)
            .await
            .unwrap(),
        [tokens[0].clone()]
    );
    assert!(
        store
            .list_tokens(Some("acme"), Some("t4"), 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_tokens(Some("ghost"), None, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn revoke_token_changes_once(store: Arc<dyn Store>) {
    let t = token("t1", TokenScope::AllRepos, Role::Admin);
    create(&store, &t).await;
    let revoke = audit("token.revoked", "", "t1");
    assert!(store.revoke_token("t1", T0 + 5, &revoke).await.unwrap());
    let revoked = Token {
        revoked_at: Some(T0 + 5),
        ..t
    };
    assert_eq!(store.get_token("t1").await.unwrap(), Some(revoked.clone()));
    assert!(!store.revoke_token("t1", T0 + 9, &revoke).await.unwrap());
    assert_eq!(
        store.token_by_hash("hash-t1").await.unwrap(),
        Some(revoked),
        "the first revocation time is kept"
    );
    assert!(!store.revoke_token("nope", T0, &revoke).await.unwrap());
    assert_eq!(count(&store, "token.revoked").await, 1);
}
