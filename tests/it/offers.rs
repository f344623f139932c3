//! What a channel offers, stored as steps over app versions: answered alike cold and warm at
//! any depth, and written at start for channels published before the steps existed.

use relreg::pb;

use crate::common::{
    Backend, Rel, TestServer, backend_tests, decision, draft, fixture, publish, released,
};

backend_tests!(
    a_deep_channel_answers_every_app_version_cold_and_warm,
    channels_without_offers_get_them_at_start
);

/// Asks `stable` for an app version and words the answer as `update X`, `up_to_date X` or
/// `app_update_required X`.
async fn latest(server: &TestServer, app: &str, platform: &str) -> String {
    let request = pb::GetLatestReleaseRequest {
        repo: "acme".into(),
        channel: "stable".into(),
        app_version: app.into(),
        platform: platform.into(),
        current_release_id: String::new(),
        client_id: String::new(),
    };
    let answer = server
        .catalog_client()
        .await
        .get_latest_release(request)
        .await
        .unwrap()
        .into_inner();
    decision(answer)
}

/// Publishes `stable` releases 1.0.0 … N.0.0 where release i needs app i.0 and runs on apps
/// below (i+1).0 only, plus an ios-only release over them all.
async fn deep_channel(server: &TestServer, depth: usize) {
    fixture(server, "generic").await;
    draft(server, "1.0.0", &[("a.txt", b"a")]).await;
    publish(server, "1.0.0").await;
    for i in 1..=depth {
        let (version, min, max) = (format!("{i}.0.0"), format!("{i}.0"), format!("{i}.99"));
        let rel = Rel {
            version: &version,
            min: &min,
            max: &max,
            ..Rel::default()
        };
        released(server, rel).await;
    }
    let ios = Rel {
        version: "1000.0.0",
        min: "3.0",
        platforms: &["ios"],
        ..Rel::default()
    };
    released(server, ios).await;
}

async fn a_deep_channel_answers_every_app_version_cold_and_warm(backend: Backend) {
    const DEPTH: usize = 40;
    for cache in [false, true] {
        let server = TestServer::start_with(&backend, |c| c.no_cache = !cache).await;
        deep_channel(&server, DEPTH).await;
        for round in 0..2 {
            for (app, platform, want) in [
                ("0.5", "", "app_update_required 1.0.0".to_owned()),
                ("1.5", "", "update 1.0.0".to_owned()),
                ("1.99", "android", "update 1.0.0".to_owned()),
                ("1.99.1", "", "app_update_required 2.0.0".to_owned()),
                ("2.0", "ios", "update 2.0.0".to_owned()),
                ("3.0", "ios", "update 1000.0.0".to_owned()),
                ("17.5", "", "update 17.0.0".to_owned()),
                ("17.5", "web", "update 17.0.0".to_owned()),
                (&format!("{DEPTH}.5"), "", format!("update {DEPTH}.0.0")),
                ("999", "", "up_to_date ".to_owned()),
                ("999", "ios", "update 1000.0.0".to_owned()),
            ] {
                assert_eq!(
                    latest(&server, app, platform).await,
                    want,
                    "{app} on {platform:?}, cache {cache}, round {round}"
                );
            }
        }
        server.stop().await;
    }
}

async fn channels_without_offers_get_them_at_start(backend: Backend) {
    let server = TestServer::start_with(&backend, |c| c.no_cache = true).await;
    deep_channel(&server, 3).await;
    assert_eq!(latest(&server, "2.5", "").await, "update 2.0.0");
    // As a database written before the steps existed looks.
    use relreg::store::{PgStore, SqliteStore};
    const FORGET: &str = "DELETE FROM channel_offers";
    match &backend {
        Backend::Sqlite => {
            let store = SqliteStore::connect(&server.db.url).await.unwrap();
            sqlx::query(FORGET).execute(store.pool()).await.unwrap();
        }
        Backend::Postgres(_) => {
            let store = PgStore::connect(&server.db.url).await.unwrap();
            sqlx::query(FORGET).execute(store.pool()).await.unwrap();
        }
    }
    let replica = server.start_replica().await;
    let mut catalog = replica.catalog_client().await;
    let request = pb::GetLatestReleaseRequest {
        repo: "acme".into(),
        channel: "stable".into(),
        app_version: "2.5".into(),
        ..Default::default()
    };
    let answer = catalog
        .get_latest_release(request)
        .await
        .unwrap()
        .into_inner();
    let Some(pb::get_latest_release_response::Decision::Update(update)) = answer.decision else {
        panic!("the replica filled the steps in at start: {answer:?}");
    };
    assert_eq!(update.release.unwrap().version, "2.0.0");
    replica.stop().await;
    server.stop().await;
}
