//! Bad input: each gets a clear INVALID_ARGUMENT (or the code named) naming the field, and
//! changes nothing.

use relreg::pb::{self, upload_blob_request::Payload};
use tonic::Code;

use crate::common::{
    Backend, TestServer, assert_error, authed, backend_tests, dg, digest, draft, fixture, n, upload,
};

backend_tests!(
    malformed_identifiers_are_refused,
    bad_uploads_leave_nothing,
    unknown_enum_values_are_refused
);

fn field(status: &tonic::Status) -> String {
    use tonic_types::StatusExt as _;
    let details = status.get_error_details();
    details
        .error_info()
        .and_then(|i| i.metadata.get("field").cloned())
        .unwrap_or_default()
}

async fn malformed_identifiers_are_refused(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let v = draft(&server, "1.0.0", &[("ok.txt", b"fine")]).await;
    let mut admin = server.admin_client().await;
    let t = &server.admin;
    let audit_before = crate::common::audit_actions(&server).await.len();

    for (repo, version, path, digest_text, want) in [
        ("acme", "1", "x", digest(b"fine"), "version"),
        ("acme", "v1.0.0", "x", digest(b"fine"), "version"),
        ("acme", "1.0", "x", digest(b"fine"), "version"),
        ("Acme", "1.0.0", "x", digest(b"fine"), "repo"),
        ("a b", "1.0.0", "x", digest(b"fine"), "repo"),
        ("acme", "1.0.0", "", digest(b"fine"), "path"),
        ("acme", "1.0.0", "/etc/passwd", digest(b"fine"), "path"),
        ("acme", "1.0.0", "a/../../b", digest(b"fine"), "path"),
        ("acme", "1.0.0", "a\\b", digest(b"fine"), "path"),
        ("acme", "1.0.0", "a\0b", digest(b"fine"), "path"),
        ("acme", "1.0.0", &"x".repeat(513), digest(b"fine"), "path"),
        ("acme", "1.0.0", "OK.TXT", digest(b"fine"), "path"),
        ("acme", "1.0.0", "x", "sha256:ABC".into(), "digest"),
        (
            "acme",
            "1.0.0",
            "x",
            digest(b"fine").to_uppercase(),
            "digest",
        ),
        (
            "acme",
            "1.0.0",
            "x",
            digest(b"fine").replace("sha256:", "md5:"),
            "digest",
        ),
    ] {
        let request = pb::PutVersionFileRequest {
            repo: repo.into(),
            package: "app".into(),
            version: version.into(),
            path: path.into(),
            digest: digest_text.clone(),
            media_type: String::new(),
            etag: v.etag.clone(),
        };
        let status = assert_error(
            admin.put_version_file(authed(request, t)).await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        assert_eq!(
            field(&status),
            want,
            "{repo} {version} {path:?} {digest_text}: {status:?}"
        );
    }
    let names = [
        ("bad name", "p"),
        ("acme", "Bad"),
        ("acme", "-x"),
        ("acme", &"p".repeat(65)),
    ];
    for (repo, package) in names {
        let request = pb::CreatePackageRequest {
            repo: repo.into(),
            package: package.into(),
            ..Default::default()
        };
        assert_error(
            admin.create_package(authed(request, t)).await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
    }
    let unknown_kind = pb::CreatePackageRequest {
        repo: "acme".into(),
        package: "p".into(),
        kind: "nope".into(),
        ..Default::default()
    };
    let status = assert_error(
        admin.create_package(authed(unknown_kind, t)).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(field(&status), "kind");
    // A blob never uploaded to this repo cannot be attached.
    let unknown_blob = pb::PutVersionFileRequest {
        repo: "acme".into(),
        package: "app".into(),
        version: "1.0.0".into(),
        path: "x".into(),
        digest: digest(b"never uploaded"),
        ..Default::default()
    };
    assert_error(
        admin.put_version_file(authed(unknown_blob, t)).await,
        Code::FailedPrecondition,
        "FAILED_PRECONDITION",
    );
    let bad_create = pb::CreateVersionRequest {
        repo: "acme".into(),
        package: "app".into(),
        version: "1.0.0-".into(),
    };
    assert_error(
        admin.create_version(authed(bad_create, t)).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );

    // Nothing changed: same etag, same files, no new audit events.
    let mut catalog = server.catalog_client().await;
    let get = pb::GetVersionRequest {
        repo: "acme".into(),
        package: "app".into(),
        version: "1.0.0".into(),
    };
    let after = catalog
        .get_version(authed(get, t))
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap();
    assert_eq!(after.etag, v.etag);
    assert_eq!(after.files.len(), 1);
    assert_eq!(
        crate::common::audit_actions(&server).await.len(),
        audit_before
    );
    server.stop().await;
}

async fn bad_uploads_leave_nothing(backend: Backend) {
    let server = TestServer::start_with(&backend, |c| c.max_blob_size = 1024).await;
    fixture(&server, "generic").await;
    let mut admin = server.admin_client().await;
    let t = &server.admin;
    let header = |repo: &str, expected: &str, size: Option<i64>| pb::UploadBlobRequest {
        payload: Some(Payload::Header(pb::UploadBlobHeader {
            repo: repo.into(),
            expected_digest: expected.into(),
            expected_size: size,
            media_type: String::new(),
        })),
    };
    let chunk = |data: &'static [u8]| pb::UploadBlobRequest {
        payload: Some(Payload::Chunk(bytes::Bytes::from_static(data))),
    };
    let cases: Vec<(Vec<pb::UploadBlobRequest>, Code, &str)> = vec![
        (
            vec![chunk(b"no header")],
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (vec![], Code::InvalidArgument, "INVALID_ARGUMENT"),
        (
            vec![
                header("acme", "", None),
                chunk(b"a"),
                header("acme", "", None),
            ],
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            vec![header("acme", &digest(b"other"), None), chunk(b"payload")],
            Code::InvalidArgument,
            "DIGEST_MISMATCH",
        ),
        (
            vec![header("acme", "", Some(3)), chunk(b"payload")],
            Code::InvalidArgument,
            "DIGEST_MISMATCH",
        ),
        (
            vec![header("acme", "", Some(100)), chunk(b"payload")],
            Code::InvalidArgument,
            "DIGEST_MISMATCH",
        ),
        (
            vec![header("acme", "sha256:nothex", None), chunk(b"x")],
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            vec![header("acme", "", Some(5000)), chunk(b"x")],
            Code::ResourceExhausted,
            "BLOB_TOO_LARGE",
        ),
        (
            vec![
                header("acme", "", None),
                chunk(&[0u8; 700]),
                chunk(&[1u8; 700]),
            ],
            Code::ResourceExhausted,
            "BLOB_TOO_LARGE",
        ),
        (
            vec![header("nope", "", None), chunk(b"x")],
            Code::NotFound,
            "NOT_FOUND",
        ),
    ];
    for (messages, code, why) in cases {
        let description = format!("{messages:?}")
            .chars()
            .take(120)
            .collect::<String>();
        let result = admin
            .upload_blob(authed(futures::stream::iter(messages), t))
            .await;
        let status = result.expect_err(&description);
        assert_eq!(
            (status.code(), crate::common::reason(&status).as_str()),
            (code, why),
            "{description}: {status:?}"
        );
    }
    // Nothing became visible, nothing was left on disk, nothing was recorded.
    let visible = server
        .store
        .get_blob(&n("acme"), &dg(&digest(b"payload")))
        .await
        .unwrap();
    assert!(visible.is_none());
    let blob_dir = server.config.storage.blob_dir.join("sha256");
    assert_eq!(
        std::fs::read_dir(&blob_dir).map(|d| d.count()).unwrap_or(0),
        0,
        "no blob stored"
    );
    // Temporaries live in `uploads/<process>/`, beside the process's lock file.
    let uploads = server.config.storage.blob_dir.join("uploads");
    let temporaries: usize = std::fs::read_dir(&uploads)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| std::fs::read_dir(e.path()).map(|d| d.count()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(temporaries, 0, "no temporaries left");
    assert!(
        !crate::common::audit_actions(&server)
            .await
            .contains(&"blob.uploaded".to_owned())
    );
    // A good upload still works afterwards.
    upload(&server, t, "acme", b"payload").await.unwrap();
    server.stop().await;
}

async fn unknown_enum_values_are_refused(backend: Backend) {
    let server = TestServer::start(&backend).await;
    fixture(&server, "generic").await;
    let mut admin = server.admin_client().await;
    for role in [0, 4, 99, -1] {
        let request = pb::CreateTokenRequest {
            name: "x".into(),
            repo: "acme".into(),
            role,
            expire_time: None,
        };
        let status = assert_error(
            admin.create_token(authed(request, &server.admin)).await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        assert_eq!(field(&status), "role");
    }
    let past = pb::CreateTokenRequest {
        name: "x".into(),
        repo: "acme".into(),
        role: pb::Role::Reader.into(),
        expire_time: Some(prost_types::Timestamp {
            seconds: 1,
            nanos: 0,
        }),
    };
    assert_error(
        admin.create_token(authed(past, &server.admin)).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let tokens = server.store.list_tokens(None, None, 100).await.unwrap();
    assert_eq!(tokens.len(), 1, "only the bootstrap admin token exists");
    server.stop().await;
}
