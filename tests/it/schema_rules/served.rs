//! The rules as a client sees them: the `/openapi.json` a running server serves admits the
//! values the parsers admit, and the server answers 400 exactly for the values it refuses.

use regex::Regex;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use super::table::{
    Input,
    Kind::{self, *},
    Presence::{self, *},
    known_divergence, parser_admits, values,
};
use crate::common::{Backend, TestServer};

/// Where the served document states the rule of a kind: a parameter (path, method, name),
/// a property of a request body, or the items of an array property of one.
enum At {
    Parameter(&'static str, &'static str, &'static str),
    Body(&'static str, &'static str, &'static str),
    BodyItems(&'static str, &'static str, &'static str),
}

const PUT_FILE: &str = "/v1/repos/{repo}/packages/{package}/versions/{version}/files/{path}";

const STATED: &[(At, Kind, Presence)] = &[
    (
        At::Parameter("/v1/repos/{repo}", "get", "repo"),
        Name,
        Required,
    ),
    (At::Parameter("/v1/tokens", "get", "repo"), Name, Optional),
    (
        At::Parameter(
            "/v1/repos/{repo}/packages/{package}/versions/{version}",
            "get",
            "version",
        ),
        Semver,
        Required,
    ),
    (
        At::Parameter(
            "/v1/repos/{repo}/channels/{channel}/latest",
            "get",
            "app_version",
        ),
        AppVersion,
        Required,
    ),
    (
        At::Parameter(
            "/v1/repos/{repo}/packages/{package}:resolve",
            "get",
            "requirement",
        ),
        Requirement,
        Required,
    ),
    (
        At::Parameter("/v1/repos/{repo}/packages", "get", "page_size"),
        PageSize,
        Required,
    ),
    (
        At::Parameter(
            "/v1/repos/{repo}/packages/{package}/versions/{version}/files/{path}",
            "put",
            "path",
        ),
        Path,
        Required,
    ),
    (
        At::Parameter("/v1/releases/{release_id}", "get", "release_id"),
        ReleaseId,
        Required,
    ),
    (At::Body(PUT_FILE, "put", "digest"), Digest, Required),
    (
        At::Body("/v1/repos/{repo}/packages", "post", "kind"),
        PackageType,
        Optional,
    ),
    (
        At::Body("/v1/repos/{repo}/releases", "post", "minAppVersion"),
        AppVersion,
        Optional,
    ),
    (
        At::BodyItems("/v1/repos/{repo}/releases", "post", "platforms"),
        Name,
        Required,
    ),
    (
        At::Body("/v1/releases/{release_id}:deprecate", "post", "reason"),
        Reason,
        Required,
    ),
];

/// Returns the schema at a location, and for a parameter whether it is a required query one.
fn locate<'a>(doc: &'a Value, at: &At) -> (&'a Value, Option<bool>) {
    let body = |path: &str, method: &str| -> &'a Value {
        &doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    };
    match at {
        At::Parameter(path, method, name) => {
            let parameters = doc["paths"][path][method]["parameters"]
                .as_array()
                .unwrap_or_else(|| panic!("no operation {method} {path}"));
            let p = parameters
                .iter()
                .find(|p| p["name"] == *name)
                .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"));
            let required = p["required"] == Value::Bool(true);
            assert!(
                required || p["in"] == "query",
                "{name}: path parameters are required"
            );
            (&p["schema"], (p["in"] == "query").then_some(required))
        }
        At::Body(path, method, field) => (&body(path, method)["properties"][field], None),
        At::BodyItems(path, method, field) => {
            (&body(path, method)["properties"][field]["items"], None)
        }
    }
}

/// Evaluates the JSON Schema keywords the generator writes; any other keyword fails the test.
fn schema_admits(schema: &Value, input: &Input) -> bool {
    let object = schema
        .as_object()
        .unwrap_or_else(|| panic!("not a schema: {schema}"));
    object
        .iter()
        .all(|(key, rule)| match (key.as_str(), input) {
            ("type", Input::Text(_)) => rule == "string",
            ("type", Input::Number(_)) => rule == "integer",
            ("format", Input::Number(n)) => rule == "int32" && i32::try_from(*n).is_ok(),
            ("pattern", Input::Text(v)) => Regex::new(rule.as_str().unwrap()).unwrap().is_match(v),
            ("enum", Input::Text(v)) => rule.as_array().unwrap().contains(&Value::from(v.as_str())),
            ("minLength", Input::Text(v)) => v.chars().count() as u64 >= rule.as_u64().unwrap(),
            ("maxLength", Input::Text(v)) => v.chars().count() as u64 <= rule.as_u64().unwrap(),
            ("minimum", Input::Number(n)) => *n >= rule.as_i64().unwrap(),
            ("maximum", Input::Number(n)) => *n <= rule.as_i64().unwrap(),
            (key, input) => panic!("unexpected keyword {key} = {rule} for {input:?}"),
        })
}

/// Values where the published schema knowingly admits more or less than the parser.
fn schema_divergence(kind: Kind, input: &Input) -> Option<&'static str> {
    match (kind, input) {
        // JSON Schema counts characters; FilePath counts 512 bytes.
        (Path, Input::Text(v)) if v.chars().count() <= 512 && v.len() > 512 => {
            Some("maxLength counts characters, the parser bytes")
        }
        _ => known_divergence(kind, input),
    }
}

