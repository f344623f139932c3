//! The JSON bridge (grpc-gateway style): every RPC with a `google.api.http` annotation is
//! served as HTTP+JSON, routed by templates read from the descriptor set at startup. Calls
//! run through the same gRPC service stack as native gRPC, so every protocol behaves alike.
//! Catalog answers carry an `ETag` and honour `If-None-Match`. Anonymous "latest" and
//! manifest answers are kept as rendered bytes, revalidated against the channels epoch,
//! so the hot path of mobile clients skips transcoding entirely.

mod openapi;
mod policy;
mod rules;
mod transcode;

pub use openapi::document as openapi_document;

use policy::Kept;
use rules::{Rule, rules};

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use prost_reflect::DescriptorPool;
use sha2::{Digest as _, Sha256};

use http_body_util::{BodyExt as _, LengthLimitError, Limited};

use crate::{
    api::{error::HttpError, limits::MAX_MESSAGE_BYTES, observe::BridgedRpc},
    domain::{Error, ErrorCode},
    registry::Registry,
};

/// How many rendered answers the bridge keeps before starting over.
const ANSWER_CACHE_LIMIT: usize = 10_000;

/// The bridge: its routes, the gRPC service it calls, and rendered hot-path answers.
struct Gateway {
    rules: Vec<Rule>,
    grpc: axum::Router,
    registry: Registry,
    answers: RwLock<HashMap<String, Answer>>,
}

/// A rendered JSON answer.
#[derive(Clone)]
struct Answer {
    json: Bytes,
    etag: String,
    /// The channels epoch it was computed at, for answers kept until a channel changes;
    /// `None` for immutable ones.
    generation: Option<u64>,
    /// Headers of the gRPC answer it carries (`transcode::FORWARDED`).
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

/// Returns a router whose fallback serves every annotated RPC as JSON, plus `/openapi.json`.
pub fn router(grpc: axum::Router, pool: &DescriptorPool, registry: Registry) -> axum::Router {
    let gateway = Arc::new(Gateway {
        rules: rules(pool),
        grpc,
        registry,
        answers: RwLock::default(),
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

async fn handle(
    State(gateway): State<Arc<Gateway>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(e) => return HttpError(e).into_response(),
    };
    let path = uri.path();
    let mut allowed: Vec<Method> = Vec::new();
    for rule in &gateway.rules {
        let Some(bound) = rule.template.matches(path) else {
            continue;
        };
        allowed.push(rule.method.clone());
        if rule.method != method && !(method == Method::HEAD && rule.method == Method::GET) {
            continue;
        }
        let mut response = match answer(&gateway, rule, bound, &uri, &headers, &body).await {
            Ok(answer) => respond(rule, &headers, &answer),
            Err(e) => HttpError(e).into_response(),
        };
        response.extensions_mut().insert(BridgedRpc(rule.rpc_name));
        return response;
    }
    let error = if !allowed.is_empty() {
        let mut response = HttpError(Error::new(
            ErrorCode::InvalidArgument,
            format!("method {method} is not allowed on {path}"),
        ))
        .into_response();
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response.headers_mut().insert(header::ALLOW, allow(allowed));
        return response;
    } else {
        Error::new(ErrorCode::NotFound, format!("no route for {method} {path}"))
    };
    HttpError(error).into_response()
}

/// The `Allow` header of a path (RFC 9110): its rules' methods, and HEAD wherever GET is.
fn allow(mut methods: Vec<Method>) -> http::HeaderValue {
    if methods.contains(&Method::GET) {
        methods.push(Method::HEAD);
    }
    let mut names: Vec<&str> = methods.iter().map(Method::as_str).collect();
    names.sort_unstable();
    names.dedup();
    http::HeaderValue::from_str(&names.join(", ")).expect("method names are header-safe")
}

/// Reads a request body of at most `MAX_MESSAGE_BYTES`, the limit gRPC messages have too.
async fn read_body(body: Body) -> Result<Bytes, Error> {
    match Limited::new(body, MAX_MESSAGE_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(Error::new(
            ErrorCode::MessageTooLarge,
            format!("the request body exceeds {MAX_MESSAGE_BYTES} bytes"),
        )),
        Err(e) => Err(Error::invalid(
            "body",
            format!("cannot read the request body: {e}"),
        )),
    }
}

/// Produces the JSON answer of a call, from the rendered-answer cache when it may.
async fn answer(
    gateway: &Gateway,
    rule: &Rule,
    bound: Vec<(String, String)>,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Answer, Error> {
    let cacheable = gateway.registry.caches_published_data()
        && rule.method == Method::GET
        && !headers.contains_key(header::AUTHORIZATION)
        && rule.policy.kept() != Kept::Never;
    if !cacheable {
        return render(gateway, rule, bound, uri.query(), headers, body, None).await;
    }
    let generation = (rule.policy.kept() == Kept::UntilChannelsChange)
        .then(|| gateway.registry.channels_epoch());
    let key = uri.to_string();
    let hit = gateway
        .answers
        .read()
        .ok()
        .and_then(|a| a.get(&key).cloned());
    if let Some(hit) = hit.filter(|a| a.generation == generation) {
        return Ok(hit);
    }
    let answer = render(gateway, rule, bound, uri.query(), headers, body, generation).await?;
    if let Ok(mut answers) = gateway.answers.write() {
        if answers.len() >= ANSWER_CACHE_LIMIT {
            answers.clear();
        }
        answers.insert(key, answer.clone());
    }
    Ok(answer)
}

/// Transcodes a call and renders its JSON answer with an `ETag`.
async fn render(
    gateway: &Gateway,
    rule: &Rule,
    bound: Vec<(String, String)>,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    generation: Option<u64>,
) -> Result<Answer, Error> {
    let message = transcode::request_message(rule, bound, query, headers, body)?;
    let (reply, forwarded) = transcode::call(&gateway.grpc, rule, &message, headers).await?;
    let json = transcode::response_json(rule.output(), reply)?;
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&json)[..16]));
    Ok(Answer {
        json: Bytes::from(json),
        etag,
        generation,
        headers: forwarded,
    })
}

/// Builds the HTTP response of an answer: `ETag`, `Cache-Control`, 304 when the client has it.
fn respond(rule: &Rule, headers: &HeaderMap, answer: &Answer) -> Response {
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::CACHE_CONTROL,
            rule.policy
                .cache_control(headers.contains_key(header::AUTHORIZATION)),
        );
    for (name, value) in &answer.headers {
        response = response.header(name, value);
    }
    if rule.method != Method::GET {
        return response
            .body(Body::from(answer.json.clone()))
            .unwrap_or_default();
    }
    if let Some(value) = transcode::header_value(&answer.etag) {
        response = response.header(header::ETAG, value);
    }
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == answer.etag || t.trim() == "*")
        });
    if fresh {
        return response
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .unwrap_or_default();
    }
    response
        .body(Body::from(answer.json.clone()))
        .unwrap_or_default()
}
