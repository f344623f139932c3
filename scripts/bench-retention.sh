#!/usr/bin/env bash
# How long a retention plan and run take on a large repo (SQLite): N versions of one package,
# each with one file, all yanked, and a policy keeping the newest 10, so N-10 versions go.
# Seeds the database with sqlite3 directly (the API would take minutes), then times
# `relreg retention plan` and `relreg retention run` through a running server.
#
#   RELREG_BIN=target/debug/relreg N=5000 bash scripts/bench-retention.sh
#
# Needs: sqlite3, curl, jq, python3.
set -euo pipefail

BIN=${RELREG_BIN:-target/release/relreg}
N=${N:-5000}
BIN=$(realpath "$BIN")
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
export RELREG_CONFIG_DIR=$WORK/config RELREG_STATE_DIR=$WORK/state
unset RELREG_PROFILE

DB=$WORK/relreg.db
"$BIN" migrate --database-url "sqlite://$DB" >/dev/null
TOKEN=$("$BIN" token bootstrap --database-url "sqlite://$DB" --blob-dir "$WORK/blobs" | tail -1)

sqlite3 "$DB" <<SQL
PRAGMA foreign_keys = ON;
INSERT INTO repos (key, public, display_name, created_at, policy)
  VALUES ('acme', 1, '', 0, '{"retention":{"keep_versions":10}}');
INSERT INTO packages (repo, name, kind, description, created_at) VALUES ('acme', 'app', 'generic', '', 0);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
INSERT INTO versions (repo, package, version, state, etag, manifest, created_at, updated_at)
  SELECT 'acme', 'app', '1.' || i || '.0', 'DRAFT', 'e', '{}', i, i FROM n;
INSERT INTO version_files (version_seq, path, digest, size, media_type)
  SELECT seq, 'data.bin', 'sha256:' || printf('%064d', seq), 1, '' FROM versions;
UPDATE versions SET state = 'YANKED', published_at = seq, content_digest = 'sha256:x';
SQL

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
"$BIN" serve --listen "127.0.0.1:$PORT" --database-url "sqlite://$DB" --blob-dir "$WORK/blobs" \
  >server.log 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  sleep 0.1
done
export RELREG_SERVER=http://127.0.0.1:$PORT RELREG_TOKEN=$TOKEN

timed() {
  local start end
  start=$(date +%s.%N)
  "$BIN" --output json "$@" >"$WORK/answer.json"
  end=$(date +%s.%N)
  python3 -c "print(f'{($end - $start) * 1000:.0f} ms')"
}
echo "versions: $N (all yanked), policy: keep the newest 10"
echo "retention plan: $(timed retention plan acme), $(jq '.removals | length' "$WORK/answer.json") would go"
echo "retention run:  $(timed retention run acme), $(jq '.removals | length' "$WORK/answer.json") removed"
echo "retention plan: $(timed retention plan acme) afterwards, $(jq '.removals | length // 0' "$WORK/answer.json") would go"
left=$(sqlite3 "$DB" "SELECT COUNT(*) FROM version_files")
audited=$(sqlite3 "$DB" "SELECT COUNT(*) FROM audit_events WHERE action = 'version.removed'")
echo "file rows left: $left, removals audited: $audited"
[[ $left == 10 && $audited == $((N - 10)) ]] || { echo "FAIL: unexpected outcome" >&2; exit 1; }
