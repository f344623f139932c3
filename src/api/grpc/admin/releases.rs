//! Releases over gRPC: drafts and their artifacts, validation, publish, deprecate and
//! channel rollback. Requests become registry commands in `grpc::commands`.

use tonic::Request;

use super::{Answer, ok};
use crate::{
    api::{
        error::status,
        grpc::{caller, commands::release_id},
    },
    domain::{Etag, Severity},
    pb,
    registry::{ArtifactEdit, NewRelease, Registry, ReleaseDeprecation, Rollback},
};

/// Serves `ReleaseAdmin/CreateRelease`.
pub(super) async fn create_release(
    registry: &Registry,
    request: Request<pb::CreateReleaseRequest>,
) -> Answer<pb::CreateReleaseResponse> {
    let c = caller(&request);
    let new = NewRelease::try_from(request.into_inner()).map_err(status)?;
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
    let edit = ArtifactEdit::try_from(request.into_inner()).map_err(status)?;
    let release = registry.edit_release(&c, edit).await.map_err(status)?;
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
    let edit = ArtifactEdit::try_from(request.into_inner()).map_err(status)?;
    let release = registry.edit_release(&c, edit).await.map_err(status)?;
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
    let id = release_id(&request.into_inner().release_id).map_err(status)?;
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
    let id = release_id(&r.release_id).map_err(status)?;
    let etag = Etag::from_text(r.etag);
    let published = registry
        .publish_release(&c, &id, etag.as_ref())
        .await
        .map_err(status)?;
    ok(pb::PublishReleaseResponse {
        release: Some(published.release.into()),
        findings: published.warnings.into_iter().map(Into::into).collect(),
    })
}

/// Serves `ReleaseAdmin/DeprecateRelease`.
pub(super) async fn deprecate_release(
    registry: &Registry,
    request: Request<pb::DeprecateReleaseRequest>,
) -> Answer<pb::DeprecateReleaseResponse> {
    let c = caller(&request);
    let deprecation = ReleaseDeprecation::try_from(request.into_inner()).map_err(status)?;
    let release = registry
        .deprecate_release(&c, deprecation)
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
    let rollback = Rollback::try_from(request.into_inner()).map_err(status)?;
    let done = registry
        .rollback_channel(&c, rollback)
        .await
        .map_err(status)?;
    ok(pb::RollbackChannelResponse {
        release: Some(done.release.into()),
        deprecated_release_ids: done.deprecated.iter().map(ToString::to_string).collect(),
        sequence: done.sequence.unwrap_or_default(),
    })
}
