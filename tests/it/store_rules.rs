//! Rules the database itself enforces, proven by going around the API with raw SQL.

use relreg::store::{PgStore, SqliteStore};

use crate::common::{
    Backend, Rel, TestServer, attach, backend_tests, create, draft, fixture, publish,
    publish_release,
};

backend_tests!(
    published_versions_refuse_raw_sql_changes,
    a_corrupt_stored_policy_fails_loudly,
    a_corrupt_stored_bound_fails_loudly
);

#[test]
fn migrations_have_matching_versions() {
    let names = |dir: &str| {
        let mut names: Vec<String> =
            std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
        names.sort();
        names
    };
    let sqlite = names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite,
        names("postgres"),
        "every migration exists for both backends under the same name"
    );
}

async fn published_versions_refuse_raw_sql_changes(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    draft(&server, "1.0.0", &[("a.txt", b"a")]).await;
    publish(&server, "1.0.0").await;
    draft(&server, "2.0.0", &[("a.txt", b"a")]).await;
    let refused = [
        "UPDATE versions SET manifest = '{\"x\":1}' WHERE version = '1.0.0'",
        "UPDATE versions SET content_digest = 'sha256:00' WHERE version = '1.0.0'",
        "UPDATE versions SET state = 'DRAFT' WHERE version = '1.0.0'",
        "DELETE FROM versions WHERE version = '1.0.0'",
        "UPDATE version_files SET size = 99 WHERE version_seq = (SELECT seq FROM versions WHERE version = '1.0.0')",
        "DELETE FROM version_files WHERE version_seq = (SELECT seq FROM versions WHERE version = '1.0.0')",
        "INSERT INTO version_files (version_seq, path, digest, size, media_type) \
         SELECT seq, 'b.txt', 'sha256:00', 1, '' FROM versions WHERE version = '1.0.0'",
    ];
    let allowed = [
        "UPDATE versions SET state = 'DEPRECATED', deprecation_reason = 'old' WHERE version = '1.0.0'",
        "UPDATE versions SET manifest = '{\"draft\":true}' WHERE version = '2.0.0'",
        "DELETE FROM versions WHERE version = '2.0.0'",
    ];
    match &backend {
        Backend::Sqlite => {
            let store = SqliteStore::connect(&server.db.url).await.unwrap();
            for sql in refused {
                let err = sqlx::query(sql).execute(store.pool()).await.expect_err(sql);
                assert!(
                    err.to_string().contains("version immutable"),
                    "{sql}: {err}"
                );
            }
            for sql in allowed {
                sqlx::query(sql).execute(store.pool()).await.expect(sql);
            }
        }
        Backend::Postgres(_) => {
            let store = PgStore::connect(&server.db.url).await.unwrap();
            for sql in refused {
                let err = sqlx::query(sql).execute(store.pool()).await.expect_err(sql);
                assert!(
                    err.to_string().contains("version immutable"),
                    "{sql}: {err}"
                );
            }
            for sql in allowed {
                sqlx::query(sql).execute(store.pool()).await.expect(sql);
            }
        }
    }
    server.stop().await;
}

/// A policy that no longer parses stops publishing with an internal error instead of reading
/// as "no required roles".
async fn a_corrupt_stored_policy_fails_loudly(backend: Backend) {
    let server = TestServer::start_with(&backend, |c| c.no_cache = true).await;
    fixture(&server, "generic").await;
    draft(&server, "1.0.0", &[("a.txt", b"a")]).await;
    publish(&server, "1.0.0").await;
    let release = create(&server, Rel::default()).await;
    attach(&server, &release.id, "data", "1.0.0").await.unwrap();
    const CORRUPT: &str = "UPDATE repos SET policy = '{\"channels\": 7}' WHERE key = 'acme'";
    match &backend {
        Backend::Sqlite => {
            let store = SqliteStore::connect(&server.db.url).await.unwrap();
            sqlx::query(CORRUPT).execute(store.pool()).await.unwrap();
        }
        Backend::Postgres(_) => {
            let store = PgStore::connect(&server.db.url).await.unwrap();
            sqlx::query(CORRUPT).execute(store.pool()).await.unwrap();
        }
    }
    let err = publish_release(&server, &release.id).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Internal, "{err:?}");
    let stored = server
        .store
        .get_release(&relreg::domain::ReleaseId::from_text(&release.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.state,
        relreg::domain::ReleaseState::Draft,
        "nothing was published"
    );
    server.stop().await;
}

/// A stored app-version bound that no longer parses is an internal error naming the release
/// and the column, never "no bound" (which would offer the release to every app).
async fn a_corrupt_stored_bound_fails_loudly(backend: Backend) {
    let server = TestServer::start_with(&backend, |c| c.no_cache = true).await;
    fixture(&server, "generic").await;
    let release = create(&server, Rel::default()).await;
    let corrupt = format!(
        "UPDATE releases SET min_app_version = 'x.y' WHERE id = '{}'",
        release.id
    );
    match &backend {
        Backend::Sqlite => {
            let store = SqliteStore::connect(&server.db.url).await.unwrap();
            sqlx::query(&corrupt).execute(store.pool()).await.unwrap();
        }
        Backend::Postgres(_) => {
            let store = PgStore::connect(&server.db.url).await.unwrap();
            sqlx::query(&corrupt).execute(store.pool()).await.unwrap();
        }
    }
    let id = relreg::domain::ReleaseId::from_text(&release.id).unwrap();
    match server.store.get_release(&id).await {
        Err(relreg::store::StoreError::Internal(message)) => {
            assert!(message.contains(&release.id), "{message}");
            assert!(message.contains("min_app_version"), "{message}");
        }
        other => panic!("a corrupt bound must be an internal error, got {other:?}"),
    }
    let mut catalog = server.catalog_client().await;
    let err = catalog
        .get_release(crate::common::authed(
            relreg::pb::GetReleaseRequest {
                release_id: release.id.clone(),
            },
            &server.admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Internal, "{err:?}");
    server.stop().await;
}
