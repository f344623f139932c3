//! The HTML browser, checked in headless Chromium: every page renders what it should, every
//! link on it resolves, and a screenshot of each lands in `target/screenshots/`. The same URLs
//! answer JSON, and private repos need a token (checked with reqwest on both backends).
//!
//! Chromium is driven by `web/scripts/browse.mjs` (Node + playwright-core, with the system's
//! `/usr/bin/chromium`). The Chromium test runs only when asked for (the `full` nextest profile,
//! which CI runs) and fails there when Chromium, Node or `web/node_modules` is missing.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use relreg::pb;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::{Backend, TestServer, authed, backend_tests, digest, draft, fixture, publish};

backend_tests!(pages_answer_json_and_guard_private_repos);

// ---------------------------------------------------------------------------------------------
// Headless Chromium, shared with grpc_web_browser.rs.

/// One page for Chromium to load.
#[derive(Debug, Serialize)]
pub(crate) struct Visit {
    pub(crate) url: String,
    /// Where to save a full-page PNG.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) screenshot: Option<PathBuf>,
    /// A CSS selector to wait for after the load event.
    #[serde(rename = "waitFor", skip_serializing_if = "Option::is_none")]
    pub(crate) wait_for: Option<String>,
}

/// What Chromium saw on a page.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
pub(crate) struct Seen {
    pub(crate) url: String,
    pub(crate) status: u16,
    pub(crate) title: String,
    /// `document.body.innerText`.
    pub(crate) text: String,
    /// Every `<a href>`, resolved to an absolute URL.
    pub(crate) hrefs: Vec<String>,
    /// Whether `waitFor` matched (`None` when there was none).
    pub(crate) waited: Option<bool>,
    /// Console messages, page errors and failed requests.
    pub(crate) console: Vec<String>,
}

/// Node with playwright-core, driving the system's Chromium.
pub(crate) struct Browser {
    web: PathBuf,
}

impl Browser {
    /// Finds Chromium, Node and `web/node_modules`; fails the test, saying what to install,
    /// when one is missing (browser tests run only when asked for: the `full` profile).
    pub(crate) fn find(test: &str) -> Self {
        let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let chromium =
            std::env::var("RELREG_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut missing = Vec::new();
        if !Path::new(&chromium).exists() {
            missing.push(format!(
                "Chromium at {chromium} (apt-get install -y chromium)"
            ));
        }
        let node = std::process::Command::new("node").arg("--version").output();
        if !node.is_ok_and(|o| o.status.success()) {
            missing.push("node on PATH".into());
        }
        if !web.join("node_modules/playwright-core").is_dir() {
            missing.push("web/node_modules (npm ci --prefix web)".into());
        }
        assert!(
            missing.is_empty(),
            "{test} needs a headless browser, missing: {}",
            missing.join(", ")
        );
        Self { web }
    }

    /// Returns the `web/` directory.
    pub(crate) fn web_dir(&self) -> &Path {
        &self.web
    }

    /// Loads the pages one after another in one Chromium and reports what each showed.
    pub(crate) async fn visit(&self, visits: Vec<Visit>) -> Vec<Seen> {
        let web = self.web.clone();
        tokio::task::spawn_blocking(move || {
            let dir = tempfile::tempdir().expect("temp dir");
            let plan = dir.path().join("plan.json");
            std::fs::write(&plan, serde_json::json!({ "visits": visits }).to_string())
                .expect("write plan");
            let out = std::process::Command::new("node")
                .arg(web.join("scripts/browse.mjs"))
                .arg(&plan)
                .current_dir(&web)
                .output()
                .expect("run node");
            assert!(
                out.status.success(),
                "browse.mjs failed: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                panic!(
                    "browse.mjs printed no report ({e}): {}",
                    String::from_utf8_lossy(&out.stdout)
                )
            })
        })
        .await
        .expect("join")
    }
}

/// Returns `target/screenshots/{name}.png`.
pub(crate) fn screenshot_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/screenshots")
        .join(format!("{name}.png"))
}

// ---------------------------------------------------------------------------------------------
// Seed data.

