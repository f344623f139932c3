//! `relreg.v1.ReleaseAdmin`: a thin trait impl that hands each method to its area (`repos`,
//! `versions`, `releases`, `rollouts`, `access`), where the request is converted, the registry called
//! and the answer converted.

mod access;
mod releases;
mod repos;
mod retention;
mod rollouts;
mod versions;

use tonic::{Request, Response, Status, Streaming};

use super::caller;
use crate::{
    api::error::status,
    domain::Name,
    pb::{self, release_admin_server::ReleaseAdmin},
    registry::{Page, Registry},
};

/// The `ReleaseAdmin` service over a registry.
#[derive(Clone)]
pub struct AdminService {
    registry: Registry,
}

impl AdminService {
    /// Returns the service.
    pub fn new(registry: Registry) -> Self {
        Self { registry }
    }
}

pub(super) type Answer<T> = Result<Response<T>, Status>;

fn ok<T>(value: T) -> Answer<T> {
    Ok(Response::new(value))
}

#[tonic::async_trait]
impl ReleaseAdmin for AdminService {
    async fn create_repo(
        &self,
        request: Request<pb::CreateRepoRequest>,
    ) -> Answer<pb::CreateRepoResponse> {
        repos::create_repo(&self.registry, request).await
    }

    async fn get_repo(&self, request: Request<pb::GetRepoRequest>) -> Answer<pb::GetRepoResponse> {
        repos::get_repo(&self.registry, request).await
    }

    async fn create_package(
        &self,
        request: Request<pb::CreatePackageRequest>,
    ) -> Answer<pb::CreatePackageResponse> {
        repos::create_package(&self.registry, request).await
    }

    async fn list_packages(
        &self,
        request: Request<pb::ListPackagesRequest>,
    ) -> Answer<pb::ListPackagesResponse> {
        repos::list_packages(&self.registry, request).await
    }

    async fn delete_package(
        &self,
        request: Request<pb::DeletePackageRequest>,
    ) -> Answer<pb::DeletePackageResponse> {
        retention::delete_package(&self.registry, request).await
    }

    async fn run_retention(
        &self,
        request: Request<pb::RunRetentionRequest>,
    ) -> Answer<pb::RunRetentionResponse> {
        retention::run_retention(&self.registry, request).await
    }

    async fn create_version(
        &self,
        request: Request<pb::CreateVersionRequest>,
    ) -> Answer<pb::CreateVersionResponse> {
        versions::create_version(&self.registry, request).await
    }

    async fn put_version_file(
        &self,
        request: Request<pb::PutVersionFileRequest>,
    ) -> Answer<pb::PutVersionFileResponse> {
        versions::put_version_file(&self.registry, request).await
    }

    async fn delete_version_file(
        &self,
        request: Request<pb::DeleteVersionFileRequest>,
    ) -> Answer<pb::DeleteVersionFileResponse> {
        versions::delete_version_file(&self.registry, request).await
    }

    async fn set_version_manifest(
        &self,
        request: Request<pb::SetVersionManifestRequest>,
    ) -> Answer<pb::SetVersionManifestResponse> {
        versions::set_version_manifest(&self.registry, request).await
    }

    async fn diff_version(
        &self,
        request: Request<pb::DiffVersionRequest>,
    ) -> Answer<pb::DiffVersionResponse> {
        versions::diff_version(&self.registry, request).await
    }

    async fn publish_version(
        &self,
        request: Request<pb::PublishVersionRequest>,
    ) -> Answer<pb::PublishVersionResponse> {
        versions::publish_version(&self.registry, request).await
    }

    async fn deprecate_version(
        &self,
        request: Request<pb::DeprecateVersionRequest>,
    ) -> Answer<pb::DeprecateVersionResponse> {
        versions::deprecate_version(&self.registry, request).await
    }

    async fn yank_version(
        &self,
        request: Request<pb::YankVersionRequest>,
    ) -> Answer<pb::YankVersionResponse> {
        versions::yank_version(&self.registry, request).await
    }

    async fn delete_version(
        &self,
        request: Request<pb::DeleteVersionRequest>,
    ) -> Answer<pb::DeleteVersionResponse> {
        versions::delete_version(&self.registry, request).await
    }

