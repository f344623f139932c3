//! GitHub-compatible routes driven by a client library made for GitHub releases (PyGithub,
//! through `tests/github_client/check.py`), plus shape, state, download and access checks
//! over plain HTTP.

use relreg::pb;
use reqwest::{Client, StatusCode};
use serde_json::Value;

use crate::common::{Backend, TestServer, authed, backend_tests, digest, draft, publish};

backend_tests!(
    github_latest_follows_semver_and_states,
    github_lists_page_newest_first,
    github_downloads_serve_bytes_with_ranges,
    github_private_repos_need_a_reader,
    pygithub_finds_latest_and_verifies_digest,
    pygithub_uploads_assets_to_a_draft,
);

/// Creates the repo `acme` (public or not) with a `generic` package `app`.
async fn repo(server: &TestServer, public: bool) {
    let mut admin = server.admin_client().await;
    let repo = pb::CreateRepoRequest {
        repo: "acme".into(),
        public,
        display_name: "Acme".into(),
    };
    admin
        .create_repo(authed(repo, &server.admin))
        .await
        .expect("create repo");
    let package = pb::CreatePackageRequest {
        repo: "acme".into(),
        package: "app".into(),
        kind: "generic".into(),
        description: "The app".into(),
    };
    admin
        .create_package(authed(package, &server.admin))
        .await
        .expect("create package");
}

/// The bytes of `app.bin` in a version.
fn app_bin(version: &str) -> Vec<u8> {
    format!("app {version}\n").repeat(300).into_bytes()
}

/// Publishes versions in an order where neither creation time nor string order gives the
/// right latest: 1.10.0 (latest), 1.9.0, 2.0.0-rc.1 (pre-release), 1.11.0 (deprecated) and
/// 1.12.0 (yanked). 1.10.0 also carries a nested file.
async fn seed(server: &TestServer) {
    for version in ["1.10.0", "1.9.0", "2.0.0-rc.1", "1.11.0", "1.12.0"] {
        let bin = app_bin(version);
        let mut files: Vec<(&str, &[u8])> = vec![("app.bin", &bin)];
        if version == "1.10.0" {
            files.push(("data/read me.txt", b"nested file\n"));
        }
        draft(server, version, &files).await;
        publish(server, version).await;
    }
    let mut admin = server.admin_client().await;
    let deprecate = pb::DeprecateVersionRequest {
        repo: "acme".into(),
        package: "app".into(),
        version: "1.11.0".into(),
        reason: "crashes on start".into(),
        replacement: "1.10.0".into(),
    };
    admin
        .deprecate_version(authed(deprecate, &server.admin))
        .await
        .expect("deprecate");
    let yank = pb::YankVersionRequest {
        repo: "acme".into(),
        package: "app".into(),
        version: "1.12.0".into(),
        reason: "leaked a secret".into(),
    };
    admin
        .yank_version(authed(yank, &server.admin))
        .await
        .expect("yank");
}

async fn get(http: &Client, url: &str) -> (StatusCode, Value) {
    let response = http.get(url).send().await.expect("request");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn tags(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|r| r["tag_name"].as_str().expect("tag_name"))
        .collect()
}

