//! The audit log and the outbox of the contract, and `ping`.

use std::sync::Arc;

use relreg::{
    domain::{AuditEvent, AuditFilter, AuditRecord, Role, Token, TokenScope},
    store::Store,
};

use super::{T0, audit, repo, store_tests};

store_tests!(
    list_audit_filters_and_pages,
    outbox_lists_after_an_id,
    ping_answers
);

/// Writes one audit row through a mutation: a token named `id`.
async fn write(store: &Arc<dyn Store>, id: &str, record: AuditRecord) {
    let t = Token {
        id: id.into(),
        name: id.into(),
        scope: TokenScope::AllRepos,
        role: Role::Reader,
        created_at: T0,
        expires_at: None,
        revoked_at: None,
    };
    store
        .create_token(&t, &format!("hash-{id}"), &record)
        .await
        .expect("create token");
}

async fn list_audit_filters_and_pages(store: Arc<dyn Store>) {
    assert!(
        store
            .list_audit(&AuditFilter::default(), None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let rows = [
        ("acme", "token.created", "alice", T0),
        ("beta", "token.created", "bob", T0 + 10),
        ("acme", "token.revoked", "bob", T0 + 20),
        ("acme", "token.created", "alice", T0 + 30),
        ("beta", "token.revoked", "alice", T0 + 40),
    ];
    for (i, (repo, action, actor, at)) in rows.iter().enumerate() {
        let record = AuditRecord {
            at: *at,
            actor: (*actor).into(),
            details: format!(r#"{{"n":{i}}}"#),
            request_id: format!("req-{i}"),
            ..audit(action, repo, &format!("t{i}"))
        };
        write(&store, &format!("t{i}"), record).await;
    }
    let all = store
        .list_audit(&AuditFilter::default(), None, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    for (i, (event, (repo, action, actor, at))) in all.iter().zip(rows).enumerate() {
        assert_eq!(
            event.record,
            AuditRecord {
                at,
                actor: actor.into(),
                action: action.into(),
                repo: repo.into(),
                target: format!("t{i}"),
                details: format!(r#"{{"n":{i}}}"#),
                request_id: format!("req-{i}"),
            }
        );
    }
    let pick = |indexes: &[usize]| -> Vec<AuditEvent> {
        indexes.iter().map(|&i| all[i].clone()).collect()
    };
    let list = |filter: AuditFilter, after: Option<i64>, limit: i64| {
        let store = store.clone();
        async move { store.list_audit(&filter, after, limit).await.unwrap() }
    };
    let by_repo = AuditFilter {
        repo: Some("acme".into()),
        ..AuditFilter::default()
    };
    assert_eq!(list(by_repo.clone(), None, 100).await, pick(&[0, 2, 3]));
    let by_action = AuditFilter {
        action: Some("token.revoked".into()),
        ..AuditFilter::default()
    };
    assert_eq!(list(by_action, None, 100).await, pick(&[2, 4]));
    let by_actor = AuditFilter {
        actor: Some("alice".into()),
        ..AuditFilter::default()
    };
    assert_eq!(list(by_actor.clone(), None, 100).await, pick(&[0, 3, 4]));
    // The range includes its start and excludes its end.
    let range = AuditFilter {
        start: Some(T0 + 10),
        end: Some(T0 + 30),
        ..AuditFilter::default()
    };
    assert_eq!(list(range, None, 100).await, pick(&[1, 2]));
    let from = AuditFilter {
        start: Some(T0 + 30),
        ..AuditFilter::default()
    };
    assert_eq!(list(from, None, 100).await, pick(&[3, 4]));
    let until = AuditFilter {
        end: Some(T0 + 10),
        ..AuditFilter::default()
    };
    assert_eq!(list(until, None, 100).await, pick(&[0]));
    let combined = AuditFilter {
        repo: Some("acme".into()),
        actor: Some("alice".into()),
        action: Some("token.created".into()),
        start: Some(T0 + 1),
        end: None,
    };
    assert_eq!(list(combined, None, 100).await, pick(&[3]));
    assert!(
        list(
            AuditFilter {
                repo: Some("ghost".into()),
                ..AuditFilter::default()
            },
            None,
            100
        )
        .await
        .is_empty()
    );

    // Paging by id, alone and with a filter.
    assert_eq!(list(AuditFilter::default(), None, 2).await, pick(&[0, 1]));
    assert_eq!(
        list(AuditFilter::default(), Some(all[1].id), 2).await,
        pick(&[2, 3])
    );
    assert_eq!(list(by_repo, Some(all[0].id), 1).await, pick(&[2]));
    assert_eq!(list(by_actor, Some(all[3].id), 10).await, pick(&[4]));
    assert!(
        list(AuditFilter::default(), Some(all[4].id), 10)
            .await
            .is_empty()
    );
}

async fn outbox_lists_after_an_id(store: Arc<dyn Store>) {
    use relreg::domain::{ReleaseRecord, ReleaseState};

    assert_eq!(store.last_outbox_id().await.unwrap(), 0);
    assert!(store.list_outbox(None, 10).await.unwrap().is_empty());
    store
        .create_repo(&repo("acme", true), &audit("repo.created", "acme", "acme"))
        .await
        .unwrap();
    // Each publish of an empty release writes one outbox event.
    for i in 0..4 {
        let id = format!("r{i}");
        let release = ReleaseRecord {
            id: super::rid(&id),
            seq: 0,
            repo: super::n("acme"),
            channel: super::n("stable"),
            version: super::v(&format!("1.{i}.0")),
            state: ReleaseState::Draft,
            etag: super::et("e"),
            compatibility: Default::default(),
            notes: String::new(),
            mandatory: false,
            sequence: None,
            deprecation_reason: None,
            replacement: None,
            artifacts: Vec::new(),
            created_at: T0,
            updated_at: T0,
            published_at: None,
        };
        store
            .create_release(&release, &audit("release.created", "acme", &id))
            .await
            .unwrap();
        let records = super::releases::records("release.published", &id);
        let sequence = store
            .publish_release(&super::rid(&id), &super::et("e"), T0 + i, &records)
            .await
            .unwrap();
        assert_eq!(sequence, Some(i + 1));
    }
    let all = store.list_outbox(None, 100).await.unwrap();
    let payloads: Vec<&str> = all.iter().map(|e| e.payload.as_str()).collect();
    assert_eq!(
        payloads,
        (0..4)
            .map(|i| format!(
                r#"{{"release_id":"{}","sequence":{}}}"#,
                super::rid(&format!("r{i}")),
                i + 1
            ))
            .collect::<Vec<_>>()
    );
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(
        all.iter().map(|e| e.at).collect::<Vec<_>>(),
        [T0, T0 + 1, T0 + 2, T0 + 3]
    );
    assert_eq!(store.last_outbox_id().await.unwrap(), all[3].id);
    assert_eq!(store.list_outbox(None, 2).await.unwrap(), all[..2]);
    assert_eq!(
        store.list_outbox(Some(all[0].id), 2).await.unwrap(),
        all[1..3]
    );
    assert_eq!(
        store.list_outbox(Some(all[2].id), 2).await.unwrap(),
        all[3..]
    );
    assert!(
        store
            .list_outbox(Some(all[3].id), 2)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn ping_answers(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
    store.close().await;
    let err = store.ping().await.expect_err("ping on a closed pool");
    assert!(
        matches!(err, relreg::store::StoreError::Unavailable(_)),
        "{err:?}"
    );
}
