//! Who is calling and what they may do: bearer tokens are looked up by the hash of their
//! secret, and every use case asks `require` or `require_read` before it touches anything.

use sha2::{Digest as _, Sha256};

use std::time::Duration;

use super::{Registry, now_micros, store_error};
use crate::{
    domain::{Error, ErrorCode, Name, Repo, Result, Role, Token},
    store::StoreError,
};

/// How long reads may rely on a token verified before a database outage, while it lasts.
pub(super) const OUTAGE_TOKEN_REUSE: Duration = Duration::from_secs(300);

/// What the transport knows about a request.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The bearer secret, if one was presented.
    pub bearer: Option<String>,
    /// Correlates logs and audit events.
    pub request_id: String,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Principal {
    /// No token was presented.
    Anonymous,
    /// A valid token.
    Token(Token),
    /// An offline command run against the database directly (`relreg token bootstrap`).
    Local,
}

impl Principal {
    /// Returns the actor recorded in audit events.
    pub fn actor(&self) -> String {
        match self {
            Self::Anonymous => "anonymous".into(),
            Self::Token(t) => t.id.clone(),
            Self::Local => "local".into(),
        }
    }

    /// Checks that the principal holds `role` in `repo` (`None`: across every repo).
    pub fn require(&self, repo: Option<&str>, role: Role) -> Result<()> {
        match self {
            Self::Local => Ok(()),
            Self::Anonymous => Err(Error::new(
                ErrorCode::Unauthenticated,
                "a bearer token is required",
            )),
            Self::Token(t) => {
                let in_scope = match repo {
                    Some(r) => t.scope.covers(r),
                    None => t.scope.repo().is_none(),
                };
                if !in_scope {
                    return Err(Error::new(
                        ErrorCode::PermissionDenied,
                        match repo {
                            Some(r) => format!("token is not valid for repo {r}"),
                            None => "token is limited to one repo".into(),
                        },
                    ));
                }
                if t.role < role {
                    return Err(Error::new(
                        ErrorCode::PermissionDenied,
                        format!("role {} is required", role.as_str()),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Checks read access: public repos are open to everyone, private ones need a reader.
    pub fn require_read(&self, repo: &Repo) -> Result<()> {
        if repo.public {
            return Ok(());
        }
        self.require(Some(&repo.key), Role::Reader)
    }

    /// Tells whether the principal may see drafts in a repo.
    pub fn sees_drafts(&self, repo: &str) -> bool {
        self.require(Some(repo), Role::Publisher).is_ok()
    }
}

/// Returns the stored hash of a token secret.
pub(super) fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Registry {
    /// Resolves the caller's bearer token: none is anonymous; an unknown, revoked or expired
    /// one is UNAUTHENTICATED. Always asks the database (writes and admin calls use this).
    pub async fn authenticate(&self, caller: &Caller) -> Result<Principal> {
        self.resolve_token(caller, false).await
    }

    /// Like `authenticate`, for reads: a token verified within the last 10 s (`cache::TOKEN_REUSE`) is
    /// taken from memory, so warm catalog reads with a token need no database round trip.
    /// A revocation in this process is seen at once; one made elsewhere within that time.
    /// While the database is down, a token verified within `OUTAGE_TOKEN_REUSE` (5 min) is
    /// still taken, so that readers keep reading cached data through an outage.
    async fn authenticate_read(&self, caller: &Caller) -> Result<Principal> {
        self.resolve_token(caller, true).await
    }

    async fn resolve_token(&self, caller: &Caller, reuse: bool) -> Result<Principal> {
        let Some(secret) = caller.bearer.as_deref() else {
            return Ok(Principal::Anonymous);
        };
        let hash = hash_secret(secret);
        let token = match reuse.then(|| self.cache.token(&hash)).flatten() {
            Some(token) => token,
            None => match self.store.token_by_hash(&hash).await {
                Ok(token) => {
                    let token = token
                        .ok_or_else(|| Error::new(ErrorCode::Unauthenticated, "invalid token"))?;
                    self.cache.put_token(hash, &token);
                    token
                }
                // While the database is down, reads may rely on a token verified before the
                // outage, for a bounded time, so cached catalog data stays readable.
                Err(e @ StoreError::Unavailable(_)) => reuse
                    .then(|| self.cache.token_within(&hash, OUTAGE_TOKEN_REUSE))
                    .flatten()
                    .ok_or_else(|| store_error(e))?,
                Err(e) => return Err(store_error(e)),
            },
        };
        if token.revoked_at.is_some() {
            return Err(Error::new(ErrorCode::Unauthenticated, "token revoked"));
        }
        if token.expires_at.is_some_and(|at| at <= now_micros()) {
            return Err(Error::new(ErrorCode::Unauthenticated, "token expired"));
        }
        Ok(Principal::Token(token))
    }

    /// Loads a repo or answers NOT_FOUND; reads take it from memory when they can.
    pub(super) async fn repo(&self, key: &Name) -> Result<Repo> {
        match self.cache.repo(key) {
            Some(repo) => Ok(repo),
            None => self.current_repo(key).await,
        }
    }

    /// Loads a repo from the database (and refreshes the cached copy): writes, and the
    /// validation that gates a publish, follow a policy another process changed at once.
    pub(super) async fn current_repo(&self, key: &Name) -> Result<Repo> {
        let repo = self
            .store
            .get_repo(key)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found(format!("repo {key}")))?;
        self.cache.put_repo(&repo);
        Ok(repo)
    }

    /// Authenticates, then loads a repo the caller may read.
    pub(super) async fn readable_repo(
        &self,
        caller: &Caller,
        key: &Name,
    ) -> Result<(Principal, Repo)> {
        let principal = self.authenticate_read(caller).await?;
        let repo = self.repo(key).await?;
        if !repo.public && matches!(principal, Principal::Anonymous) {
            // The answer an unknown repo gets, so that anonymous callers cannot probe which
            // private repos exist (as GitHub does); a token without access still gets 403.
            return Err(Error::not_found(format!("repo {key}")));
        }
        principal.require_read(&repo)?;
        Ok((principal, repo))
    }

    /// Authenticates and checks `role` in a repo before loading it.
    pub(super) async fn writable_repo(
        &self,
        caller: &Caller,
        key: &Name,
        role: Role,
    ) -> Result<(Principal, Repo)> {
        let principal = self.authenticate(caller).await?;
        principal.require(Some(key), role)?;
        let repo = self.current_repo(key).await?;
        Ok((principal, repo))
    }
}
