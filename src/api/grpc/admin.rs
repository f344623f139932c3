//! `relreg.v1.ReleaseAdmin`: each method converts its request, calls the registry and
//! converts the answer.

use futures::StreamExt as _;
use tonic::{Request, Response, Status, Streaming};

use super::{
    caller,
    convert::{micros, role, struct_to_json},
};
use crate::{
    api::error::status,
    domain::{AuditFilter, Compatibility, Error, Severity, TokenScope},
    pb::{self, release_admin_server::ReleaseAdmin},
    registry::{Edit, NewRelease, NewToken, Page, Registry, UploadHeader},
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

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

#[tonic::async_trait]
impl ReleaseAdmin for AdminService {
    async fn create_repo(
        &self,
        request: Request<pb::CreateRepoRequest>,
    ) -> Answer<pb::CreateRepoResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let repo = self
            .registry
            .create_repo(&c, &r.repo, r.public, &r.display_name)
            .await
            .map_err(status)?;
        ok(pb::CreateRepoResponse {
            repo: Some(repo.into()),
        })
    }

    async fn get_repo(&self, request: Request<pb::GetRepoRequest>) -> Answer<pb::GetRepoResponse> {
        let c = caller(&request);
        let repo = self
            .registry
            .get_repo(&c, &request.into_inner().repo)
            .await
            .map_err(status)?;
        ok(pb::GetRepoResponse {
            repo: Some(repo.into()),
        })
    }

    async fn create_package(
        &self,
        request: Request<pb::CreatePackageRequest>,
    ) -> Answer<pb::CreatePackageResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let package = self
            .registry
            .create_package(&c, &r.repo, &r.package, &r.kind, &r.description)
            .await
            .map_err(status)?;
        ok(pb::CreatePackageResponse {
            package: Some(package.into()),
        })
    }

    async fn list_packages(
        &self,
        request: Request<pb::ListPackagesRequest>,
    ) -> Answer<pb::ListPackagesResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let page = Page::parse(r.page_size, &r.page_token).map_err(status)?;
        let (packages, next_page_token) = self
            .registry
            .list_packages(&c, &r.repo, &page)
            .await
            .map_err(status)?;
        ok(pb::ListPackagesResponse {
            packages: packages.into_iter().map(Into::into).collect(),
            next_page_token,
        })
    }

    async fn create_version(
        &self,
        request: Request<pb::CreateVersionRequest>,
    ) -> Answer<pb::CreateVersionResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let (version, created) = self
            .registry
            .create_version(&c, &r.repo, &r.package, &r.version)
            .await
            .map_err(status)?;
        ok(pb::CreateVersionResponse {
            version: Some(version.into()),
            created,
        })
    }

    async fn put_version_file(
        &self,
        request: Request<pb::PutVersionFileRequest>,
    ) -> Answer<pb::PutVersionFileResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let edit = Edit::PutFile {
            path: r.path,
            digest: r.digest,
            media_type: r.media_type,
        };
        let v = self
            .registry
            .edit_version(&c, (&r.repo, &r.package, &r.version), &r.etag, edit)
            .await
            .map_err(status)?;
        ok(pb::PutVersionFileResponse {
            version: Some(v.into()),
        })
    }

    async fn delete_version_file(
        &self,
        request: Request<pb::DeleteVersionFileRequest>,
    ) -> Answer<pb::DeleteVersionFileResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let edit = Edit::DeleteFile { path: r.path };
        let v = self
            .registry
            .edit_version(&c, (&r.repo, &r.package, &r.version), &r.etag, edit)
            .await
            .map_err(status)?;
        ok(pb::DeleteVersionFileResponse {
            version: Some(v.into()),
        })
    }

    async fn set_version_manifest(
        &self,
        request: Request<pb::SetVersionManifestRequest>,
    ) -> Answer<pb::SetVersionManifestResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let manifest = r.manifest.as_ref().map(struct_to_json).unwrap_or_default();
        let v = self
            .registry
            .edit_version(
                &c,
                (&r.repo, &r.package, &r.version),
                &r.etag,
                Edit::SetManifest(manifest),
            )
            .await
            .map_err(status)?;
        ok(pb::SetVersionManifestResponse {
            version: Some(v.into()),
        })
    }

    async fn diff_version(
        &self,
        request: Request<pb::DiffVersionRequest>,
    ) -> Answer<pb::DiffVersionResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let d = self
            .registry
            .diff_version(&c, (&r.repo, &r.package, &r.version), &r.base_version)
            .await
            .map_err(status)?;
        ok(pb::DiffVersionResponse {
            added: d.added.into_iter().map(Into::into).collect(),
            removed: d.removed.into_iter().map(Into::into).collect(),
            changed: d
                .changed
                .into_iter()
                .map(|(base, new)| pb::FileChange {
                    path: new.path,
                    base_digest: base.digest,
                    digest: new.digest,
                    base_size: base.size,
                    size: new.size,
                })
                .collect(),
            manifest_changed: d.manifest_changed,
            base_content_digest: d.base_content_digest,
            content_digest: d.content_digest,
        })
    }

    async fn publish_version(
        &self,
        request: Request<pb::PublishVersionRequest>,
    ) -> Answer<pb::PublishVersionResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let v = self
            .registry
            .publish_version(&c, (&r.repo, &r.package, &r.version), &r.etag)
            .await
            .map_err(status)?;
        ok(pb::PublishVersionResponse {
            version: Some(v.into()),
        })
    }

    async fn deprecate_version(
        &self,
        request: Request<pb::DeprecateVersionRequest>,
    ) -> Answer<pb::DeprecateVersionResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let v = self
            .registry
            .deprecate_version(
                &c,
                (&r.repo, &r.package, &r.version),
                &r.reason,
                &r.replacement,
            )
            .await
            .map_err(status)?;
        ok(pb::DeprecateVersionResponse {
            version: Some(v.into()),
        })
    }

    async fn yank_version(
        &self,
        request: Request<pb::YankVersionRequest>,
    ) -> Answer<pb::YankVersionResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let v = self
            .registry
            .yank_version(&c, (&r.repo, &r.package, &r.version), &r.reason)
            .await
            .map_err(status)?;
        ok(pb::YankVersionResponse {
            version: Some(v.into()),
        })
    }

    async fn delete_version(
        &self,
        request: Request<pb::DeleteVersionRequest>,
    ) -> Answer<pb::DeleteVersionResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        self.registry
            .delete_version(&c, (&r.repo, &r.package, &r.version), &r.etag)
            .await
            .map_err(status)?;
        ok(pb::DeleteVersionResponse {})
    }

    async fn upload_blob(
        &self,
        request: Request<Streaming<pb::UploadBlobRequest>>,
    ) -> Answer<pb::UploadBlobResponse> {
        use pb::upload_blob_request::Payload;
        let c = caller(&request);
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
        let chunks = stream.map(|message| match message {
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
        let header = UploadHeader {
            repo: header.repo,
            expected_digest: header.expected_digest,
            expected_size: header.expected_size,
            media_type: header.media_type,
        };
        let blob = self
            .registry
            .upload_blob(&c, header, Box::pin(chunks))
            .await
            .map_err(status)?;
        ok(pb::UploadBlobResponse {
            digest: blob.digest,
            size: blob.size,
        })
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Answer<pb::ListAuditEventsResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let page = Page::parse(r.page_size, &r.page_token).map_err(status)?;
        let filter = AuditFilter {
            repo: non_empty(r.repo),
            action: non_empty(r.action),
            actor: non_empty(r.actor),
            start: r
                .start_time
                .as_ref()
                .map(|t| micros("start_time", t))
                .transpose()
                .map_err(status)?,
            end: r
                .end_time
                .as_ref()
                .map(|t| micros("end_time", t))
                .transpose()
                .map_err(status)?,
        };
        let (events, next_page_token) = self
            .registry
            .list_audit(&c, filter, &page)
            .await
            .map_err(status)?;
        ok(pb::ListAuditEventsResponse {
            events: events.into_iter().map(Into::into).collect(),
            next_page_token,
        })
    }

    async fn create_token(
        &self,
        request: Request<pb::CreateTokenRequest>,
    ) -> Answer<pb::CreateTokenResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let new = NewToken {
            name: r.name,
            scope: non_empty(r.repo).map_or(TokenScope::AllRepos, TokenScope::Repo),
            role: role("role", r.role).map_err(status)?,
            expires_at: r
                .expire_time
                .as_ref()
                .map(|t| micros("expire_time", t))
                .transpose()
                .map_err(status)?,
        };
        let (token, secret) = self.registry.create_token(&c, new).await.map_err(status)?;
        ok(pb::CreateTokenResponse {
            token: Some(token.into()),
            secret,
        })
    }

    async fn list_tokens(
        &self,
        request: Request<pb::ListTokensRequest>,
    ) -> Answer<pb::ListTokensResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let page = Page::parse(r.page_size, &r.page_token).map_err(status)?;
        let (tokens, next_page_token) = self
            .registry
            .list_tokens(&c, &r.repo, &page)
            .await
            .map_err(status)?;
        ok(pb::ListTokensResponse {
            tokens: tokens.into_iter().map(Into::into).collect(),
            next_page_token,
        })
    }

    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Answer<pb::RevokeTokenResponse> {
        let c = caller(&request);
        let token = self
            .registry
            .revoke_token(&c, &request.into_inner().id)
            .await
            .map_err(status)?;
        ok(pb::RevokeTokenResponse {
            token: Some(token.into()),
        })
    }

    async fn update_repo_policy(
        &self,
        request: Request<pb::UpdateRepoPolicyRequest>,
    ) -> Answer<pb::UpdateRepoPolicyResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let channels = r
            .policy
            .unwrap_or_default()
            .channels
            .into_iter()
            .map(|p| (p.channel, p.required_roles))
            .collect();
        let saved = self
            .registry
            .update_repo_policy(&c, &r.repo, channels)
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
            policy: Some(pb::RepoPolicy { channels }),
        })
    }

    async fn create_release(
        &self,
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
        let release = self
            .registry
            .create_release(&c, new)
            .await
            .map_err(status)?;
        ok(pb::CreateReleaseResponse {
            release: Some(release.into()),
        })
    }

    async fn attach_artifact(
        &self,
        request: Request<pb::AttachArtifactRequest>,
    ) -> Answer<pb::AttachArtifactResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let target = Some((r.package.as_str(), r.version.as_str()));
        let release = self
            .registry
            .edit_release(&c, &r.release_id, &r.role, target, &r.etag)
            .await
            .map_err(status)?;
        ok(pb::AttachArtifactResponse {
            release: Some(release.into()),
        })
    }

    async fn detach_artifact(
        &self,
        request: Request<pb::DetachArtifactRequest>,
    ) -> Answer<pb::DetachArtifactResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let release = self
            .registry
            .edit_release(&c, &r.release_id, &r.role, None, &r.etag)
            .await
            .map_err(status)?;
        ok(pb::DetachArtifactResponse {
            release: Some(release.into()),
        })
    }

    async fn validate_release(
        &self,
        request: Request<pb::ValidateReleaseRequest>,
    ) -> Answer<pb::ValidateReleaseResponse> {
        let c = caller(&request);
        let id = request.into_inner().release_id;
        let findings = self
            .registry
            .validate_release(&c, &id)
            .await
            .map_err(status)?;
        let publishable = findings.iter().all(|f| f.severity != Severity::Error);
        ok(pb::ValidateReleaseResponse {
            findings: findings.into_iter().map(Into::into).collect(),
            publishable,
        })
    }

    async fn publish_release(
        &self,
        request: Request<pb::PublishReleaseRequest>,
    ) -> Answer<pb::PublishReleaseResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let (release, warnings) = self
            .registry
            .publish_release(&c, &r.release_id, &r.etag)
            .await
            .map_err(status)?;
        ok(pb::PublishReleaseResponse {
            release: Some(release.into()),
            findings: warnings.into_iter().map(Into::into).collect(),
        })
    }

    async fn deprecate_release(
        &self,
        request: Request<pb::DeprecateReleaseRequest>,
    ) -> Answer<pb::DeprecateReleaseResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let release = self
            .registry
            .deprecate_release(&c, &r.release_id, &r.reason, &r.replacement)
            .await
            .map_err(status)?;
        ok(pb::DeprecateReleaseResponse {
            release: Some(release.into()),
        })
    }

    async fn rollback_channel(
        &self,
        request: Request<pb::RollbackChannelRequest>,
    ) -> Answer<pb::RollbackChannelResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let (release, deprecated_release_ids, sequence) = self
            .registry
            .rollback_channel(&c, &r.repo, &r.channel, &r.release_id)
            .await
            .map_err(status)?;
        ok(pb::RollbackChannelResponse {
            release: Some(release.into()),
            deprecated_release_ids,
            sequence: sequence.unwrap_or_default(),
        })
    }

    async fn list_releases(
        &self,
        request: Request<pb::ListReleasesRequest>,
    ) -> Answer<pb::ListReleasesResponse> {
        list_releases(&self.registry, request, true).await
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
    let (releases, next_page_token) = registry
        .list_releases(&c, &r.repo, &r.channel, admin, &page)
        .await
        .map_err(status)?;
    ok(pb::ListReleasesResponse {
        releases: releases.into_iter().map(Into::into).collect(),
        next_page_token,
    })
}
