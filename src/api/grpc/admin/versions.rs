//! Package versions over gRPC: drafts and their edits, diff, and the version lifecycle.

use tonic::Request;

use super::{Answer, ok};
use crate::{
    api::{
        error::status,
        grpc::{caller, commands::unset_if_empty, convert::struct_to_json},
    },
    domain::{Digest, Etag, FilePath, VersionKey, parse_semver},
    pb,
    registry::{Edit, Registry, VersionDeprecation},
};

/// Parses the version a request names, reporting `repo`, `package` or `version`.
fn key(repo: &str, package: &str, version: &str) -> Result<VersionKey, tonic::Status> {
    VersionKey::parse(repo, package, version).map_err(status)
}

/// Serves `ReleaseAdmin/CreateVersion`.
pub(super) async fn create_version(
    registry: &Registry,
    request: Request<pb::CreateVersionRequest>,
) -> Answer<pb::CreateVersionResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let key = key(&r.repo, &r.package, &r.version)?;
    let (version, created) = registry.create_version(&c, &key).await.map_err(status)?;
    ok(pb::CreateVersionResponse {
        version: Some(version.into()),
        created,
    })
}

/// Serves `ReleaseAdmin/PutVersionFile`.
pub(super) async fn put_version_file(
    registry: &Registry,
    request: Request<pb::PutVersionFileRequest>,
) -> Answer<pb::PutVersionFileResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let key = key(&r.repo, &r.package, &r.version)?;
    let edit = Edit::PutFile {
        path: FilePath::parse("path", &r.path).map_err(status)?,
        digest: Digest::parse("digest", &r.digest).map_err(status)?,
        media_type: unset_if_empty(r.media_type),
    };
    let v = registry
        .edit_version(&c, &key, Etag::from_text(r.etag).as_ref(), edit)
        .await
        .map_err(status)?;
    ok(pb::PutVersionFileResponse {
        version: Some(v.into()),
    })
}

/// Serves `ReleaseAdmin/DeleteVersionFile`.
pub(super) async fn delete_version_file(
    registry: &Registry,
    request: Request<pb::DeleteVersionFileRequest>,
) -> Answer<pb::DeleteVersionFileResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let key = key(&r.repo, &r.package, &r.version)?;
    let edit = Edit::DeleteFile {
        path: FilePath::parse("path", &r.path).map_err(status)?,
    };
    let v = registry
        .edit_version(&c, &key, Etag::from_text(r.etag).as_ref(), edit)
        .await
        .map_err(status)?;
    ok(pb::DeleteVersionFileResponse {
        version: Some(v.into()),
    })
}

/// Serves `ReleaseAdmin/SetVersionManifest`.
pub(super) async fn set_version_manifest(
    registry: &Registry,
    request: Request<pb::SetVersionManifestRequest>,
) -> Answer<pb::SetVersionManifestResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let key = key(&r.repo, &r.package, &r.version)?;
    let manifest = r.manifest.as_ref().map(struct_to_json).unwrap_or_default();
    let v = registry
        .edit_version(
            &c,
            &key,
            Etag::from_text(r.etag).as_ref(),
            Edit::SetManifest(manifest),
        )
        .await
        .map_err(status)?;
    ok(pb::SetVersionManifestResponse {
        version: Some(v.into()),
    })
}

/// Serves `ReleaseAdmin/DiffVersion`.
pub(super) async fn diff_version(
    registry: &Registry,
    request: Request<pb::DiffVersionRequest>,
) -> Answer<pb::DiffVersionResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let key = key(&r.repo, &r.package, &r.version)?;
    let base = parse_semver("base_version", &r.base_version).map_err(status)?;
    let d = registry
        .diff_version(&c, &key, base)
        .await
        .map_err(status)?;
    ok(pb::DiffVersionResponse {
        added: d.added.into_iter().map(Into::into).collect(),
        removed: d.removed.into_iter().map(Into::into).collect(),
        changed: d
            .changed
            .into_iter()
            .map(|(base, new)| pb::FileChange {
                path: new.path.to_string(),
                base_digest: base.digest.to_string(),
                digest: new.digest.to_string(),
                base_size: base.size as i64,
                size: new.size as i64,
            })
            .collect(),
        manifest_changed: d.manifest_changed,
        base_content_digest: d.base_content_digest.to_string(),
        content_digest: d.content_digest.to_string(),
    })
}

/// Serves `ReleaseAdmin/PublishVersion`.
pub(super) async fn publish_version(
    registry: &Registry,
    request: Request<pb::PublishVersionRequest>,
) -> Answer<pb::PublishVersionResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let key = key(&r.repo, &r.package, &r.version)?;
    let v = registry
        .publish_version(&c, &key, Etag::from_text(r.etag).as_ref())
        .await
        .map_err(status)?;
    ok(pb::PublishVersionResponse {
        version: Some(v.into()),
    })
}

/// Serves `ReleaseAdmin/DeprecateVersion`.
pub(super) async fn deprecate_version(
    registry: &Registry,
    request: Request<pb::DeprecateVersionRequest>,
) -> Answer<pb::DeprecateVersionResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let deprecation = VersionDeprecation::try_from(r).map_err(status)?;
    let v = registry
        .deprecate_version(&c, deprecation)
        .await
        .map_err(status)?;
    ok(pb::DeprecateVersionResponse {
        version: Some(v.into()),
    })
}

/// Serves `ReleaseAdmin/YankVersion`.
pub(super) async fn yank_version(
    registry: &Registry,
    request: Request<pb::YankVersionRequest>,
) -> Answer<pb::YankVersionResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let key = key(&r.repo, &r.package, &r.version)?;
    let v = registry
        .yank_version(&c, &key, &r.reason)
        .await
        .map_err(status)?;
    ok(pb::YankVersionResponse {
        version: Some(v.into()),
    })
}

/// Serves `ReleaseAdmin/DeleteVersion`.
pub(super) async fn delete_version(
    registry: &Registry,
    request: Request<pb::DeleteVersionRequest>,
) -> Answer<pb::DeleteVersionResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let key = key(&r.repo, &r.package, &r.version)?;
    registry
        .delete_version(&c, &key, Etag::from_text(r.etag).as_ref())
        .await
        .map_err(status)?;
    ok(pb::DeleteVersionResponse {})
}
