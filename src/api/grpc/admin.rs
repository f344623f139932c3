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
    domain::{AuditFilter, Error, TokenScope},
    pb::{self, release_admin_server::ReleaseAdmin},
    registry::{Edit, NewToken, Page, Registry, UploadHeader},
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

type Answer<T> = Result<Response<T>, Status>;

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
}
