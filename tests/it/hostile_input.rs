//! Input that used to surface as a server error: NUL bytes in filters and page tokens
//! (PostgreSQL refuses NUL in text) and a JSON manifest nested past the protobuf decoder's
//! recursion limit. Each is a 400 / INVALID_ARGUMENT naming its field, on both backends alike,
//! and changes nothing.

use relreg::pb;
use tonic::Code;

use crate::common::{
    Backend, Rel, TestServer, assert_error, audit_actions, authed, backend_tests, create, digest,
    draft, fixture, publish, released,
};

backend_tests!(
    nul_in_filters_and_page_tokens_is_refused_naming_the_field,
    nul_in_stored_text_is_refused_naming_the_field,
    a_json_manifest_nested_too_deep_is_refused_naming_the_field
);

/// The field a gRPC error names in its `ErrorInfo`.
fn field(status: &tonic::Status) -> String {
    use tonic_types::StatusExt as _;
    status
        .get_error_details()
        .error_info()
        .and_then(|i| i.metadata.get("field").cloned())
        .unwrap_or_default()
}

/// Asserts a JSON bridge answer is 400 INVALID_ARGUMENT naming `want`.
async fn assert_bad_field(answer: reqwest::Response, want: &str, what: &str) {
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.unwrap_or_default();
    assert_eq!(status, 400, "{what}: {body}");
    assert_eq!(body["code"], 3, "{what}: {body}");
    assert_eq!(
        body["details"][0]["metadata"]["field"], want,
        "{what}: {body}"
    );
}

