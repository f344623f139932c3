//! Domain types shared by every layer: names, digests, states, records, validation and the
//! closed set of error codes. Nothing here does I/O or knows about tonic or sqlx.

mod error;
mod ids;
mod keys;
mod kinds;
mod lifecycle;
mod names;
mod offer;
mod policy;
mod records;
mod release;
mod retention;
mod rollout;
mod text;
pub mod tuf;
mod version;
mod webhooks;

pub use error::{Error, ErrorCode, Result, Violation};
pub use ids::{Etag, ReleaseId};
pub use keys::{Envelope, KeyPair, Keyring, PublicKey, key_id};
pub use kinds::{KindValidator, validator_for};
pub use lifecycle::{RELEASE_STEPS, ReleaseStep, Step, VERSION_STEPS, VersionStep};
pub use names::{Digest, FilePath, Name, parse_name};
pub use offer::{ANY_PLATFORM, Candidate, Offer, OfferStep, newest_offered, offer_at, offer_steps};
pub use policy::Policy;
pub use records::{
    AuditEvent, AuditFilter, AuditRecord, BlobInfo, OutboxEvent, Package, Repo, Role, Token,
    TokenScope,
};
pub use release::{
    AppVersion, Artifact, AttachedVersion, Compatibility, Finding, ReleaseRecord, ReleaseState,
    Severity, parse_app_version, sort_key, validate_release,
};
pub use retention::{ReleaseAge, Retention, VersionAge, releases_to_remove, versions_to_remove};
pub use rollout::{
    ChannelPlan, FULL_BPS, Rollout, RolloutState, Wave, bucket, in_cohort, new_salt, newer,
    parse_bps, parse_percent, parse_waves, wave_target, waves_from_text, waves_text,
};
pub use text::check_text;
pub use version::{
    Manifest, VersionFile, VersionKey, VersionRecord, VersionState, canonical_json, content_digest,
    diff_files, parse_manifest, parse_requirement, parse_semver,
};
pub use webhooks::{
    DeliveryState, MAX_TOPICS, Webhook, WebhookDelivery, check_address, parse_target, parse_topics,
};
