//! The `relreg` client's profiles and its answers to bad input: `login` stores a profile
//! with mode 0600 that flags override and `logout` removes; an unreachable server, a wrong
//! token, a missing file, a malformed `REPO/PACKAGE@VERSION` and an unwritable profile
//! directory each end with a clear message and the documented exit code, changing nothing.

use crate::{
    cli::User,
    common::{Backend, TestServer, backend_tests},
};

backend_tests!(
    login_stores_a_private_profile_and_logout_removes_it,
    bad_input_is_refused_and_changes_nothing,
);

fn text(v: &serde_json::Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

async fn login_stores_a_private_profile_and_logout_removes_it(backend: Backend) {
    use std::os::unix::fs::PermissionsExt as _;
    let server = TestServer::start(&backend).await;
    let mut user = User::new(&server);
    let login = user.json(&["login", "--profile", "ci"]).await;
    let path = std::path::PathBuf::from(text(&login["path"]));
    assert!(
        path.starts_with(user.home.path().join("config")),
        "{path:?}"
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the profile is readable by its owner only");

    // Without flags or variables, the named profile supplies server and token.
    let token = user.token.take().unwrap();
    let saved_server = std::mem::replace(&mut user.server, "http://127.0.0.1:1".into());
    let mut command = user.command(&[
        "--profile",
        "ci",
        "--output",
        "json",
        "repo",
        "create",
        "acme",
    ]);
    command.env_remove("RELREG_SERVER");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = [&output.stdout[..], &output.stderr[..]].concat();
    assert!(!String::from_utf8_lossy(&printed).contains(&token));
    user.server = saved_server;

    // Flags win over the profile: a wrong token on the command line is used, and refused.
    user.token = Some("rr_wrong".into());
    let stderr = user
        .fails(&["--profile", "ci", "repo", "get", "acme"], 4)
        .await;
    assert!(stderr.contains("UNAUTHENTICATED"), "{stderr}");
    user.token = None;

    // A wrong token is refused at login and stores nothing.
    user.token = Some("rr_wrong".into());
    user.fails(&["login", "--profile", "bad"], 4).await;
    assert!(!path.with_file_name("bad.json").exists());
    user.token = None;

    let logout = user.json(&["logout", "--profile", "ci"]).await;
    assert_eq!(logout["removed"], true);
    assert!(!path.exists());
    let stderr = user
        .fails(&["--profile", "ci", "repo", "get", "acme"], 3)
        .await;
    assert!(stderr.contains("no profile"), "{stderr}");
    // No profile and no token: a private repo reads as unknown to anonymous callers.
    let stderr = user.fails(&["repo", "get", "acme"], 3).await;
    assert!(stderr.contains("NOT_FOUND"), "{stderr}");
    server.stop().await;
}

async fn bad_input_is_refused_and_changes_nothing(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let user = User::new(&server);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("a.bin");
    std::fs::write(&file, b"bytes").unwrap();
    let file = file.to_str().unwrap();
    user.json(&["repo", "create", "acme"]).await;
    user.json(&["package", "create", "acme/app"]).await;

    // Unreachable server: exit 7 and a message that says so.
    let mut away = User::new(&server);
    away.server = "http://127.0.0.1:1".into();
    let stderr = away.fails(&["push", "acme/app@1.0.0", file], 7).await;
    assert!(stderr.contains("server unreachable"), "{stderr}");

    // Wrong token: exit 4 with the server's reason.
    let mut wrong = User::new(&server);
    wrong.token = Some("rr_not_a_token".into());
    let stderr = wrong.fails(&["push", "acme/app@1.0.0", file], 4).await;
    assert!(stderr.contains("(UNAUTHENTICATED)"), "{stderr}");

    // A missing file: exit 8, and the server was not asked to create anything.
    let missing = work.path().join("missing.bin");
    let stderr = user
        .fails(
            &["push", "acme/app@1.0.0", file, missing.to_str().unwrap()],
            8,
        )
        .await;
    assert!(stderr.contains("missing.bin"), "{stderr}");

    // Malformed REPO/PACKAGE@VERSION: a usage error naming the form.
    for bad in ["acme/app", "acme@1.0.0", "acme/app@1.0", "Acme/app@1.0.0"] {
        let stderr = user.fails(&["push", bad, file], 2).await;
        assert!(stderr.contains("REPO/PACKAGE@VERSION"), "{stderr}");
    }
    // A manifest that is not a JSON object: a local error before any call.
    let manifest = work.path().join("m.json");
    std::fs::write(&manifest, b"[1,2]").unwrap();
    user.fails(
        &[
            "push",
            "acme/app@1.0.0",
            file,
            "--manifest",
            manifest.to_str().unwrap(),
        ],
        8,
    )
    .await;

    // Nothing of the above created a version or uploaded a blob.
    let versions = user.json(&["version", "list", "acme/app"]).await;
    assert!(versions.get("versions").is_none(), "{versions}");
    let audit = user.json(&["audit", "--repo", "acme"]).await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| text(&e["action"]))
        .collect();
    assert_eq!(actions, ["repo.created", "package.created"]);

    // A profile directory that cannot be written (its parent is a file, so root fails too).
    let blocker = work.path().join("not-a-dir");
    std::fs::write(&blocker, b"").unwrap();
    let mut command = user.command(&["login"]);
    command.env("RELREG_CONFIG_DIR", blocker.join("relreg"));
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output.status.code(), Some(8));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("not-a-dir"),
        "{stderr}"
    );
    assert!(!stderr.contains(&server.admin));

    // An unknown release or version: exit 3.
    user.fails(&["version", "get", "acme/app@9.9.9"], 3).await;
    server.stop().await;
}
