//! Signing (issue 11): keys from files, repo roots and rotation, manifests signed once at
//! publish (independent of the public URL), signed channel heads re-signed on change and
//! before expiry. Every check verifies Ed25519 signatures with the public key.

use std::{path::PathBuf, time::Duration};

use prost::Message as _;
use relreg::{domain::PublicKey, pb};
use tonic::Code;

use crate::{
    cli::User,
    common::{
        Backend, Rel, TestServer, assert_error, audit_actions, authed, backend_tests, draft,
        fixture, publish, released,
    },
};

backend_tests!(
    keys_roots_and_rotation,
    manifests_are_signed_once_and_survive_a_new_public_url,
    channel_heads_are_signed_and_follow_changes,
    heads_are_resigned_before_they_expire,
    sync_with_trust_refuses_replayed_expired_and_mixed_answers,
    concurrent_key_changes_write_one_root_each,
);

/// Generates a key pair with `relreg key generate`; returns the private key path and key id.
pub(crate) async fn generate(user: &User, dir: &std::path::Path, name: &str) -> (PathBuf, String) {
    let out = user
        .run(&[
            "key",
            "generate",
            "--out",
            dir.to_str().unwrap(),
            "--name",
            name,
        ])
        .await;
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("key "))
        .expect("key id line")
        .to_owned();
    (dir.join(format!("{name}.key")), id)
}

/// Verifies an envelope's signature by `key` (fails the test otherwise).
fn verified(envelope: &pb::SignedEnvelope, key: &PublicKey) -> bool {
    envelope
        .signatures
        .iter()
        .any(|s| s.key_id == key.id() && key.verify(&envelope.payload, &s.signature).is_ok())
}

pub(crate) fn public(path: &std::path::Path) -> PublicKey {
    PublicKey::from_pem(&std::fs::read_to_string(path.with_extension("pub")).unwrap()).unwrap()
}

/// A server holding two generated keys, with repo acme trusting the first.
pub(crate) struct Signed {
    pub(crate) server: TestServer,
    /// k1's private key file (its public key sits next to it as `.pub`).
    p1: PathBuf,
    pub(crate) k1: PublicKey,
    pub(crate) k2: PublicKey,
    _keys: tempfile::TempDir,
}

pub(crate) async fn signed_server(backend: &Backend, head_expiry: u64) -> Signed {
    let keys = tempfile::tempdir().unwrap();
    // `key generate` is offline: any server URL will do.
    let bootstrap = TestServer::start(&Backend::Sqlite).await;
    let user = User::new(&bootstrap);
    let (p1, id1) = generate(&user, keys.path(), "one").await;
    let (p2, id2) = generate(&user, keys.path(), "two").await;
    bootstrap.stop().await;
    let server = TestServer::start_with(backend, |c| {
        c.trust.signing_keys = vec![p1.clone(), p2];
        c.trust.head_expiry_secs = head_expiry;
    })
    .await;
    let k1 = public(&p1);
    let k2 = public(&keys.path().join("two.key"));
    assert_eq!((k1.id(), k2.id()), (id1.as_str(), id2.as_str()));
    fixture(&server, "generic").await;
    let mut admin = server.admin_client().await;
    admin
        .set_repo_keys(authed(
            pb::SetRepoKeysRequest {
                repo: "acme".into(),
                trust: vec![id1],
                untrust: vec![],
            },
            &server.admin,
        ))
        .await
        .expect("trust k1");
    Signed {
        server,
        p1,
        k1,
        k2,
        _keys: keys,
    }
}

