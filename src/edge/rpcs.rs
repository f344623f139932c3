//! The gRPC methods this server answers, by path, and which of them are unary: for the
//! access log's route (an unknown path is `unmatched`, never the raw path) and for the
//! server's maximum call duration (which caps unary calls only).

use std::{collections::HashMap, sync::LazyLock};

use crate::pb;

/// Known gRPC paths, each with whether it is unary.
static RPCS: LazyLock<HashMap<String, bool>> = LazyLock::new(|| {
    let mut rpcs = HashMap::new();
    if let Ok(pool) = prost_reflect::DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET) {
        for service in pool.services() {
            for method in service.methods() {
                let unary = !method.is_client_streaming() && !method.is_server_streaming();
                rpcs.insert(format!("/{}/{}", service.full_name(), method.name()), unary);
            }
        }
    }
    for (path, unary) in [
        ("/grpc.health.v1.Health/Check", true),
        ("/grpc.health.v1.Health/Watch", false),
        (
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            false,
        ),
        (
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            false,
        ),
    ] {
        rpcs.insert(path.to_owned(), unary);
    }
    rpcs
});

/// The route of a gRPC path: the path itself if it names a known method, else `unmatched`.
pub fn route(path: &str) -> &'static str {
    RPCS.get_key_value(path)
        .map_or("unmatched", |(known, _)| known.as_str())
}

/// Tells whether a gRPC path names a known unary method.
pub fn is_unary(path: &str) -> bool {
    RPCS.get(path).copied().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_known_with_their_kind() {
        assert!(is_unary("/relreg.v1.ReleaseCatalog/GetLatestRelease"));
        assert!(!is_unary("/relreg.v1.ReleaseAdmin/UploadBlob"));
        assert!(!is_unary("/relreg.v1.ReleaseCatalog/DownloadBlob"));
        assert!(is_unary("/grpc.health.v1.Health/Check"));
        assert_eq!(
            route("/relreg.v1.ReleaseAdmin/CreateRepo"),
            "/relreg.v1.ReleaseAdmin/CreateRepo"
        );
        assert_eq!(route("/x/y"), "unmatched");
    }
}
