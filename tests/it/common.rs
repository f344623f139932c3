//! Test support: a real server on 127.0.0.1:0 over SQLite (temp dir) or PostgreSQL (a fresh
//! database per test), tonic clients with tokens, and the per-backend test macro.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use relreg::{
    config::Config,
    domain::{Role, TokenScope},
    pb::{
        self, release_admin_client::ReleaseAdminClient,
        release_catalog_client::ReleaseCatalogClient,
    },
    registry::{Caller, NewToken, Principal},
    server,
    store::Store,
};
use tonic::{Code, Request, transport::Channel};

#[path = "../shared/harness.rs"]
mod harness;

/// Runs each named async test function once per backend: `sqlite::name` and `postgres::name`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::Backend::postgres()).await
                }
            )*
        }
    };
}
pub(crate) use backend_tests;

/// Which database a test runs on.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Sqlite,
    /// The server URL of a PostgreSQL instance; each test creates its own database there.
    Postgres(String),
}

impl Backend {
    /// Returns the PostgreSQL backend. Postgres tests run only when asked for (the `full`
    /// nextest profile); asked for without `RELREG_TEST_POSTGRES_URL`, they fail.
    pub(crate) fn postgres() -> Self {
        match std::env::var("RELREG_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Self::Postgres(url),
            _ => panic!(
                "this PostgreSQL test needs RELREG_TEST_POSTGRES_URL \
                 (e.g. postgres://postgres@127.0.0.1:5432/test)"
            ),
        }
    }
}

impl Backend {
    /// The PostgreSQL server URL tests create their databases on; `None` for SQLite.
    pub(crate) fn postgres_url(&self) -> Option<&str> {
        match self {
            Self::Sqlite => None,
            Self::Postgres(url) => Some(url),
        }
    }
}

/// A database for one test; a Postgres database is dropped afterwards.
pub(crate) type TestDb = harness::ScratchDb;

/// A running server with an admin token.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) admin: String,
    pub(crate) config: Config,
    pub(crate) store: Arc<dyn Store>,
    running: harness::Spawned,
    pub(crate) db: TestDb,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server on the backend with default settings.
    pub(crate) async fn start(backend: &Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts a server, letting the test adjust the configuration first.
    pub(crate) async fn start_with(backend: &Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = TestDb::create(backend.postgres_url(), dir.path(), "relreg_test")
            .await
            .expect("create database");
        let mut config = Config::for_dir(dir.path());
        config.storage.database_url = db.url.clone();
        if let Ok(bucket) = crate::s3::BLOBS_IN_S3.try_with(Clone::clone) {
            bucket.apply(&mut config);
        }
        adjust(&mut config);
        let registry = server::open_registry(&config).await.expect("open registry");
        let (_, admin) = registry
            .create_token_as(
                &Principal::Local,
                &Caller::default(),
                NewToken {
                    name: "test-admin".into(),
                    scope: TokenScope::AllRepos,
                    role: Role::Admin,
                    expires_at: None,
                },
            )
            .await
            .expect("admin token");
        let store = registry.store().clone();
        let running = harness::Spawned::start(config.clone()).await.expect("bind");
        let addr = running.addr;
        Self {
            addr,
            admin,
            config,
            store,
            running,
            db,
            _dir: dir,
        }
    }

    /// Returns the base URL for HTTP requests.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(self.url(""))
            .expect("uri")
            .connect()
            .await
            .expect("connect")
    }

    /// Returns an admin-service client.
    pub(crate) async fn admin_client(&self) -> ReleaseAdminClient<Channel> {
        ReleaseAdminClient::new(self.channel().await)
    }

    /// Returns a catalog-service client.
    pub(crate) async fn catalog_client(&self) -> ReleaseCatalogClient<Channel> {
        ReleaseCatalogClient::new(self.channel().await)
    }

    /// Creates a token through the API with the admin token; returns its secret.
    pub(crate) async fn token(&self, repo: &str, role: pb::Role) -> String {
        self.token_with_id(repo, role).await.0
    }

    /// Creates a token through the API with the admin token; returns its secret and id.
    pub(crate) async fn token_with_id(&self, repo: &str, role: pb::Role) -> (String, String) {
        let mut admin = self.admin_client().await;
        let request = pb::CreateTokenRequest {
            name: "t".into(),
            repo: repo.into(),
            role: role.into(),
            expire_time: None,
        };
        let answer = admin
            .create_token(authed(request, &self.admin))
            .await
            .expect("create token")
            .into_inner();
        (answer.secret, answer.token.expect("token").id)
    }

    /// Signals shutdown and waits for the server to stop.
    pub(crate) async fn stop(self) {
        self.running
            .stop(Duration::from_secs(30))
            .await
            .expect("server stops");
    }

    /// Signals shutdown without waiting.
    pub(crate) fn signal_shutdown(&mut self) {
        self.running.signal_shutdown();
    }
}

