-- Signing (issue 11). Private keys never live here: the server loads them from files.
-- Payloads are the exact signed bytes (base64 of a protobuf message, see proto/relreg/v1/
-- trust.proto); signatures are a JSON array of {"key_id", "signature"} (base64). Additive
-- only: new tables nothing older reads. Keep in step with migrations/sqlite.

-- A repo's root documents: which keys it trusts. Version n+1 is signed by a key of version n
-- and by a key of its own; the primary key settles two concurrent rotations.
CREATE TABLE trust_roots (
    repo TEXT NOT NULL REFERENCES repos (key),
    version BIGINT NOT NULL,
    payload TEXT NOT NULL,
    signatures TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repo, version)
);

-- A published release's manifest, signed once (never updated).
CREATE TABLE release_signatures (
    release_id TEXT PRIMARY KEY REFERENCES releases (id),
    payload TEXT NOT NULL,
    signatures TEXT NOT NULL,
    signed_at BIGINT NOT NULL
);

-- Per channel, the newest signed head. `version` only grows: a new head is written with a
-- conditional update on the version it replaces.
CREATE TABLE channel_heads (
    repo TEXT NOT NULL REFERENCES repos (key),
    channel TEXT NOT NULL,
    version BIGINT NOT NULL,
    inputs_digest TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    payload TEXT NOT NULL,
    signatures TEXT NOT NULL,
    PRIMARY KEY (repo, channel)
);
