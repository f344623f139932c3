//! The records that move between the layers: what the store persists and the registry
//! reasons about. Timestamps are unix microseconds.

use std::str::FromStr;

use super::{
    error::{Error, Result},
    names::{Digest, Name},
    policy::Policy,
};

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// The repo's name, unique on the server, used in every path.
    pub key: Name,
    /// Whether anonymous callers may read the repo's published data.
    pub public: bool,
    /// The title the browse pages show; `None` means the key is shown.
    pub display_name: Option<String>,
    /// When the repo was created, in unix microseconds.
    pub created_at: i64,
    /// The repo's policies.
    pub policy: Policy,
}

/// A named, typed container of versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The key of the repo that owns the package.
    pub repo: Name,
    /// The package's name, unique in its repo.
    pub name: Name,
    /// The validator family of its versions (e.g. `generic`), fixed at creation.
    pub kind: String,
    /// Free text for people; may be empty.
    pub description: String,
    /// When the package was created, in unix microseconds.
    pub created_at: i64,
}

/// A blob as one repo sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// The digest of the bytes.
    pub digest: Digest,
    /// The blob's length in bytes.
    pub size: u64,
    /// The media type the repo uploaded it with; empty means unknown.
    pub media_type: String,
}

/// An audit entry to be written with a mutation, in the same transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// When the mutation happened, in unix microseconds.
    pub at: i64,
    /// Who made it: a token id, `anonymous`, or `local` for commands run on the server's database.
    pub actor: String,
    /// What was done, e.g. `version.created`.
    pub action: String,
    /// The repo it happened in; empty for actions across every repo (e.g. an all-repos token).
    pub repo: String,
    /// What it was done to, e.g. `pkg@1.2.3` or a token id.
    pub target: String,
    /// JSON object text.
    pub details: String,
    /// The request id of the call that made it, to match server logs.
    pub request_id: String,
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// The entry's sequence number, increasing in write order.
    pub id: i64,
    /// What was recorded.
    pub record: AuditRecord,
}

/// Which audit events to list; empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    /// Only entries of this repo.
    pub repo: Option<String>,
    /// Only entries with this action.
    pub action: Option<String>,
    /// Only entries by this actor.
    pub actor: Option<String>,
    /// Only entries at or after this time, in unix microseconds.
    pub start: Option<i64>,
    /// Only entries before this time, in unix microseconds.
    pub end: Option<i64>,
}

/// An event for the relay, written in the transaction of the change it announces.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// The event's sequence number; the relay delivers in this order.
    pub id: i64,
    /// When the change happened, in unix microseconds.
    pub at: i64,
    /// E.g. `version.published`.
    pub topic: String,
    /// The repo the change happened in.
    pub repo: String,
    /// JSON object text.
    pub payload: String,
}

/// What a token may do; each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// May read the published data of the repos in scope (drafts stay hidden).
    Reader,
    /// May also see drafts, create packages, and create, publish and deprecate versions and releases.
    Publisher,
    /// May also create repos (with an all-repos scope), set repo policies, manage tokens and read the audit log.
    Admin,
}

impl Role {
    /// Returns the role's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Publisher => "publisher",
            Self::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "reader" => Ok(Self::Reader),
            "publisher" => Ok(Self::Publisher),
            "admin" => Ok(Self::Admin),
            other => Err(Error::invalid("role", format!("unknown role {other:?}"))),
        }
    }
}

/// Which repos a token is valid for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenScope {
    /// Every repo on the server, including ones created later.
    AllRepos,
    /// Only the repo with this key.
    Repo(Name),
}

impl TokenScope {
    /// Tells whether the scope covers a repo.
    pub fn covers(&self, repo: &str) -> bool {
        match self {
            Self::AllRepos => true,
            Self::Repo(r) => r == repo,
        }
    }

    /// Returns the repo for storage, `None` for every repo.
    pub fn repo(&self) -> Option<&str> {
        match self {
            Self::AllRepos => None,
            Self::Repo(r) => Some(r.as_str()),
        }
    }
}

/// A stored token (its secret is kept only as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token's public id (not its secret), used to revoke it.
    pub id: String,
    /// A label for people saying what the token is for.
    pub name: String,
    /// The repos the token is valid for.
    pub scope: TokenScope,
    /// What the token may do there.
    pub role: Role,
    /// When it was created, in unix microseconds.
    pub created_at: i64,
    /// When it stops working, in unix microseconds; `None` means never.
    pub expires_at: Option<i64>,
    /// When it was revoked, in unix microseconds; `None` while it is in force.
    pub revoked_at: Option<i64>,
}
