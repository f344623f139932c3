//! Conversions between protobuf messages and domain records: timestamps, JSON manifests as
//! `google.protobuf.Struct`, enums, and the resources the services return.

use prost_types::{ListValue, Struct, Timestamp, Value, value::Kind};

use crate::{
    domain::{
        AppVersion, AuditEvent, Error, Finding, Name, Package, ReleaseRecord, ReleaseState, Repo,
        Result, Role, Severity, Token, VersionFile, VersionRecord, VersionState, parse_manifest,
    },
    pb,
    registry::ManifestView,
};

/// Converts unix microseconds to a protobuf timestamp.
pub(super) fn timestamp(micros: i64) -> Timestamp {
    Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    }
}

/// Converts a protobuf timestamp to unix microseconds.
pub(super) fn micros(field: &str, ts: &Timestamp) -> Result<i64> {
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(Error::invalid(field, "nanos must be within 0..1e9"));
    }
    ts.seconds
        .checked_mul(1_000_000)
        .and_then(|s| s.checked_add(i64::from(ts.nanos / 1000)))
        .ok_or_else(|| Error::invalid(field, "is out of range"))
}

/// Converts a `Struct` to a JSON object; integral numbers stay integers.
pub(super) fn struct_to_json(s: &Struct) -> serde_json::Map<String, serde_json::Value> {
    s.fields
        .iter()
        .map(|(k, v)| (k.clone(), value_to_json(v)))
        .collect()
}

fn value_to_json(v: &Value) -> serde_json::Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
        Some(Kind::NumberValue(n)) if n.fract() == 0.0 && n.abs() < 9.0e15 => (*n as i64).into(),
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(*n)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(Kind::StructValue(s)) => serde_json::Value::Object(struct_to_json(s)),
        Some(Kind::ListValue(l)) => {
            serde_json::Value::Array(l.values.iter().map(value_to_json).collect())
        }
    }
}

/// Converts a JSON object to a `Struct`.
pub(super) fn json_to_struct(map: &serde_json::Map<String, serde_json::Value>) -> Struct {
    Struct {
        fields: map
            .iter()
            .map(|(k, v)| (k.clone(), json_to_value(v)))
            .collect(),
    }
}

fn json_to_value(v: &serde_json::Value) -> Value {
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(a) => Kind::ListValue(ListValue {
            values: a.iter().map(json_to_value).collect(),
        }),
        serde_json::Value::Object(o) => Kind::StructValue(json_to_struct(o)),
    };
    Value { kind: Some(kind) }
}

/// Reads a role enum value; unknown and unspecified values are INVALID_ARGUMENT.
pub(super) fn role(field: &str, value: i32) -> Result<Role> {
    match pb::Role::try_from(value) {
        Ok(pb::Role::Reader) => Ok(Role::Reader),
        Ok(pb::Role::Publisher) => Ok(Role::Publisher),
        Ok(pb::Role::Admin) => Ok(Role::Admin),
        Ok(pb::Role::Unspecified) => Err(Error::invalid(field, "is required")),
        Err(_) => Err(Error::invalid(field, format!("unknown value {value}"))),
    }
}

fn role_to_pb(role: Role) -> pb::Role {
    match role {
        Role::Reader => pb::Role::Reader,
        Role::Publisher => pb::Role::Publisher,
        Role::Admin => pb::Role::Admin,
    }
}

fn state_to_pb(state: VersionState) -> pb::VersionState {
    match state {
        VersionState::Draft => pb::VersionState::Draft,
        VersionState::Published => pb::VersionState::Published,
        VersionState::Deprecated => pb::VersionState::Deprecated,
        VersionState::Yanked => pb::VersionState::Yanked,
        VersionState::Removed => pb::VersionState::Removed,
    }
}

impl From<Repo> for pb::Repo {
    fn from(r: Repo) -> Self {
        Self {
            key: r.key.into_string(),
            public: r.public,
            display_name: r.display_name.unwrap_or_default(),
            create_time: Some(timestamp(r.created_at)),
        }
    }
}

impl From<Package> for pb::Package {
    fn from(p: Package) -> Self {
        Self {
            repo: p.repo.into_string(),
            name: p.name.into_string(),
            kind: p.kind,
            description: p.description,
            create_time: Some(timestamp(p.created_at)),
        }
    }
}

impl From<VersionFile> for pb::VersionFile {
    fn from(f: VersionFile) -> Self {
        Self {
            path: f.path.to_string(),
            digest: f.digest.to_string(),
            size: f.size as i64,
            media_type: f.media_type,
        }
    }
}

impl From<VersionRecord> for pb::Version {
    fn from(v: VersionRecord) -> Self {
        let manifest = parse_manifest("manifest", &v.manifest).unwrap_or_default();
        Self {
            repo: v.key.repo.into_string(),
            package: v.key.package.into_string(),
            version: v.key.version.to_string(),
            state: state_to_pb(v.state).into(),
            etag: v.etag.into_string(),
            content_digest: v.content_digest.map(|d| d.to_string()).unwrap_or_default(),
            files: v.files.into_iter().map(Into::into).collect(),
            manifest: Some(json_to_struct(&manifest)),
            deprecation_reason: v.deprecation_reason.unwrap_or_default(),
            replacement: v.replacement.map(|r| r.to_string()).unwrap_or_default(),
            yank_reason: v.yank_reason.unwrap_or_default(),
            create_time: Some(timestamp(v.created_at)),
            update_time: Some(timestamp(v.updated_at)),
            publish_time: v.published_at.map(timestamp),
        }
    }
}