async fn keys_roots_and_rotation(backend: Backend) {
    let s = signed_server(&backend, 86_400).await;
    let server = &s.server;

    // The private key file is 0600; `key show` prints the id of either file.
    let dir = tempfile::tempdir().unwrap();
    let user = User::new(server);
    let (p3, id3) = generate(&user, dir.path(), "three").await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&p3).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let shown = user
        .run(&[
            "key",
            "show",
            p3.to_str().unwrap(),
            p3.with_extension("pub").to_str().unwrap(),
        ])
        .await;
    let shown = String::from_utf8(shown.stdout).unwrap();
    assert_eq!(shown.matches(&id3).count(), 2, "{shown}");

    let mut catalog = server.catalog_client().await;
    let root1 = catalog
        .get_trust_root(pb::GetTrustRootRequest {
            repo: "acme".into(),
            root_version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let env1 = root1.root.unwrap();
    assert!(verified(&env1, &s.k1));
    let decoded1 = pb::TrustRoot::decode(env1.payload.as_ref()).unwrap();
    assert_eq!(decoded1.version, 1);
    assert_eq!(decoded1.keys.len(), 1);
    assert_eq!(decoded1.keys[0].key_id, s.k1.id());
    assert_eq!(decoded1.keys[0].public_key.as_ref(), s.k1.raw());

    // Bad input changes nothing: a malformed id, a key the server does not hold.
    let mut admin = server.admin_client().await;
    let bad = admin
        .set_repo_keys(authed(
            pb::SetRepoKeysRequest {
                repo: "acme".into(),
                trust: vec!["nothex".into()],
                untrust: vec![],
            },
            &server.admin,
        ))
        .await;
    assert_error(bad, Code::InvalidArgument, "INVALID_ARGUMENT");
    let unheld = admin
        .set_repo_keys(authed(
            pb::SetRepoKeysRequest {
                repo: "acme".into(),
                trust: vec![id3.clone()],
                untrust: vec![],
            },
            &server.admin,
        ))
        .await;
    assert_eq!(unheld.unwrap_err().code(), Code::FailedPrecondition);
    // A reader may not change keys.
    let reader = server.token("acme", pb::Role::Reader).await;
    let denied = admin
        .set_repo_keys(authed(
            pb::SetRepoKeysRequest {
                repo: "acme".into(),
                trust: vec![s.k2.id().into()],
                untrust: vec![],
            },
            &reader,
        ))
        .await;
    assert_eq!(denied.unwrap_err().code(), Code::PermissionDenied);

    // Rotation through the CLI: root 2 names only k2, signed by k1 (old) and k2 (new).
    let out = user
        .run(&["key", "rotate", "acme", "--to", s.k2.id()])
        .await;
    assert!(out.status.success(), "{out:?}");
    let root2 = catalog
        .get_trust_root(pb::GetTrustRootRequest {
            repo: "acme".into(),
            root_version: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .root
        .unwrap();
    let decoded2 = pb::TrustRoot::decode(root2.payload.as_ref()).unwrap();
    assert_eq!(decoded2.version, 2);
    assert_eq!(
        decoded2
            .keys
            .iter()
            .map(|k| k.key_id.as_str())
            .collect::<Vec<_>>(),
        [s.k2.id()]
    );
    // A client pinned to k1 follows the chain: root 2 carries k1's signature, then k2's.
    assert!(verified(&root2, &s.k1), "root 2 signed by the previous key");
    assert!(verified(&root2, &s.k2), "root 2 signed by the new key");
    // Old roots stay readable by version.
    let again1 = catalog
        .get_trust_root(pb::GetTrustRootRequest {
            repo: "acme".into(),
            root_version: 1,
        })
        .await
        .unwrap()
        .into_inner()
        .root
        .unwrap();
    assert_eq!(again1.payload, env1.payload);
    // Rotating to the same key again changes nothing.
    let out = user
        .run(&["key", "rotate", "acme", "--to", s.k2.id()])
        .await;
    assert!(out.status.success(), "{out:?}");
    let actions = audit_actions(server).await;
    assert_eq!(actions.iter().filter(|a| *a == "repo.keys_set").count(), 2);

    // The JSON bridge serves the root too.
    let json: serde_json::Value = reqwest::get(server.url("/v1/repos/acme/trust/root"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["decoded"]["version"], "2", "{json}");
    assert_eq!(json["decoded"]["keys"][0]["keyId"], s.k2.id());
    s.server.stop().await;
}

async fn manifests_are_signed_once_and_survive_a_new_public_url(backend: Backend) {
    let s = signed_server(&backend, 86_400).await;
    let server = &s.server;
    draft(server, "1.0.0", &[("a.txt", b"alpha"), ("b.bin", b"beta")]).await;
    publish(server, "1.0.0").await;
    let release = released(server, Rel::default()).await;

    let mut catalog = server.catalog_client().await;
    let answer = catalog
        .get_release_manifest(pb::GetReleaseManifestRequest {
            release_id: release.id.clone(),
        })
        .await
        .unwrap();
    let grpc_header = answer
        .metadata()
        .get("relreg-manifest-signature")
        .map(|v| v.to_str().unwrap().to_owned());
    let answer = answer.into_inner();
    let signed = answer.signed_manifest.clone().expect("signed at publish");
    assert!(verified(&signed, &s.k1));
    // The same signatures travel as a header: `<key id>=<base64 signature>`.
    let grpc_header = grpc_header.expect("gRPC metadata relreg-manifest-signature");
    assert!(
        header_verifies(&grpc_header, &signed.payload, &s.k1),
        "{grpc_header}"
    );
    let m = pb::SignedManifest::decode(signed.payload.as_ref()).unwrap();
    assert_eq!(m.release_id, release.id);
    assert_eq!(
        (m.repo.as_str(), m.channel.as_str(), m.version.as_str()),
        ("acme", "stable", "1.0.0")
    );
    assert_eq!(m.artifacts.len(), 1);
    let files: Vec<(String, String, i64)> = m.artifacts[0]
        .files
        .iter()
        .map(|f| (f.path.clone(), f.digest.clone(), f.size))
        .collect();
    assert_eq!(
        files,
        [
            ("a.txt".into(), crate::common::digest(b"alpha"), 5),
            ("b.bin".into(), crate::common::digest(b"beta"), 4)
        ]
    );
    // Nothing deployment-specific is signed.
    let text = String::from_utf8_lossy(&signed.payload);
    assert!(!text.contains("http"), "signed bytes name a URL");
    // A tampered payload does not verify.
    let mut tampered = signed.clone();
    let mut bytes = tampered.payload.to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    tampered.payload = bytes.into();
    assert!(!verified(&tampered, &s.k1));

    // A replica with another public URL serves other download links and the same signature.
    let replica = server.start_replica().await;
    let elsewhere = replica
        .catalog_client()
        .await
        .get_release_manifest(pb::GetReleaseManifestRequest {
            release_id: release.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let url = |m: &pb::GetReleaseManifestResponse| {
        m.manifest.as_ref().unwrap().artifacts[0].files[0]
            .url
            .clone()
    };
    assert_ne!(url(&answer), url(&elsewhere), "the public URL moved");
    assert_eq!(
        elsewhere.signed_manifest.as_ref(),
        Some(&signed),
        "never re-signed"
    );
    replica.stop().await;

    // Rotating keys does not re-sign published manifests.
    let mut admin = server.admin_client().await;
    admin
        .set_repo_keys(authed(
            pb::SetRepoKeysRequest {
                repo: "acme".into(),
                trust: vec![s.k2.id().into()],
                untrust: vec![s.k1.id().into()],
            },
            &server.admin,
        ))
        .await
        .unwrap();
    let after = catalog
        .get_release_manifest(pb::GetReleaseManifestRequest {
            release_id: release.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.signed_manifest.as_ref(), Some(&signed));

    // The JSON bridge carries the signature as base64, and in the header (also when the
    // answer comes from its cache).
    for _ in 0..2 {
        let answer = reqwest::get(server.url(&format!("/v1/releases/{}/manifest", release.id)))
            .await
            .unwrap();
        let header = answer.headers()["relreg-manifest-signature"]
            .to_str()
            .unwrap()
            .to_owned();
        let json: serde_json::Value = answer.json().await.unwrap();
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::STANDARD
            .decode(json["signedManifest"]["payload"].as_str().unwrap())
            .unwrap();
        assert_eq!(payload, signed.payload.as_ref());
        assert!(header_verifies(&header, &payload, &s.k1), "{header}");
    }
    s.server.stop().await;
}

/// Whether a `relreg-manifest-signature` value holds a signature by `key` over `payload`.
fn header_verifies(header: &str, payload: &[u8], key: &PublicKey) -> bool {
    use base64::Engine as _;
    header.split(", ").any(|entry| {
        let (id, sig) = entry.split_once('=').unwrap();
        let sig = base64::engine::general_purpose::STANDARD
            .decode(sig)
            .unwrap();
        id == key.id() && key.verify(payload, &sig).is_ok()
    })
}

async fn head(server: &TestServer) -> (pb::SignedEnvelope, pb::ChannelHead) {
    let answer = server
        .catalog_client()
        .await
        .get_channel_head(pb::GetChannelHeadRequest {
            repo: "acme".into(),
            channel: "stable".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let envelope = answer.head.unwrap();
    let decoded = pb::ChannelHead::decode(envelope.payload.as_ref()).unwrap();
    (envelope, decoded)
}

async fn channel_heads_are_signed_and_follow_changes(backend: Backend) {
    let s = signed_server(&backend, 86_400).await;
    let server = &s.server;
    draft(server, "1.0.0", &[("a.txt", b"alpha")]).await;
    publish(server, "1.0.0").await;
    let r1 = released(server, Rel::default()).await;
    let (env1, h1) = head(server).await;
    assert!(verified(&env1, &s.k1));
    assert_eq!(
        h1.releases
            .iter()
            .map(|r| r.release_id.as_str())
            .collect::<Vec<_>>(),
        [r1.id.as_str()]
    );
    assert_eq!(h1.expires_unix - h1.signed_unix, 86_400);
    assert!(h1.releases[0].manifest_digest.starts_with("sha256:"));
    // Reading again changes nothing (served from memory; no re-signing on reads).
    let (again, _) = head(server).await;
    assert_eq!(again, env1);

    let r2 = released(
        server,
        Rel {
            version: "1.1.0",
            ..Rel::default()
        },
    )
    .await;
    let (env2, h2) = head(server).await;
    assert!(verified(&env2, &s.k1));
    assert!(h2.version > h1.version, "{} > {}", h2.version, h1.version);
    assert!(h2.sequence > h1.sequence);
    assert_ne!(h2.inputs_digest, h1.inputs_digest);
    let mut listed: Vec<&str> = h2.releases.iter().map(|r| r.release_id.as_str()).collect();
    listed.sort();
    let mut want = vec![r1.id.as_str(), r2.id.as_str()];
    want.sort();
    assert_eq!(listed, want);

    // Deprecating r2 removes it from the head.
    server
        .admin_client()
        .await
        .deprecate_release(authed(
            pb::DeprecateReleaseRequest {
                release_id: r2.id.clone(),
                reason: "bad".into(),
                replacement: String::new(),
            },
            &server.admin,
        ))
        .await
        .unwrap();
    let (_, h3) = head(server).await;
    assert!(h3.version > h2.version);
    assert_eq!(
        h3.releases
            .iter()
            .map(|r| r.release_id.as_str())
            .collect::<Vec<_>>(),
        [r1.id.as_str()]
    );

    // A replica serves the same head; the JSON bridge too.
    let replica = server.start_replica().await;
    let from_replica = replica
        .catalog_client()
        .await
        .get_channel_head(pb::GetChannelHeadRequest {
            repo: "acme".into(),
            channel: "stable".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .decoded
        .unwrap();
    assert_eq!(from_replica.version, h3.version);
    replica.stop().await;
    let json: serde_json::Value = reqwest::get(server.url("/v1/repos/acme/channels/stable/head"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["decoded"]["version"], h3.version.to_string(), "{json}");

    // An unknown channel has no head; a repo trusting no key neither.
    let missing = server
        .catalog_client()
        .await
        .get_channel_head(pb::GetChannelHeadRequest {
            repo: "acme".into(),
            channel: "nightly".into(),
        })
        .await;
    assert_eq!(missing.unwrap_err().code(), Code::NotFound);
    s.server.stop().await;
}

async fn heads_are_resigned_before_they_expire(backend: Backend) {
    let s = signed_server(&backend, 4).await;
    let server = &s.server;
    draft(server, "1.0.0", &[("a.txt", b"alpha")]).await;
    publish(server, "1.0.0").await;
    released(server, Rel::default()).await;
    let (_, first) = head(server).await;
    assert_eq!(first.expires_unix - first.signed_unix, 4);
    // The background keeper re-signs at half the lifetime; the served head never expires.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (env, now) = head(server).await;
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(now.expires_unix >= unix, "served an expired head");
        if now.version > first.version {
            assert!(verified(&env, &s.k1));
            assert_eq!(now.inputs_digest, first.inputs_digest);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "head never re-signed");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    s.server.stop().await;
}

/// What the attacking proxy changes.
#[derive(Default)]
struct Attack {
    /// Serve this head instead of the server's.
    head: Option<pb::GetChannelHeadResponse>,
    /// Serve this signed manifest with the manifest asked for.
    signed_manifest: Option<pb::SignedEnvelope>,
}

/// A gRPC passthrough to the real server that replays, forges or mixes answers.
#[derive(Clone)]
struct Proxy {
    upstream: pb::release_catalog_client::ReleaseCatalogClient<tonic::transport::Channel>,
    attack: std::sync::Arc<std::sync::Mutex<Attack>>,
}

type Answer<T> = Result<tonic::Response<T>, tonic::Status>;

#[tonic::async_trait]
impl pb::release_catalog_server::ReleaseCatalog for Proxy {
    async fn get_package(
        &self,
        request: tonic::Request<pb::GetPackageRequest>,
    ) -> Answer<pb::GetPackageResponse> {
        self.upstream
            .clone()
            .get_package(request.into_inner())
            .await
    }

    async fn list_versions(
        &self,
        request: tonic::Request<pb::ListVersionsRequest>,
    ) -> Answer<pb::ListVersionsResponse> {
        self.upstream
            .clone()
            .list_versions(request.into_inner())
            .await
    }

    async fn get_version(
        &self,
        request: tonic::Request<pb::GetVersionRequest>,
    ) -> Answer<pb::GetVersionResponse> {
        self.upstream
            .clone()
            .get_version(request.into_inner())
            .await
    }

    async fn resolve_version(
        &self,
        request: tonic::Request<pb::ResolveVersionRequest>,
    ) -> Answer<pb::ResolveVersionResponse> {
        self.upstream
            .clone()
            .resolve_version(request.into_inner())
            .await
    }

    async fn get_latest_release(
        &self,
        request: tonic::Request<pb::GetLatestReleaseRequest>,
    ) -> Answer<pb::GetLatestReleaseResponse> {
        self.upstream
            .clone()
            .get_latest_release(request.into_inner())
            .await
    }

    async fn get_release(
        &self,
        request: tonic::Request<pb::GetReleaseRequest>,
    ) -> Answer<pb::GetReleaseResponse> {
        self.upstream
            .clone()
            .get_release(request.into_inner())
            .await
    }

    async fn list_releases(
        &self,
        request: tonic::Request<pb::ListReleasesRequest>,
    ) -> Answer<pb::ListReleasesResponse> {
        self.upstream
            .clone()
            .list_releases(request.into_inner())
            .await
    }

    async fn get_trust_root(
        &self,
        request: tonic::Request<pb::GetTrustRootRequest>,
    ) -> Answer<pb::GetTrustRootResponse> {
        self.upstream
            .clone()
            .get_trust_root(request.into_inner())
            .await
    }

    type DownloadBlobStream = std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<pb::DownloadBlobResponse, tonic::Status>> + Send>,
    >;

    async fn download_blob(
        &self,
        request: tonic::Request<pb::DownloadBlobRequest>,
    ) -> Answer<Self::DownloadBlobStream> {
        let stream = self
            .upstream
            .clone()
            .download_blob(request.into_inner())
            .await?
            .into_inner();
        Ok(tonic::Response::new(Box::pin(stream)))
    }

    type WatchReleasesStream = std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<pb::WatchReleasesResponse, tonic::Status>> + Send>,
    >;

    async fn watch_releases(
        &self,
        request: tonic::Request<pb::WatchReleasesRequest>,
    ) -> Answer<Self::WatchReleasesStream> {
        let stream = self
            .upstream
            .clone()
            .watch_releases(request.into_inner())
            .await?
            .into_inner();
        Ok(tonic::Response::new(Box::pin(stream)))
    }

    async fn get_release_manifest(
        &self,
        request: tonic::Request<pb::GetReleaseManifestRequest>,
    ) -> Answer<pb::GetReleaseManifestResponse> {
        let mut answer = self
            .upstream
            .clone()
            .get_release_manifest(request.into_inner())
            .await?
            .into_inner();
        if let Some(signed) = &self.attack.lock().unwrap().signed_manifest {
            answer.signed_manifest = Some(signed.clone());
        }
        Ok(tonic::Response::new(answer))
    }

    async fn get_channel_head(
        &self,
        request: tonic::Request<pb::GetChannelHeadRequest>,
    ) -> Answer<pb::GetChannelHeadResponse> {
        if let Some(head) = &self.attack.lock().unwrap().head {
            return Ok(tonic::Response::new(head.clone()));
        }
        self.upstream
            .clone()
            .get_channel_head(request.into_inner())
            .await
    }
}

async fn start_proxy(
    server: &TestServer,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Attack>>,
) {
    let attack = std::sync::Arc::new(std::sync::Mutex::new(Attack::default()));
    let proxy = Proxy {
        upstream: server.catalog_client().await,
        attack: attack.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // gRPC goes to the passthrough; plain HTTP (blob downloads) is forwarded as it is.
    let upstream = server.url("");
    let forward = move |request: axum::extract::Request| {
        let upstream = upstream.clone();
        async move {
            let path = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let mut out = reqwest::Client::new().get(format!("{upstream}{path}"));
            for name in ["range", "if-range", "authorization"] {
                if let Some(v) = request.headers().get(name) {
                    out = out.header(name, v.as_bytes());
                }
            }
            let answer = out.send().await.unwrap();
            let mut response = axum::response::Response::builder().status(answer.status().as_u16());
            for (name, value) in answer.headers() {
                response = response.header(name.as_str(), value.as_bytes());
            }
            let body = answer.bytes().await.unwrap();
            response.body(axum::body::Body::from(body)).unwrap()
        }
    };
    let app =
        tonic::service::Routes::new(pb::release_catalog_server::ReleaseCatalogServer::new(proxy))
            .into_axum_router()
            .fallback(forward);
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, attack)
}

/// Where `current` points, if anywhere.
fn current(dir: &std::path::Path) -> Option<PathBuf> {
    std::fs::read_link(dir.join("current")).ok()
}

async fn sync_with_trust_refuses_replayed_expired_and_mixed_answers(backend: Backend) {
    let s = signed_server(&backend, 86_400).await;
    let server = &s.server;
    draft(server, "1.0.0", &[("a.txt", b"alpha")]).await;
    publish(server, "1.0.0").await;
    let r1 = released(server, Rel::default()).await;
    let (addr, attack) = start_proxy(server).await;
    let mut user = User::new(server);
    user.server = format!("http://{addr}");
    let dir = tempfile::tempdir().unwrap();
    let pin = s.p1.with_extension("pub");
    let sync = |user: &User| {
        let (dir, pin) = (
            dir.path().to_str().unwrap().to_owned(),
            pin.to_str().unwrap().to_owned(),
        );
        let mut command = user.command(&[
            "sync",
            "--repo",
            "acme",
            "--channel",
            "stable",
            "--app-version",
            "1.0",
            "--dir",
            &dir,
            "--trust",
            &pin,
            "--retries",
            "0",
        ]);
        async move {
            let out = tokio::task::spawn_blocking(move || command.output())
                .await
                .unwrap()
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };

    // Happy path: verified and installed.
    let (code, err) = sync(&user).await;
    assert_eq!(code, Some(0), "{err}");
    let first = current(dir.path()).expect("current");
    assert!(first.to_string_lossy().contains(&r1.id));
    let (old_head_env, old_head) = head(server).await;

    // A newer release; the sync moves to it and remembers the newer head.
    let r2 = released(
        server,
        Rel {
            version: "1.1.0",
            ..Rel::default()
        },
    )
    .await;
    let (code, err) = sync(&user).await;
    assert_eq!(code, Some(0), "{err}");
    let second = current(dir.path()).expect("current");
    assert!(second.to_string_lossy().contains(&r2.id));

    // Rollback: the proxy replays the old (validly signed, unexpired) head.
    attack.lock().unwrap().head = Some(pb::GetChannelHeadResponse {
        head: Some(old_head_env.clone()),
        decoded: Some(old_head.clone()),
    });
    let (code, err) = sync(&user).await;
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("rollback"), "{err}");
    assert_eq!(current(dir.path()), Some(second.clone()));

    // Freeze: a head signed by the trusted key but expired.
    let (_, now_head) = head(server).await;
    let mut expired = now_head.clone();
    expired.expires_unix = expired.signed_unix - 10;
    let key = relreg::domain::KeyPair::load(&s.p1).unwrap();
    let envelope = relreg::domain::Envelope::sign(expired.encode_to_vec(), [&key]);
    attack.lock().unwrap().head = Some(pb::GetChannelHeadResponse {
        head: Some(pb::SignedEnvelope {
            payload: envelope.payload.clone().into(),
            signatures: vec![pb::EnvelopeSignature {
                key_id: key.id().into(),
                signature: envelope.signatures[0].1.clone().into(),
            }],
        }),
        decoded: Some(expired),
    });
    let (code, err) = sync(&user).await;
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("expired"), "{err}");
    assert_eq!(current(dir.path()), Some(second.clone()));

    // Mix-and-match: r3 is offered, but the proxy hands r1's signed manifest with it.
    attack.lock().unwrap().head = None;
    let r1_signed = server
        .catalog_client()
        .await
        .get_release_manifest(pb::GetReleaseManifestRequest {
            release_id: r1.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .signed_manifest
        .unwrap();
    let r3 = released(
        server,
        Rel {
            version: "1.2.0",
            ..Rel::default()
        },
    )
    .await;
    attack.lock().unwrap().signed_manifest = Some(r1_signed);
    let (code, err) = sync(&user).await;
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("mix-and-match"), "{err}");
    assert_eq!(current(dir.path()), Some(second.clone()));

    // A tampered signature is refused too.
    let mut forged = old_head_env;
    let mut bytes = forged.payload.to_vec();
    bytes[2] ^= 1;
    forged.payload = bytes.into();
    attack.lock().unwrap().signed_manifest = None;
    attack.lock().unwrap().head = Some(pb::GetChannelHeadResponse {
        head: Some(forged),
        decoded: Some(old_head),
    });
    let (code, err) = sync(&user).await;
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("not signed by a trusted key"), "{err}");
    assert_eq!(current(dir.path()), Some(second));

    // Honest answers again: the sync goes on to r3.
    attack.lock().unwrap().head = None;
    let (code, err) = sync(&user).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        current(dir.path())
            .unwrap()
            .to_string_lossy()
            .contains(&r3.id)
    );
    s.server.stop().await;
}

/// Concurrent rotations: the database's primary key lets one writer take each root version;
/// the others fail ABORTED (retryable) or find their change made, and versions never repeat
/// or skip.
async fn concurrent_key_changes_write_one_root_each(backend: Backend) {
    let s = signed_server(&backend, 86_400).await;
    let server = &s.server;
    let mut calls = Vec::new();
    for i in 0..8 {
        let mut admin = server.admin_client().await;
        let token = server.admin.clone();
        let (trust, untrust) = if i % 2 == 0 {
            (s.k2.id().to_owned(), s.k1.id().to_owned())
        } else {
            (s.k1.id().to_owned(), s.k2.id().to_owned())
        };
        calls.push(tokio::spawn(async move {
            admin
                .set_repo_keys(authed(
                    pb::SetRepoKeysRequest {
                        repo: "acme".into(),
                        trust: vec![trust],
                        untrust: vec![untrust],
                    },
                    &token,
                ))
                .await
        }));
    }
    for call in calls {
        if let Err(status) = call.await.unwrap() {
            assert_eq!(status.code(), Code::Aborted, "{status:?}");
        }
    }
    let mut catalog = server.catalog_client().await;
    let newest = catalog
        .get_trust_root(pb::GetTrustRootRequest {
            repo: "acme".into(),
            root_version: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .decoded
        .unwrap();
    let mut previous_keys = vec![s.k1.clone()];
    for version in 1..=newest.version {
        let env = catalog
            .get_trust_root(pb::GetTrustRootRequest {
                repo: "acme".into(),
                root_version: version,
            })
            .await
            .unwrap()
            .into_inner()
            .root
            .unwrap();
        let root = pb::TrustRoot::decode(env.payload.as_ref()).unwrap();
        assert_eq!(root.version, version);
        assert!(
            previous_keys.iter().any(|k| verified(&env, k)),
            "root {version} breaks the chain"
        );
        previous_keys = root
            .keys
            .iter()
            .map(|k| PublicKey::from_raw(&k.public_key).unwrap())
            .collect();
    }
    let written = audit_actions(server)
        .await
        .into_iter()
        .filter(|a| a == "repo.keys_set")
        .count() as i64;
    assert_eq!(written, newest.version, "one audit record per root");
    s.server.stop().await;
}
