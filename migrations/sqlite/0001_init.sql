-- relreg schema, SQLite dialect. Keep version numbers in step with migrations/postgres.
CREATE TABLE repos (
    key TEXT PRIMARY KEY,
    public BOOLEAN NOT NULL,
    display_name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE packages (
    repo TEXT NOT NULL REFERENCES repos (key),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repo, name)
);

CREATE TABLE versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    repo TEXT NOT NULL,
    package TEXT NOT NULL,
    version TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('DRAFT', 'PUBLISHED', 'DEPRECATED', 'YANKED')),
    etag TEXT NOT NULL,
    content_digest TEXT,
    manifest TEXT NOT NULL,
    deprecation_reason TEXT NOT NULL DEFAULT '',
    replacement TEXT NOT NULL DEFAULT '',
    yank_reason TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    published_at BIGINT,
    FOREIGN KEY (repo, package) REFERENCES packages (repo, name),
    UNIQUE (repo, package, version)
);

CREATE TABLE version_files (
    version_seq BIGINT NOT NULL REFERENCES versions (seq) ON DELETE CASCADE,
    path TEXT NOT NULL,
    digest TEXT NOT NULL,
    size BIGINT NOT NULL,
    media_type TEXT NOT NULL,
    PRIMARY KEY (version_seq, path)
);

CREATE TABLE blobs (
    digest TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE repo_blobs (
    repo TEXT NOT NULL REFERENCES repos (key),
    digest TEXT NOT NULL REFERENCES blobs (digest),
    media_type TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repo, digest)
);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    repo TEXT,
    role TEXT NOT NULL CHECK (role IN ('reader', 'publisher', 'admin')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);

CREATE INDEX tokens_by_repo ON tokens (repo, id);

CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    repo TEXT NOT NULL,
    target TEXT NOT NULL,
    details TEXT NOT NULL,
    request_id TEXT NOT NULL
);

CREATE INDEX audit_events_by_repo ON audit_events (repo, id);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    topic TEXT NOT NULL,
    repo TEXT NOT NULL,
    payload TEXT NOT NULL,
    delivered_at BIGINT
);

-- Published versions are immutable: only their state (never back to DRAFT) and the
-- deprecation and yank fields may change, and they cannot be deleted.
CREATE TRIGGER versions_immutable_update BEFORE UPDATE ON versions
WHEN OLD.state <> 'DRAFT' AND (
    NEW.state = 'DRAFT'
    OR NEW.seq IS NOT OLD.seq
    OR NEW.repo IS NOT OLD.repo
    OR NEW.package IS NOT OLD.package
    OR NEW.version IS NOT OLD.version
    OR NEW.etag IS NOT OLD.etag
    OR NEW.content_digest IS NOT OLD.content_digest
    OR NEW.manifest IS NOT OLD.manifest
    OR NEW.created_at IS NOT OLD.created_at
    OR NEW.published_at IS NOT OLD.published_at
)
BEGIN
    SELECT RAISE(ABORT, 'version immutable');
END;

CREATE TRIGGER versions_immutable_delete BEFORE DELETE ON versions
WHEN OLD.state <> 'DRAFT'
BEGIN
    SELECT RAISE(ABORT, 'version immutable');
END;

CREATE TRIGGER version_files_immutable_insert BEFORE INSERT ON version_files
WHEN (SELECT state FROM versions WHERE seq = NEW.version_seq) <> 'DRAFT'
BEGIN
    SELECT RAISE(ABORT, 'version immutable');
END;

CREATE TRIGGER version_files_immutable_update BEFORE UPDATE ON version_files
WHEN (SELECT state FROM versions WHERE seq = OLD.version_seq) <> 'DRAFT'
   OR (SELECT state FROM versions WHERE seq = NEW.version_seq) <> 'DRAFT'
BEGIN
    SELECT RAISE(ABORT, 'version immutable');
END;

CREATE TRIGGER version_files_immutable_delete BEFORE DELETE ON version_files
WHEN (SELECT state FROM versions WHERE seq = OLD.version_seq) <> 'DRAFT'
BEGIN
    SELECT RAISE(ABORT, 'version immutable');
END;