/// A second server on the database and blob directory of a `TestServer`, as a replica.
pub(crate) struct Replica {
    pub(crate) addr: SocketAddr,
    running: harness::Spawned,
}

impl Replica {
    /// Returns an admin-service client of the replica.
    pub(crate) async fn admin_client(&self) -> ReleaseAdminClient<Channel> {
        ReleaseAdminClient::connect(format!("http://{}", self.addr))
            .await
            .expect("connect")
    }

    /// Returns a catalog-service client of the replica.
    pub(crate) async fn catalog_client(&self) -> ReleaseCatalogClient<Channel> {
        ReleaseCatalogClient::connect(format!("http://{}", self.addr))
            .await
            .expect("connect")
    }

    /// Stops the replica.
    pub(crate) async fn stop(self) {
        self.running
            .stop(Duration::from_secs(30))
            .await
            .expect("replica");
    }
}

impl TestServer {
    /// Starts a replica: another server on the same database and blob directory.
    pub(crate) async fn start_replica(&self) -> Replica {
        let mut config = self.config.clone();
        config.public_url = None;
        let running = harness::Spawned::start(config).await.expect("bind");
        Replica {
            addr: running.addr,
            running,
        }
    }
}

/// Wraps a message in a request carrying a bearer token.
pub(crate) fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    request
}

/// Returns the `ErrorInfo` reason of a status, if any.
pub(crate) fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt as _;
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

/// Asserts a call failed with a code and (when given) a reason.
#[track_caller]
pub(crate) fn assert_error<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: Code,
    why: &str,
) -> tonic::Status {
    let status = result.expect_err("expected an error");
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    if !why.is_empty() {
        assert_eq!(reason(&status), why, "unexpected reason: {status:?}");
    }
    status
}

