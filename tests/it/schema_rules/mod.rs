//! The input rules declared in the proto (`buf.validate.field`) and published in
//! `/openapi.json` against the domain parsers, which stay the authority: a table of valid and
//! invalid values per kind of field, checked against the parser, the compiled descriptor and
//! the served document, and sent to a running server through the JSON bridge.

use std::collections::BTreeSet;

use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, Value as Reflected};
use regex::Regex;

use table::{
    Input,
    Kind::{self, *},
    Presence::{self, *},
    known_divergence, parser_admits, values,
};

/// Every request field that carries a constrained value, with its kind. A new request field
/// with one of these names fails `every_constrained_field_is_listed` until it is listed here.
const FIELDS: &[(&str, &str, Kind, Presence)] = &[
    ("CreateRepoRequest", "repo", Name, Required),
    ("GetRepoRequest", "repo", Name, Required),
    ("CreatePackageRequest", "repo", Name, Required),
    ("CreatePackageRequest", "package", Name, Required),
    ("CreatePackageRequest", "kind", PackageType, Optional),
    ("ListPackagesRequest", "repo", Name, Required),
    ("ListPackagesRequest", "page_size", PageSize, Required),
    ("DeletePackageRequest", "repo", Name, Required),
    ("DeletePackageRequest", "package", Name, Required),
    ("RunRetentionRequest", "repo", Name, Required),
    ("CreateVersionRequest", "repo", Name, Required),
    ("CreateVersionRequest", "package", Name, Required),
    ("CreateVersionRequest", "version", Semver, Required),
    ("PutVersionFileRequest", "repo", Name, Required),
    ("PutVersionFileRequest", "package", Name, Required),
    ("PutVersionFileRequest", "version", Semver, Required),
    ("PutVersionFileRequest", "path", Path, Required),
    ("PutVersionFileRequest", "digest", Digest, Required),
    ("DeleteVersionFileRequest", "repo", Name, Required),
    ("DeleteVersionFileRequest", "package", Name, Required),
    ("DeleteVersionFileRequest", "version", Semver, Required),
    ("DeleteVersionFileRequest", "path", Path, Required),
    ("SetVersionManifestRequest", "repo", Name, Required),
    ("SetVersionManifestRequest", "package", Name, Required),
    ("SetVersionManifestRequest", "version", Semver, Required),
    ("DiffVersionRequest", "repo", Name, Required),
    ("DiffVersionRequest", "package", Name, Required),
    ("DiffVersionRequest", "version", Semver, Required),
    ("DiffVersionRequest", "base_version", Semver, Required),
    ("PublishVersionRequest", "repo", Name, Required),
    ("PublishVersionRequest", "package", Name, Required),
    ("PublishVersionRequest", "version", Semver, Required),
    ("DeprecateVersionRequest", "repo", Name, Required),
    ("DeprecateVersionRequest", "package", Name, Required),
    ("DeprecateVersionRequest", "version", Semver, Required),
    ("DeprecateVersionRequest", "replacement", Semver, Optional),
    ("DeprecateVersionRequest", "reason", Reason, Required),
    ("YankVersionRequest", "repo", Name, Required),
    ("YankVersionRequest", "package", Name, Required),
    ("YankVersionRequest", "version", Semver, Required),
    ("DeleteVersionRequest", "repo", Name, Required),
    ("DeleteVersionRequest", "package", Name, Required),
    ("DeleteVersionRequest", "version", Semver, Required),
    ("UploadBlobHeader", "repo", Name, Required),
    ("UploadBlobHeader", "expected_digest", Digest, Optional),
    ("ListAuditEventsRequest", "repo", Name, Optional),
    ("ListAuditEventsRequest", "page_size", PageSize, Required),
    ("CreateTokenRequest", "repo", Name, Optional),
    ("ListTokensRequest", "repo", Name, Optional),
    ("ListTokensRequest", "page_size", PageSize, Required),
    ("UpdateRepoPolicyRequest", "repo", Name, Required),
    ("ChannelPolicy", "channel", Name, Required),
    ("ChannelPolicy", "required_roles", Name, Required),
    ("CreateReleaseRequest", "repo", Name, Required),
    ("CreateReleaseRequest", "channel", Name, Required),
    ("CreateReleaseRequest", "version", Semver, Required),
    (
        "CreateReleaseRequest",
        "min_app_version",
        AppVersion,
        Optional,
    ),
    (
        "CreateReleaseRequest",
        "max_app_version",
        AppVersion,
        Optional,
    ),
    ("CreateReleaseRequest", "platforms", Name, Required),
    ("AttachArtifactRequest", "release_id", ReleaseId, Required),
    ("AttachArtifactRequest", "role", Name, Required),
    ("AttachArtifactRequest", "package", Name, Required),
    ("AttachArtifactRequest", "version", Semver, Required),
    ("DetachArtifactRequest", "release_id", ReleaseId, Required),
    ("DetachArtifactRequest", "role", Name, Required),
    ("ValidateReleaseRequest", "release_id", ReleaseId, Required),
    ("PublishReleaseRequest", "release_id", ReleaseId, Required),
    ("DeprecateReleaseRequest", "release_id", ReleaseId, Required),
    ("DeprecateReleaseRequest", "reason", Reason, Required),
    ("RollbackChannelRequest", "repo", Name, Required),
    ("RollbackChannelRequest", "channel", Name, Required),
    ("RollbackChannelRequest", "release_id", ReleaseId, Required),
    ("SetRolloutRequest", "release_id", ReleaseId, Required),
    ("PauseRolloutRequest", "release_id", ReleaseId, Required),
    ("ResumeRolloutRequest", "release_id", ReleaseId, Required),
    ("HaltRolloutRequest", "release_id", ReleaseId, Required),
    ("GetRolloutRequest", "release_id", ReleaseId, Required),
    ("SetFloorRequest", "release_id", ReleaseId, Required),
    ("ListReleasesRequest", "repo", Name, Required),
    ("ListReleasesRequest", "channel", Name, Optional),
    ("ListReleasesRequest", "page_size", PageSize, Required),
    ("GetPackageRequest", "repo", Name, Required),
    ("GetPackageRequest", "package", Name, Required),
    ("ListVersionsRequest", "repo", Name, Required),
    ("ListVersionsRequest", "package", Name, Required),
    ("ListVersionsRequest", "page_size", PageSize, Required),
    ("GetVersionRequest", "repo", Name, Required),
    ("GetVersionRequest", "package", Name, Required),
    ("GetVersionRequest", "version", Semver, Required),
    ("ResolveVersionRequest", "repo", Name, Required),
    ("ResolveVersionRequest", "package", Name, Required),
    (
        "ResolveVersionRequest",
        "requirement",
        Requirement,
        Required,
    ),
    ("DownloadBlobRequest", "repo", Name, Required),
    ("DownloadBlobRequest", "digest", Digest, Required),
    ("DownloadBlobRequest", "offset", Offset, Required),
    ("GetLatestReleaseRequest", "repo", Name, Required),
    ("GetLatestReleaseRequest", "channel", Name, Required),
    (
        "GetLatestReleaseRequest",
        "app_version",
        AppVersion,
        Required,
    ),
    ("GetLatestReleaseRequest", "platform", Name, Optional),
    (
        "GetReleaseManifestRequest",
        "release_id",
        ReleaseId,
        Required,
    ),
    ("GetReleaseRequest", "release_id", ReleaseId, Required),
    ("GetTrustRootRequest", "repo", Name, Required),
    ("GetChannelHeadRequest", "repo", Name, Required),
    ("GetChannelHeadRequest", "channel", Name, Required),
    ("SetRepoKeysRequest", "repo", Name, Required),
    ("WatchReleasesRequest", "repo", Name, Required),
    ("WatchReleasesRequest", "channel", Name, Optional),
    ("CreateWebhookRequest", "repo", Name, Required),
    ("ListWebhooksRequest", "repo", Name, Required),
    (
        "ListWebhookDeliveriesRequest",
        "page_size",
        PageSize,
        Required,
    ),
];