impl From<Token> for pb::Token {
    fn from(t: Token) -> Self {
        Self {
            id: t.id,
            name: t.name,
            repo: t.scope.repo().unwrap_or_default().to_owned(),
            role: role_to_pb(t.role).into(),
            create_time: Some(timestamp(t.created_at)),
            expire_time: t.expires_at.map(timestamp),
            revoke_time: t.revoked_at.map(timestamp),
        }
    }
}

impl From<AuditEvent> for pb::AuditEvent {
    fn from(e: AuditEvent) -> Self {
        let details = parse_manifest("details", &e.record.details).unwrap_or_default();
        Self {
            id: e.id,
            time: Some(timestamp(e.record.at)),
            actor: e.record.actor,
            action: e.record.action,
            repo: e.record.repo,
            target: e.record.target,
            details: Some(json_to_struct(&details)),
            request_id: e.record.request_id,
        }
    }
}

fn release_state_to_pb(state: ReleaseState) -> pb::ReleaseState {
    match state {
        ReleaseState::Draft => pb::ReleaseState::Draft,
        ReleaseState::Published => pb::ReleaseState::Published,
        ReleaseState::Deprecated => pb::ReleaseState::Deprecated,
    }
}

/// Writes an optional app-version bound as the proto has it: as written, empty for none.
fn bound_text(bound: Option<AppVersion>) -> String {
    bound.map(AppVersion::into_string).unwrap_or_default()
}

impl From<ReleaseRecord> for pb::Release {
    fn from(r: ReleaseRecord) -> Self {
        let c = r.compatibility;
        Self {
            id: r.id.to_string(),
            repo: r.repo.into_string(),
            channel: r.channel.into_string(),
            version: r.version.to_string(),
            state: release_state_to_pb(r.state).into(),
            etag: r.etag.into_string(),
            min_app_version: bound_text(c.min),
            max_app_version: bound_text(c.max),
            platforms: c.platforms.into_iter().map(Name::into_string).collect(),
            notes: r.notes,
            mandatory: r.mandatory,
            sequence: r.sequence.unwrap_or_default(),
            deprecation_reason: r.deprecation_reason.unwrap_or_default(),
            replacement: r.replacement.map(|id| id.to_string()).unwrap_or_default(),
            artifacts: r
                .artifacts
                .into_iter()
                .map(|a| pb::Artifact {
                    role: a.role.into_string(),
                    package: a.package.into_string(),
                    version: a.version.to_string(),
                })
                .collect(),
            create_time: Some(timestamp(r.created_at)),
            update_time: Some(timestamp(r.updated_at)),
            publish_time: r.published_at.map(timestamp),
        }
    }
}

impl From<Finding> for pb::Finding {
    fn from(f: Finding) -> Self {
        let severity = match f.severity {
            Severity::Error => pb::Severity::Error,
            Severity::Warning => pb::Severity::Warning,
        };
        Self {
            severity: severity.into(),
            rule: f.rule.into(),
            field: f.field,
            message: f.message,
        }
    }
}

impl From<&ManifestView> for pb::ReleaseManifest {
    fn from(m: &ManifestView) -> Self {
        let r = &m.release;
        let artifacts = m
            .artifacts
            .iter()
            .map(|(artifact, package, version)| pb::ManifestArtifact {
                role: artifact.role.to_string(),
                package: package.name.to_string(),
                version: version.key.version.to_string(),
                kind: package.kind.clone(),
                manifest: Some(json_to_struct(
                    &parse_manifest("manifest", &version.manifest).unwrap_or_default(),
                )),
                content_digest: version
                    .content_digest
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                files: version
                    .files
                    .iter()
                    .map(|f| pb::ManifestFile {
                        path: f.path.to_string(),
                        size: f.size as i64,
                        sha256: f.digest.hex(),
                        url: format!("{}/v1/repos/{}/blobs/{}", m.public_url, r.repo, f.digest),
                        media_type: f.media_type.clone(),
                    })
                    .collect(),
            })
            .collect();
        let c = &r.compatibility;
        Self {
            release_id: r.id.to_string(),
            repo: r.repo.to_string(),
            channel: r.channel.to_string(),
            version: r.version.to_string(),
            sequence: r.sequence.unwrap_or_default(),
            min_app_version: c
                .min
                .as_ref()
                .map(|b| b.as_str().to_owned())
                .unwrap_or_default(),
            max_app_version: c
                .max
                .as_ref()
                .map(|b| b.as_str().to_owned())
                .unwrap_or_default(),
            platforms: c.platforms.iter().map(ToString::to_string).collect(),
            notes: r.notes.clone(),
            mandatory: r.mandatory,
            publish_time: r.published_at.map(timestamp),
            artifacts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        for m in [0, 1, 1_700_000_000_123_456, -1] {
            assert_eq!(micros("t", &timestamp(m)).unwrap(), m);
        }
        assert!(
            micros(
                "t",
                &Timestamp {
                    seconds: 0,
                    nanos: -1
                }
            )
            .is_err()
        );
    }

    #[test]
    fn structs_keep_integers() {
        let json =
            parse_manifest("m", r#"{"a":1,"b":1.5,"c":[true,null,"x"],"d":{"e":2}}"#).unwrap();
        assert_eq!(struct_to_json(&json_to_struct(&json)), json);
    }
}