async fn github_latest_follows_semver_and_states(backend: Backend) {
    let server = TestServer::start(&backend).await;
    repo(&server, true).await;
    seed(&server).await;
    let http = Client::new();
    let base = server.url("");

    let (status, latest) = get(&http, &server.url("/repos/acme/app/releases/latest")).await;
    assert_eq!(status, 200, "{latest}");
    assert_eq!(latest["tag_name"], "1.10.0");
    assert_eq!(latest["name"], "1.10.0");
    assert_eq!(latest["draft"], false);
    assert_eq!(latest["prerelease"], false);
    assert_eq!(latest["body"], "");
    let id = latest["id"].as_i64().expect("integer id");
    assert_eq!(
        latest["url"],
        format!("{base}/repos/acme/app/releases/{id}").as_str()
    );
    assert_eq!(
        latest["assets_url"],
        format!("{base}/repos/acme/app/releases/{id}/assets").as_str()
    );
    let published_at = latest["published_at"].as_str().expect("published_at");
    assert!(
        published_at.len() == 20 && published_at.ends_with('Z'),
        "{published_at}"
    );
    let assets = latest["assets"].as_array().expect("assets");
    let names: Vec<_> = assets.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["app.bin", "data/read me.txt"]);
    let asset = &assets[0];
    let bin = app_bin("1.10.0");
    assert_eq!(asset["digest"], digest(&bin).as_str());
    assert_eq!(asset["size"], bin.len());
    assert_eq!(asset["content_type"], "text/plain");
    assert_eq!(asset["state"], "uploaded");
    assert!(asset["id"].as_i64().is_some_and(|n| n > 0));
    assert_eq!(
        asset["browser_download_url"],
        format!("{base}/acme/app/releases/download/1.10.0/app.bin").as_str()
    );
    assert_eq!(
        assets[1]["browser_download_url"],
        format!("{base}/acme/app/releases/download/1.10.0/data/read%20me.txt").as_str()
    );
    assert_eq!(
        asset["url"],
        format!("{base}/repos/acme/app/releases/assets/{}", asset["id"]).as_str()
    );

    // The same answers under GitHub Enterprise's prefix, with URLs that keep it.
    let (status, v3) = get(&http, &server.url("/api/v3/repos/acme/app/releases/latest")).await;
    assert_eq!(status, 200);
    assert_eq!(v3["id"], id);
    assert_eq!(
        v3["url"],
        format!("{base}/api/v3/repos/acme/app/releases/{id}").as_str()
    );
    assert_eq!(
        v3["assets"][0]["browser_download_url"],
        asset["browser_download_url"]
    );

    // Tags, with or without `v`; ids and assets by id.
    for tag in ["1.9.0", "v1.9.0"] {
        let (status, r) = get(
            &http,
            &server.url(&format!("/repos/acme/app/releases/tags/{tag}")),
        )
        .await;
        assert_eq!(status, 200, "{tag}");
        assert_eq!(r["tag_name"], "1.9.0");
    }
    let (_, rc) = get(
        &http,
        &server.url("/repos/acme/app/releases/tags/2.0.0-rc.1"),
    )
    .await;
    assert_eq!(rc["prerelease"], true);
    let (_, deprecated) = get(&http, &server.url("/repos/acme/app/releases/tags/1.11.0")).await;
    assert_eq!(
        deprecated["body"],
        "Deprecated: crashes on start (use 1.10.0 instead)"
    );
    let (status, by_id) = get(
        &http,
        &server.url(&format!("/repos/acme/app/releases/{id}")),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(by_id["tag_name"], "1.10.0");
    let (status, listed) = get(
        &http,
        &server.url(&format!("/api/v3/repos/acme/app/releases/{id}/assets")),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    let (status, one) = get(
        &http,
        &server.url(&format!("/repos/acme/app/releases/assets/{}", asset["id"])),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(one["name"], "app.bin");
    assert_eq!(one["digest"], asset["digest"]);

    // The package as a GitHub repository, for clients that load it first.
    let (status, repository) = get(&http, &server.url("/api/v3/repos/acme/app")).await;
    assert_eq!(status, 200);
    assert_eq!(repository["full_name"], "acme/app");
    assert_eq!(repository["owner"]["login"], "acme");
    assert_eq!(repository["private"], false);
    assert_eq!(
        repository["url"],
        format!("{base}/api/v3/repos/acme/app").as_str()
    );

    // Not found: yanked and unknown tags, unknown ids, assets, packages and repos.
    for path in [
        "/repos/acme/app/releases/tags/1.12.0",
        "/repos/acme/app/releases/tags/3.0.0",
        "/repos/acme/app/releases/tags/latest-ish",
        "/repos/acme/app/releases/999999",
        "/repos/acme/app/releases/nope",
        "/repos/acme/app/releases/assets/1",
        "/repos/acme/nope/releases/latest",
        "/repos/nope/app/releases/latest",
        "/api/v3/repos/acme/nope",
    ] {
        let (status, body) = get(&http, &server.url(path)).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body["message"].is_string(), "{path}: {body}");
    }

    // Latest is revalidated: an ETag answers If-None-Match, and changes with the answer.
    let url = server.url("/repos/acme/app/releases/latest");
    let first = http.get(&url).send().await.unwrap();
    assert_eq!(first.headers()["cache-control"], "private, max-age=0");
    let etag = first.headers()["etag"].clone();
    let cached = http
        .get(&url)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    let bin = app_bin("1.13.0");
    draft(&server, "1.13.0", &[("app.bin", &bin)]).await;
    let (_, still) = get(&http, &url).await;
    assert_eq!(still["tag_name"], "1.10.0", "a draft is never latest");
    publish(&server, "1.13.0").await;
    let changed = http
        .get(&url)
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["tag_name"], "1.13.0");
    server.stop().await;
}