/// Field names that always carry a value some parser checks.
const WATCHED: &[&str] = &[
    "repo",
    "package",
    "channel",
    "role",
    "platform",
    "platforms",
    "required_roles",
    "digest",
    "expected_digest",
    "path",
    "version",
    "base_version",
    "app_version",
    "min_app_version",
    "max_app_version",
    "requirement",
    "page_size",
    "release_id",
    "offset",
    "kind",
];

/// Returns the `buf.validate.field` rules of a field from the compiled descriptor.
fn declared_rules(message: &MessageDescriptor, field: &str) -> Option<DynamicMessage> {
    let pool = message.parent_pool();
    let extension = pool.get_extension_by_name("buf.validate.field")?;
    let field = message.get_field_by_name(field)?;
    let options = field.options();
    if !options.has_extension(&extension) {
        return None;
    }
    let Reflected::Message(mut rules) = options.get_extension(&extension).into_owned() else {
        return None;
    };
    if field.is_list() {
        // The rules of a repeated field apply to each item: the table's values are items.
        let Some(Reflected::Message(repeated)) = set(&rules, "repeated") else {
            panic!("{} carries no repeated.items rules", field.full_name());
        };
        let Some(Reflected::Message(items)) = set(&repeated, "items") else {
            panic!("{} carries no repeated.items rules", field.full_name());
        };
        rules = items;
    }
    Some(rules)
}

