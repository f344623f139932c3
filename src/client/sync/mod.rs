//! The device-side sync engine: keeps a directory on the release a channel offers this app
//! version, verified and switched atomically, with earlier releases kept for local rollback.
//!
//! Layout of a sync directory `D`:
//! - `D/objects/sha256/<hex>`: verified file contents, shared by all releases (`store.rs`);
//! - `D/staging/<hex>.partial`: downloads in progress, resumed by the next run (`store.rs`);
//! - `D/registry.json`: the installed releases and where they came from (`registry.rs`);
//! - `D/client-id`: this install's stable id, which draws its rollout cohorts (`identity.rs`);
//! - `D/releases/<id>/<role>/<path>`: one tree per installed release, hardlinked from the
//!   objects, and `D/current`, a symlink to the running tree swapped by rename (`activate.rs`);
//! - `engine.rs`: one round (ask, download, record, activate, collect), the periodic loop,
//!   rollback and status.

mod activate;
mod engine;
mod identity;
mod registry;
mod store;
mod verify;

use std::path::PathBuf;

use serde::Serialize;

pub use engine::{rollback, status, sync, sync_every};
pub use registry::{InstalledRelease, LocalFile, LocalRegistry, Origin};
pub use verify::TrustMemory;

use super::{error::Exit, retry::Backoff};

/// What a sync asks for and how it works.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Where releases come from.
    pub origin: Origin,
    /// The sync directory.
    pub dir: PathBuf,
    /// How many releases before the current one stay installed.
    pub keep: usize,
    /// How many files download at once.
    pub jobs: usize,
    /// Retries of transient failures.
    pub backoff: Backoff,
    /// The pinned root key (`--trust`): when set, every answer is verified before use.
    pub trust: Option<crate::domain::PublicKey>,
}

/// What the server decided for this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// A new release was downloaded and activated.
    Update,
    /// The device already runs the latest release it may have.
    UpToDate,
    /// No release admits this app version; a newer app has one.
    AppUpdateRequired,
}

/// The outcome of one sync round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// What the server decided.
    pub decision: Decision,
    /// The release now running, if any.
    pub release_id: Option<String>,
    /// Its semver.
    pub version: Option<String>,
    /// Its channel sequence.
    pub sequence: Option<i64>,
    /// The release that ran before this round, if any.
    pub previous_release_id: Option<String>,
    /// For an app update: the lowest app version that gets a release.
    pub min_app_version: Option<String>,
    /// Files of the release.
    pub files_total: usize,
    /// Files whose contents were downloaded (each distinct content once).
    pub files_downloaded: usize,
    /// Files whose contents the object store already held.
    pub files_reused: usize,
    /// Bytes received over the network.
    pub bytes_downloaded: u64,
    /// Bytes taken over from partial downloads of an earlier run.
    pub bytes_resumed: u64,
    /// Objects removed because no kept release uses them.
    pub objects_removed: usize,
}

impl SyncReport {
    /// Returns the exit code the decision ends the CLI with.
    pub fn exit(&self) -> Exit {
        match self.decision {
            Decision::Update => Exit::Ok,
            Decision::UpToDate => Exit::UpToDate,
            Decision::AppUpdateRequired => Exit::AppUpdateRequired,
        }
    }
}

/// A release, briefly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseRef {
    /// The release id.
    pub id: String,
    /// Its semver.
    pub version: String,
    /// Its channel sequence.
    pub sequence: i64,
}

/// What the server would give this device now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Available {
    /// A newer release.
    Update {
        /// The release offered.
        release: ReleaseRef,
    },
    /// Nothing newer.
    UpToDate,
    /// Only a newer app gets a release.
    AppUpdateRequired {
        /// The lowest app version that gets one.
        min_app_version: String,
    },
    /// The server could not be asked.
    Unknown {
        /// Why.
        error: String,
        /// The exit code the failure maps to.
        #[serde(skip)]
        exit: Exit,
    },
}

/// What runs on this device and what is available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    /// The sync directory.
    pub dir: PathBuf,
    /// The release `current` points at.
    pub current: Option<ReleaseRef>,
    /// Every installed release, oldest activation first.
    pub installed: Vec<ReleaseRef>,
    /// Where releases come from.
    pub origin: Option<Origin>,
    /// The server's answer, when it was asked.
    pub available: Option<Available>,
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollbackReport {
    /// The release that ran before.
    pub from: ReleaseRef,
    /// The release that runs now.
    pub to: ReleaseRef,
}

impl From<&InstalledRelease> for ReleaseRef {
    fn from(r: &InstalledRelease) -> Self {
        Self {
            id: r.id.clone(),
            version: r.version.clone(),
            sequence: r.sequence,
        }
    }
}
