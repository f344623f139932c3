//! An S3-compatible server for tests: moto (`python3 -m moto.server`, from PyPI's
//! `moto[server]`) on a free loopback port, one per test, with a fresh bucket; the
//! `s3_blob_tests!` macro that runs blob tests of other modules with their server's blobs in
//! that bucket; and helpers that look into the bucket the way the tests look into a blob
//! directory. Tests using it carry `s3_server` in their names (left out of the default
//! nextest profile; in the `full` profile they fail when moto is missing).

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use relreg::config::Config;

use crate::common::TestServer;

/// Runs each named async test function on SQLite with its blobs in a moto bucket, as
/// `s3_server::name`.
macro_rules! s3_blob_tests {
    ($($name:ident),* $(,)?) => {
        mod s3_server {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let moto = crate::s3::Moto::start().await;
                    let bucket = moto.bucket().await;
                    crate::s3::BLOBS_IN_S3
                        .scope(bucket, super::$name(crate::common::Backend::Sqlite))
                        .await
                }
            )*
        }
    };
}
pub(crate) use s3_blob_tests;

tokio::task_local! {
    /// The bucket test servers started in this task keep their blobs in.
    pub(crate) static BLOBS_IN_S3: Bucket;
}

/// A running moto server, killed on drop.
pub(crate) struct Moto {
    pub(crate) endpoint: String,
    child: Child,
}

/// A bucket on a moto server.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    pub(crate) endpoint: String,
    pub(crate) name: String,
}

impl Moto {
    /// Starts moto on a free port and waits until it answers; fails saying what to install
    /// when it cannot start.
    pub(crate) async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("this S3 test needs python3 with moto: pip install 'moto[server]'");
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    use std::io::Read as _;
                    let _ = stderr.read_to_string(&mut err);
                }
                panic!(
                    "moto did not start ({status}); this S3 test needs python3 with moto: \
                     pip install 'moto[server]'\n{err}"
                );
            }
            if http.get(&endpoint).send().await.is_ok() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto did not answer on {endpoint} within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { endpoint, child }
    }

    /// Creates a fresh bucket.
    pub(crate) async fn bucket(&self) -> Bucket {
        let name = format!(
            "relreg-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let r = reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await
            .expect("create bucket");
        assert!(r.status().is_success(), "create bucket: {r:?}");
        Bucket {
            endpoint: self.endpoint.clone(),
            name,
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bucket {
    /// Points a configuration's blob store at this bucket (under a prefix, as deployments
    /// sharing a bucket do).
    pub(crate) fn apply(&self, config: &mut Config) {
        let remote = &mut config.storage.remote;
        remote.blob_url = Some(format!("s3://{}/relreg", self.name));
        remote.s3_endpoint = Some(self.endpoint.clone());
        remote.s3_region = Some("us-east-1".into());
        remote.s3_access_key_id = Some("testing".into());
        remote.s3_secret_access_key = Some("testing".into());
        remote.s3_allow_http = true;
    }

    /// Lists the keys under a prefix (below the store's own `relreg/` prefix).
    pub(crate) async fn keys(&self, prefix: &str) -> Vec<String> {
        let body = reqwest::Client::new()
            .get(format!(
                "{}/{}?list-type=2&prefix=relreg/{prefix}",
                self.endpoint, self.name
            ))
            .send()
            .await
            .expect("list objects")
            .text()
            .await
            .unwrap();
        let mut keys: Vec<String> = body
            .split("<Key>")
            .skip(1)
            .filter_map(|part| part.split("</Key>").next())
            .map(|k| k.trim_start_matches("relreg/").to_owned())
            .collect();
        keys.sort();
        keys
    }
}

/// The bucket a test server keeps its blobs in, if any.
pub(crate) fn bucket_of(server: &TestServer) -> Option<Bucket> {
    let remote = &server.config.storage.remote;
    let url = remote.blob_url.as_deref()?;
    let name = url.strip_prefix("s3://")?.split('/').next()?.to_owned();
    Some(Bucket {
        endpoint: remote.s3_endpoint.clone()?,
        name,
    })
}

/// Whether a blob's bytes are stored (a file in the blob directory, or an object).
pub(crate) async fn blob_stored(server: &TestServer, digest: &str) -> bool {
    let hex = digest.trim_start_matches("sha256:");
    let key = format!("sha256/{}/{hex}", &hex[..2]);
    match bucket_of(server) {
        Some(bucket) => bucket.keys(&key).await.contains(&key),
        None => server.config.storage.blob_dir.join(key).exists(),
    }
}