fn set(message: &DynamicMessage, name: &str) -> Option<Reflected> {
    message
        .has_field_by_name(name)
        .then(|| message.get_field_by_name(name).map(|v| v.into_owned()))
        .flatten()
}

/// Evaluates the subset of protovalidate that relreg declares; any other rule fails the test
/// instead of passing unchecked.
fn rules_admit(rules: &DynamicMessage, input: &Input) -> bool {
    let zero = match input {
        Input::Text(v) => v.is_empty(),
        Input::Number(n) => *n == 0,
    };
    if matches!(set(rules, "ignore"), Some(Reflected::EnumNumber(1))) && zero {
        return true;
    }
    rules
        .fields()
        .all(|(field, value)| match (field.name(), value, input) {
            ("ignore", _, _) => true,
            ("required", Reflected::Bool(required), _) => !required || !zero,
            ("string", Reflected::Message(string), Input::Text(v)) => string_admits(string, v),
            ("int32" | "int64", Reflected::Message(int), Input::Number(n)) => int_admits(int, *n),
            (name, value, input) => panic!("unsupported rule {name} = {value:?} for {input:?}"),
        })
}

fn string_admits(rules: &DynamicMessage, v: &str) -> bool {
    let chars = v.chars().count() as u64;
    let bytes = v.len() as u64;
    rules
        .fields()
        .all(|(field, value)| match (field.name(), value) {
            ("pattern", Reflected::String(p)) => {
                Regex::new(p).expect("pattern compiles").is_match(v)
            }
            ("len", Reflected::U64(n)) => chars == *n,
            ("min_len", Reflected::U64(n)) => chars >= *n,
            ("max_len", Reflected::U64(n)) => chars <= *n,
            ("max_bytes", Reflected::U64(n)) => bytes <= *n,
            ("in", Reflected::List(known)) => known.iter().any(|k| k.as_str() == Some(v)),
            (name, value) => panic!("unsupported string rule {name} = {value:?}"),
        })
}

fn int_admits(rules: &DynamicMessage, n: i64) -> bool {
    rules.fields().all(|(field, value)| {
        let bound = match value {
            Reflected::I32(b) => i64::from(*b),
            Reflected::I64(b) => *b,
            other => panic!("unsupported bound {other:?}"),
        };
        match field.name() {
            "gte" => n >= bound,
            "gt" => n > bound,
            "lte" => n <= bound,
            "lt" => n < bound,
            name => panic!("unsupported integer rule {name}"),
        }
    })
}

