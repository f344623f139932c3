//! Staged rollouts and floors over gRPC: requests parsed here (ids, shares, waves), the
//! registry called (`registry/rollouts.rs`), the rollout converted back.

use tonic::Request;

use super::{Answer, ok};
use crate::{
    api::{
        error::status,
        grpc::{caller, commands::release_id},
    },
    domain::{Rollout, parse_bps, parse_waves, waves_text},
    pb,
    registry::{Registry, RolloutAction},
};

impl From<Rollout> for pb::Rollout {
    fn from(r: Rollout) -> Self {
        Self {
            release_id: r.release_id,
            repo: r.repo,
            channel: r.channel,
            state: r.state.as_str().to_owned(),
            bps: r.bps,
            waves: waves_text(&r.waves),
            started_at: r.started_at,
            updated_at: r.updated_at,
        }
    }
}

/// Applies an action to the rollout of the release a request names.
async fn apply(
    registry: &Registry,
    c: &crate::registry::Caller,
    id: &str,
    action: RolloutAction,
) -> Result<Option<pb::Rollout>, tonic::Status> {
    let id = release_id(id).map_err(status)?;
    let rollout = registry
        .change_rollout(c, &id, action)
        .await
        .map_err(status)?;
    Ok(Some(rollout.into()))
}

/// Serves `ReleaseAdmin/SetRollout`.
pub(super) async fn set_rollout(
    registry: &Registry,
    request: Request<pb::SetRolloutRequest>,
) -> Answer<pb::SetRolloutResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let bps = parse_bps("bps", r.bps).map_err(status)?;
    let waves = parse_waves("waves", &r.waves).map_err(status)?;
    let rollout = apply(
        registry,
        &c,
        &r.release_id,
        RolloutAction::Set { bps, waves },
    )
    .await?;
    ok(pb::SetRolloutResponse { rollout })
}

/// Serves `ReleaseAdmin/PauseRollout`.
pub(super) async fn pause_rollout(
    registry: &Registry,
    request: Request<pb::PauseRolloutRequest>,
) -> Answer<pb::PauseRolloutResponse> {
    let c = caller(&request);
    let id = request.into_inner().release_id;
    let rollout = apply(registry, &c, &id, RolloutAction::Pause).await?;
    ok(pb::PauseRolloutResponse { rollout })
}

/// Serves `ReleaseAdmin/ResumeRollout`.
pub(super) async fn resume_rollout(
    registry: &Registry,
    request: Request<pb::ResumeRolloutRequest>,
) -> Answer<pb::ResumeRolloutResponse> {
    let c = caller(&request);
    let id = request.into_inner().release_id;
    let rollout = apply(registry, &c, &id, RolloutAction::Resume).await?;
    ok(pb::ResumeRolloutResponse { rollout })
}

/// Serves `ReleaseAdmin/HaltRollout`.
pub(super) async fn halt_rollout(
    registry: &Registry,
    request: Request<pb::HaltRolloutRequest>,
) -> Answer<pb::HaltRolloutResponse> {
    let c = caller(&request);
    let id = request.into_inner().release_id;
    let rollout = apply(registry, &c, &id, RolloutAction::Halt).await?;
    ok(pb::HaltRolloutResponse { rollout })
}

/// Serves `ReleaseAdmin/GetRollout`.
pub(super) async fn get_rollout(
    registry: &Registry,
    request: Request<pb::GetRolloutRequest>,
) -> Answer<pb::GetRolloutResponse> {
    let c = caller(&request);
    let id = release_id(&request.into_inner().release_id).map_err(status)?;
    let rollout = registry.get_rollout(&c, &id).await.map_err(status)?;
    ok(pb::GetRolloutResponse {
        rollout: rollout.map(Into::into),
    })
}

/// Serves `ReleaseAdmin/SetFloor`.
pub(super) async fn set_floor(
    registry: &Registry,
    request: Request<pb::SetFloorRequest>,
) -> Answer<pb::SetFloorResponse> {
    let c = caller(&request);
    let r = request.into_inner();
    let id = release_id(&r.release_id).map_err(status)?;
    registry.set_floor(&c, &id, r.floor).await.map_err(status)?;
    ok(pb::SetFloorResponse {})
}