/// Returns `sha256:<hex>` of bytes.
pub(crate) fn digest(data: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// Returns a name, which must be valid (for calls straight to the store).
pub(crate) fn n(text: &str) -> relreg::domain::Name {
    relreg::domain::Name::parse("name", text).expect("a valid name")
}

/// Parses a `sha256:<hex>` digest, which must be valid (for calls straight to the store).
pub(crate) fn dg(text: &str) -> relreg::domain::Digest {
    relreg::domain::Digest::parse("digest", text).expect("a valid digest")
}

/// Uploads bytes to a repo in chunks; returns the digest.
pub(crate) async fn upload(
    server: &TestServer,
    token: &str,
    repo: &str,
    data: &[u8],
) -> Result<pb::UploadBlobResponse, tonic::Status> {
    use pb::upload_blob_request::Payload;
    let header = pb::UploadBlobHeader {
        repo: repo.into(),
        expected_digest: digest(data),
        expected_size: Some(data.len() as i64),
        media_type: "text/plain".into(),
    };
    let mut messages = vec![pb::UploadBlobRequest {
        payload: Some(Payload::Header(header)),
    }];
    for chunk in data.chunks(7) {
        messages.push(pb::UploadBlobRequest {
            payload: Some(Payload::Chunk(bytes::Bytes::copy_from_slice(chunk))),
        });
    }
    let mut client = server.admin_client().await;
    client
        .upload_blob(authed(futures::stream::iter(messages), token))
        .await
        .map(|r| r.into_inner())
}

/// Creates a public repo `acme` with a `generic` package `app` (or `config` when asked).
pub(crate) async fn fixture(server: &TestServer, kind: &str) {
    let mut admin = server.admin_client().await;
    admin
        .create_repo(authed(
            pb::CreateRepoRequest {
                repo: "acme".into(),
                public: true,
                display_name: "Acme".into(),
            },
            &server.admin,
        ))
        .await
        .expect("create repo");
    admin
        .create_package(authed(
            pb::CreatePackageRequest {
                repo: "acme".into(),
                package: "app".into(),
                kind: kind.into(),
                description: String::new(),
            },
            &server.admin,
        ))
        .await
        .expect("create package");
}

/// Creates a draft version with one file per `(path, bytes)`; returns the draft.
pub(crate) async fn draft(
    server: &TestServer,
    version: &str,
    files: &[(&str, &[u8])],
) -> pb::Version {
    let mut admin = server.admin_client().await;
    let mut v = admin
        .create_version(authed(
            pb::CreateVersionRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: version.into(),
            },
            &server.admin,
        ))
        .await
        .expect("create version")
        .into_inner()
        .version
        .expect("version");
    for (path, data) in files {
        let blob = upload(server, &server.admin, "acme", data)
            .await
            .expect("upload");
        v = admin
            .put_version_file(authed(
                pb::PutVersionFileRequest {
                    repo: "acme".into(),
                    package: "app".into(),
                    version: version.into(),
                    path: (*path).into(),
                    digest: blob.digest,
                    media_type: String::new(),
                    etag: v.etag.clone(),
                },
                &server.admin,
            ))
            .await
            .expect("put file")
            .into_inner()
            .version
            .expect("version");
    }
    v
}

/// Publishes a version with the admin token.
pub(crate) async fn publish(server: &TestServer, version: &str) -> pb::Version {
    let mut admin = server.admin_client().await;
    admin
        .publish_version(authed(
            pb::PublishVersionRequest {
                repo: "acme".into(),
                package: "app".into(),
                version: version.into(),
                etag: String::new(),
            },
            &server.admin,
        ))
        .await
        .expect("publish")
        .into_inner()
        .version
        .expect("version")
}

/// Frames a message as gRPC and gRPC-Web bodies carry it: flag, length, bytes.
pub(crate) fn frame(message: &impl prost::Message) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut out = vec![0u8];
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Lists all audit events of a repo's actions (admin view).
pub(crate) async fn audit_actions(server: &TestServer) -> Vec<String> {
    let events = server
        .store
        .list_audit(&relreg::domain::AuditFilter::default(), None, 10_000)
        .await
        .expect("audit");
    events.into_iter().map(|e| e.record.action).collect()
}

/// A release to create in acme, bound to app's versions by `attach`.
pub(crate) struct Rel<'a> {
    pub(crate) channel: &'a str,
    pub(crate) version: &'a str,
    pub(crate) min: &'a str,
    pub(crate) max: &'a str,
    pub(crate) platforms: &'a [&'a str],
}

impl Default for Rel<'_> {
    fn default() -> Self {
        Self {
            channel: "stable",
            version: "1.0.0",
            min: "1.0",
            max: "",
            platforms: &[],
        }
    }
}