fn pool() -> DescriptorPool {
    DescriptorPool::decode(relreg::pb::FILE_DESCRIPTOR_SET).expect("descriptor set")
}

fn message(pool: &DescriptorPool, name: &str) -> MessageDescriptor {
    pool.get_message_by_name(&format!("relreg.v1.{name}"))
        .unwrap_or_else(|| panic!("no message {name}"))
}

#[test]
fn declared_rules_agree_with_the_parsers() {
    let pool = pool();
    let mut disagreements = Vec::new();
    let mut divergences_seen = BTreeSet::new();
    for &(name, field, kind, presence) in FIELDS {
        let rules = declared_rules(&message(&pool, name), field)
            .unwrap_or_else(|| panic!("{name}.{field} declares no buf.validate.field rules"));
        let optional = matches!(set(&rules, "ignore"), Some(Reflected::EnumNumber(1)));
        assert_eq!(
            optional,
            presence == Optional,
            "{name}.{field}: IGNORE_IF_ZERO_VALUE"
        );
        for input in values(kind) {
            let parser = parser_admits(kind, presence, &input);
            let declared = rules_admit(&rules, &input);
            match known_divergence(kind, &input) {
                Some(why) => {
                    assert_ne!(
                        parser, declared,
                        "{name}.{field} {input:?} now agrees: {why}"
                    );
                    divergences_seen.insert(format!("{kind:?} {input:?}"));
                }
                None if parser != declared => disagreements.push(format!(
                    "{name}.{field} {input:?}: parser {parser}, proto {declared}"
                )),
                None => {}
            }
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    assert_eq!(divergences_seen.len(), 6, "{divergences_seen:?}");
}

/// Collects the request messages: every RPC input and the relreg messages inside them.
fn request_messages(pool: &DescriptorPool) -> Vec<MessageDescriptor> {
    let mut out: Vec<MessageDescriptor> = Vec::new();
    let mut todo: Vec<MessageDescriptor> = pool
        .services()
        .filter(|s| s.package_name() == "relreg.v1")
        .flat_map(|s| s.methods().map(|m| m.input()).collect::<Vec<_>>())
        .collect();
    while let Some(m) = todo.pop() {
        if m.package_name() != "relreg.v1" || out.contains(&m) {
            continue;
        }
        for field in m.fields() {
            if let prost_reflect::Kind::Message(inner) = field.kind() {
                todo.push(inner);
            }
        }
        out.push(m);
    }
    out
}

#[test]
fn every_constrained_field_is_listed() {
    let pool = pool();
    let requests = request_messages(&pool);
    let found: BTreeSet<(String, String)> = requests
        .iter()
        .flat_map(|m| {
            m.fields()
                // Enums (a token's role) are typed already: the schema lists their values.
                .filter(|f| WATCHED.contains(&f.name()))
                .filter(|f| !matches!(f.kind(), prost_reflect::Kind::Enum(_)))
                .map(|f| (m.name().to_owned(), f.name().to_owned()))
                .collect::<Vec<_>>()
        })
        .collect();
    let listed: BTreeSet<(String, String)> = FIELDS
        .iter()
        .map(|(m, f, _, _)| ((*m).to_owned(), (*f).to_owned()))
        .collect();
    let exists = |(m, f): &&(String, String)| {
        requests
            .iter()
            .any(|r| r.name() == m && r.get_field_by_name(f).is_some())
    };
    let unlisted: Vec<_> = found.difference(&listed).collect();
    let stale: Vec<_> = listed.iter().filter(|k| !exists(k)).collect();
    assert!(
        unlisted.is_empty(),
        "request fields without a checked rule: {unlisted:?}"
    );
    assert!(
        stale.is_empty(),
        "listed fields that are no request field: {stale:?}"
    );
    assert!(found.len() >= 80, "only {} fields found", found.len());
}

mod served;
mod table;
