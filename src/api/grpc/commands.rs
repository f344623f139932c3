//! Requests to registry commands: each release request is parsed here, once, into the typed
//! command its registry method takes, with errors naming the request field. Proto3's empty
//! string (unset) becomes `None` here and nowhere else. Fields are checked in the order the
//! server has always reported them.

use crate::{
    domain::{
        AppVersion, Compatibility, Digest, Error, Etag, Name, ReleaseId, Result, VersionKey,
        parse_app_version, parse_semver,
    },
    pb,
    registry::{
        ArtifactEdit, LatestQuery, NewRelease, ReleaseDeprecation, Rollback, UploadHeader,
        VersionDeprecation,
    },
};

impl TryFrom<pb::DeprecateVersionRequest> for VersionDeprecation {
    type Error = Error;

    fn try_from(r: pb::DeprecateVersionRequest) -> Result<Self> {
        let key = VersionKey::parse(&r.repo, &r.package, &r.version)?;
        if r.reason.trim().is_empty() {
            return Err(Error::invalid("reason", "is required"));
        }
        let replacement = match r.replacement.as_str() {
            "" => None,
            text => Some(parse_semver("replacement", text)?),
        };
        Ok(Self {
            key,
            reason: r.reason,
            replacement,
        })
    }
}

impl TryFrom<pb::UploadBlobHeader> for UploadHeader {
    type Error = Error;

    fn try_from(h: pb::UploadBlobHeader) -> Result<Self> {
        let repo = Name::parse_owned("header.repo", h.repo)?;
        let expected_digest = match h.expected_digest.as_str() {
            "" => None,
            d => Some(Digest::parse("header.expected_digest", d)?),
        };
        let expected_size = h
            .expected_size
            .map(|s| {
                u64::try_from(s)
                    .map_err(|_| Error::invalid("header.expected_size", "must not be negative"))
            })
            .transpose()?;
        Ok(Self {
            repo,
            expected_digest,
            expected_size,
            media_type: h.media_type,
        })
    }
}

impl TryFrom<pb::CreateReleaseRequest> for NewRelease {
    type Error = Error;

    fn try_from(r: pb::CreateReleaseRequest) -> Result<Self> {
        let repo = Name::parse_owned("repo", r.repo)?;
        let channel = Name::parse_owned("channel", r.channel)?;
        let version = parse_semver("version", &r.version)?;
        let compatibility = Compatibility {
            min: AppVersion::parse_optional("min_app_version", &r.min_app_version)?,
            max: AppVersion::parse_optional("max_app_version", &r.max_app_version)?,
            platforms: r
                .platforms
                .into_iter()
                .enumerate()
                .map(|(i, p)| Name::parse_owned(&format!("platforms[{i}]"), p))
                .collect::<Result<_>>()?,
        };
        Ok(Self {
            repo,
            channel,
            version,
            compatibility,
            notes: r.notes,
            mandatory: r.mandatory,
        })
    }
}

impl TryFrom<pb::AttachArtifactRequest> for ArtifactEdit {
    type Error = Error;

    fn try_from(r: pb::AttachArtifactRequest) -> Result<Self> {
        let role = Name::parse_owned("role", r.role)?;
        let release = ReleaseId::named("release_id", &r.release_id)?;
        let package = Name::parse_owned("package", r.package)?;
        let version = parse_semver("version", &r.version)?;
        Ok(Self {
            release,
            role,
            target: Some((package, version)),
            etag: Etag::from_text(r.etag),
        })
    }
}

impl TryFrom<pb::DetachArtifactRequest> for ArtifactEdit {
    type Error = Error;

    fn try_from(r: pb::DetachArtifactRequest) -> Result<Self> {
        let role = Name::parse_owned("role", r.role)?;
        Ok(Self {
            release: ReleaseId::named("release_id", &r.release_id)?,
            role,
            target: None,
            etag: Etag::from_text(r.etag),
        })
    }
}

