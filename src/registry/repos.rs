//! Repos and packages.

use serde_json::json;

use super::{Caller, Listed, Page, Principal, Registry, audit, now_micros, store_error};
use crate::{
    domain::{Error, ErrorCode, Package, Policy, Repo, Result, Role, parse_name, validator_for},
    store::StoreError,
};

impl Registry {
    /// Creates a repo; needs an admin token valid for every repo.
    pub async fn create_repo(
        &self,
        caller: &Caller,
        key: &str,
        public: bool,
        display_name: Option<String>,
    ) -> Result<Repo> {
        let key = parse_name("repo", key)?;
        let principal = self.authenticate(caller).await?;
        principal.require(None, Role::Admin)?;
        let repo = Repo {
            key: key.to_string(),
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
                format!("repo {key} already exists"),
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
            Principal::Token(t) => (t.scope.repo().is_none(), t.scope.repo().map(str::to_owned)),
        };
        let rows = self
            .store
            .list_repos(all, also.as_deref(), page.after.as_deref(), page.limit())
            .await
            .map_err(store_error)?;
        Ok(page.listed(rows, |r| r.key.clone()))
    }

    /// Returns a repo the caller may read.
    pub async fn get_repo(&self, caller: &Caller, key: &str) -> Result<Repo> {
        parse_name("repo", key)?;
        Ok(self.readable_repo(caller, key).await?.1)
    }

    /// Creates a package of a known kind in a repo.
    pub async fn create_package(
        &self,
        caller: &Caller,
        repo: &str,
        name: &str,
        kind: &str,
        description: &str,
    ) -> Result<Package> {
        parse_name("repo", repo)?;
        let name = parse_name("package", name)?;
        let kind = if kind.is_empty() { "generic" } else { kind };
        validator_for(kind)?;
        let (principal, repo) = self.writable_repo(caller, repo, Role::Publisher).await?;
        let package = Package {
            repo: repo.key.clone(),
            name: name.to_string(),
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
                format!("package {name} already exists in repo {}", repo.key),
            )),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Returns a package of a repo the caller may read.
    pub async fn get_package(&self, caller: &Caller, repo: &str, name: &str) -> Result<Package> {
        parse_name("repo", repo)?;
        parse_name("package", name)?;
        self.readable_repo(caller, repo).await?;
        self.package(repo, name).await
    }

    /// Loads a package or answers NOT_FOUND.
    pub(super) async fn package(&self, repo: &str, name: &str) -> Result<Package> {
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
        repo: &str,
        page: &Page,
    ) -> Result<Listed<Package>> {
        parse_name("repo", repo)?;
        self.readable_repo(caller, repo).await?;
        let rows = self
            .store
            .list_packages(repo, page.after.as_deref(), page.limit())
            .await
            .map_err(store_error)?;
        Ok(page.listed(rows, |p| p.name.clone()))
    }
}
