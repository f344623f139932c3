//! The `relreg` client commands as a user runs them: the binary as a subprocess against a
//! real server, with its config and state directories isolated per test (`User`). The whole
//! lifecycle (repo, package, push, release, latest, rollback) through the CLI alone, with
//! `--output json` checked. Profiles and bad input are in `cli_errors.rs`.

use std::{path::Path, process::Output};

use serde_json::Value;

use crate::common::{Backend, TestServer, backend_tests, digest};

backend_tests!(lifecycle_through_the_cli_alone);

/// A user's environment for the CLI: one server, a token, private config and state dirs.
pub(crate) struct User {
    pub(crate) server: String,
    pub(crate) token: Option<String>,
    pub(crate) home: tempfile::TempDir,
}

impl User {
    pub(crate) fn new(server: &TestServer) -> Self {
        Self {
            server: server.url(""),
            token: Some(server.admin.clone()),
            home: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub(crate) fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_relreg"));
        command
            .args(args)
            .env_remove("RELREG_SERVER")
            .env_remove("RELREG_TOKEN")
            .env_remove("RELREG_PROFILE")
            .env("HOME", self.home.path())
            .env("RELREG_CONFIG_DIR", self.home.path().join("config"))
            .env("RELREG_STATE_DIR", self.home.path().join("state"))
            .env("RELREG_SERVER", &self.server);
        if let Some(token) = &self.token {
            command.env("RELREG_TOKEN", token);
        }
        command
    }

    /// Runs `relreg ARGS…` to its end (on a blocking thread, so the server keeps serving).
    pub(crate) async fn run(&self, args: &[&str]) -> Output {
        let mut command = self.command(args);
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("join")
            .expect("run relreg");
        if let Some(token) = &self.token {
            let all = [&output.stdout[..], &output.stderr[..]].concat();
            assert!(
                !String::from_utf8_lossy(&all).contains(token.as_str()),
                "relreg {args:?} printed the token"
            );
        }
        output
    }

    /// Runs a command that must succeed with `--output json`; returns its answer.
    pub(crate) async fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let output = self.run(&all).await;
        assert!(
            output.status.success(),
            "relreg {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "relreg {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }

    /// Runs a command that must fail with `code`; returns its stderr.
    pub(crate) async fn fails(&self, args: &[&str], code: i32) -> String {
        let output = self.run(args).await;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(
            output.status.code(),
            Some(code),
            "relreg {args:?}: stdout {} stderr {stderr}",
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(stderr.contains("error: "), "{stderr}");
        stderr
    }
}

/// Downloads a blob over HTTP and returns its bytes.
pub(crate) async fn download(server: &TestServer, repo: &str, digest: &str) -> Vec<u8> {
    let answer = reqwest::Client::new()
        .get(server.url(&format!("/v1/repos/{repo}/blobs/{digest}")))
        .bearer_auth(&server.admin)
        .send()
        .await
        .expect("download");
    assert!(answer.status().is_success(), "{}", answer.status());
    answer.bytes().await.expect("body").to_vec()
}

fn write(dir: &Path, name: &str, data: &[u8]) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

async fn lifecycle_through_the_cli_alone(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let user = User::new(&server);
    let work = tempfile::tempdir().unwrap();

    let repo = user.json(&["repo", "create", "iqrah", "--public"]).await;
    assert_eq!(repo["repo"]["key"], "iqrah");
    assert_eq!(repo["repo"]["public"], true);
    let policy = user
        .json(&[
            "repo",
            "policy",
            "iqrah",
            "--require",
            "stable=text,translations",
        ])
        .await;
    assert_eq!(
        policy["policy"]["channels"][0]["requiredRoles"],
        serde_json::json!(["text", "translations"])
    );
    for package in ["iqrah/quran", "iqrah/translations"] {
        let created = user.json(&["package", "create", package]).await;
        assert_eq!(created["package"]["repo"], "iqrah");
    }
    let listed = user.json(&["package", "list", "iqrah"]).await;
    assert_eq!(listed["packages"].as_array().unwrap().len(), 2);

    // A directory pushed with a manifest and published in one command.
    let text_dir = work.path().join("quran");
    write(&text_dir, "quran.json", b"{\"surahs\":114}\n");
    write(&text_dir, "pages/001.txt", b"page one\n");
    let manifest = work.path().join("manifest.json");
    std::fs::write(&manifest, br#"{"edition":1}"#).unwrap();
    let pushed = user
        .json(&[
            "push",
            "iqrah/quran@1.0.0",
            text_dir.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
            "--publish",
        ])
        .await;
    let version = &pushed["version"];
    assert_eq!(version["state"], "VERSION_STATE_PUBLISHED");
    assert_eq!(version["manifest"]["edition"].as_f64(), Some(1.0));
    assert!(text(&version["contentDigest"]).starts_with("sha256:"));
    let paths: Vec<&str> = version["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| text(&f["path"]))
        .collect();
    assert_eq!(paths, ["pages/001.txt", "quran.json"]);
    assert!(
        pushed["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["action"] == "uploaded")
    );
    let page_digest = digest(b"page one\n");
    assert_eq!(
        download(&server, "iqrah", &page_digest).await,
        b"page one\n"
    );

    // The same bytes again: nothing is uploaded, the paths are only bound.
    let again = user
        .json(&[
            "push",
            "iqrah/quran@1.0.1",
            text_dir.to_str().unwrap(),
            "--publish",
        ])
        .await;
    assert_eq!(again["bytesSent"], 0);
    assert!(
        again["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["action"] == "skipped")
    );

    let tr = work.path().join("en.json");
    std::fs::write(&tr, b"{\"lang\":\"en\"}").unwrap();
    let pushed = user
        .json(&[
            "push",
            "iqrah/translations@2.0.0",
            tr.to_str().unwrap(),
            "--publish",
        ])
        .await;
    assert_eq!(pushed["version"]["state"], "VERSION_STATE_PUBLISHED");

    let got = user.json(&["version", "get", "iqrah/quran@1.0.0"]).await;
    assert_eq!(got["version"]["contentDigest"], version["contentDigest"]);
    let diff = user
        .json(&["version", "diff", "iqrah/quran@1.0.1", "--base", "1.0.0"])
        .await;
    assert_eq!(diff["manifestChanged"], true);

    // Releases: create, a validation that names the missing role, attach, publish.
    let release = |version: &'static str| {
        let user = &user;
        async move {
            let created = user
                .json(&[
                    "release",
                    "create",
                    "iqrah",
                    "--channel",
                    "stable",
                    "--version",
                    version,
                    "--min-app-version",
                    "1.0.0",
                ])
                .await;
            assert_eq!(created["release"]["state"], "RELEASE_STATE_DRAFT");
            text(&created["release"]["id"]).to_owned()
        }
    };
    let first = release("1.0.0").await;
    user.json(&["release", "attach", &first, "text", "quran@1.0.0"])
        .await;
    let invalid = user.run(&["release", "validate", &first]).await;
    assert_eq!(
        invalid.status.code(),
        Some(5),
        "not publishable without translations"
    );
    let lines = String::from_utf8_lossy(&invalid.stdout);
    assert!(
        lines
            .lines()
            .any(|l| l.starts_with("ERROR ") && l.contains("translations")),
        "one finding per line with severity, rule and field: {lines}"
    );
    user.fails(&["release", "publish", &first], 5).await;
    user.json(&[
        "release",
        "attach",
        &first,
        "translations",
        "translations@2.0.0",
    ])
    .await;
    let valid = user.json(&["release", "validate", &first]).await;
    assert_eq!(valid["publishable"], true);
    let published = user.json(&["release", "publish", &first]).await;
    assert_eq!(published["release"]["state"], "RELEASE_STATE_PUBLISHED");
    assert_eq!(published["release"]["sequence"], "1");

    let latest = user
        .json(&[
            "channel",
            "latest",
            "iqrah",
            "stable",
            "--app-version",
            "1.2.0",
        ])
        .await;
    assert_eq!(latest["update"]["release"]["id"], first.as_str());

    let second = release("1.1.0").await;
    user.json(&["release", "attach", &second, "text", "quran@1.0.1"])
        .await;
    user.json(&[
        "release",
        "attach",
        &second,
        "translations",
        "translations@2.0.0",
    ])
    .await;
    user.json(&["release", "publish", &second]).await;
    let latest = user
        .json(&[
            "channel",
            "latest",
            "iqrah",
            "stable",
            "--app-version",
            "1.2.0",
            "--current",
            &first,
        ])
        .await;
    assert_eq!(latest["update"]["release"]["id"], second.as_str());

    let rolled = user
        .json(&["channel", "rollback", "iqrah", "stable", &first])
        .await;
    assert_eq!(rolled["release"]["id"], first.as_str());
    assert_eq!(rolled["deprecatedReleaseIds"], serde_json::json!([second]));
    let latest = user
        .json(&[
            "channel",
            "latest",
            "iqrah",
            "stable",
            "--app-version",
            "1.2.0",
            "--current",
            &first,
        ])
        .await;
    assert_eq!(latest["upToDate"]["release"]["id"], first.as_str());

    let listed = user.json(&["release", "list", "iqrah"]).await;
    assert_eq!(listed["releases"].as_array().unwrap().len(), 2);
    let got = user.json(&["release", "get", &second]).await;
    assert_eq!(got["release"]["state"], "RELEASE_STATE_DEPRECATED");

    let audit = user
        .json(&[
            "audit",
            "--repo",
            "iqrah",
            "--action",
            "channel.rolled_back",
        ])
        .await;
    assert_eq!(audit["events"].as_array().unwrap().len(), 1);

    // Tokens: the secret is shown once, at creation; a revoked token stops working.
    let created = user
        .json(&[
            "token", "create", "--role", "reader", "--repo", "iqrah", "--name", "app",
        ])
        .await;
    let id = text(&created["token"]["id"]).to_owned();
    assert!(text(&created["secret"]).starts_with("rr_"));
    let listed = user.json(&["token", "list"]).await;
    assert!(
        listed["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id.as_str())
    );
    let revoked = user.json(&["token", "revoke", &id]).await;
    assert!(revoked["token"]["revokeTime"].is_string());

    // A draft pushed and deleted; a release detached; a version deprecated then yanked.
    let draft = user
        .json(&["push", "iqrah/quran@2.0.0", tr.to_str().unwrap()])
        .await;
    assert_eq!(draft["version"]["state"], "VERSION_STATE_DRAFT");
    user.json(&["version", "delete", "iqrah/quran@2.0.0"]).await;
    user.fails(&["version", "get", "iqrah/quran@2.0.0"], 3)
        .await;
    let third = release("1.2.0").await;
    user.json(&["release", "attach", &third, "text", "quran@1.0.1"])
        .await;
    let detached = user.json(&["release", "detach", &third, "text"]).await;
    assert!(detached["release"].get("artifacts").is_none(), "{detached}");
    let deprecated = user
        .json(&[
            "version",
            "deprecate",
            "iqrah/quran@1.0.1",
            "--reason",
            "typo",
            "--replacement",
            "1.0.0",
        ])
        .await;
    assert_eq!(deprecated["version"]["state"], "VERSION_STATE_DEPRECATED");
    let yanked = user
        .json(&["version", "yank", "iqrah/quran@1.0.1", "--reason", "broken"])
        .await;
    assert_eq!(yanked["version"]["state"], "VERSION_STATE_YANKED");
    let repo = user.json(&["repo", "get", "iqrah"]).await;
    assert_eq!(repo["repo"]["public"], true);
    let completions = user.run(&["completions", "bash"]).await;
    assert!(completions.status.success());
    assert!(String::from_utf8_lossy(&completions.stdout).contains("relreg"));

    // Text output is for people: the version line and its files.
    let human = user.run(&["version", "get", "iqrah/quran@1.0.0"]).await;
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(
        human.starts_with("iqrah/quran@1.0.0 PUBLISHED sha256:"),
        "{human}"
    );
    assert!(
        human.contains(&format!("pages/001.txt {page_digest} 9 bytes")),
        "{human}"
    );
    server.stop().await;
}
