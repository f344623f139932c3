//! The two state machines, one table each: which states a version or a release may take a
//! step from, and which state the step leads to. The registry names a step; the store guards
//! its writes with the step's `from` states (bound as parameters) and writes its `to` state,
//! so no state list is written anywhere else.

use super::{release::ReleaseState, version::VersionState};

/// A guarded change of a package version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionStep {
    /// Changes a draft's files or manifest.
    Edit,
    /// Deletes a draft.
    Delete,
    /// Freezes a draft and offers it.
    Publish,
    /// Marks a published version as superseded.
    Deprecate,
    /// Withdraws a published or deprecated version.
    Yank,
    /// Retention: drops an expired or withdrawn version's files and manifest, leaving a
    /// tombstone (the row's `removed_at`; it reads as `Removed`).
    Remove,
}

/// A row of a state machine's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step<K: 'static, S: 'static> {
    /// The step.
    pub step: K,
    /// The states it may start from.
    pub from: &'static [S],
    /// The state it leads to; `None` when the row is removed.
    pub to: Option<S>,
}

/// The version state machine.
pub const VERSION_STEPS: [Step<VersionStep, VersionState>; 6] = {
    use VersionState::*;
    [
        Step {
            step: VersionStep::Edit,
            from: &[Draft],
            to: Some(Draft),
        },
        Step {
            step: VersionStep::Delete,
            from: &[Draft],
            to: None,
        },
        Step {
            step: VersionStep::Publish,
            from: &[Draft],
            to: Some(Published),
        },
        Step {
            step: VersionStep::Deprecate,
            from: &[Published],
            to: Some(Deprecated),
        },
        Step {
            step: VersionStep::Yank,
            from: &[Published, Deprecated],
            to: Some(Yanked),
        },
        Step {
            step: VersionStep::Remove,
            from: &[Published, Deprecated, Yanked],
            to: Some(Removed),
        },
    ]
};

impl VersionStep {
    fn row(self) -> &'static Step<VersionStep, VersionState> {
        // Every step has exactly one row (checked by a test below).
        let mut i = 0;
        while VERSION_STEPS[i].step as u8 != self as u8 {
            i += 1;
        }
        &VERSION_STEPS[i]
    }

    /// The states the step may start from.
    pub fn from(self) -> &'static [VersionState] {
        self.row().from
    }

    /// The state the step leads to; `None` when the version is removed.
    pub fn to(self) -> Option<VersionState> {
        self.row().to
    }
}

/// A guarded change of a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseStep {
    /// Attaches or detaches an artifact of a draft.
    Edit,
    /// Offers a draft on its channel.
    Publish,
    /// Withdraws a published release from offers.
    Deprecate,
    /// Withdraws the published releases above a channel's rollback target.
    RollBack,
    /// Retention: drops a deprecated release's artifacts, leaving a tombstone (the row's
    /// `removed_at`; it reads as not found).
    Remove,
}

/// The release state machine.
pub const RELEASE_STEPS: [Step<ReleaseStep, ReleaseState>; 5] = {
    use ReleaseState::*;
    [
        Step {
            step: ReleaseStep::Edit,
            from: &[Draft],
            to: Some(Draft),
        },
        Step {
            step: ReleaseStep::Publish,
            from: &[Draft],
            to: Some(Published),
        },
        Step {
            step: ReleaseStep::Deprecate,
            from: &[Published],
            to: Some(Deprecated),
        },
        Step {
            step: ReleaseStep::RollBack,
            from: &[Published],
            to: Some(Deprecated),
        },
        Step {
            step: ReleaseStep::Remove,
            from: &[Deprecated],
            to: Some(Deprecated),
        },
    ]
};

impl ReleaseStep {
    fn row(self) -> &'static Step<ReleaseStep, ReleaseState> {
        let mut i = 0;
        while RELEASE_STEPS[i].step as u8 != self as u8 {
            i += 1;
        }
        &RELEASE_STEPS[i]
    }

    /// The states the step may start from.
    pub fn from(self) -> &'static [ReleaseState] {
        self.row().from
    }

    /// The state the step leads to.
    pub fn to(self) -> ReleaseState {
        // Every release step keeps the row (checked by a test below).
        self.row().to.unwrap_or(ReleaseState::Deprecated)
    }
}

impl ReleaseState {
    /// The state releases are offered to clients in (the rollback target must be in it too).
    pub const OFFERED: ReleaseState = ReleaseState::Published;

    /// Tells whether readers without publisher rights see releases in this state.
    pub fn is_public(self) -> bool {
        self != ReleaseState::Draft
    }
}

impl VersionState {
    /// The states a release's artifact versions must be in for the release to publish.
    pub const ATTACHABLE: &'static [VersionState] =
        &[VersionState::Published, VersionState::Deprecated];

    /// The states of versions readers without publisher rights see (every released one).
    pub const RELEASED: &'static [VersionState] = &[
        VersionState::Published,
        VersionState::Deprecated,
        VersionState::Yanked,
    ];
}

impl From<VersionState> for &'static str {
    fn from(state: VersionState) -> Self {
        state.as_str()
    }
}

impl From<ReleaseState> for &'static str {
    fn from(state: ReleaseState) -> Self {
        state.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_has_one_row() {
        for step in [
            VersionStep::Edit,
            VersionStep::Delete,
            VersionStep::Publish,
            VersionStep::Deprecate,
            VersionStep::Yank,
            VersionStep::Remove,
        ] {
            assert_eq!(
                VERSION_STEPS.iter().filter(|r| r.step == step).count(),
                1,
                "{step:?}"
            );
        }
        for step in [
            ReleaseStep::Edit,
            ReleaseStep::Publish,
            ReleaseStep::Deprecate,
            ReleaseStep::RollBack,
            ReleaseStep::Remove,
        ] {
            let rows: Vec<_> = RELEASE_STEPS.iter().filter(|r| r.step == step).collect();
            assert_eq!(rows.len(), 1, "{step:?}");
            assert!(rows[0].to.is_some(), "{step:?} keeps the release");
        }
    }

    #[test]
    fn steps_follow_the_design() {
        assert_eq!(VersionStep::Publish.from(), [VersionState::Draft]);
        assert_eq!(VersionStep::Publish.to(), Some(VersionState::Published));
        assert_eq!(VersionStep::Delete.to(), None);
        assert_eq!(
            VersionStep::Yank.from(),
            [VersionState::Published, VersionState::Deprecated]
        );
        assert_eq!(ReleaseStep::Edit.from(), [ReleaseState::Draft]);
        assert_eq!(ReleaseStep::Deprecate.from(), [ReleaseState::Published]);
        assert_eq!(ReleaseStep::RollBack.to(), ReleaseState::Deprecated);
        assert!(VersionState::RELEASED.iter().all(|s| s.is_released()));
        assert!(!ReleaseState::Draft.is_public());
    }
}
