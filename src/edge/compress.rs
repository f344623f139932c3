//! Response compression (gzip, br) when the client asks (`Accept-Encoding`), for JSON, HTML
//! and GitHub API answers only: never for blob bytes (they answer `Accept-Ranges`, and a
//! range must address the stored bytes), gRPC or gRPC-Web, or bodies under 32 bytes.

use http::{Extensions, HeaderMap, StatusCode, Version, header};
use tower_http::compression::{
    CompressionLayer,
    predicate::{DefaultPredicate, Predicate},
};

/// The compression layer with relreg's predicate.
pub(super) fn layer() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .gzip(true)
        .br(true)
        .no_deflate()
        .no_zstd()
        .compress_when(DefaultPredicate::new().and(compressible))
}

/// Tells whether an answer may be compressed: a document type, not a byte range source.
fn compressible(_: StatusCode, _: Version, headers: &HeaderMap, _: &Extensions) -> bool {
    if headers.contains_key(header::ACCEPT_RANGES) || headers.contains_key(header::CONTENT_RANGE) {
        return false;
    }
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence == "text/html"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn documents_compress_blobs_and_grpc_do_not() {
        let ok =
            |h: &HeaderMap| compressible(StatusCode::OK, Version::HTTP_11, h, &Extensions::new());
        assert!(ok(&with(&[(header::CONTENT_TYPE, "application/json")])));
        assert!(ok(&with(&[(
            header::CONTENT_TYPE,
            "text/html; charset=utf-8"
        )])));
        assert!(ok(&with(&[(
            header::CONTENT_TYPE,
            "application/vnd.github+json"
        )])));
        assert!(!ok(&with(&[(header::CONTENT_TYPE, "application/grpc")])));
        assert!(!ok(&with(&[(
            header::CONTENT_TYPE,
            "application/octet-stream"
        )])));
        assert!(!ok(&with(&[
            (header::CONTENT_TYPE, "application/json"),
            (header::ACCEPT_RANGES, "bytes"),
        ])));
    }
}
