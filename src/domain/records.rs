//! The records that move between the layers: what the store persists and the registry
//! reasons about. Timestamps are unix microseconds.

use std::str::FromStr;

use super::{
    error::{Error, Result},
    policy::Policy,
};

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub key: String,
    pub public: bool,
    pub display_name: String,
    pub created_at: i64,
    /// The repo's policies.
    pub policy: Policy,
}

/// A named, typed container of versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub repo: String,
    pub name: String,
    pub kind: String,
    pub description: String,
    pub created_at: i64,
}

/// A blob as one repo sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub digest: String,
    pub size: i64,
    pub media_type: String,
}

/// An audit entry to be written with a mutation, in the same transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub repo: String,
    pub target: String,
    /// JSON object text.
    pub details: String,
    pub request_id: String,
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: i64,
    pub record: AuditRecord,
}

/// Which audit events to list; empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    pub repo: Option<String>,
    pub action: Option<String>,
    pub actor: Option<String>,
    pub start: Option<i64>,
    pub end: Option<i64>,
}

/// An event for the relay, written in the transaction of the change it announces.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    pub id: i64,
    pub at: i64,
    /// E.g. `version.published`.
    pub topic: String,
    pub repo: String,
    /// JSON object text.
    pub payload: String,
}

/// What a token may do; each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Reader,
    Publisher,
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
    AllRepos,
    Repo(String),
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
            Self::Repo(r) => Some(r),
        }
    }
}

/// A stored token (its secret is kept only as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: String,
    pub name: String,
    pub scope: TokenScope,
    pub role: Role,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}
