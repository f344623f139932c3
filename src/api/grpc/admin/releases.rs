//! Releases over gRPC: drafts and their artifacts, validation, publish, deprecate and
//! channel rollback.

use tonic::Request;

use super::{Answer, ok};
use crate::{
    api::{error::status, grpc::caller},
    domain::{Compatibility, Severity},
    pb,
    registry::{NewRelease, Registry},
};

/// Serves `ReleaseAdmin/CreateRelease`.
pub(super) async fn create_release(
    registry: &Registry,
    request: Request<pb::CreateReleaseRequest>,
) -> Answer<pb::CreateReleaseResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let new = NewRelease {
        repo: r.repo,
        channel: r.channel,
        version: r.version,
        compatibility: Compatibility {
            min_app_version: r.min_app_version,
            max_app_version: r.max_app_version,
            platforms: r.platforms,
        },
        notes: r.notes,
        mandatory: r.mandatory,
    };
    let release = registry.create_release(&c, new).await.map_err(status)?;
    ok(pb::CreateReleaseResponse {
        release: Some(release.into()),
    })
}

/// Serves `ReleaseAdmin/AttachArtifact`.
pub(super) async fn attach_artifact(
    registry: &Registry,
    request: Request<pb::AttachArtifactRequest>,
) -> Answer<pb::AttachArtifactResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let target = Some((r.package.as_str(), r.version.as_str()));
    let release = registry
        .edit_release(&c, &r.release_id, &r.role, target, &r.etag)
        .await
        .map_err(status)?;
    ok(pb::AttachArtifactResponse {
        release: Some(release.into()),
    })
}

/// Serves `ReleaseAdmin/DetachArtifact`.
pub(super) async fn detach_artifact(
    registry: &Registry,
    request: Request<pb::DetachArtifactRequest>,
) -> Answer<pb::DetachArtifactResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let release = registry
        .edit_release(&c, &r.release_id, &r.role, None, &r.etag)
        .await
        .map_err(status)?;
    ok(pb::DetachArtifactResponse {
        release: Some(release.into()),
    })
}

/// Serves `ReleaseAdmin/ValidateRelease`.
pub(super) async fn validate_release(
    registry: &Registry,
    request: Request<pb::ValidateReleaseRequest>,
) -> Answer<pb::ValidateReleaseResponse> {
    let c = caller(&request);
    let id = request.into_inner().release_id;
    let findings = registry.validate_release(&c, &id).await.map_err(status)?;
    let publishable = findings.iter().all(|f| f.severity != Severity::Error);
    ok(pb::ValidateReleaseResponse {
        findings: findings.into_iter().map(Into::into).collect(),
        publishable,
    })
}

/// Serves `ReleaseAdmin/PublishRelease`.
pub(super) async fn publish_release(
    registry: &Registry,
    request: Request<pb::PublishReleaseRequest>,
) -> Answer<pb::PublishReleaseResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let (release, warnings) = registry
        .publish_release(&c, &r.release_id, &r.etag)
        .await
        .map_err(status)?;
    ok(pb::PublishReleaseResponse {
        release: Some(release.into()),
        findings: warnings.into_iter().map(Into::into).collect(),
    })
}

/// Serves `ReleaseAdmin/DeprecateRelease`.
pub(super) async fn deprecate_release(
    registry: &Registry,
    request: Request<pb::DeprecateReleaseRequest>,
) -> Answer<pb::DeprecateReleaseResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let release = registry
        .deprecate_release(&c, &r.release_id, &r.reason, &r.replacement)
        .await
        .map_err(status)?;
    ok(pb::DeprecateReleaseResponse {
        release: Some(release.into()),
    })
}

/// Serves `ReleaseAdmin/RollbackChannel`.
pub(super) async fn rollback_channel(
    registry: &Registry,
    request: Request<pb::RollbackChannelRequest>,
) -> Answer<pb::RollbackChannelResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let (release, deprecated_release_ids, sequence) = registry
        .rollback_channel(&c, &r.repo, &r.channel, &r.release_id)
        .await
        .map_err(status)?;
    ok(pb::RollbackChannelResponse {
        release: Some(release.into()),
        deprecated_release_ids,
        sequence: sequence.unwrap_or_default(),
    })
}
