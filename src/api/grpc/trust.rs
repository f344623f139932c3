//! The signing RPCs (issue 11): `ReleaseCatalog.GetTrustRoot`, `ReleaseCatalog.GetChannelHead`
//! and `ReleaseAdmin.SetRepoKeys`, and the envelope conversion the manifest answer shares.

use tonic::{Request, Response, Status};

use super::caller;
use crate::{
    api::error::status,
    domain::{Envelope, Name},
    pb,
    registry::{Registry, SignedDoc},
};

impl From<&Envelope> for pb::SignedEnvelope {
    fn from(e: &Envelope) -> Self {
        Self {
            payload: e.payload.clone().into(),
            signatures: e
                .signatures
                .iter()
                .map(|(key_id, sig)| pb::EnvelopeSignature {
                    key_id: key_id.clone(),
                    signature: sig.clone().into(),
                })
                .collect(),
        }
    }
}

/// The response header (gRPC metadata, and HTTP on the JSON bridge) carrying a release
/// manifest's signatures: `<key id>=<base64 signature>`, comma-separated, each over the
/// `signedManifest.payload` bytes.
pub(crate) const MANIFEST_SIGNATURE: &str = "relreg-manifest-signature";

/// Returns the `relreg-manifest-signature` value of a signed manifest.
pub(super) fn signature_header(e: &Envelope) -> Option<tonic::metadata::AsciiMetadataValue> {
    use base64::Engine as _;
    let b64 = &base64::engine::general_purpose::STANDARD;
    let value: Vec<String> = e
        .signatures
        .iter()
        .map(|(key_id, sig)| format!("{key_id}={}", b64.encode(sig)))
        .collect();
    value.join(", ").parse().ok()
}

type Answer<T> = Result<Response<T>, Status>;

fn root_answer(
    root: SignedDoc<pb::TrustRoot>,
) -> (Option<pb::SignedEnvelope>, Option<pb::TrustRoot>) {
    (Some((&root.envelope).into()), Some(root.decoded))
}

pub(super) async fn get_trust_root(
    registry: &Registry,
    request: Request<pb::GetTrustRootRequest>,
) -> Answer<pb::GetTrustRootResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let repo = Name::parse_owned("repo", r.repo).map_err(status)?;
    if r.root_version < 0 {
        return Err(status(crate::domain::Error::invalid(
            "version",
            "must not be negative",
        )));
    }
    let root = registry
        .trust_root(&c, &repo, r.root_version)
        .await
        .map_err(status)?;
    let (root, decoded) = root_answer(root);
    Ok(Response::new(pb::GetTrustRootResponse { root, decoded }))
}

pub(super) async fn get_channel_head(
    registry: &Registry,
    request: Request<pb::GetChannelHeadRequest>,
) -> Answer<pb::GetChannelHeadResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let repo = Name::parse_owned("repo", r.repo).map_err(status)?;
    let channel = Name::parse_owned("channel", r.channel).map_err(status)?;
    let head = registry
        .channel_head(&c, &repo, &channel)
        .await
        .map_err(status)?;
    Ok(Response::new(pb::GetChannelHeadResponse {
        head: Some((&head.envelope).into()),
        decoded: Some(head.decoded.clone()),
    }))
}

pub(super) async fn set_repo_keys(
    registry: &Registry,
    request: Request<pb::SetRepoKeysRequest>,
) -> Answer<pb::SetRepoKeysResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let repo = Name::parse_owned("repo", r.repo).map_err(status)?;
    let root = registry
        .set_repo_keys(&c, &repo, &r.trust, &r.untrust)
        .await
        .map_err(status)?;
    let (root, decoded) = root_answer(root);
    Ok(Response::new(pb::SetRepoKeysResponse { root, decoded }))
}
