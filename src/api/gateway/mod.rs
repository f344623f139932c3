//! The JSON bridge (grpc-gateway style): every RPC with a `google.api.http` annotation is
//! served as HTTP+JSON, routed by templates read from the descriptor set at startup. Calls
//! run through the same gRPC service stack as native gRPC, so every protocol behaves alike.
//! Catalog answers carry an `ETag` and honour `If-None-Match`.

mod openapi;
mod rules;
mod transcode;

pub use openapi::document as openapi_document;

use rules::{Rule, rules};

use std::sync::Arc;

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use prost_reflect::DescriptorPool;
use sha2::{Digest as _, Sha256};

use crate::{
    api::{error::HttpError, observe::BridgedRpc},
    domain::{Error, ErrorCode},
};

/// The bridge: its routes and the gRPC service it calls.
struct Gateway {
    rules: Vec<Rule>,
    grpc: axum::Router,
}

/// Returns a router whose fallback serves every annotated RPC as JSON, plus `/openapi.json`.
pub fn router(grpc: axum::Router, pool: &DescriptorPool) -> axum::Router {
    let gateway = Arc::new(Gateway {
        rules: rules(pool),
        grpc,
    });
    let openapi =
        Bytes::from(serde_json::to_vec_pretty(&openapi_document(pool)).unwrap_or_default());
    let serve_openapi =
        move || async move { ([(header::CONTENT_TYPE, "application/json")], openapi) };
    axum::Router::new()
        .route("/openapi.json", axum::routing::get(serve_openapi))
        .fallback(handle)
        .with_state(gateway)
}

/// How long clients may keep an answer.
fn cache_control(rule: &Rule, headers: &HeaderMap) -> &'static str {
    match rule.rpc_name {
        "GetLatestRelease" => "private, max-age=0",
        // Published manifests never change; drafts are only visible with a token.
        "GetReleaseManifest" if !headers.contains_key(header::AUTHORIZATION) => {
            "public, max-age=31536000, immutable"
        }
        _ => "private, no-cache",
    }
}

async fn handle(
    State(gateway): State<Arc<Gateway>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let mut path_known = false;
    for rule in &gateway.rules {
        let Some(bound) = rule.template.matches(path) else {
            continue;
        };
        path_known = true;
        if rule.method != method && !(method == Method::HEAD && rule.method == Method::GET) {
            continue;
        }
        let mut response = match serve(&gateway, rule, bound, uri.query(), &headers, &body).await {
            Ok(response) => response,
            Err(e) => HttpError(e).into_response(),
        };
        response.extensions_mut().insert(BridgedRpc(rule.rpc_name));
        return response;
    }
    let error = if path_known {
        let mut response = HttpError(Error::new(
            ErrorCode::InvalidArgument,
            format!("method {method} is not allowed on {path}"),
        ))
        .into_response();
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return response;
    } else {
        Error::new(ErrorCode::NotFound, format!("no route for {method} {path}"))
    };
    HttpError(error).into_response()
}

async fn serve(
    gateway: &Gateway,
    rule: &Rule,
    bound: Vec<(String, String)>,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Error> {
    let message = transcode::request_message(rule, bound, query, headers, body)?;
    let answer = transcode::call(&gateway.grpc, rule, &message, headers).await?;
    let json = transcode::response_json(rule.output(), answer)?;
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, cache_control(rule, headers));
    if rule.method == Method::GET {
        let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&json)[..16]));
        let fresh = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
        if let Some(value) = transcode::header_value(&etag) {
            response = response.header(header::ETAG, value);
        }
        if fresh {
            return response
                .status(StatusCode::NOT_MODIFIED)
                .body(Body::empty())
                .map_err(Error::internal);
        }
    }
    response.body(Body::from(json)).map_err(Error::internal)
}