async fn github_lists_page_newest_first(backend: Backend) {
    let server = TestServer::start(&backend).await;
    repo(&server, true).await;
    seed(&server).await;
    let http = Client::new();

    let (status, all) = get(&http, &server.url("/repos/acme/app/releases")).await;
    assert_eq!(status, 200);
    assert_eq!(
        tags(&all),
        ["2.0.0-rc.1", "1.11.0", "1.10.0", "1.9.0"],
        "semver descending, yanked left out"
    );

    let first = http
        .get(server.url("/api/v3/repos/acme/app/releases?per_page=3"))
        .send()
        .await
        .unwrap();
    let link = first.headers()["link"].to_str().unwrap().to_owned();
    let next = server.url("/api/v3/repos/acme/app/releases?per_page=3&page=2");
    assert!(
        link.contains(&format!("<{next}>; rel=\"next\"")),
        "link: {link}"
    );
    assert!(link.contains("rel=\"last\""), "link: {link}");
    let first: Value = first.json().await.unwrap();
    assert_eq!(tags(&first), ["2.0.0-rc.1", "1.11.0", "1.10.0"]);
    let second = http.get(&next).send().await.unwrap();
    let link = second.headers()["link"].to_str().unwrap().to_owned();
    assert!(link.contains("rel=\"prev\""), "link: {link}");
    assert!(!link.contains("rel=\"next\""), "link: {link}");
    let second: Value = second.json().await.unwrap();
    assert_eq!(tags(&second), ["1.9.0"]);
    let (_, beyond) = get(
        &http,
        &server.url("/repos/acme/app/releases?per_page=3&page=9"),
    )
    .await;
    assert_eq!(tags(&beyond), Vec::<&str>::new());
    let (status, lenient) = get(
        &http,
        &server.url("/repos/acme/app/releases?per_page=x&page=0"),
    )
    .await;
    assert_eq!(status, 200, "unreadable paging falls back to defaults");
    assert_eq!(tags(&lenient).len(), 4);

    // A package without releases lists nothing and has no latest.
    let mut admin = server.admin_client().await;
    let empty = pb::CreatePackageRequest {
        repo: "acme".into(),
        package: "empty".into(),
        kind: "generic".into(),
        description: String::new(),
    };
    admin
        .create_package(authed(empty, &server.admin))
        .await
        .unwrap();
    let (status, none) = get(&http, &server.url("/repos/acme/empty/releases")).await;
    assert_eq!(status, 200);
    assert_eq!(none, Value::Array(Vec::new()));
    let (status, _) = get(&http, &server.url("/repos/acme/empty/releases/latest")).await;
    assert_eq!(status, 404);
    server.stop().await;
}