impl TryFrom<pb::DeprecateReleaseRequest> for ReleaseDeprecation {
    type Error = Error;

    fn try_from(r: pb::DeprecateReleaseRequest) -> Result<Self> {
        if r.reason.trim().is_empty() {
            return Err(Error::invalid("reason", "is required"));
        }
        let release = ReleaseId::named("release_id", &r.release_id)?;
        // A replacement that is not an id names no release: refused as one that is unknown.
        let replacement = match r.replacement.as_str() {
            "" => None,
            text => Some(
                ReleaseId::named("replacement", text)
                    .map_err(|e| Error::invalid("replacement", e.message))?,
            ),
        };
        Ok(Self {
            release,
            reason: r.reason,
            replacement,
        })
    }
}

impl TryFrom<pb::RollbackChannelRequest> for Rollback {
    type Error = Error;

    fn try_from(r: pb::RollbackChannelRequest) -> Result<Self> {
        Ok(Self {
            repo: Name::parse_owned("repo", r.repo)?,
            channel: Name::parse_owned("channel", r.channel)?,
            target: ReleaseId::named("release_id", &r.release_id)?,
        })
    }
}

impl TryFrom<pb::GetLatestReleaseRequest> for LatestQuery {
    type Error = Error;

    /// Takes the request's strings as they are (no copies: this is the hot path).
    fn try_from(r: pb::GetLatestReleaseRequest) -> Result<Self> {
        Ok(Self {
            repo: Name::parse_owned("repo", r.repo)?,
            channel: Name::parse_owned("channel", r.channel)?,
            app_version: parse_app_version("app_version", &r.app_version)?,
            platform: Name::parse_owned_optional("platform", r.platform)?,
            current_release_id: r.current_release_id,
            client_id: r.client_id,
        })
    }
}

/// Reads an optional text field of a request: proto3 cannot tell unset from empty, so empty
/// is `None`. The one place the transport makes that conversion for free text (names, ids,
/// etags and bounds go through their own parsers above).
pub(super) fn unset_if_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

/// Reads the release id a request names in `release_id`.
pub(super) fn release_id(value: &str) -> Result<ReleaseId> {
    ReleaseId::named("release_id", value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ErrorCode;

    #[test]
    fn create_release_fields_are_parsed_in_order() {
        let good = pb::CreateReleaseRequest {
            repo: "acme".into(),
            channel: "stable".into(),
            version: "1.0.0".into(),
            min_app_version: "2.0".into(),
            platforms: vec!["ios".into()],
            ..Default::default()
        };
        let new = NewRelease::try_from(good.clone()).unwrap();
        assert_eq!(new.compatibility.min.unwrap().as_str(), "2.0");
        assert_eq!(new.compatibility.max, None, "empty is unset");
        for (bad, field) in [
            (
                pb::CreateReleaseRequest {
                    repo: "A".into(),
                    version: "x".into(),
                    ..good.clone()
                },
                "repo",
            ),
            (
                pb::CreateReleaseRequest {
                    max_app_version: "1.2.3.4".into(),
                    ..good.clone()
                },
                "max_app_version",
            ),
            (
                pb::CreateReleaseRequest {
                    platforms: vec!["ios".into(), "Bad".into()],
                    ..good.clone()
                },
                "platforms[1]",
            ),
        ] {
            let err = NewRelease::try_from(bad).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field));
        }
    }

    #[test]
    fn release_ids_that_name_nothing_are_not_found() {
        let r = pb::DeprecateReleaseRequest {
            release_id: "rel_nope".into(),
            reason: "old".into(),
            replacement: String::new(),
        };
        let err = ReleaseDeprecation::try_from(r.clone()).unwrap_err();
        assert_eq!(err.code, ErrorCode::NotFound);
        let err = ReleaseDeprecation::try_from(pb::DeprecateReleaseRequest {
            release_id: "rel_0123456789abcdef".into(),
            replacement: "other".into(),
            ..r
        })
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("replacement"));
    }
}