async fn served_document(server: &TestServer) -> Value {
    Client::new()
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn served_openapi_states_the_rules_the_parsers_apply() {
    let server = TestServer::start(&Backend::Sqlite).await;
    let doc = served_document(&server).await;
    let mut disagreements = Vec::new();
    for (at, kind, presence) in STATED {
        let (schema, query_required) = locate(&doc, at);
        if let Some(required) = query_required {
            // A page size of 0 means "the default": only texts the server requires are.
            let expected = *presence == Required && *kind != PageSize;
            assert_eq!(required, expected, "{kind:?} at {schema}: required");
        }
        for input in values(*kind) {
            let parser = parser_admits(*kind, *presence, &input);
            let stated = schema_admits(schema, &input);
            match schema_divergence(*kind, &input) {
                Some(why) => assert_ne!(parser, stated, "{kind:?} {input:?} now agrees: {why}"),
                None if parser != stated => disagreements.push(format!(
                    "{kind:?} at {schema}: {input:?} parser {parser}, schema {stated}"
                )),
                None => {}
            }
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    server.stop().await;
}

/// Percent-encodes everything but unreserved characters, as a client library would.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Routes whose server checks the value before it looks anything up, so a refusal is 400 and
/// an admitted value reaches the lookup (404 for the missing repo, or 200).
const ROUTES: &[(&str, At, Kind)] = &[
    (
        "/v1/repos/{}",
        At::Parameter("/v1/repos/{repo}", "get", "repo"),
        Name,
    ),
    (
        "/v1/tokens?repo={}",
        At::Parameter("/v1/tokens", "get", "repo"),
        Name,
    ),
    (
        "/v1/repos/r/packages/p/versions/{}",
        At::Parameter(
            "/v1/repos/{repo}/packages/{package}/versions/{version}",
            "get",
            "version",
        ),
        Semver,
    ),
    (
        "/v1/repos/r/channels/stable/latest?app_version={}",
        At::Parameter(
            "/v1/repos/{repo}/channels/{channel}/latest",
            "get",
            "app_version",
        ),
        AppVersion,
    ),
    (
        "/v1/repos/r/packages/p:resolve?requirement={}",
        At::Parameter(
            "/v1/repos/{repo}/packages/{package}:resolve",
            "get",
            "requirement",
        ),
        Requirement,
    ),
    (
        "/v1/repos/r/packages?page_size={}",
        At::Parameter("/v1/repos/{repo}/packages", "get", "page_size"),
        PageSize,
    ),
];

#[tokio::test]
async fn the_server_refuses_exactly_what_the_schema_refuses() {
    let server = TestServer::start(&Backend::Sqlite).await;
    let doc = served_document(&server).await;
    let client = Client::new();
    let mut surprises = Vec::new();
    let mut sent = 0;
    for (template, at, kind) in ROUTES {
        let (schema, _) = locate(&doc, at);
        for input in values(*kind) {
            let text = match &input {
                // An empty path segment is no value: the route does not match at all.
                Input::Text(v) if v.is_empty() && !template.contains('?') => continue,
                Input::Text(v) => encode(v),
                Input::Number(n) => n.to_string(),
            };
            let url = server.url(&template.replacen("{}", &text, 1));
            let status = client
                .get(&url)
                .bearer_auth(&server.admin)
                .send()
                .await
                .unwrap()
                .status();
            sent += 1;
            let stated = schema_admits(schema, &input);
            let diverges = schema_divergence(*kind, &input).is_some();
            if (status == StatusCode::BAD_REQUEST) == stated && !diverges {
                surprises.push(format!("{url}: {status}, schema admits: {stated}"));
            }
            if diverges && !stated {
                // The schema is stricter than the server here: the server must still accept.
                assert_ne!(status, StatusCode::BAD_REQUEST, "{url}");
            }
        }
    }
    assert!(surprises.is_empty(), "{surprises:#?}");
    assert!(sent > 80, "only {sent} requests");
    server.stop().await;
}

#[tokio::test]
async fn request_bodies_require_what_the_server_requires() {
    let server = TestServer::start(&Backend::Sqlite).await;
    let doc = served_document(&server).await;
    let body = |path: &str, method: &str| {
        doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"].clone()
    };
    // The path binding wins, so a body schema has no path fields; unknown fields are refused.
    let put_file = body(PUT_FILE, "put");
    assert_eq!(put_file["required"], json!(["digest"]));
    assert_eq!(put_file["additionalProperties"], Value::Bool(false));
    for path_field in ["repo", "package", "version", "path"] {
        assert!(put_file["properties"][path_field].is_null(), "{path_field}");
    }
    let create_package = body("/v1/repos/{repo}/packages", "post");
    assert_eq!(create_package["required"], json!(["package"]));
    // A token's role is required: the schema leaves out ROLE_UNSPECIFIED, which the server refuses.
    let create_token = body("/v1/tokens", "post");
    assert_eq!(create_token["required"], json!(["role"]));
    let roles = create_token["properties"]["role"]["enum"]
        .as_array()
        .unwrap();
    assert!(!roles.is_empty() && !roles.contains(&Value::from("ROLE_UNSPECIFIED")));
    let client = Client::new();
    for role in ["ROLE_UNSPECIFIED", "ROLE_READER"] {
        let status = client
            .post(server.url("/v1/tokens"))
            .bearer_auth(&server.admin)
            .json(&json!({ "name": "schema-rules", "role": role }))
            .send()
            .await
            .unwrap()
            .status();
        let admitted = roles.contains(&Value::from(role));
        assert_eq!(status == StatusCode::OK, admitted, "{role}: {status}");
        assert_eq!(
            status == StatusCode::BAD_REQUEST,
            !admitted,
            "{role}: {status}"
        );
    }
    server.stop().await;
}
