//! Online-safe migrations, both backends: a database created with the previous release's
//! migrations (every file but the newest, applied with sqlx's migrator) and written the way
//! that release wrote it, then served by the current server, which migrates it at start and
//! serves the data back; the previous release's writes still work on the migrated schema
//! (so an old server may keep running while the new one rolls out), and blob GC leaves what
//! they reference alone. Migrations are forward-only: there are no down migrations.

use std::{path::Path, time::Duration};

use relreg::{config::Config, pb, server};

use crate::common::{Backend, TestDb, backend_tests, digest};

backend_tests!(migrations_previous_release_data_is_served_after_upgrade);

/// Copies every migration file but the newest into `into`; returns the newest's name.
fn previous_release_migrations(dialect: &str, into: &Path) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    let newest = files.pop().expect("at least two migrations");
    assert!(!files.is_empty());
    std::fs::create_dir_all(into).unwrap();
    for f in &files {
        std::fs::copy(f, into.join(f.file_name().unwrap())).unwrap();
    }
    newest.file_name().unwrap().to_string_lossy().into_owned()
}

/// The statements the previous release ran to publish `version` of legacy/app with one file.
fn old_release_writes(version: &str, data: &[u8], first: bool) -> String {
    let d = digest(data);
    let n = data.len();
    let mut sql = String::new();
    if first {
        sql.push_str(
            "INSERT INTO repos (key, public, display_name, created_at, policy) \
             VALUES ('legacy', TRUE, 'Legacy', 1, '{}');\n\
             INSERT INTO packages (repo, name, kind, description, created_at) \
             VALUES ('legacy', 'app', 'generic', '', 1);\n",
        );
    }
    sql.push_str(&format!(
        "INSERT INTO blobs (digest, size, created_at) VALUES ('{d}', {n}, 2);\n\
         INSERT INTO repo_blobs (repo, digest, media_type, created_at) \
         VALUES ('legacy', '{d}', 'text/plain', 2);\n\
         INSERT INTO versions (repo, package, version, state, etag, manifest, created_at, updated_at) \
         VALUES ('legacy', 'app', '{version}', 'DRAFT', '\"e\"', '{{}}', 3, 3);\n\
         INSERT INTO version_files (version_seq, path, digest, size, media_type) \
         SELECT seq, 'hello.txt', '{d}', {n}, 'text/plain' FROM versions \
         WHERE repo = 'legacy' AND package = 'app' AND version = '{version}';\n\
         UPDATE versions SET state = 'PUBLISHED', content_digest = '{d}', published_at = 4, \
         updated_at = 4 WHERE repo = 'legacy' AND package = 'app' AND version = '{version}';\n"
    ));
    sql
}

async fn run_sql(url: &str, sql: &str, migrations: Option<&Path>) {
    use sqlx::Connection as _;
    if url.starts_with("sqlite:") {
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
        let mut conn = sqlx::SqliteConnection::connect_with(&options.create_if_missing(true))
            .await
            .unwrap();
        if let Some(dir) = migrations {
            sqlx::migrate::Migrator::new(dir)
                .await
                .unwrap()
                .run(&mut conn)
                .await
                .unwrap();
        }
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        if let Some(dir) = migrations {
            sqlx::migrate::Migrator::new(dir)
                .await
                .unwrap()
                .run(&mut conn)
                .await
                .unwrap();
        }
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
}

fn store_blob(blobs: &Path, data: &[u8]) {
    let d = digest(data);
    let hex = d.trim_start_matches("sha256:");
    let path = blobs.join("sha256").join(&hex[..2]).join(hex);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

async fn served_version(base: &str, version: &str) -> pb::Version {
    let mut catalog = pb::release_catalog_client::ReleaseCatalogClient::connect(base.to_owned())
        .await
        .unwrap();
    catalog
        .get_version(pb::GetVersionRequest {
            repo: "legacy".into(),
            package: "app".into(),
            version: version.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap()
}

async fn download(base: &str, data: &[u8]) -> Vec<u8> {
    reqwest::get(format!("{base}/v1/repos/legacy/blobs/{}", digest(data)))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

async fn migrations_previous_release_data_is_served_after_upgrade(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::create(backend.postgres_url(), dir.path(), "relreg_upgrade")
        .await
        .unwrap();
    let dialect = if backend.postgres_url().is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let newest = previous_release_migrations(dialect, &dir.path().join("previous"));
    let mut config = Config::for_dir(dir.path());
    config.storage.database_url = db.url.clone();
    let old_bytes = b"written by the previous release".to_vec();
    run_sql(
        &db.url,
        &old_release_writes("1.0.0", &old_bytes, true),
        Some(&dir.path().join("previous")),
    )
    .await;
    store_blob(&config.storage.blob_dir, &old_bytes);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::serve(config.clone(), listener, async move {
        let _ = stopped.await;
    }));
    let mut up = false;
    for _ in 0..100 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        up,
        "the current server did not start on the previous release's database ({newest})"
    );
    let v = served_version(&base, "1.0.0").await;
    assert_eq!(v.files.len(), 1);
    assert_eq!(v.files[0].digest, digest(&old_bytes));
    assert_eq!(download(&base, &old_bytes).await, old_bytes);

    // The previous release, still running beside the new one, writes as it always did.
    let newer_bytes = b"written by the previous release after the upgrade".to_vec();
    run_sql(
        &db.url,
        &old_release_writes("1.0.1", &newer_bytes, false),
        None,
    )
    .await;
    store_blob(&config.storage.blob_dir, &newer_bytes);
    let v = served_version(&base, "1.0.1").await;
    assert_eq!(v.files[0].digest, digest(&newer_bytes));
    assert_eq!(download(&base, &newer_bytes).await, newer_bytes);

    // GC (new in this schema) keeps every blob the old writes reference.
    let gc = server::open_registry(&config).await.unwrap();
    let report = gc.collect_garbage(Duration::ZERO).await.unwrap();
    assert_eq!((report.marked, report.collected), (0, 0), "{report:?}");
    gc.close().await;
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}
