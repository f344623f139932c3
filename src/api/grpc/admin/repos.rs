//! Repos and packages over gRPC: create and read them, set a repo's policy, and receive
//! blob uploads into a repo.

use futures::StreamExt as _;
use tonic::{Request, Streaming};

use super::{Answer, ok};
use crate::{
    api::{
        error::status,
        grpc::{caller, commands::unset_if_empty},
    },
    domain::{Error, Name},
    pb,
    registry::{Listed, Page, Registry, UploadHeader},
};

/// Serves `ReleaseAdmin/CreateRepo`.
pub(super) async fn create_repo(
    registry: &Registry,
    request: Request<pb::CreateRepoRequest>,
) -> Answer<pb::CreateRepoResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let key = Name::parse_owned("repo", r.repo).map_err(status)?;
    let repo = registry
        .create_repo(&c, key, r.public, unset_if_empty(r.display_name))
        .await
        .map_err(status)?;
    ok(pb::CreateRepoResponse {
        repo: Some(repo.into()),
    })
}

/// Serves `ReleaseAdmin/GetRepo`.
pub(super) async fn get_repo(
    registry: &Registry,
    request: Request<pb::GetRepoRequest>,
) -> Answer<pb::GetRepoResponse> {
    let c = caller(&request);
    let key = Name::parse_owned("repo", request.into_inner().repo).map_err(status)?;
    let repo = registry.get_repo(&c, &key).await.map_err(status)?;
    ok(pb::GetRepoResponse {
        repo: Some(repo.into()),
    })
}

/// Serves `ReleaseAdmin/CreatePackage`.
pub(super) async fn create_package(
    registry: &Registry,
    request: Request<pb::CreatePackageRequest>,
) -> Answer<pb::CreatePackageResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let repo = Name::parse_owned("repo", r.repo).map_err(status)?;
    let name = Name::parse_owned("package", r.package).map_err(status)?;
    let package = registry
        .create_package(&c, &repo, name, &r.kind, &r.description)
        .await
        .map_err(status)?;
    ok(pb::CreatePackageResponse {
        package: Some(package.into()),
    })
}

/// Serves `ReleaseAdmin/ListPackages`.
pub(super) async fn list_packages(
    registry: &Registry,
    request: Request<pb::ListPackagesRequest>,
) -> Answer<pb::ListPackagesResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let page = Page::parse(r.page_size, &r.page_token).map_err(status)?;
    let repo = Name::parse_owned("repo", r.repo).map_err(status)?;
    let Listed {
        items: packages,
        next_page_token,
    } = registry
        .list_packages(&c, &repo, &page)
        .await
        .map_err(status)?;
    ok(pb::ListPackagesResponse {
        packages: packages.into_iter().map(Into::into).collect(),
        next_page_token,
    })
}

/// Serves `ReleaseAdmin/UploadBlob`.
pub(super) async fn upload_blob(
    registry: &Registry,
    request: Request<Streaming<pb::UploadBlobRequest>>,
) -> Answer<pb::UploadBlobResponse> {
    use pb::upload_blob_request::Payload;
    let c = caller(&request);
    let limit = request
        .extensions()
        .get::<crate::edge::ChunkLimit>()
        .copied()
        .unwrap_or(crate::edge::ChunkLimit(
            crate::edge::DEFAULT_MAX_UPLOAD_CHUNK,
        ));
    let mut stream = request.into_inner();
    let header = match stream.message().await? {
        Some(pb::UploadBlobRequest {
            payload: Some(Payload::Header(h)),
        }) => h,
        _ => {
            return Err(status(Error::invalid(
                "header",
                "must be the first message of an upload",
            )));
        }
    };
    let chunks = stream.map(move |message| match message {
        Ok(pb::UploadBlobRequest {
            payload: Some(Payload::Chunk(bytes)),
        }) if bytes.len() as u64 > limit.0 => Err(limit.refusal(Some(bytes.len() as u64))),
        Ok(pb::UploadBlobRequest {
            payload: Some(Payload::Chunk(bytes)),
        }) => Ok(bytes),
        Ok(pb::UploadBlobRequest {
            payload: Some(Payload::Header(_)),
        }) => Err(Error::invalid("header", "must be sent only once")),
        Ok(pb::UploadBlobRequest { payload: None }) => {
            Err(Error::invalid("payload", "is required"))
        }
        Err(s) => Err(Error::invalid(
            "chunk",
            format!("stream failed: {}", s.message()),
        )),
    });
    let header = UploadHeader::try_from(header).map_err(status)?;
    let blob = registry
        .upload_blob(&c, header, Box::pin(chunks))
        .await
        .map_err(status)?;
    ok(pb::UploadBlobResponse {
        digest: blob.digest.to_string(),
        size: blob.size as i64,
    })
}

/// Serves `ReleaseAdmin/UpdateRepoPolicy`.
pub(super) async fn update_repo_policy(
    registry: &Registry,
    request: Request<pb::UpdateRepoPolicyRequest>,
) -> Answer<pb::UpdateRepoPolicyResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let repo = Name::parse_owned("repo", r.repo).map_err(status)?;
    let policy = r.policy.unwrap_or_default();
    let retention = super::retention::retention_from(policy.retention);
    let channels = policy
        .channels
        .into_iter()
        .map(|p| (p.channel, p.required_roles))
        .collect();
    let saved = registry
        .update_repo_policy(&c, &repo, channels, retention)
        .await
        .map_err(status)?;
    let channels = saved
        .into_iter()
        .map(|(channel, required_roles)| pb::ChannelPolicy {
            channel,
            required_roles,
        })
        .collect();
    ok(pb::UpdateRepoPolicyResponse {
        policy: Some(pb::RepoPolicy {
            channels,
            retention: super::retention::retention_to(retention),
        }),
    })
}
