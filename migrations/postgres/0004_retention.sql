-- Retention tombstones. Keep in step with migrations/sqlite.
-- A removed version keeps its row (its version string stays unusable, its audit intact) but
-- loses its files and manifest; a removed release keeps its row but loses its artifacts.
ALTER TABLE versions ADD COLUMN removed_at BIGINT;
ALTER TABLE releases ADD COLUMN removed_at BIGINT;

-- Published versions stay immutable, except that removal may empty the manifest; a removed
-- version never changes again.
CREATE OR REPLACE FUNCTION relreg_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.state <> 'DRAFT' THEN
            RAISE EXCEPTION 'version immutable' USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF (OLD.state <> 'DRAFT' AND (
        NEW.state = 'DRAFT'
        OR (NEW.seq, NEW.repo, NEW.package, NEW.version, NEW.etag, NEW.content_digest,
            NEW.created_at, NEW.published_at)
           IS DISTINCT FROM
           (OLD.seq, OLD.repo, OLD.package, OLD.version, OLD.etag, OLD.content_digest,
            OLD.created_at, OLD.published_at)
        OR (NEW.manifest IS DISTINCT FROM OLD.manifest AND NEW.removed_at IS NULL)
    )) OR (OLD.removed_at IS NOT NULL AND (
        (NEW.removed_at, NEW.state, NEW.manifest)
        IS DISTINCT FROM (OLD.removed_at, OLD.state, OLD.manifest)
    )) THEN
        RAISE EXCEPTION 'version immutable' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;

-- The files of a removed version go with it.
CREATE OR REPLACE FUNCTION relreg_version_files_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND EXISTS (SELECT 1 FROM versions WHERE seq = OLD.version_seq AND state <> 'DRAFT') THEN
        RAISE EXCEPTION 'version immutable' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE'
       AND EXISTS (SELECT 1 FROM versions WHERE seq = OLD.version_seq AND state <> 'DRAFT'
                   AND removed_at IS NULL) THEN
        RAISE EXCEPTION 'version immutable' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE')
       AND EXISTS (SELECT 1 FROM versions WHERE seq = NEW.version_seq AND state <> 'DRAFT') THEN
        RAISE EXCEPTION 'version immutable' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;

CREATE INDEX release_artifacts_by_version ON release_artifacts (package, version);