/// Creates a release in `acme`, attaches `data` → `app@{artifact}` and publishes it.
async fn release(server: &TestServer, channel: &str, version: &str, artifact: &str) -> pb::Release {
    let mut admin = server.admin_client().await;
    let t = &server.admin;
    let r = admin
        .create_release(authed(
            pb::CreateReleaseRequest {
                repo: "acme".into(),
                channel: channel.into(),
                version: version.into(),
                min_app_version: "2.0".into(),
                max_app_version: String::new(),
                platforms: vec!["android".into(), "ios".into()],
                notes: format!("Notes for {version} & friends <b>"),
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
                release_id: r.id.clone(),
                role: "data".into(),
                package: "app".into(),
                version: artifact.into(),
                etag: String::new(),
            },
            t,
        ))
        .await
        .expect("attach");
    admin
        .publish_release(authed(
            pb::PublishReleaseRequest {
                release_id: r.id,
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

fn string_value(s: &str) -> prost_types::Value {
    prost_types::Value {
        kind: Some(prost_types::value::Kind::StringValue(s.into())),
    }
}

const A_TXT: &[u8] = b"alpha file\n";
const DATA_BIN: &[u8] = b"\x00\x01\x02 binary data of version 1.1.0";
/// Markup in a manifest must show as text.
const HOSTILE: &str = "<script>document.title='pwned'</script>";

/// What the seed made.
struct Seeded {
    stable: pb::Release,
    beta: pb::Release,
    old_stable: pb::Release,
}

/// `acme` (public): package `app` with 1.0.0 (deprecated, replaced by 1.1.0), 1.1.0 with a
/// manifest, a draft 1.2.0; releases stable 3.0.0 (deprecated), stable 3.1.0 (latest), beta
/// 4.0.0-rc.1; and `vault` (private) with package `secrets`.
async fn seed(server: &TestServer) -> Seeded {
    fixture(server, "generic").await;
    let t = &server.admin;
    let mut admin = server.admin_client().await;
    draft(server, "1.0.0", &[("a.txt", A_TXT)]).await;
    publish(server, "1.0.0").await;
    let v = draft(
        server,
        "1.1.0",
        &[("a.txt", A_TXT), ("data/blob.bin", DATA_BIN)],
    )
    .await;
    admin
        .set_version_manifest(authed(
            pb::SetVersionManifestRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: "1.1.0".into(),
                manifest: Some(prost_types::Struct {
                    fields: BTreeMap::from([
                        ("title".to_owned(), string_value(HOSTILE)),
                        ("locale".to_owned(), string_value("ar")),
                    ]),
                }),
                etag: v.etag,
            },
            t,
        ))
        .await
        .expect("set manifest");
    publish(server, "1.1.0").await;
    admin
        .deprecate_version(authed(
            pb::DeprecateVersionRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: "1.0.0".into(),
                reason: "superseded: wrong encoding".into(),
                replacement: "1.1.0".into(),
            },
            t,
        ))
        .await
        .expect("deprecate version");
    draft(server, "1.2.0", &[]).await;

    let old_stable = release(server, "stable", "3.0.0", "1.0.0").await;
    let stable = release(server, "stable", "3.1.0", "1.1.0").await;
    let beta = release(server, "beta", "4.0.0-rc.1", "1.1.0").await;
    let old_stable = admin
        .deprecate_release(authed(
            pb::DeprecateReleaseRequest {
                release_id: old_stable.id,
                reason: "crashes on start".into(),
                replacement: stable.id.clone(),
            },
            t,
        ))
        .await
        .expect("deprecate release")
        .into_inner()
        .release
        .expect("release");

    admin
        .create_repo(authed(
            pb::CreateRepoRequest {
                repo: "vault".into(),
                public: false,
                display_name: "Vault".into(),
            },
            t,
        ))
        .await
        .expect("create private repo");
    admin
        .create_package(authed(
            pb::CreatePackageRequest {
                repo: "vault".into(),
                package: "secrets".into(),
                kind: "generic".into(),
                description: "private things".into(),
            },
            t,
        ))
        .await
        .expect("create private package");
    Seeded {
        stable,
        beta,
        old_stable,
    }
}

fn hex_of(data: &[u8]) -> String {
    digest(data).trim_start_matches("sha256:").to_owned()
}

// ---------------------------------------------------------------------------------------------
// Chromium.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_in_chromium() {
    let browser = Browser::find("browse::pages_render_in_chromium");
    let server = TestServer::start(&Backend::Sqlite).await;
    let s = seed(&server).await;
    let stable_page = format!("/ui/acme/releases/{}", s.stable.id);
    let old_page = format!("/ui/acme/releases/{}", s.old_stable.id);
    let a_digest = digest(A_TXT);
    let bin_digest = digest(DATA_BIN);

    // (path, screenshot name, texts the page must show)
    let pages: Vec<(String, &str, Vec<String>)> = vec![
        (
            "/ui".into(),
            "ui-home",
            vec!["relreg".into(), "Repo".into()],
        ),
        (
            "/ui/acme".into(),
            "ui-repo",
            vec![
                "Acme".into(),
                "public".into(),
                "app".into(),
                "generic".into(),
                "stable".into(),
                "3.1.0".into(),
                "beta".into(),
                "4.0.0-rc.1".into(),
                "3.0.0".into(),
                "DEPRECATED".into(),
                "app 2.0 … any on android, ios".into(),
            ],
        ),
        (
            "/ui/acme/app".into(),
            "ui-package",
            vec![
                "1.0.0".into(),
                "1.1.0".into(),
                "DEPRECATED".into(),
                "PUBLISHED".into(),
                "superseded: wrong encoding".into(),
            ],
        ),
        (
            "/ui/acme/app/1.1.0".into(),
            "ui-version",
            vec![
                "app 1.1.0".into(),
                "PUBLISHED".into(),
                "a.txt".into(),
                "data/blob.bin".into(),
                a_digest.clone(),
                bin_digest.clone(),
                format!("{} B", A_TXT.len()),
                HOSTILE.into(),
                "\"locale\": \"ar\"".into(),
            ],
        ),
        (
            "/ui/acme/app/1.0.0".into(),
            "ui-version-deprecated",
            vec![
                "DEPRECATED".into(),
                "superseded: wrong encoding".into(),
                "Replacement".into(),
                a_digest.clone(),
            ],
        ),
        (
            stable_page.clone(),
            "ui-release",
            vec![
                "Release 3.1.0".into(),
                "stable".into(),
                s.stable.id.clone(),
                "PUBLISHED".into(),
                "Sequence".into(),
                s.stable.sequence.to_string(),
                "app 2.0 … any on android, ios".into(),
                "Notes for 3.1.0 & friends <b>".into(),
                "data".into(),
                "1.1.0".into(),
                a_digest.clone(),
                bin_digest.clone(),
            ],
        ),
        (
            old_page.clone(),
            "ui-release-deprecated",
            vec![
                "DEPRECATED".into(),
                "crashes on start".into(),
                s.stable.id.clone(),
            ],
        ),
    ];

    let mut visits: Vec<Visit> = pages
        .iter()
        .map(|(path, shot, _)| Visit {
            url: server.url(path),
            screenshot: Some(screenshot_path(shot)),
            wait_for: None,
        })
        .collect();
    // A private repo without a token: the 401 page, as a browser sees it.
    visits.push(Visit {
        url: server.url("/ui/vault"),
        screenshot: Some(screenshot_path("ui-private-401")),
        wait_for: None,
    });
    let seen = browser.visit(visits).await;
    assert_eq!(seen.len(), pages.len() + 1);

    let http = reqwest::Client::new();
    let mut checked = BTreeSet::new();
    for ((path, _, texts), page) in pages.iter().zip(&seen) {
        assert_eq!(page.status, 200, "{path}: {page:?}");
        for text in texts {
            assert!(
                page.text.contains(text.as_str()),
                "{path} does not show {text:?}:\n{}",
                page.text
            );
        }
        assert!(
            page.title.contains("relreg"),
            "{path}: title {:?}",
            page.title
        );
        let errors: Vec<_> = page
            .console
            .iter()
            .filter(|m| m.starts_with("pageerror") || m.starts_with("requestfailed"))
            .collect();
        assert!(errors.is_empty(), "{path}: {errors:?}");
        assert!(!page.hrefs.is_empty(), "{path} has no links");
        // Every link resolves.
        for href in &page.hrefs {
            assert!(
                href.starts_with(&server.url("/")),
                "{path} links off the server: {href}"
            );
            if !checked.insert(href.clone()) {
                continue;
            }
            let response = http.get(href).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path} links to {href}");
            // Download links serve exactly the bytes of the digest they name.
            if let Some((_, d)) = href.split_once("/blobs/") {
                let body = response.bytes().await.unwrap();
                assert_eq!(digest(&body), d.replace("%3A", ":"), "{href}");
            }
        }
    }
    // The manifest's markup stayed text: the script did not run.
    let version_page = &seen[3];
    assert!(!version_page.title.contains("pwned"));

    // Pages link where a reader expects.
    let links = |i: usize| -> Vec<String> {
        seen[i]
            .hrefs
            .iter()
            .map(|h| h.trim_start_matches(&server.url("")).to_owned())
            .collect()
    };
    let repo_links = links(1);
    for expected in ["/ui/acme/app", stable_page.as_str(), old_page.as_str()] {
        assert!(
            repo_links.iter().any(|l| l == expected),
            "repo page lacks {expected}: {repo_links:?}"
        );
    }
    assert!(repo_links.contains(&format!("/ui/acme/releases/{}", s.beta.id)));
    let package_links = links(2);
    for expected in ["/ui/acme/app/1.0.0", "/ui/acme/app/1.1.0"] {
        assert!(
            package_links.iter().any(|l| l == expected),
            "{package_links:?}"
        );
    }
    assert!(
        !package_links.iter().any(|l| l.ends_with("/1.2.0")),
        "drafts are hidden from anonymous readers"
    );
    let version_links = links(3);
    assert!(version_links.contains(&format!("/v1/repos/acme/blobs/{bin_digest}")));
    assert!(
        links(4).contains(&"/ui/acme/app/1.1.0".to_owned()),
        "replacement link"
    );
    assert!(
        links(5).contains(&"/ui/acme/app/1.1.0".to_owned()),
        "artifact link"
    );
    assert!(links(6).contains(&stable_page), "release replacement link");

    // A private repo's page, anonymously: the page of a repo that does not exist.
    let private = &seen[pages.len()];
    assert_eq!(private.status, 404);
    assert!(private.text.contains("404 Not Found"), "{}", private.text);

    for (_, shot, _) in &pages {
        let png = std::fs::read(screenshot_path(shot)).expect("screenshot saved");
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 5_000,
            "{shot}.png"
        );
    }
    eprintln!(
        "screenshots in {}",
        screenshot_path("x").parent().unwrap().display()
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// JSON and authorization (both backends).

async fn get_json(http: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = http.get(url).header("accept", "application/json");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{url}"
    );
    (status, response.json().await.unwrap())
}

