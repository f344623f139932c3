//! The TUF export checked by a TUF client no one here wrote: python-tuf's `ngclient` (PyPI
//! `tuf`) bootstraps from root 1, verifies timestamp, snapshot and targets, downloads release
//! documents and the files they name, follows a key rotation, loses releases retention
//! removed, and refuses metadata changed after signing.

use std::path::Path;

use relreg::pb;
use sha2::{Digest as _, Sha256};

use crate::{
    cli::User,
    common::{
        Backend, Rel, TestServer, attach, backend_tests, create, draft, exec, publish,
        publish_release, python_json, released, require_python,
    },
    retention,
    trust::signed_server,
};

backend_tests!(tuf_client_verifies_downloads_and_follows_rotation);

/// What the python-tuf client reports.
const CLIENT: &str = r#"
import hashlib, json, sys
from tuf.ngclient import Updater
args = json.load(sys.stdin)
out = {"docs": {}, "files": {}}
try:
    bootstrap = args["bootstrap"].encode() if args["bootstrap"] else None
    up = Updater(metadata_dir=args["metadata_dir"], metadata_base_url=args["base"],
                 target_dir=args["target_dir"], target_base_url=args["base"] + "targets/",
                 bootstrap=bootstrap)
    up.refresh()
    for rid in args["releases"]:
        info = up.get_targetinfo(f"releases/{rid}.json")
        if info is None:
            raise LookupError(f"no target for release {rid}")
        with open(up.download_target(info), "rb") as f:
            doc = json.load(f)
        out["docs"][rid] = doc
        for artifact in doc["artifacts"]:
            for file in artifact["files"]:
                finfo = up.get_targetinfo(file["target"])
                if finfo is None:
                    raise LookupError(f"no target {file['target']}")
                with open(up.download_target(finfo), "rb") as f:
                    out["files"][file["path"]] = hashlib.sha256(f.read()).hexdigest()
except Exception as e:
    out["error"] = f"{type(e).__name__}: {e}"
print(json.dumps(out))
"#;

/// Runs the client with its metadata in `dir`; `bootstrap`: the trusted root to start from
/// (`None`: the one `dir` holds from an earlier run).
async fn tuf_client(
    server: &TestServer,
    dir: &Path,
    bootstrap: Option<&str>,
    releases: &[&str],
) -> serde_json::Value {
    let metadata = dir.join("metadata");
    let targets = dir.join("targets");
    std::fs::create_dir_all(&metadata).unwrap();
    std::fs::create_dir_all(&targets).unwrap();
    let args = serde_json::json!({
        "base": server.url("/v1/repos/acme/tuf/"),
        "metadata_dir": metadata, "target_dir": targets,
        "bootstrap": bootstrap, "releases": releases,
    });
    tokio::task::spawn_blocking(move || python_json(CLIENT, &args))
        .await
        .unwrap()
}

/// The `signed.version` of a metadata file the client keeps.
fn kept_version(dir: &Path, file: &str) -> i64 {
    let text = std::fs::read_to_string(dir.join("metadata").join(file)).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["signed"]["version"].as_i64().unwrap()
}

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

