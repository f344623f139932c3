//! The store contract: each case is written once against the `Store` traits and runs on a
//! fresh SQLite database (temp dir) and a fresh PostgreSQL database, with no server in
//! between. This file owns the per-backend macro, the set-up, and the records the cases share;
//! one file per store area holds the cases.

use std::sync::Arc;

use relreg::{
    domain::{
        AuditFilter, AuditRecord, Digest, Package, Repo, VersionKey, VersionRecord, VersionState,
        VersionStep,
    },
    store::{Guard, NewEvent, Outcome, Recorded, Store, Transition},
};

use crate::common::{Backend, TestDb};

mod audit;
mod blobs;
mod channels;
mod races;
mod releases;
mod repos;
mod retention;
mod tokens;
mod transitions;
mod versions;

/// Runs each named async case, `async fn(Arc<dyn Store>)`, on a fresh store per backend:
/// `sqlite::name` and `postgres::name` (run by the `full` nextest profile; they fail without
/// `RELREG_TEST_POSTGRES_URL`).
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let fresh = crate::store_contract::Fresh::open(
                        &crate::common::Backend::Sqlite,
                    )
                    .await;
                    super::$name(fresh.store.clone()).await;
                    fresh.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let backend = crate::common::Backend::postgres();
                    let fresh = crate::store_contract::Fresh::open(&backend).await;
                    super::$name(fresh.store.clone()).await;
                    fresh.close().await;
                }
            )*
        }
    };
}
pub(crate) use store_tests;

/// A store on an empty, migrated database that lives as long as this value.
pub(crate) struct Fresh {
    pub(crate) store: Arc<dyn Store>,
    // Dropped after the store: a Postgres database is dropped, the SQLite directory removed.
    _db: TestDb,
    _dir: tempfile::TempDir,
}

impl Fresh {
    /// Creates an empty database on the backend and opens it with `relreg::store::open`.
    pub(crate) async fn open(backend: &Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = TestDb::create(backend.postgres_url(), dir.path(), "relreg_test")
            .await
            .expect("create a test database");
        let store = relreg::store::open(&db.url).await.expect("open store");
        Self {
            store,
            _db: db,
            _dir: dir,
        }
    }

    /// Closes the pool so that the database can be dropped at once.
    pub(crate) async fn close(self) {
        self.store.close().await;
    }
}

/// The first timestamp the cases use (unix microseconds); later ones add to it.
pub(crate) const T0: i64 = 1_700_000_000_000_000;

/// Returns an audit record for an action on a target.
pub(crate) fn audit(action: &str, repo: &str, target: &str) -> AuditRecord {
    AuditRecord {
        at: T0,
        actor: "token:tester".into(),
        action: action.into(),
        repo: repo.into(),
        target: target.into(),
        details: "{}".into(),
        request_id: "req-1".into(),
    }
}

/// Returns the digest of a label's bytes: a valid digest that differs per label.
pub(crate) fn dg(label: &str) -> Digest {
    use sha2::Digest as _;
    Digest::from_bytes(sha2::Sha256::digest(label.as_bytes()).into())
}

/// Returns a repo record as `create_repo` stores it (the policy starts empty).
pub(crate) fn repo(key: &str, public: bool) -> Repo {
    Repo {
        key: n(key),
        public,
        display_name: Some(format!("The {key} repo")),
        created_at: T0,
        policy: relreg::domain::Policy::default(),
    }
}

/// Returns a package record.
pub(crate) fn package(repo: &str, name: &str) -> Package {
    Package {
        repo: n(repo),
        name: n(name),
        kind: "generic".into(),
        description: format!("the {name} package"),
        created_at: T0,
    }
}

/// Returns the key of a version of `acme/app`.
pub(crate) fn key(version: &str) -> VersionKey {
    VersionKey::parse("acme", "app", version).expect("a valid version key")
}

/// Returns an outbox event to hand to a change.
pub(crate) fn event(topic: &str, payload: &str) -> NewEvent {
    NewEvent {
        topic: topic.into(),
        repo: "acme".into(),
        payload: payload.into(),
    }
}

