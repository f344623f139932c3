//! A real gRPC-Web client in headless Chromium, calling across origins: the page built from
//! `web/src` (connect-web's gRPC-Web transport, message types generated from `proto/` by
//! protoc-gen-es, bundled by esbuild) is served by a static server on another port, asks relreg
//! for GetLatestRelease and GetReleaseManifest, and renders the answers. relreg allows the
//! page's origin only, so the CORS preflight is part of the test; a page from an origin that is
//! not allowed gets nothing.

use std::{net::SocketAddr, path::Path, sync::Arc};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use relreg::pb;

use crate::{
    browse::{Browser, Visit, screenshot_path},
    common::{Backend, TestServer, authed, digest, draft, fixture, publish},
};

const FILE: &[u8] = b"quran text, uthmani script, 6236 lines";

/// Builds the page into `out` with `web/scripts/build.mjs`.
async fn build_page(web: &Path, out: &Path) {
    let (web, dir) = (web.to_owned(), out.to_owned());
    tokio::task::spawn_blocking(move || {
        let status = std::process::Command::new("node")
            .arg(web.join("scripts/build.mjs"))
            .arg("--outdir")
            .arg(&dir)
            .current_dir(&web)
            .status()
            .expect("run node scripts/build.mjs");
        assert!(
            status.success(),
            "building the gRPC-Web page failed: {status}"
        );
    })
    .await
    .expect("join");
    assert!(out.join("app.js").is_file() && out.join("index.html").is_file());
}

/// Serves the files of a directory (no listing, no subdirectories) on 127.0.0.1.
async fn static_server(dir: &Path) -> SocketAddr {
    async fn file(State(dir): State<Arc<std::path::PathBuf>>, uri: Uri) -> Response {
        let name = match uri.path().trim_start_matches('/') {
            "" => "index.html",
            n if !n.contains('/') && !n.starts_with('.') => n,
            _ => return StatusCode::NOT_FOUND.into_response(),
        };
        let Ok(bytes) = tokio::fs::read(dir.join(name)).await else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let kind = match name.rsplit_once('.').map(|(_, ext)| ext) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            _ => "application/octet-stream",
        };
        ([(header::CONTENT_TYPE, kind)], bytes).into_response()
    }
    let app = Router::new()
        .fallback(file)
        .with_state(Arc::new(dir.to_owned()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Publishes release 1.0.0 in `stable` (apps 1.0 and newer) with `app@1.0.0` as its `data`.
async fn seed(server: &TestServer) -> pb::Release {
    fixture(server, "generic").await;
    draft(server, "1.0.0", &[("text/quran.txt", FILE)]).await;
    publish(server, "1.0.0").await;
    let mut admin = server.admin_client().await;
    let t = &server.admin;
    let release = admin
        .create_release(authed(
            pb::CreateReleaseRequest {
                repo: "acme".into(),
                channel: "stable".into(),
                version: "1.0.0".into(),
                min_app_version: "1.0".into(),
                max_app_version: String::new(),
                platforms: Vec::new(),
                notes: "first".into(),
                mandatory: false,
            },
            t,
        ))
        .await
        .expect("create release")
        .into_inner()
        .release
        .expect("release");
    admin
        .attach_artifact(authed(
            pb::AttachArtifactRequest {
                release_id: release.id.clone(),
                role: "data".into(),
                package: "app".into(),
                version: "1.0.0".into(),
                etag: String::new(),
            },
            t,
        ))
        .await
        .expect("attach");
    admin
        .publish_release(authed(
            pb::PublishReleaseRequest {
                release_id: release.id,
                etag: String::new(),
            },
            t,
        ))
        .await
        .expect("publish release")
        .into_inner()
        .release
        .expect("release")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_calls_latest_and_manifest_over_grpc_web() {
    let browser = Browser::find("grpc_web_browser::browser_calls_latest_and_manifest");
    let dist = tempfile::tempdir().expect("temp dir");
    build_page(browser.web_dir(), dist.path()).await;
    let page = static_server(dist.path()).await;
    let page_origin = format!("http://127.0.0.1:{}", page.port());
    let server = TestServer::start_with(&Backend::Sqlite, |c| {
        c.cors_origins = vec![page_origin.clone()];
    })
    .await;
    let release = seed(&server).await;
    let relreg = server.url("");
    assert_ne!(relreg, format!("{page_origin}/"), "two origins");

    let url = |origin: &str, app: &str| {
        format!("{origin}/index.html?server={relreg}&repo=acme&channel=stable&app={app}")
    };
    let settled = "body:not([data-state=loading])".to_owned();
    let seen = browser
        .visit(vec![
            Visit {
                url: url(&page_origin, "1.4.2"),
                screenshot: Some(screenshot_path("grpc-web-latest")),
                wait_for: Some(settled.clone()),
            },
            Visit {
                url: url(&page_origin, "0.9"),
                screenshot: None,
                wait_for: Some(settled.clone()),
            },
            // Same page, an origin relreg does not allow (localhost is not 127.0.0.1).
            Visit {
                url: url(&format!("http://localhost:{}", page.port()), "1.4.2"),
                screenshot: Some(screenshot_path("grpc-web-cors-refused")),
                wait_for: Some(settled),
            },
        ])
        .await;

    let latest = &seen[0];
    assert_eq!(latest.status, 200);
    assert_eq!(latest.waited, Some(true), "{latest:?}");
    let sha256 = digest(FILE).trim_start_matches("sha256:").to_owned();
    for text in [
        "Update to 1.0.0 (sequence 1)",
        "Release 1.0.0",
        release.id.as_str(),
        "stable",
        "data: app 1.0.0 (generic)",
        "text/quran.txt",
        &format!("{} B", FILE.len()),
        &sha256,
    ] {
        assert!(
            latest.text.contains(text),
            "the page does not show {text:?}:\n{}\nconsole: {:?}",
            latest.text,
            latest.console
        );
    }
    // The manifest's download link points at relreg and serves the bytes.
    let download = latest
        .hrefs
        .iter()
        .find(|h| h.contains("/blobs/"))
        .expect("a download link");
    assert!(download.starts_with(&relreg), "{download}");
    let body = reqwest::get(download).await.unwrap().bytes().await.unwrap();
    assert_eq!(&body[..], FILE);

    let old_app = &seen[1];
    assert!(
        old_app.text.contains("App update required: 1.0.0 or newer"),
        "{}\n{:?}",
        old_app.text,
        old_app.console
    );

    let refused = &seen[2];
    assert!(
        refused.text.contains("Error:") && !refused.text.contains(&sha256),
        "a page from an origin relreg does not allow must get nothing:\n{}",
        refused.text
    );
    assert!(
        refused.console.iter().any(|m| m.contains("CORS")),
        "Chromium blames CORS: {:?}",
        refused.console
    );
    server.stop().await;
}
