//! Retention and package deletion over gRPC: `RunRetention` (and its dry run) and
//! `DeletePackage`.

use tonic::Request;

use super::{Answer, ok};
use crate::{
    api::{error::status, grpc::caller},
    domain::{Name, Retention},
    pb,
    registry::Registry,
    store::Removal,
};

/// Converts a requested retention policy.
pub(super) fn retention_from(p: Option<pb::RetentionPolicy>) -> Retention {
    let p = p.unwrap_or_default();
    Retention {
        keep_versions: p.keep_versions,
        keep_versions_for_secs: p.keep_versions_for_seconds,
        keep_releases: p.keep_releases,
    }
}

/// Converts a stored retention policy.
pub(super) fn retention_to(r: Retention) -> Option<pb::RetentionPolicy> {
    (!r.is_empty()).then_some(pb::RetentionPolicy {
        keep_versions: r.keep_versions,
        keep_versions_for_seconds: r.keep_versions_for_secs,
        keep_releases: r.keep_releases,
    })
}

fn removal(r: Removal) -> pb::RetentionRemoval {
    match r {
        Removal::Version {
            package,
            version,
            state,
        } => pb::RetentionRemoval {
            kind: "version".into(),
            target: format!("{package}@{version}"),
            channel: String::new(),
            version,
            reason: state,
        },
        Removal::Release {
            id,
            channel,
            version,
        } => pb::RetentionRemoval {
            kind: "release".into(),
            target: id,
            channel,
            version,
            reason: "DEPRECATED".into(),
        },
    }
}

/// Serves `ReleaseAdmin/RunRetention`.
pub(super) async fn run_retention(
    registry: &Registry,
    request: Request<pb::RunRetentionRequest>,
) -> Answer<pb::RunRetentionResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let repo = Name::parse_owned("repo", r.repo).map_err(status)?;
    let removals = registry
        .run_retention(&c, &repo, r.dry_run)
        .await
        .map_err(status)?;
    ok(pb::RunRetentionResponse {
        removals: removals.into_iter().map(removal).collect(),
        dry_run: r.dry_run,
    })
}

/// Serves `ReleaseAdmin/DeletePackage`.
pub(super) async fn delete_package(
    registry: &Registry,
    request: Request<pb::DeletePackageRequest>,
) -> Answer<pb::DeletePackageResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let repo = Name::parse_owned("repo", r.repo).map_err(status)?;
    let package = Name::parse_owned("package", r.package).map_err(status)?;
    let drafts = registry
        .delete_package(&c, &repo, &package)
        .await
        .map_err(status)?;
    ok(pb::DeletePackageResponse {
        deleted_drafts: i32::try_from(drafts).unwrap_or(i32::MAX),
    })
}