async fn nul_in_filters_and_page_tokens_is_refused_naming_the_field(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let before = audit_actions(&server).await;
    let http = reqwest::Client::new();
    // "AA" is the page token of a key that is one NUL byte; %00 is a NUL in a query value.
    let cases = [
        ("/v1/repos/acme/packages?page_token=AA", "page_token"),
        (
            "/v1/repos/acme/packages/app/versions?page_token=AA",
            "page_token",
        ),
        ("/v1/repos/acme/releases?page_token=AA", "page_token"),
        ("/v1/admin/repos/acme/releases?page_token=AA", "page_token"),
        ("/v1/tokens?page_token=AA", "page_token"),
        ("/v1/audit-events?page_token=AA", "page_token"),
        ("/v1/audit-events?actor=%00", "actor"),
        ("/v1/audit-events?action=%00", "action"),
        ("/v1/audit-events?actor=tok%00x", "actor"),
        ("/v1/repos/acme/releases?channel=%00", "channel"),
    ];
    for (path, want) in cases {
        let answer = http
            .get(server.url(path))
            .bearer_auth(&server.admin)
            .send()
            .await
            .unwrap();
        assert_bad_field(answer, want, path).await;
    }

    let mut admin = server.admin_client().await;
    let mut catalog = server.catalog_client().await;
    let t = &server.admin;
    let bad = |status: tonic::Status, want: &str, what: &str| {
        let status = assert_error(
            Err::<(), _>(status),
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        assert_eq!(field(&status), want, "{what}: {status:?}");
    };
    let packages = pb::ListPackagesRequest {
        repo: "acme".into(),
        page_size: 0,
        page_token: "AA".into(),
    };
    bad(
        admin.list_packages(authed(packages, t)).await.unwrap_err(),
        "page_token",
        "ListPackages",
    );
    let versions = pb::ListVersionsRequest {
        repo: "acme".into(),
        package: "app".into(),
        page_size: 0,
        page_token: "AA".into(),
    };
    bad(
        catalog
            .list_versions(authed(versions, t))
            .await
            .unwrap_err(),
        "page_token",
        "ListVersions",
    );
    let releases = |channel: &str, page_token: &str| pb::ListReleasesRequest {
        repo: "acme".into(),
        channel: channel.into(),
        page_size: 0,
        page_token: page_token.into(),
    };
    bad(
        catalog
            .list_releases(authed(releases("", "AA"), t))
            .await
            .unwrap_err(),
        "page_token",
        "ListReleases",
    );
    bad(
        catalog
            .list_releases(authed(releases("\0", ""), t))
            .await
            .unwrap_err(),
        "channel",
        "ListReleases channel",
    );
    bad(
        admin
            .list_releases(authed(releases("", "AA"), t))
            .await
            .unwrap_err(),
        "page_token",
        "admin ListReleases",
    );
    let tokens = pb::ListTokensRequest {
        repo: String::new(),
        page_size: 0,
        page_token: "AA".into(),
    };
    bad(
        admin.list_tokens(authed(tokens, t)).await.unwrap_err(),
        "page_token",
        "ListTokens",
    );
    let audit = |action: &str, actor: &str, page_token: &str| pb::ListAuditEventsRequest {
        action: action.into(),
        actor: actor.into(),
        page_token: page_token.into(),
        ..Default::default()
    };
    for (request, want) in [
        (audit("", "", "AA"), "page_token"),
        (audit("", "\0", ""), "actor"),
        (audit("\0", "", ""), "action"),
        (audit("repo.created", "tok\0", ""), "actor"),
    ] {
        bad(
            admin
                .list_audit_events(authed(request, t))
                .await
                .unwrap_err(),
            want,
            "ListAuditEvents",
        );
    }
    // A filter without NUL still answers.
    let fine = admin
        .list_audit_events(authed(audit("repo.created", "", ""), t))
        .await
        .expect("a clean filter answers")
        .into_inner();
    assert!(!fine.events.is_empty());
    assert_eq!(audit_actions(&server).await, before, "nothing changed");
    server.stop().await;
}

/// Returns a JSON object nested `depth` levels deep: `{"a":{"a":…{"a":1}}}`.
fn nested(depth: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

async fn a_json_manifest_nested_too_deep_is_refused_naming_the_field(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    draft(&server, "1.0.0", &[("a.txt", b"a")]).await;
    let http = reqwest::Client::new();
    let url = server.url("/v1/repos/acme/packages/app/versions/1.0.0/manifest");
    let put = |body: String| {
        http.put(&url)
            .bearer_auth(&server.admin)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for depth in [40, 33, 100] {
        let answer = put(nested(depth)).await.unwrap();
        assert_bad_field(answer, "manifest", &format!("{depth} levels")).await;
    }
    // Nested inside an array too.
    let answer = put(format!("{{\"list\":[{}]}}", nested(39))).await.unwrap();
    assert_bad_field(answer, "manifest", "an array of 39 levels").await;
    // Up to the limit, a manifest is stored and read back as sent.
    let answer = put(nested(32)).await.unwrap();
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let stored = http
        .get(server.url("/v1/repos/acme/packages/app/versions/1.0.0"))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    let stored: serde_json::Value = stored.json().await.unwrap();
    let expected: serde_json::Value = serde_json::from_str(&nested(32)).unwrap();
    let depth = |mut v: &serde_json::Value| {
        let mut n = 0;
        while let Some(inner) = v.get("a") {
            v = inner;
            n += 1;
        }
        (n, v.as_f64())
    };
    assert_eq!(
        depth(&stored["version"]["manifest"]),
        depth(&expected),
        "{stored}"
    );
    server.stop().await;
}

async fn nul_in_stored_text_is_refused_naming_the_field(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let v = draft(&server, "1.0.0", &[("a.txt", b"a")]).await;
    let mut admin = server.admin_client().await;
    let t = &server.admin;
    let before = audit_actions(&server).await;
    let mut failures = Vec::new();
    let mut check = |what: &str, result: Result<(), tonic::Status>, want: &str| match result {
        Err(s) if s.code() == Code::InvalidArgument && field(&s) == want => {}
        other => failures.push(format!("{what}: {other:?}")),
    };
    let repo = pb::CreateRepoRequest {
        repo: "nul".into(),
        public: true,
        display_name: "a\0b".into(),
    };
    check(
        "CreateRepo",
        admin.create_repo(authed(repo, t)).await.map(drop),
        "display_name",
    );
    let token = pb::CreateTokenRequest {
        name: "a\0b".into(),
        repo: String::new(),
        role: pb::Role::Reader.into(),
        expire_time: None,
    };
    check(
        "CreateToken",
        admin.create_token(authed(token, t)).await.map(drop),
        "name",
    );
    let file = |media_type: &str, etag: &str| pb::PutVersionFileRequest {
        repo: "acme".into(),
        package: "app".into(),
        version: "1.0.0".into(),
        path: "a.txt".into(),
        digest: digest(b"a"),
        media_type: media_type.into(),
        etag: etag.into(),
    };
    check(
        "PutVersionFile media_type",
        admin
            .put_version_file(authed(file("text/\0", &v.etag), t))
            .await
            .map(drop),
        "media_type",
    );
    check(
        "PutVersionFile etag",
        admin
            .put_version_file(authed(file("", "\"\0\""), t))
            .await
            .map(drop),
        "etag",
    );
    let release = create(&server, Rel::default()).await;
    let notes = pb::CreateReleaseRequest {
        repo: "acme".into(),
        channel: "beta".into(),
        version: "1.0.0".into(),
        min_app_version: "1.0".into(),
        notes: "a\0b".into(),
        ..Default::default()
    };
    check(
        "CreateRelease notes",
        admin.create_release(authed(notes, t)).await.map(drop),
        "notes",
    );
    drop(release);
    publish(&server, "1.0.0").await;
    let yank = pb::YankVersionRequest {
        repo: "acme".into(),
        package: "app".into(),
        version: "1.0.0".into(),
        reason: "a\0b".into(),
    };
    check(
        "YankVersion",
        admin.yank_version(authed(yank, t)).await.map(drop),
        "reason",
    );
    let deprecate = pb::DeprecateVersionRequest {
        repo: "acme".into(),
        package: "app".into(),
        version: "1.0.0".into(),
        reason: "a\0b".into(),
        replacement: String::new(),
    };
    check(
        "DeprecateVersion",
        admin
            .deprecate_version(authed(deprecate, t))
            .await
            .map(drop),
        "reason",
    );
    let published = released(
        &server,
        Rel {
            channel: "rc",
            ..Rel::default()
        },
    )
    .await;
    let deprecate = pb::DeprecateReleaseRequest {
        release_id: published.id.clone(),
        reason: "a\0b".into(),
        replacement: String::new(),
    };
    check(
        "DeprecateRelease",
        admin
            .deprecate_release(authed(deprecate, t))
            .await
            .map(drop),
        "reason",
    );
    assert!(
        failures.is_empty(),
        "not refused as bad input:\n{}",
        failures.join("\n")
    );
    // Over the JSON bridge alike (JSON's \u0000 is a NUL).
    let http = reqwest::Client::new();
    let answer = http
        .post(server.url("/v1/repos"))
        .bearer_auth(t)
        .header("content-type", "application/json")
        .body(r#"{"repo":"nul","public":true,"displayName":"a\u0000b"}"#)
        .send()
        .await
        .unwrap();
    assert_bad_field(answer, "display_name", "POST /v1/repos").await;
    let answer = http
        .post(server.url(&format!("/v1/releases/{}:deprecate", published.id)))
        .bearer_auth(t)
        .header("content-type", "application/json")
        .body(r#"{"reason":"\u0000"}"#)
        .send()
        .await
        .unwrap();
    assert_bad_field(answer, "reason", "deprecate a release").await;
    let after = audit_actions(&server).await;
    assert_eq!(
        after.len(),
        before.len() + 5,
        "only the set-up wrote (a draft release, a publish, a release and its attach and publish): {after:?}"
    );
    server.stop().await;
}
