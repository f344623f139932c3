//! The compact form a warm cache keeps "latest" answers in: a release named by its id (a
//! `ReleaseId` is one `u64`), not a record. The records themselves live in a bounded cache of
//! their own.

use crate::domain::{Offer, ReleaseId};

/// What a channel offered one platform and app version; `None` when the channel has no
/// published release.
pub(super) type Answer = Option<Offer<ReleaseId>>;