async fn get(server: &TestServer, path: &str) -> (u16, String) {
    let r = reqwest::get(server.url(path)).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn tuf_client_verifies_downloads_and_follows_rotation(backend: Backend) {
    require_python("tuf.ngclient", "tuf");
    let s = signed_server(&backend, 86_400).await;
    let server = &s.server;
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    draft(
        server,
        "1.0.0",
        &[("a.txt", b"alpha"), ("dir/b c#1.bin", &big)],
    )
    .await;
    publish(server, "1.0.0").await;
    let r1 = released(server, Rel::default()).await;

    // The device ships with root 1: it names k1 (TUF key ids differ from relreg's, the
    // public key is the same).
    let (status, root1) = get(server, "/v1/repos/acme/tuf/1.root.json").await;
    assert_eq!(status, 200, "{root1}");
    let parsed: serde_json::Value = serde_json::from_str(&root1).unwrap();
    let public: Vec<&str> = parsed["signed"]["keys"]
        .as_object()
        .unwrap()
        .values()
        .map(|k| k["keyval"]["public"].as_str().unwrap())
        .collect();
    assert_eq!(public, [hex::encode(s.k1.raw())]);

    let device = tempfile::tempdir().unwrap();
    let got = tuf_client(server, device.path(), Some(&root1), &[&r1.id]).await;
    assert!(got.get("error").is_none(), "{got}");
    let doc = &got["docs"][&r1.id];
    assert_eq!(
        (&doc["release_id"], &doc["version"], &doc["channel"]),
        (
            &serde_json::json!(r1.id),
            &serde_json::json!("1.0.0"),
            &serde_json::json!("stable")
        )
    );
    assert_eq!(doc["artifacts"][0]["package"], "app");
    assert_eq!(got["files"]["a.txt"], sha256(b"alpha"));
    assert_eq!(got["files"]["dir/b c#1.bin"], sha256(&big));
    assert_eq!(kept_version(device.path(), "root.json"), 1);
    let targets_before = kept_version(device.path(), "targets.json");

    // Rotation to k2, then a second release: the device follows root 1 → 2 (signed by both
    // keys) and sees newer targets.
    let out = User::new(server)
        .run(&["key", "rotate", "acme", "--to", s.k2.id()])
        .await;
    assert!(out.status.success(), "{out:?}");
    draft(server, "1.0.1", &[("a.txt", b"alpha two")]).await;
    publish(server, "1.0.1").await;
    let r2 = create(
        server,
        Rel {
            version: "1.0.1",
            ..Rel::default()
        },
    )
    .await;
    attach(server, &r2.id, "data", "1.0.1").await.unwrap();
    publish_release(server, &r2.id).await.unwrap();
    let got = tuf_client(server, device.path(), None, &[&r1.id, &r2.id]).await;
    assert!(got.get("error").is_none(), "{got}");
    assert_eq!(got["docs"][&r2.id]["version"], "1.0.1");
    assert_eq!(got["files"]["a.txt"], sha256(b"alpha two"));
    assert_eq!(kept_version(device.path(), "root.json"), 2);
    assert!(kept_version(device.path(), "targets.json") > targets_before);
    let (_, root2) = get(server, "/v1/repos/acme/tuf/root.json").await;
    assert!(root2.contains(&hex::encode(s.k2.raw())));
    assert!(!root2.contains(&hex::encode(s.k1.raw())));

    // Retention removes release 1 (deprecated, no longer offered): its document leaves the
    // targets at once, and the device, refreshing, no longer finds it; release 2 stays.
    retention::deprecate_release(server, &r1.id).await;
    retention::set_retention(server, 1, 0, 1).await;
    let removed = retention::run(server, false).await.unwrap();
    assert!(removed.iter().any(|r| r.contains(&r1.id)), "{removed:?}");
    let (_, targets) = get(server, "/v1/repos/acme/tuf/targets.json").await;
    assert!(!targets.contains(&format!("releases/{}.json", r1.id)));
    assert!(targets.contains(&format!("releases/{}.json", r2.id)));
    let got = tuf_client(server, device.path(), None, &[&r2.id]).await;
    assert!(got.get("error").is_none(), "{got}");
    let got = tuf_client(server, device.path(), None, &[&r1.id]).await;
    assert_eq!(
        got["error"],
        format!("LookupError: no target for release {}", r1.id)
    );

    // Metadata changed after signing (a file's hash swapped in the stored targets): a new
    // device, starting from root 1, refuses it.
    exec(
        server,
        &format!(
            "UPDATE tuf_metadata SET targets_json = REPLACE(targets_json, '{}', '{}')",
            sha256(b"alpha two"),
            sha256(b"omega")
        ),
    )
    .await;
    let fresh = tempfile::tempdir().unwrap();
    let got = tuf_client(server, fresh.path(), Some(&root1), &[&r2.id]).await;
    let error = got["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("UnsignedMetadataError: targets was signed by 0/1"),
        "{got}"
    );

    // What is not there is 404: a root not written yet, a name TUF does not use, a repo
    // that trusts no key, an unknown target.
    for path in [
        "/v1/repos/acme/tuf/3.root.json",
        "/v1/repos/acme/tuf/delegated.json",
        "/v1/repos/acme/tuf/targets/releases/rel_0000000000000000.json",
        "/v1/repos/acme/tuf/targets/packages/app/9.9.9/a.txt",
    ] {
        assert_eq!(get(server, path).await.0, 404, "{path}");
    }
    let mut admin = server.admin_client().await;
    admin
        .create_repo(crate::common::authed(
            pb::CreateRepoRequest {
                repo: "plain".into(),
                public: true,
                display_name: String::new(),
            },
            &server.admin,
        ))
        .await
        .unwrap();
    for file in ["root.json", "1.root.json", "timestamp.json", "targets.json"] {
        let path = format!("/v1/repos/plain/tuf/{file}");
        assert_eq!(get(server, &path).await.0, 404, "{path}");
    }
    s.server.stop().await;
}
