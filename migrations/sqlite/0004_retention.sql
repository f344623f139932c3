-- Retention tombstones. Keep in step with migrations/postgres.
-- A removed version keeps its row (its version string stays unusable, its audit intact) but
-- loses its files and manifest; a removed release keeps its row but loses its artifacts.
ALTER TABLE versions ADD COLUMN removed_at BIGINT;
ALTER TABLE releases ADD COLUMN removed_at BIGINT;

-- Published versions stay immutable, except that removal may empty the manifest; a removed
-- version never changes again.
DROP TRIGGER versions_immutable_update;
CREATE TRIGGER versions_immutable_update BEFORE UPDATE ON versions
WHEN (OLD.state <> 'DRAFT' AND (
    NEW.state = 'DRAFT'
    OR NEW.seq IS NOT OLD.seq
    OR NEW.repo IS NOT OLD.repo
    OR NEW.package IS NOT OLD.package
    OR NEW.version IS NOT OLD.version
    OR NEW.etag IS NOT OLD.etag
    OR NEW.content_digest IS NOT OLD.content_digest
    OR (NEW.manifest IS NOT OLD.manifest AND NEW.removed_at IS NULL)
    OR NEW.created_at IS NOT OLD.created_at
    OR NEW.published_at IS NOT OLD.published_at
)) OR (OLD.removed_at IS NOT NULL AND (
    NEW.removed_at IS NOT OLD.removed_at
    OR NEW.state IS NOT OLD.state
    OR NEW.manifest IS NOT OLD.manifest
))
BEGIN
    SELECT RAISE(ABORT, 'version immutable');
END;

-- The files of a removed version go with it.
DROP TRIGGER version_files_immutable_delete;
CREATE TRIGGER version_files_immutable_delete BEFORE DELETE ON version_files
WHEN (SELECT state FROM versions WHERE seq = OLD.version_seq) <> 'DRAFT'
 AND (SELECT removed_at FROM versions WHERE seq = OLD.version_seq) IS NULL
BEGIN
    SELECT RAISE(ABORT, 'version immutable');
END;

CREATE INDEX release_artifacts_by_version ON release_artifacts (package, version);