    async fn upload_blob(
        &self,
        request: Request<Streaming<pb::UploadBlobRequest>>,
    ) -> Answer<pb::UploadBlobResponse> {
        repos::upload_blob(&self.registry, request).await
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Answer<pb::ListAuditEventsResponse> {
        access::list_audit_events(&self.registry, request).await
    }

    async fn create_token(
        &self,
        request: Request<pb::CreateTokenRequest>,
    ) -> Answer<pb::CreateTokenResponse> {
        access::create_token(&self.registry, request).await
    }

    async fn list_tokens(
        &self,
        request: Request<pb::ListTokensRequest>,
    ) -> Answer<pb::ListTokensResponse> {
        access::list_tokens(&self.registry, request).await
    }

    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Answer<pb::RevokeTokenResponse> {
        access::revoke_token(&self.registry, request).await
    }

    async fn update_repo_policy(
        &self,
        request: Request<pb::UpdateRepoPolicyRequest>,
    ) -> Answer<pb::UpdateRepoPolicyResponse> {
        repos::update_repo_policy(&self.registry, request).await
    }

    async fn create_release(
        &self,
        request: Request<pb::CreateReleaseRequest>,
    ) -> Answer<pb::CreateReleaseResponse> {
        releases::create_release(&self.registry, request).await
    }

    async fn attach_artifact(
        &self,
        request: Request<pb::AttachArtifactRequest>,
    ) -> Answer<pb::AttachArtifactResponse> {
        releases::attach_artifact(&self.registry, request).await
    }

    async fn detach_artifact(
        &self,
        request: Request<pb::DetachArtifactRequest>,
    ) -> Answer<pb::DetachArtifactResponse> {
        releases::detach_artifact(&self.registry, request).await
    }

    async fn validate_release(
        &self,
        request: Request<pb::ValidateReleaseRequest>,
    ) -> Answer<pb::ValidateReleaseResponse> {
        releases::validate_release(&self.registry, request).await
    }

    async fn publish_release(
        &self,
        request: Request<pb::PublishReleaseRequest>,
    ) -> Answer<pb::PublishReleaseResponse> {
        releases::publish_release(&self.registry, request).await
    }

    async fn deprecate_release(
        &self,
        request: Request<pb::DeprecateReleaseRequest>,
    ) -> Answer<pb::DeprecateReleaseResponse> {
        releases::deprecate_release(&self.registry, request).await
    }

    async fn rollback_channel(
        &self,
        request: Request<pb::RollbackChannelRequest>,
    ) -> Answer<pb::RollbackChannelResponse> {
        releases::rollback_channel(&self.registry, request).await
    }

    async fn list_releases(
        &self,
        request: Request<pb::ListReleasesRequest>,
    ) -> Answer<pb::ListReleasesResponse> {
        list_releases(&self.registry, request, true).await
    }

    async fn set_rollout(
        &self,
        request: Request<pb::SetRolloutRequest>,
    ) -> Answer<pb::SetRolloutResponse> {
        rollouts::set_rollout(&self.registry, request).await
    }

    async fn pause_rollout(
        &self,
        request: Request<pb::PauseRolloutRequest>,
    ) -> Answer<pb::PauseRolloutResponse> {
        rollouts::pause_rollout(&self.registry, request).await
    }

    async fn resume_rollout(
        &self,
        request: Request<pb::ResumeRolloutRequest>,
    ) -> Answer<pb::ResumeRolloutResponse> {
        rollouts::resume_rollout(&self.registry, request).await
    }

    async fn halt_rollout(
        &self,
        request: Request<pb::HaltRolloutRequest>,
    ) -> Answer<pb::HaltRolloutResponse> {
        rollouts::halt_rollout(&self.registry, request).await
    }

    async fn get_rollout(
        &self,
        request: Request<pb::GetRolloutRequest>,
    ) -> Answer<pb::GetRolloutResponse> {
        rollouts::get_rollout(&self.registry, request).await
    }

    async fn set_floor(
        &self,
        request: Request<pb::SetFloorRequest>,
    ) -> Answer<pb::SetFloorResponse> {
        rollouts::set_floor(&self.registry, request).await
    }

    async fn set_repo_keys(
        &self,
        request: Request<pb::SetRepoKeysRequest>,
    ) -> Answer<pb::SetRepoKeysResponse> {
        super::trust::set_repo_keys(&self.registry, request).await
    }

    async fn create_webhook(
        &self,
        request: Request<pb::CreateWebhookRequest>,
    ) -> Answer<pb::CreateWebhookResponse> {
        super::events::create_webhook(&self.registry, request).await
    }

    async fn list_webhooks(
        &self,
        request: Request<pb::ListWebhooksRequest>,
    ) -> Answer<pb::ListWebhooksResponse> {
        super::events::list_webhooks(&self.registry, request).await
    }

    async fn delete_webhook(
        &self,
        request: Request<pb::DeleteWebhookRequest>,
    ) -> Answer<pb::DeleteWebhookResponse> {
        super::events::delete_webhook(&self.registry, request).await
    }

    async fn list_webhook_deliveries(
        &self,
        request: Request<pb::ListWebhookDeliveriesRequest>,
    ) -> Answer<pb::ListWebhookDeliveriesResponse> {
        super::events::list_webhook_deliveries(&self.registry, request).await
    }

    async fn redeliver_webhook(
        &self,
        request: Request<pb::RedeliverWebhookRequest>,
    ) -> Answer<pb::RedeliverWebhookResponse> {
        super::events::redeliver_webhook(&self.registry, request).await
    }
}

/// Lists releases for either service: with drafts for the admin service, published otherwise.
pub(super) async fn list_releases(
    registry: &Registry,
    request: Request<pb::ListReleasesRequest>,
    admin: bool,
) -> Answer<pb::ListReleasesResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let page = Page::parse(r.page_size, &r.page_token).map_err(status)?;
    let repo = Name::parse_owned("repo", r.repo).map_err(status)?;
    let channel = Name::parse_owned_optional("channel", r.channel).map_err(status)?;
    let listed = registry
        .list_releases(&c, &repo, channel.as_ref(), admin, &page)
        .await
        .map_err(status)?;
    ok(pb::ListReleasesResponse {
        releases: listed.items.into_iter().map(Into::into).collect(),
        next_page_token: listed.next_page_token,
    })
}