/// Creates a draft release.
pub(crate) async fn create(server: &TestServer, rel: Rel<'_>) -> pb::Release {
    let mut admin = server.admin_client().await;
    let request = pb::CreateReleaseRequest {
        repo: "acme".into(),
        channel: rel.channel.into(),
        version: rel.version.into(),
        min_app_version: rel.min.into(),
        max_app_version: rel.max.into(),
        platforms: rel.platforms.iter().map(|p| (*p).into()).collect(),
        notes: format!("notes of {}", rel.version),
        mandatory: false,
    };
    admin
        .create_release(authed(request, &server.admin))
        .await
        .unwrap()
        .into_inner()
        .release
        .unwrap()
}

/// Attaches version `version` of acme/app to a draft release in `role`.
pub(crate) async fn attach(
    server: &TestServer,
    id: &str,
    role: &str,
    version: &str,
) -> Result<pb::Release, tonic::Status> {
    let mut admin = server.admin_client().await;
    let request = pb::AttachArtifactRequest {
        release_id: id.into(),
        role: role.into(),
        package: "app".into(),
        version: version.into(),
        etag: String::new(),
    };
    admin
        .attach_artifact(authed(request, &server.admin))
        .await
        .map(|r| r.into_inner().release.unwrap())
}

/// Publishes a release as admin.
pub(crate) async fn publish_release(
    server: &TestServer,
    id: &str,
) -> Result<pb::Release, tonic::Status> {
    let mut admin = server.admin_client().await;
    let request = pb::PublishReleaseRequest {
        release_id: id.into(),
        etag: String::new(),
    };
    admin
        .publish_release(authed(request, &server.admin))
        .await
        .map(|r| r.into_inner().release.unwrap())
}

/// Creates and publishes a release with one artifact bound to the published version 1.0.0.
pub(crate) async fn released(server: &TestServer, rel: Rel<'_>) -> pb::Release {
    let r = create(server, rel).await;
    attach(server, &r.id, "data", "1.0.0").await.unwrap();
    publish_release(server, &r.id).await.unwrap()
}

/// Words a GetLatestRelease answer: `update X`, `up_to_date X` or `app_update_required X`.
pub(crate) fn decision(answer: pb::GetLatestReleaseResponse) -> String {
    match answer.decision.unwrap() {
        pb::get_latest_release_response::Decision::Update(u) => {
            format!("update {}", u.release.unwrap().version)
        }
        pb::get_latest_release_response::Decision::UpToDate(u) => format!(
            "up_to_date {}",
            u.release.map(|r| r.version).unwrap_or_default()
        ),
        pb::get_latest_release_response::Decision::AppUpdateRequired(a) => {
            format!("app_update_required {}", a.min_app_version)
        }
    }
}

/// Runs SQL on the test server's database.
pub(crate) async fn exec(server: &TestServer, text: &str) {
    if server.db.url.starts_with("sqlite:") {
        use sqlx::Connection as _;
        let mut c = sqlx::SqliteConnection::connect(&server.db.url)
            .await
            .unwrap();
        sqlx::query(text).execute(&mut c).await.unwrap();
    } else {
        use sqlx::Connection as _;
        let mut c = sqlx::PgConnection::connect(&server.db.url).await.unwrap();
        sqlx::query(text).execute(&mut c).await.unwrap();
    }
}

/// Reads one integer with SQL from the test server's database.
pub(crate) async fn scalar(server: &TestServer, text: &str) -> i64 {
    use sqlx::Connection as _;
    if server.db.url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(&server.db.url)
            .await
            .unwrap();
        sqlx::query_scalar(text).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(&server.db.url).await.unwrap();
        sqlx::query_scalar(text).fetch_one(&mut c).await.unwrap()
    }
}

/// Fails when python3 cannot import `module`, saying which PyPI package to install.
pub(crate) fn require_python(module: &str, package: &str) {
    let ok = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "this test needs python3 with the {package} package: python3 -m pip install {package}"
    );
}

/// Runs a python3 script with `input` as JSON on its stdin; returns its stdout as JSON.
pub(crate) fn python_json(script: &str, input: &serde_json::Value) -> serde_json::Value {
    use std::io::Write as _;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}
