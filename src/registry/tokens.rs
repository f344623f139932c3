//! Tokens: created by admins (or offline by `relreg token bootstrap`), stored only as a hash of
//! their secret, scoped to one repo or all, revocable.

use rand::Rng as _;
use serde_json::json;

use super::{
    Caller, Listed, Page, Principal, Registry, access::hash_secret, audit, now_micros, store_error,
};
use crate::domain::{Error, ErrorCode, Result, Role, Token, TokenScope, parse_name};

/// What a new token should be.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// A label for people saying what the token is for.
    pub name: String,
    /// The repos it will be valid for.
    pub scope: TokenScope,
    /// What it will be allowed to do there.
    pub role: Role,
    /// When it stops working, in unix microseconds; `None` means never.
    pub expires_at: Option<i64>,
}

impl Registry {
    /// Creates a token; the caller must be an admin whose scope covers the new token's and
    /// whose role is at least the new token's. Returns the token and its secret (shown once).
    pub async fn create_token(&self, caller: &Caller, new: NewToken) -> Result<(Token, String)> {
        let principal = self.authenticate(caller).await?;
        self.create_token_as(&principal, caller, new).await
    }

    /// Creates a token as an already-established principal (the offline CLI uses `Local`).
    pub async fn create_token_as(
        &self,
        principal: &Principal,
        caller: &Caller,
        new: NewToken,
    ) -> Result<(Token, String)> {
        if new.expires_at.is_some_and(|at| at <= now_micros()) {
            return Err(Error::invalid("expire_time", "must be in the future"));
        }
        principal.require(new.scope.repo(), Role::Admin)?;
        if let TokenScope::Repo(repo) = &new.scope {
            self.repo(repo).await?;
        }
        let id = format!("tok_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        let secret = format!("rr_{}", random_secret());
        let token = Token {
            id,
            name: new.name,
            scope: new.scope,
            role: new.role,
            created_at: now_micros(),
            expires_at: new.expires_at,
            revoked_at: None,
        };
        let repo = token.scope.repo().unwrap_or_default().to_owned();
        let details = json!({ "role": token.role.as_str(), "name": token.name });
        let record = audit(
            principal,
            caller,
            "token.created",
            &repo,
            &token.id,
            details,
        );
        self.store
            .create_token(&token, &hash_secret(&secret), &record)
            .await
            .map_err(store_error)?;
        Ok((token, secret))
    }

    /// Lists tokens visible to an admin: all of them, or those of the admin's repo.
    pub async fn list_tokens(
        &self,
        caller: &Caller,
        repo: &str,
        page: &Page,
    ) -> Result<Listed<Token>> {
        let principal = self.authenticate(caller).await?;
        let repo = self.admin_repo_filter(&principal, repo)?;
        let rows = self
            .store
            .list_tokens(repo.as_deref(), page.after.as_deref(), page.limit())
            .await
            .map_err(store_error)?;
        Ok(page.listed(rows, |t| t.id.clone()))
    }

    /// Revokes a token; revoking it again returns it unchanged.
    pub async fn revoke_token(&self, caller: &Caller, id: &str) -> Result<Token> {
        if id.is_empty() {
            return Err(Error::invalid("id", "is required"));
        }
        let principal = self.authenticate(caller).await?;
        principal.require_any_admin()?;
        let token = self.store.get_token(id).await.map_err(store_error)?;
        let token = token.ok_or_else(|| Error::not_found(format!("token {id}")))?;
        principal.require(token.scope.repo(), Role::Admin)?;
        let repo = token.scope.repo().unwrap_or_default().to_owned();
        let record = audit(&principal, caller, "token.revoked", &repo, id, json!({}));
        self.store
            .revoke_token(id, now_micros(), &record)
            .await
            .map_err(store_error)?;
        self.cache.forget_tokens();
        self.store
            .get_token(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found(format!("token {id}")))
    }

    /// Returns the repo filter an admin listing may use: a repo-scoped admin sees only its
    /// repo; an empty filter means every repo.
    pub(super) fn admin_repo_filter(
        &self,
        principal: &Principal,
        repo: &str,
    ) -> Result<Option<String>> {
        principal.require_any_admin()?;
        let own = match principal {
            Principal::Token(t) => t.scope.repo().map(str::to_owned),
            _ => None,
        };
        match (repo, own) {
            ("", own) => Ok(own),
            (repo, _) => {
                parse_name("repo", repo)?;
                principal.require(Some(repo), Role::Admin)?;
                Ok(Some(repo.to_owned()))
            }
        }
    }
}

impl Principal {
    /// Checks that the principal is an admin of at least one repo.
    pub fn require_any_admin(&self) -> Result<()> {
        match self {
            Self::Token(t) if t.role < Role::Admin => Err(Error::new(
                ErrorCode::PermissionDenied,
                "role admin is required",
            )),
            Self::Anonymous => Err(Error::new(
                ErrorCode::Unauthenticated,
                "a bearer token is required",
            )),
            _ => Ok(()),
        }
    }
}

fn random_secret() -> String {
    let bytes: [u8; 24] = rand::rng().random();
    hex::encode(bytes)
}
