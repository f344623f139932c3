-- Staged rollouts and floors. A published release may carry one rollout (keyed by the
-- release): the share of clients offered it in basis points (0-10000), the per-release salt
-- their cohort is drawn with, its state ('active', 'paused', 'halted', 'completed') and
-- optional time waves ("bps@seconds,...", advanced by the server). A release under an
-- active, paused or halted rollout is left out of the channel's offer steps (the base every
-- client gets); the rollout decides on top of them. One active or paused rollout per channel:
-- the partial unique index settles racing starters. A floor marks a release as a required
-- stepping stone. Keep in step with migrations/postgres.
CREATE TABLE rollouts (
    release_id TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    channel TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'paused', 'halted', 'completed')),
    bps BIGINT NOT NULL CHECK (bps >= 0 AND bps <= 10000),
    salt TEXT NOT NULL,
    waves TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE UNIQUE INDEX rollouts_one_open ON rollouts (repo, channel)
    WHERE state IN ('active', 'paused');
CREATE INDEX rollouts_by_channel ON rollouts (repo, channel, state);

CREATE TABLE release_floors (
    release_id TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    channel TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX release_floors_by_channel ON release_floors (repo, channel);
