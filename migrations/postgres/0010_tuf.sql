-- The TUF export (issue 11): a repo's signing metadata in TUF's JSON format, for outside TUF
-- clients. Documents are stored as the exact bytes served (canonical JSON, signatures
-- included). Additive only: new tables nothing older reads. Keep in step with
-- migrations/sqlite.

-- TUF root n renders relreg root n (trust_roots); it is signed by the keys of roots n-1 and
-- n when written, so it stays servable after a key is retired. Never updated.
CREATE TABLE tuf_roots (
    repo TEXT NOT NULL REFERENCES repos (key),
    version BIGINT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (repo, version)
);

-- Per repo, the newest targets, snapshot and timestamp, written together. `version` (the
-- three roles' version) only grows: a new set is written with a conditional update on the
-- version it replaces.
CREATE TABLE tuf_metadata (
    repo TEXT PRIMARY KEY REFERENCES repos (key),
    version BIGINT NOT NULL,
    inputs_digest TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    targets_json TEXT NOT NULL,
    snapshot_json TEXT NOT NULL,
    timestamp_json TEXT NOT NULL
);

-- Finds the manifests signed since a time, so re-signing a repo's targets reads only the new
-- ones.
CREATE INDEX release_signatures_by_time ON release_signatures (signed_at);
