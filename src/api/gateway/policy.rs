//! The JSON bridge's per-RPC answer policy, as one table: the `Cache-Control` an RPC's
//! answers carry and whether the bridge keeps an anonymous rendered answer, and until when.
//! RPCs the table does not name get the default: `private, no-cache`, never kept.

/// How long the bridge keeps an anonymous rendered answer of an RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    /// Never kept: every call is transcoded.
    Never,
    /// Kept until the channels epoch moves, i.e. until any channel changes.
    UntilChannelsChange,
    /// Kept for good: a published answer never changes.
    Immutable,
}

/// The answer policy of one RPC.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AnswerPolicy {
    /// The RPC's full name, e.g. `relreg.v1.ReleaseCatalog.GetLatestRelease`.
    rpc: &'static str,
    /// `Cache-Control` of answers to callers without an `Authorization` header.
    anonymous: &'static str,
    /// `Cache-Control` of answers to callers with an `Authorization` header.
    authorized: &'static str,
    /// Whether the bridge keeps the rendered anonymous GET answer, and until when.
    kept: Kept,
}

const NO_CACHE: &str = "private, no-cache";

/// The policy of every RPC the table does not name.
const DEFAULT: AnswerPolicy = AnswerPolicy {
    rpc: "",
    anonymous: NO_CACHE,
    authorized: NO_CACHE,
    kept: Kept::Never,
};

/// The RPCs whose answers are cached, by clients or by the bridge.
const POLICIES: &[AnswerPolicy] = &[
    // "Latest" moves with its channel: clients revalidate every time, the bridge until a
    // channel changes.
    AnswerPolicy {
        rpc: "relreg.v1.ReleaseCatalog.GetLatestRelease",
        anonymous: "private, max-age=0",
        authorized: "private, max-age=0",
        kept: Kept::UntilChannelsChange,
    },
    // Published manifests never change; drafts are only visible with a token.
    AnswerPolicy {
        rpc: "relreg.v1.ReleaseCatalog.GetReleaseManifest",
        anonymous: "public, max-age=31536000, immutable",
        authorized: NO_CACHE,
        kept: Kept::Immutable,
    },
];

/// Returns the policy of the RPC with this full name (the default when the table omits it).
pub(crate) fn policy(full_name: &str) -> &'static AnswerPolicy {
    POLICIES
        .iter()
        .find(|p| p.rpc == full_name)
        .unwrap_or(&DEFAULT)
}

impl AnswerPolicy {
    /// Returns the `Cache-Control` of an answer, by whether the call carried a token.
    pub(crate) fn cache_control(&self, authorized: bool) -> &'static str {
        if authorized {
            self.authorized
        } else {
            self.anonymous
        }
    }

    /// Returns whether and until when the bridge keeps anonymous rendered answers.
    pub(crate) fn kept(&self) -> Kept {
        self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_reflect::DescriptorPool;

    #[test]
    fn every_policy_names_a_served_rpc() {
        let pool = DescriptorPool::decode(crate::pb::FILE_DESCRIPTOR_SET).unwrap();
        for entry in POLICIES {
            let rpc = pool
                .services()
                .flat_map(|s| s.methods().collect::<Vec<_>>())
                .find(|m| m.full_name() == entry.rpc);
            assert!(rpc.is_some(), "{} is not an RPC", entry.rpc);
            assert_eq!(policy(entry.rpc), entry);
        }
        assert_eq!(policy("relreg.v1.ReleaseAdmin.CreateRepo"), &DEFAULT);
    }
}