async fn pages_answer_json_and_guard_private_repos(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let s = seed(&server).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // `Accept: application/json` and `?format=json` answer the same document.
    let (status, repo) = get_json(&http, &server.url("/ui/acme"), None).await;
    assert_eq!(status, 200);
    let by_query: Value = http
        .get(server.url("/ui/acme?format=json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_query, repo);
    assert_eq!(repo["repo"]["key"], "acme");
    assert_eq!(repo["repo"]["public"], true);
    assert_eq!(repo["packages"][0]["name"], "app");
    assert_eq!(repo["packages"][0]["href"], "/ui/acme/app");
    let channels = repo["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 2);
    assert_eq!(channels[0]["channel"], "beta");
    assert_eq!(channels[0]["latest"]["version"], "4.0.0-rc.1");
    assert_eq!(channels[1]["channel"], "stable");
    assert_eq!(channels[1]["releases"], 2);
    assert_eq!(channels[1]["latest"]["id"], s.stable.id.as_str());
    assert_eq!(channels[1]["latest"]["sequence"], s.stable.sequence);
    let recent = repo["recent_releases"].as_array().unwrap();
    assert_eq!(recent.len(), 3);
    assert_eq!(recent[0]["id"], s.beta.id.as_str(), "newest first");

    // The HTML of the same URL.
    let html = http.get(server.url("/ui/acme")).send().await.unwrap();
    assert_eq!(html.status(), 200);
    assert!(
        html.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(html.headers()["vary"].to_str().unwrap().contains("Accept"));
    assert!(
        html.text()
            .await
            .unwrap()
            .contains("<a href=\"/ui/acme/app\">app</a>")
    );

    let (status, package) = get_json(&http, &server.url("/ui/acme/app"), None).await;
    assert_eq!(status, 200);
    let versions: Vec<_> = package["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_str().unwrap(), v["state"].as_str().unwrap()))
        .collect();
    assert_eq!(versions, [("1.0.0", "DEPRECATED"), ("1.1.0", "PUBLISHED")]);
    assert_eq!(
        package["versions"][0]["deprecation_reason"],
        "superseded: wrong encoding"
    );
    assert_eq!(package["versions"][0]["replacement"], "1.1.0");
    assert_eq!(
        package["versions"][0]["replacement_href"],
        "/ui/acme/app/1.1.0"
    );
    // A publisher sees the draft too.
    let (_, as_admin) = get_json(&http, &server.url("/ui/acme/app"), Some(&server.admin)).await;
    assert_eq!(as_admin["versions"].as_array().unwrap().len(), 3);

    let (status, version) = get_json(&http, &server.url("/ui/acme/app/1.1.0"), None).await;
    assert_eq!(status, 200);
    assert_eq!(version["version"]["state"], "PUBLISHED");
    assert!(
        version["version"]["content_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(version["manifest"]["title"], HOSTILE);
    let files = version["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["path"], "a.txt");
    assert_eq!(files[0]["size"], A_TXT.len());
    assert_eq!(files[1]["digest"], digest(DATA_BIN));
    assert_eq!(
        files[1]["download_href"],
        format!("/v1/repos/acme/blobs/{}", digest(DATA_BIN))
    );
    assert_eq!(version["total_size"], A_TXT.len() + DATA_BIN.len());
    // Escaped in HTML.
    let html = http
        .get(server.url("/ui/acme/app/1.1.0"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains(HOSTILE));
    assert!(html.contains("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"));
    assert!(html.contains(&hex_of(DATA_BIN)));

    let (status, rel) = get_json(
        &http,
        &server.url(&format!("/ui/acme/releases/{}", s.stable.id)),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(rel["release"]["version"], "3.1.0");
    assert_eq!(rel["release"]["channel"], "stable");
    assert_eq!(rel["release"]["sequence"], s.stable.sequence);
    assert_eq!(rel["release"]["min_app_version"], "2.0");
    assert_eq!(
        rel["release"]["platforms"],
        serde_json::json!(["android", "ios"])
    );
    assert_eq!(rel["notes"], "Notes for 3.1.0 & friends <b>");
    assert_eq!(rel["artifacts"][0]["role"], "data");
    assert_eq!(rel["artifacts"][0]["version_href"], "/ui/acme/app/1.1.0");
    assert_eq!(rel["artifacts"][0]["files"][1]["digest"], digest(DATA_BIN));
    let (_, old) = get_json(
        &http,
        &server.url(&format!("/ui/acme/releases/{}", s.old_stable.id)),
        None,
    )
    .await;
    assert_eq!(old["release"]["state"], "DEPRECATED");
    assert_eq!(old["release"]["deprecation_reason"], "crashes on start");
    assert_eq!(
        old["release"]["replacement_href"],
        format!("/ui/acme/releases/{}", s.stable.id)
    );

    // Not found, as JSON errors and as HTML pages.
    let (status, body) = get_json(&http, &server.url("/ui/acme/app/9.9.9"), None).await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(5)));
    let (status, _) = get_json(&http, &server.url("/ui/acme/releases/rel_nope"), None).await;
    assert_eq!(status, 404);
    let (status, _) = get_json(&http, &server.url("/ui/nope"), None).await;
    assert_eq!(status, 404);
    let (status, _) = get_json(&http, &server.url("/ui/acme/app/1.2.0"), None).await;
    assert_eq!(status, 404, "drafts are not shown to anonymous readers");
    let (status, _) = get_json(&http, &server.url("/ui/Bad%20Name"), None).await;
    assert_eq!(status, 400);
    let missing = http.get(server.url("/ui/acme/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("404 Not Found"));
    let bad_format = http
        .get(server.url("/ui/acme?format=xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_format.status(), 400);

    // A package called `releases` keeps its version pages under the release path.
    let mut admin = server.admin_client().await;
    admin
        .create_package(authed(
            pb::CreatePackageRequest {
                repo: "acme".into(),
                package: "releases".into(),
                kind: "generic".into(),
                description: String::new(),
            },
            &server.admin,
        ))
        .await
        .expect("create package releases");
    let key = || ("acme".to_owned(), "releases".to_owned(), "0.1.0".to_owned());
    let (repo_key, package, version) = key();
    admin
        .create_version(authed(
            pb::CreateVersionRequest {
                repo: repo_key,
                package,
                version,
            },
            &server.admin,
        ))
        .await
        .expect("create version");
    let (repo_key, package, version) = key();
    admin
        .publish_version(authed(
            pb::PublishVersionRequest {
                repo: repo_key,
                package,
                version,
                etag: String::new(),
            },
            &server.admin,
        ))
        .await
        .expect("publish version");
    let (status, shadowed) = get_json(&http, &server.url("/ui/acme/releases/0.1.0"), None).await;
    assert_eq!(status, 200, "{shadowed}");
    assert_eq!(shadowed["package"]["name"], "releases");
    assert_eq!(shadowed["version"]["version"], "0.1.0");
    let (status, _) = get_json(
        &http,
        &server.url(&format!("/ui/acme/releases/{}", s.stable.id)),
        None,
    )
    .await;
    assert_eq!(status, 200, "releases still win");

    // The landing page's form redirects to the repo.
    let go = http.get(server.url("/ui?repo=acme")).send().await.unwrap();
    assert_eq!(go.status(), 303);
    assert_eq!(go.headers()["location"], "/ui/acme");
    let (status, home) = get_json(&http, &server.url("/ui"), None).await;
    assert_eq!(status, 200);
    assert_eq!(home["repo_href_template"], "/ui/{repo}");

    // A private repo: 401 without a token (HTML and JSON), 200 with a reader token.
    let reader = server.token("vault", pb::Role::Reader).await;
    let other = server.token("acme", pb::Role::Reader).await;
    // The landing page lists public repos, and private ones only to a token that covers them.
    let keys = |home: &serde_json::Value| -> Vec<String> {
        home["repos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["key"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(keys(&home), ["acme"]);
    assert_eq!(
        keys(&get_json(&http, &server.url("/ui"), Some(&other)).await.1),
        ["acme"]
    );
    assert_eq!(
        keys(&get_json(&http, &server.url("/ui"), Some(&reader)).await.1),
        ["acme", "vault"]
    );
    assert_eq!(
        keys(
            &get_json(&http, &server.url("/ui"), Some(&server.admin))
                .await
                .1
        ),
        ["acme", "vault"]
    );
    for path in ["/ui/vault", "/ui/vault/secrets"] {
        // Anonymous: answered like a repo that does not exist (names cannot be probed).
        let (status, body) = get_json(&http, &server.url(path), None).await;
        assert_eq!((status, body["code"].as_i64()), (404, Some(5)), "{path}");
        let page = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(page.status(), 404, "{path}");
        assert!(!page.text().await.unwrap().contains("private"));
        let (status, _) = get_json(&http, &server.url(path), Some(&other)).await;
        assert_eq!(status, 403, "{path} with another repo's token");
        let (status, body) = get_json(&http, &server.url(path), Some(&reader)).await;
        assert_eq!(status, 200, "{path}: {body}");
        let page = http
            .get(server.url(path))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{path}");
        assert!(page.text().await.unwrap().contains("secrets"));
    }
    let (_, vault) = get_json(&http, &server.url("/ui/vault"), Some(&reader)).await;
    assert_eq!(vault["repo"]["public"], false);
    assert_eq!(vault["packages"][0]["description"], "private things");
    // A token in the query string is not a credential: the caller stays anonymous.
    let page = http
        .get(server.url(&format!("/ui/vault?token={reader}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    server.stop().await;
}