/// Creates the repo `acme` (private) with the package `app`.
pub(crate) async fn seed(store: &Arc<dyn Store>) {
    store
        .create_repo(&repo("acme", false), &audit("repo.created", "acme", "acme"))
        .await
        .expect("create repo");
    store
        .create_package(
            &package("acme", "app"),
            &audit("package.created", "acme", "acme/app"),
        )
        .await
        .expect("create package");
}

/// Returns the actions of every audit row, in id order.
pub(crate) async fn actions(store: &Arc<dyn Store>) -> Vec<String> {
    store
        .list_audit(&AuditFilter::default(), None, 10_000)
        .await
        .expect("list audit")
        .into_iter()
        .map(|e| e.record.action)
        .collect()
}

/// Returns how many audit rows carry this action.
pub(crate) async fn count(store: &Arc<dyn Store>, action: &str) -> usize {
    actions(store).await.iter().filter(|a| *a == action).count()
}

/// Returns a stored version, which must exist.
pub(crate) async fn version(store: &Arc<dyn Store>, v: &str) -> VersionRecord {
    store
        .get_version(&key(v))
        .await
        .expect("get version")
        .unwrap_or_else(|| panic!("version {v} exists"))
}

/// Returns the transition a step takes at `at`, with a content digest made from `label` (a
/// publish), or no reason and no replacement (a deprecation or yank).
pub(crate) fn change_at(step: VersionStep, at: i64, label: &str) -> Transition {
    let records = match step {
        VersionStep::Publish => Recorded::Publish {
            content_digest: dg(label),
        },
        VersionStep::Deprecate => Recorded::Deprecate {
            reason: String::new(),
            replacement: None,
        },
        VersionStep::Yank => Recorded::Yank {
            reason: String::new(),
        },
        other => panic!("{other:?} is not a state change"),
    };
    Transition { at, records }
}

/// Returns a name, which must be valid.
pub(crate) fn n(s: &str) -> relreg::domain::Name {
    relreg::domain::Name::parse("name", s).expect("a valid name")
}

/// Returns a semver version, which must be valid.
pub(crate) fn v(s: &str) -> semver::Version {
    semver::Version::parse(s).expect("a valid version")
}

/// Returns an etag with this text.
pub(crate) fn et(s: &str) -> relreg::domain::Etag {
    relreg::domain::Etag::from_text(s).expect("a non-empty etag")
}

/// Returns the release id a test calls by a short name (at most 8 bytes): its bytes in hex,
/// padded with zeros, so that ids sort as their names do.
pub(crate) fn rid(name: &str) -> relreg::domain::ReleaseId {
    assert!(name.len() <= 8, "{name} is too long for a test id");
    let text = format!("rel_{:0<16}", hex::encode(name));
    relreg::domain::ReleaseId::from_text(&text).expect("a valid id")
}

/// Creates a draft of `acme/app` and moves it to `state` through the store (no event).
pub(crate) async fn version_in(store: &Arc<dyn Store>, v: &str, state: VersionState) {
    store
        .create_version(
            &key(v),
            &et("etag-0"),
            T0,
            &audit("version.created", "acme", v),
        )
        .await
        .expect("create version");
    let k = key(v);
    let path: &[VersionStep] = match state {
        VersionState::Draft => &[],
        VersionState::Published => &[VersionStep::Publish],
        VersionState::Deprecated => &[VersionStep::Publish, VersionStep::Deprecate],
        VersionState::Yanked => &[VersionStep::Publish, VersionStep::Yank],
        VersionState::Removed => panic!("only retention removes versions"),
    };
    for &step in path {
        let change = change_at(step, T0 + 1, v);
        let guard = Guard {
            key: &k,
            step,
            etag: None,
        };
        let outcome = store
            .transition_version(guard, &change, &audit("version.changed", "acme", v), None)
            .await
            .expect("transition");
        assert_eq!(outcome, Outcome::Applied, "{v}: {step:?}");
    }
}
