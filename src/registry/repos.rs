//! Repos and packages.

use serde_json::json;

use super::{Caller, Listed, Page, Principal, Registry, audit, now_micros, store_error};
use crate::{
    domain::{
        Error, ErrorCode, Name, Package, Policy, Repo, Result, Role, TokenScope, validator_for,
    },
    store::StoreError,
};

impl Registry {
    /// Creates a repo; needs an admin token valid for every repo.
    pub async fn create_repo(
        &self,
        caller: &Caller,
        key: Name,
        public: bool,
        display_name: Option<String>,
    ) -> Result<Repo> {
        let principal = self.authenticate(caller).await?;
        principal.require(None, Role::Admin)?;
        let repo = Repo {
            key,
            public,
            display_name,
            created_at: now_micros(),
            policy: Policy::default(),
        };
        let record = audit(
            &principal,
            caller,
            "repo.created",
            &repo.key,
            &repo.key,
            json!({ "public": public }),
        );
        match self.store.create_repo(&repo, &record).await {
            Ok(()) => Ok(repo),
            Err(StoreError::Conflict) => Err(Error::new(
                ErrorCode::AlreadyExists,
                format!("repo {} already exists", repo.key),
            )),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Lists the repos the caller may read, by key: the public ones, plus the private ones its
    /// token covers.
    pub async fn list_repos(&self, caller: &Caller, page: &Page) -> Result<Listed<Repo>> {
        let principal = self.authenticate(caller).await?;
        let (all, also) = match &principal {
            Principal::Local => (true, None),
            Principal::Anonymous => (false, None),
            Principal::Token(t) => match &t.scope {
                TokenScope::AllRepos => (true, None),
                TokenScope::Repo(repo) => (false, Some(repo.clone())),
            },
        };
        let rows = self
            .store
            .list_repos(
                all,
                also.as_ref(),
                page.after_name()?.as_ref(),
                page.limit(),
            )
            .await
            .map_err(store_error)?;
        Ok(page.listed(rows, |r| r.key.to_string()))
    }

    /// Returns a repo the caller may read.
    pub async fn get_repo(&self, caller: &Caller, key: &Name) -> Result<Repo> {
        Ok(self.readable_repo(caller, key).await?.1)
    }

    /// Creates a package of a known kind in a repo.
    pub async fn create_package(
        &self,
        caller: &Caller,
        repo: &Name,
        name: Name,
        kind: &str,
        description: &str,
    ) -> Result<Package> {
        let kind = if kind.is_empty() { "generic" } else { kind };
        validator_for(kind)?;
        let (principal, repo) = self.writable_repo(caller, repo, Role::Publisher).await?;
        let package = Package {
            repo: repo.key.clone(),
            name,
            kind: kind.to_owned(),
            description: description.to_owned(),
            created_at: now_micros(),
        };
        let record = audit(
            &principal,
            caller,
            "package.created",
            &repo.key,
            &package.name,
            json!({ "kind": kind }),
        );
        match self.store.create_package(&package, &record).await {
            Ok(()) => Ok(package),
            Err(StoreError::Conflict) => Err(Error::new(
                ErrorCode::AlreadyExists,
                format!(
                    "package {} already exists in repo {}",
                    package.name, repo.key
                ),
            )),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Returns a package of a repo the caller may read.
    pub async fn get_package(&self, caller: &Caller, repo: &Name, name: &Name) -> Result<Package> {
        self.readable_repo(caller, repo).await?;
        self.package(repo, name).await
    }

    /// Loads a package or answers NOT_FOUND.
    pub(super) async fn package(&self, repo: &Name, name: &Name) -> Result<Package> {
        self.store
            .get_package(repo, name)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found(format!("package {repo}/{name}")))
    }

    /// Lists a repo's packages by name.
    pub async fn list_packages(
        &self,
        caller: &Caller,
        repo: &Name,
        page: &Page,
    ) -> Result<Listed<Package>> {
        self.readable_repo(caller, repo).await?;
        let rows = self
            .store
            .list_packages(repo, page.after_name()?.as_ref(), page.limit())
            .await
            .map_err(store_error)?;
        Ok(page.listed(rows, |p| p.name.to_string()))
    }
}
