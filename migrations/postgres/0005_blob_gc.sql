-- Blob garbage collection (mark and sweep). A mark pass sets `unreferenced_since` (unix
-- microseconds) on every blob no version file names and clears it on every one named again;
-- attaching a blob to a draft clears it in the attaching transaction. The sweep deletes only
-- blobs marked before now minus the grace period, re-checking in its own transaction that no
-- version file names them. Online-safe: a nullable column and two indexes, nothing the
-- previous release reads or writes changes meaning. Keep in step with migrations/sqlite.
ALTER TABLE blobs ADD COLUMN unreferenced_since BIGINT;

CREATE INDEX version_files_by_digest ON version_files (digest);

CREATE INDEX blobs_unreferenced ON blobs (unreferenced_since);
