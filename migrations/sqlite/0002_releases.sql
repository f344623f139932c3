-- Releases, channels and repo policies. Keep in step with migrations/postgres.
ALTER TABLE repos ADD COLUMN policy TEXT NOT NULL DEFAULT '{}';

CREATE TABLE channels (
    repo TEXT NOT NULL REFERENCES repos (key),
    channel TEXT NOT NULL,
    last_sequence BIGINT NOT NULL,
    PRIMARY KEY (repo, channel)
);

CREATE TABLE releases (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    repo TEXT NOT NULL REFERENCES repos (key),
    channel TEXT NOT NULL,
    version TEXT NOT NULL,
    -- Orders by semver precedence under a byte-wise comparison.
    sort_key TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('DRAFT', 'PUBLISHED', 'DEPRECATED')),
    etag TEXT NOT NULL,
    min_app_version TEXT NOT NULL,
    max_app_version TEXT NOT NULL,
    platforms TEXT NOT NULL,
    notes TEXT NOT NULL,
    mandatory BOOLEAN NOT NULL,
    sequence BIGINT,
    deprecation_reason TEXT NOT NULL DEFAULT '',
    replacement TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    published_at BIGINT,
    UNIQUE (repo, channel, version),
    UNIQUE (repo, channel, sequence)
);

CREATE INDEX releases_latest ON releases (repo, channel, state, sort_key);
CREATE INDEX releases_by_repo ON releases (repo, seq);

CREATE TABLE release_artifacts (
    release_seq BIGINT NOT NULL REFERENCES releases (seq) ON DELETE CASCADE,
    role TEXT NOT NULL,
    package TEXT NOT NULL,
    version TEXT NOT NULL,
    PRIMARY KEY (release_seq, role)
);
