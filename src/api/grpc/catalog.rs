//! `relreg.v1.ReleaseCatalog`: read access for apps and services.

use std::{pin::Pin, sync::Arc};

use futures::{Stream, StreamExt as _};
use tonic::{Request, Response, Status};

use super::{caller, commands::release_id};
use crate::{
    api::error::status,
    domain::{Digest, Error, Name, VersionKey, parse_requirement},
    pb::{self, release_catalog_server::ReleaseCatalog},
    registry::{Decision, LatestQuery, Listed, Page, Registry},
};

/// The `ReleaseCatalog` service over a registry.
#[derive(Clone)]
pub struct CatalogService {
    registry: Registry,
}

impl CatalogService {
    /// Returns the service.
    pub fn new(registry: Registry) -> Self {
        Self { registry }
    }
}

type Answer<T> = Result<Response<T>, Status>;

/// The server stream of `DownloadBlob`.
pub(super) type DownloadStream =
    Pin<Box<dyn Stream<Item = Result<pb::DownloadBlobResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ReleaseCatalog for CatalogService {
    async fn get_package(
        &self,
        request: Request<pb::GetPackageRequest>,
    ) -> Answer<pb::GetPackageResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let repo = Name::parse_owned("repo", r.repo).map_err(status)?;
        let name = Name::parse_owned("package", r.package).map_err(status)?;
        let package = self
            .registry
            .get_package(&c, &repo, &name)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::GetPackageResponse {
            package: Some(package.into()),
        }))
    }

    async fn list_versions(
        &self,
        request: Request<pb::ListVersionsRequest>,
    ) -> Answer<pb::ListVersionsResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let page = Page::parse(r.page_size, &r.page_token).map_err(status)?;
        let repo = Name::parse_owned("repo", r.repo).map_err(status)?;
        let package = Name::parse_owned("package", r.package).map_err(status)?;
        let Listed {
            items: versions,
            next_page_token,
        } = self
            .registry
            .list_versions(&c, &repo, &package, &page)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListVersionsResponse {
            versions: versions.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    async fn get_version(
        &self,
        request: Request<pb::GetVersionRequest>,
    ) -> Answer<pb::GetVersionResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let key = VersionKey::parse(&r.repo, &r.package, &r.version).map_err(status)?;
        let v = self.registry.get_version(&c, &key).await.map_err(status)?;
        Ok(Response::new(pb::GetVersionResponse {
            version: Some(v.into()),
        }))
    }

    async fn resolve_version(
        &self,
        request: Request<pb::ResolveVersionRequest>,
    ) -> Answer<pb::ResolveVersionResponse> {
        let c = caller(&request);
        let r = request.into_inner();
        let repo = Name::parse_owned("repo", r.repo).map_err(status)?;
        let package = Name::parse_owned("package", r.package).map_err(status)?;
        let req = parse_requirement("requirement", &r.requirement).map_err(status)?;
        let v = self
            .registry
            .resolve_version(&c, &repo, &package, &req)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ResolveVersionResponse {
            version: Some(v.into()),
        }))
    }

    type DownloadBlobStream = DownloadStream;

    async fn download_blob(
        &self,
        request: Request<pb::DownloadBlobRequest>,
    ) -> Answer<DownloadStream> {
        let c = caller(&request);
        let r = request.into_inner();
        let offset = u64::try_from(r.offset)
            .map_err(|_| status(Error::invalid("offset", "must not be negative")))?;
        let repo = Name::parse_owned("repo", r.repo).map_err(status)?;
        let digest = Digest::parse("digest", &r.digest).map_err(status)?;
        let download = self
            .registry
            .download_blob(&c, &repo, &digest, offset, None)
            .await
            .map_err(status)?;
        let size = download.blob.size as i64;
        let stream = download.bytes.scan(offset as i64, move |position, chunk| {
            let item = chunk.map_err(status).map(|chunk| {
                let at = *position;
                *position += chunk.len() as i64;
                pb::DownloadBlobResponse {
                    chunk,
                    offset: at,
                    size,
                }
            });
            futures::future::ready(Some(item))
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_latest_release(
        &self,
        request: Request<pb::GetLatestReleaseRequest>,
    ) -> Answer<pb::GetLatestReleaseResponse> {
        use pb::get_latest_release_response::{AppUpdateRequired, Decision as D, UpToDate, Update};
        let c = caller(&request);
        let query = LatestQuery::try_from(request.into_inner()).map_err(status)?;
        let decision = self
            .registry
            .latest_release(&c, &query)
            .await
            .map_err(status)?;
        let decision = match decision {
            Decision::Update(release) => D::Update(Update {
                manifest_path: format!("/v1/releases/{}/manifest", release.id),
                release: Some(Arc::unwrap_or_clone(release).into()),
            }),
            Decision::UpToDate(release) => D::UpToDate(UpToDate {
                release: release.map(|r| Arc::unwrap_or_clone(r).into()),
            }),
            Decision::AppUpdateRequired(min_app_version) => {
                D::AppUpdateRequired(AppUpdateRequired { min_app_version })
            }
        };
        Ok(Response::new(pb::GetLatestReleaseResponse {
            decision: Some(decision),
        }))
    }

    async fn get_release_manifest(
        &self,
        request: Request<pb::GetReleaseManifestRequest>,
    ) -> Answer<pb::GetReleaseManifestResponse> {
        let c = caller(&request);
        let id = release_id(&request.into_inner().release_id).map_err(status)?;
        let manifest = self
            .registry
            .release_manifest(&c, &id)
            .await
            .map_err(status)?;
        let signed = self
            .registry
            .manifest_signature(&id)
            .await
            .map_err(status)?;
        let header = signed.as_deref().and_then(super::trust::signature_header);
        let mut response = Response::new(pb::GetReleaseManifestResponse {
            manifest: Some(manifest.as_ref().into()),
            signed_manifest: signed.map(|s| s.as_ref().into()),
        });
        if let Some(value) = header {
            response
                .metadata_mut()
                .insert(super::trust::MANIFEST_SIGNATURE, value);
        }
        Ok(response)
    }

    async fn get_release(
        &self,
        request: Request<pb::GetReleaseRequest>,
    ) -> Answer<pb::GetReleaseResponse> {
        let c = caller(&request);
        let id = release_id(&request.into_inner().release_id).map_err(status)?;
        let release = self.registry.get_release(&c, &id).await.map_err(status)?;
        Ok(Response::new(pb::GetReleaseResponse {
            release: Some(release.into()),
        }))
    }

    async fn list_releases(
        &self,
        request: Request<pb::ListReleasesRequest>,
    ) -> Answer<pb::ListReleasesResponse> {
        super::admin::list_releases(&self.registry, request, false).await
    }

    async fn get_trust_root(
        &self,
        request: Request<pb::GetTrustRootRequest>,
    ) -> Answer<pb::GetTrustRootResponse> {
        super::trust::get_trust_root(&self.registry, request).await
    }

    async fn get_channel_head(
        &self,
        request: Request<pb::GetChannelHeadRequest>,
    ) -> Answer<pb::GetChannelHeadResponse> {
        super::trust::get_channel_head(&self.registry, request).await
    }

    type WatchReleasesStream = super::events::WatchStream;

    async fn watch_releases(
        &self,
        request: Request<pb::WatchReleasesRequest>,
    ) -> Answer<super::events::WatchStream> {
        super::events::watch_releases(&self.registry, request).await
    }
}
