//! Tokens and the audit log over gRPC: create, list and revoke tokens, list audit events.

use tonic::Request;

use super::{Answer, ok};
use crate::{
    api::{
        error::status,
        grpc::{
            caller,
            commands::unset_if_empty,
            convert::{micros, role},
        },
    },
    domain::{AuditFilter, Name, TokenScope},
    pb,
    registry::{Listed, NewToken, Page, Registry},
};

/// Serves `ReleaseAdmin/ListAuditEvents`.
pub(super) async fn list_audit_events(
    registry: &Registry,
    request: Request<pb::ListAuditEventsRequest>,
) -> Answer<pb::ListAuditEventsResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let page = Page::parse(r.page_size, &r.page_token).map_err(status)?;
    let filter = AuditFilter {
        repo: unset_if_empty(r.repo),
        action: unset_if_empty(r.action),
        actor: unset_if_empty(r.actor),
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
    let Listed {
        items: events,
        next_page_token,
    } = registry
        .list_audit(&c, filter, &page)
        .await
        .map_err(status)?;
    ok(pb::ListAuditEventsResponse {
        events: events.into_iter().map(Into::into).collect(),
        next_page_token,
    })
}

/// Serves `ReleaseAdmin/CreateToken`.
pub(super) async fn create_token(
    registry: &Registry,
    request: Request<pb::CreateTokenRequest>,
) -> Answer<pb::CreateTokenResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let role = role("role", r.role).map_err(status)?;
    let scope = match unset_if_empty(r.repo) {
        None => TokenScope::AllRepos,
        Some(repo) => TokenScope::Repo(Name::parse_owned("repo", repo).map_err(status)?),
    };
    let new = NewToken {
        name: r.name,
        scope,
        role,
        expires_at: r
            .expire_time
            .as_ref()
            .map(|t| micros("expire_time", t))
            .transpose()
            .map_err(status)?,
    };
    let (token, secret) = registry.create_token(&c, new).await.map_err(status)?;
    ok(pb::CreateTokenResponse {
        token: Some(token.into()),
        secret,
    })
}

/// Serves `ReleaseAdmin/ListTokens`.
pub(super) async fn list_tokens(
    registry: &Registry,
    request: Request<pb::ListTokensRequest>,
) -> Answer<pb::ListTokensResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let page = Page::parse(r.page_size, &r.page_token).map_err(status)?;
    let Listed {
        items: tokens,
        next_page_token,
    } = registry
        .list_tokens(&c, &r.repo, &page)
        .await
        .map_err(status)?;
    ok(pb::ListTokensResponse {
        tokens: tokens.into_iter().map(Into::into).collect(),
        next_page_token,
    })
}

/// Serves `ReleaseAdmin/RevokeToken`.
pub(super) async fn revoke_token(
    registry: &Registry,
    request: Request<pb::RevokeTokenRequest>,
) -> Answer<pb::RevokeTokenResponse> {
    let c = caller(&request);
    let token = registry
        .revoke_token(&c, &request.into_inner().id)
        .await
        .map_err(status)?;
    ok(pb::RevokeTokenResponse {
        token: Some(token.into()),
    })
}
