//! Tests of the browse views: link encoding and the channel summary of the repo page.

use super::{load::channels, seg};
use crate::domain::{Etag, Name, ReleaseId, ReleaseRecord, ReleaseState};

#[test]
fn segments_are_percent_encoded() {
    assert_eq!(seg("1.0.0+build.1"), "1.0.0%2Bbuild.1");
    assert_eq!(seg("sha256:ab"), "sha256:ab");
    assert_eq!(seg("a/b c"), "a%2Fb%20c");
    assert_eq!(seg("é"), "%C3%A9");
}

fn release(seq: i64, channel: &str, version: &str, state: ReleaseState) -> ReleaseRecord {
    ReleaseRecord {
        id: ReleaseId::from_text(&format!("rel_{seq:016x}")).unwrap(),
        seq,
        repo: Name::parse("repo", "acme").unwrap(),
        channel: Name::parse("channel", channel).unwrap(),
        version: semver::Version::parse(version).unwrap(),
        state,
        etag: Etag::random(),
        compatibility: Default::default(),
        notes: String::new(),
        mandatory: false,
        sequence: Some(seq),
        deprecation_reason: None,
        replacement: None,
        artifacts: Vec::new(),
        created_at: 0,
        updated_at: 0,
        published_at: Some(0),
    }
}

#[test]
fn channels_show_the_highest_offered_semver() {
    let rs = [
        release(1, "stable", "1.10.0", ReleaseState::Published),
        release(2, "stable", "1.9.0", ReleaseState::Published),
        release(3, "stable", "2.0.0", ReleaseState::Deprecated),
        release(4, "beta", "2.0.0-rc.1", ReleaseState::Deprecated),
    ];
    let cs = channels(&rs);
    assert_eq!(cs.len(), 2);
    assert_eq!(cs[0].channel, "beta");
    assert!(cs[0].latest.is_none());
    assert_eq!(cs[1].channel, "stable");
    assert_eq!(cs[1].releases, 3);
    assert_eq!(
        cs[1].latest.as_ref().map(|l| l.version.as_str()),
        Some("1.10.0")
    );
    assert_eq!(cs[1].last_sequence, Some(3));
}