async fn github_downloads_serve_bytes_with_ranges(backend: Backend) {
    let server = TestServer::start(&backend).await;
    repo(&server, true).await;
    seed(&server).await;
    let http = Client::new();
    let bin = app_bin("1.10.0");

    let url = server.url("/acme/app/releases/download/1.10.0/app.bin");
    let full = http.get(&url).send().await.unwrap();
    assert_eq!(full.status(), 200);
    assert_eq!(
        full.headers()["etag"],
        format!("\"{}\"", digest(&bin)).as_str()
    );
    assert_eq!(full.headers()["content-type"], "text/plain");
    assert_eq!(
        full.headers()["content-disposition"],
        "attachment; filename=\"app.bin\""
    );
    assert_eq!(
        full.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(full.bytes().await.unwrap().as_ref(), bin.as_slice());

    let part = http
        .get(&url)
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 10-19/{}", bin.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bin[10..20]);
    let v_prefixed = http
        .get(server.url("/acme/app/releases/download/v1.10.0/app.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(v_prefixed.status(), 200);
    let outside = http
        .get(&url)
        .header("range", format!("bytes={}-", bin.len() + 5))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 416);

    // Latest: the same bytes, revalidated, naming the versioned URL.
    let latest = http
        .get(server.url("/acme/app/releases/latest/download/app.bin"))
        .header("range", "bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(latest.status(), 206);
    assert_eq!(latest.headers()["cache-control"], "private, max-age=0");
    assert_eq!(
        latest.headers()["content-location"],
        "/acme/app/releases/download/1.10.0/app.bin"
    );
    assert_eq!(
        latest.bytes().await.unwrap().as_ref(),
        &bin[bin.len() - 5..]
    );
    let head = http
        .head(server.url("/acme/app/releases/latest/download/app.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        bin.len().to_string().as_str()
    );

    // Nested paths, with `/` as is or percent-encoded.
    for path in ["data/read%20me.txt", "data%2Fread%20me.txt"] {
        let nested = http
            .get(server.url(&format!("/acme/app/releases/latest/download/{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(nested.status(), 200, "{path}");
        assert_eq!(
            nested.headers()["content-disposition"],
            "attachment; filename*=UTF-8''read%20me.txt"
        );
        assert_eq!(nested.bytes().await.unwrap().as_ref(), b"nested file\n");
    }

    // The API URL of an asset serves its bytes to clients that ask for them.
    let (_, release) = get(&http, &server.url("/repos/acme/app/releases/latest")).await;
    let asset_url = release["assets"][0]["url"].as_str().unwrap().to_owned();
    let bytes = http
        .get(&asset_url)
        .header("accept", "application/octet-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(bytes.status(), 200);
    assert_eq!(bytes.bytes().await.unwrap().as_ref(), bin.as_slice());

    // Deprecated and yanked versions stay downloadable by exact version.
    for version in ["1.11.0", "1.12.0"] {
        let pinned = http
            .get(server.url(&format!("/acme/app/releases/download/{version}/app.bin")))
            .send()
            .await
            .unwrap();
        assert_eq!(pinned.status(), 200, "{version}");
        assert_eq!(
            pinned.bytes().await.unwrap().as_ref(),
            app_bin(version).as_slice()
        );
    }
    // Drafts, unknown versions and files are not found.
    let bin = app_bin("2.5.0");
    draft(&server, "2.5.0", &[("app.bin", &bin)]).await;
    for path in [
        "/acme/app/releases/download/2.5.0/app.bin",
        "/acme/app/releases/download/7.0.0/app.bin",
        "/acme/app/releases/download/not-a-version/app.bin",
        "/acme/app/releases/download/1.10.0/missing.bin",
        "/acme/app/releases/latest/download/missing.bin",
        "/acme/nope/releases/latest/download/app.bin",
    ] {
        let (status, body) = get(&http, &server.url(path)).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    server.stop().await;
}

async fn github_private_repos_need_a_reader(backend: Backend) {
    let server = TestServer::start(&backend).await;
    repo(&server, false).await;
    let bin = app_bin("1.0.0");
    draft(&server, "1.0.0", &[("app.bin", &bin)]).await;
    publish(&server, "1.0.0").await;
    let reader = server.token("acme", pb::Role::Reader).await;
    let mut admin = server.admin_client().await;
    let other = pb::CreateRepoRequest {
        repo: "other".into(),
        public: false,
        display_name: String::new(),
    };
    admin
        .create_repo(authed(other, &server.admin))
        .await
        .unwrap();
    let outsider = server.token("other", pb::Role::Reader).await;
    let http = Client::new();

    for path in [
        "/repos/acme/app",
        "/repos/acme/app/releases",
        "/repos/acme/app/releases/latest",
        "/api/v3/repos/acme/app/releases/tags/1.0.0",
        "/acme/app/releases/download/1.0.0/app.bin",
        "/acme/app/releases/latest/download/app.bin",
    ] {
        let url = server.url(path);
        // Anonymous: answered like an unknown repo (as GitHub does).
        let anonymous = http.get(&url).send().await.unwrap();
        assert_eq!(anonymous.status(), 404, "{path}");
        let body: Value = anonymous.json().await.unwrap();
        assert_eq!(body["details"][0]["reason"], "NOT_FOUND", "{path}");
        let wrong = http
            .get(&url)
            .header("authorization", "token not-a-token")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path}");
        let foreign = http
            .get(&url)
            .header("authorization", format!("Bearer {outsider}"))
            .send()
            .await
            .unwrap();
        assert_eq!(foreign.status(), 403, "{path}");
        for scheme in ["token", "Bearer"] {
            let ok = http
                .get(&url)
                .header("authorization", format!("{scheme} {reader}"))
                .send()
                .await
                .unwrap();
            assert_eq!(ok.status(), 200, "{scheme} {path}");
        }
    }
    let private: Value = http
        .get(server.url("/repos/acme/app"))
        .header("authorization", format!("token {reader}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(private["private"], true);
    server.stop().await;
}

/// Drives the routes with PyGithub (`tests/github_client/check.py`) against a private repo
/// with a reader token, the way GitHub clients send one (`Authorization: token X`). Runs only
/// when asked for (the `full` nextest profile) and fails there without python3 and PyGithub.
async fn pygithub_finds_latest_and_verifies_digest(backend: Backend) {
    assert!(
        python_client_available(),
        "this test needs python3 with PyGithub: `pip install PyGithub`"
    );
    let server = TestServer::start(&backend).await;
    repo(&server, false).await;
    seed(&server).await;
    let reader = server.token("acme", pb::Role::Reader).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/github_client/check.py");
    let expected = digest(&app_bin("1.10.0"));
    let base = server.url("/api/v3");
    let mut command = std::process::Command::new("python3");
    command
        .arg(script)
        .args([base.as_str(), "1.10.0", expected.as_str(), "app.bin"])
        .env("GITHUB_TOKEN", &reader);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "check.py failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("a JSON report");
    assert_eq!(report["latest"], "1.10.0");
    assert_eq!(
        report["tags"],
        serde_json::json!(["2.0.0-rc.1", "1.11.0", "1.10.0", "1.9.0"]),
        "PyGithub follows the Link header across pages of 2"
    );
    assert_eq!(report["asset"]["digest"], expected.as_str());
    assert_eq!(report["asset"]["name"], "app.bin");
    server.stop().await;
}

/// Publishes through PyGithub (`check.py upload`): a draft release, `upload_asset` at its
/// `upload_url`, `update_release(draft=False)`; the bytes are then stored, bound and
/// downloadable. An upload to a published release is refused before any byte is stored.
async fn pygithub_uploads_assets_to_a_draft(backend: Backend) {
    assert!(
        python_client_available(),
        "this test needs python3 with PyGithub: `pip install PyGithub`"
    );
    let server = TestServer::start(&backend).await;
    repo(&server, false).await;
    let publisher = server.token("acme", pb::Role::Publisher).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app-3.0.0.bin");
    let bytes = app_bin("3.0.0").repeat(1000);
    std::fs::write(&file, &bytes).unwrap();
    let expected = digest(&bytes);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/github_client/check.py");
    let base = server.url("/api/v3");
    let mut command = std::process::Command::new("python3");
    command
        .arg(script)
        .args(["upload", base.as_str(), "v3.0.0", file.to_str().unwrap()])
        .env("GITHUB_TOKEN", &publisher);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "check.py upload failed:\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("a JSON report");
    assert_eq!(report["draft_before_publish"], true);
    assert_eq!(report["asset"]["digest"], expected.as_str());

    // The version is published with the file bound, and the blob serves the same bytes.
    let mut catalog = server.catalog_client().await;
    let version = catalog
        .get_version(authed(
            pb::GetVersionRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: "3.0.0".into(),
            },
            &publisher,
        ))
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap();
    assert_eq!(version.state, pb::VersionState::Published as i32);
    assert_eq!(version.files.len(), 1);
    assert_eq!(version.files[0].path, "app-3.0.0.bin");
    assert_eq!(version.files[0].digest, expected);
    let http = Client::new();
    let blob = http
        .get(server.url(&format!("/v1/repos/acme/blobs/{expected}")))
        .bearer_auth(&publisher)
        .send()
        .await
        .unwrap();
    assert_eq!(blob.status(), StatusCode::OK);
    assert_eq!(digest(&blob.bytes().await.unwrap()), expected);

    // Published: the upload URL refuses with 409 and stores nothing.
    let release = report["release"].as_i64().unwrap();
    let before = crate::common::audit_actions(&server).await.len();
    let refused = http
        .post(server.url(&format!(
            "/repos/acme/app/releases/{release}/assets?name=late.bin"
        )))
        .header("authorization", format!("token {publisher}"))
        .body("late bytes")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let body: Value = refused.json().await.unwrap();
    assert!(body.to_string().contains("VERSION_IMMUTABLE"), "{body}");
    assert_eq!(crate::common::audit_actions(&server).await.len(), before);
    // A reader may not upload.
    let reader = server.token("acme", pb::Role::Reader).await;
    let denied = http
        .post(server.url("/repos/acme/app/releases"))
        .header("authorization", format!("token {reader}"))
        .json(&serde_json::json!({ "tag_name": "4.0.0", "draft": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    server.stop().await;
}

/// Tells whether `python3 -c "import github"` works.
fn python_client_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import github"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
