#!/usr/bin/env bash
# Runs docs/runbook.md: every ```sh block, in order, in one bash session (variables carry from
# block to block), against a real server started here, with the runbook's fixtures
# (./build, ./build.manifest.json, ./build-1.1.0, ./build-1.1.1) in a temporary directory.
#
#   RELREG_BIN=target/debug/relreg bash scripts/runbook-check.sh
#   RELREG_RUNBOOK_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test bash scripts/runbook-check.sh
#
# The second form runs it on PostgreSQL (a scratch database created and dropped here).
#
# Each block starts with comment lines that say what it is:
#   # runbook: ID         a block that runs (extra assertions below may follow it, by ID);
#   # backend: sqlite     runs on that backend only (sqlite or postgres);
#   # pending: FEATURE    a feature being built: the block is skipped with a loud message;
#   # test: NAME          a block this script cannot stage (e.g. a database outage): the test
#                         function NAME under tests/ runs it; the check fails if it is missing.
# A block with none of `runbook:`, `pending:` or `test:` fails the check, so no command in the
# runbook goes unrun by accident.
#
# Needs: jq, curl, python3, sqlite3 (SQLite) or psql + pg_dump + pg_restore (PostgreSQL).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNBOOK=$ROOT/docs/runbook.md
RELREG_BIN=${RELREG_BIN:-target/debug/relreg}
[[ $RELREG_BIN == /* ]] || RELREG_BIN=$ROOT/$RELREG_BIN
if [[ ! -x $RELREG_BIN ]]; then
  echo "==> building relreg ($RELREG_BIN is missing)"
  (cd "$ROOT" && cargo build --bin relreg)
  RELREG_BIN=$ROOT/target/debug/relreg
fi
BACKEND=sqlite
TOOLS="jq curl python3 sqlite3"
if [[ -n ${RELREG_RUNBOOK_POSTGRES_URL:-} ]]; then
  BACKEND=postgres
  TOOLS="jq curl python3 psql pg_dump pg_restore"
fi
for tool in $TOOLS; do
  command -v "$tool" >/dev/null || { echo "runbook-check: $tool is not on PATH" >&2; exit 1; }
done

WORK=$(mktemp -d)
SERVER_PID=
PGDB=
cleanup() {
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ -n $PGDB ]]; then
    psql -q "$RELREG_RUNBOOK_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $PGDB" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

# `relreg` on the PATH is the binary under test; client state stays in the work directory.
mkdir -p bin
ln -s "$RELREG_BIN" bin/relreg
export PATH=$WORK/bin:$PATH
export RELREG_CONFIG_DIR=$WORK/config RELREG_STATE_DIR=$WORK/state
unset RELREG_TOKEN RELREG_PROFILE RELREG_PROBE_URL
export RELREG_BLOB_DIR=$WORK/data/blobs
if [[ $BACKEND == postgres ]]; then
  PGDB=relreg_runbook_$$
  psql -q "$RELREG_RUNBOOK_POSTGRES_URL" -c "CREATE DATABASE $PGDB" >/dev/null
  export RELREG_DATABASE_URL=${RELREG_RUNBOOK_POSTGRES_URL%/*}/$PGDB
else
  export RELREG_DATABASE_URL=sqlite://$WORK/data/relreg.db
fi
mkdir -p "$WORK/data"

# The runbook's fixtures.
mkdir -p build/assets build-1.1.0 build-1.1.1
printf '{"app":"acme","build":1}\n' >build/app.json
head -c 200000 /dev/urandom >build/assets/bundle.bin
printf '{"edition":1}' >build.manifest.json
printf '{"app":"acme","build":2}\n' >build-1.1.0/app.json
printf '{"app":"acme","build":3}\n' >build-1.1.1/app.json

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
export RELREG_SERVER=http://127.0.0.1:$PORT
echo "==> runbook-check: relreg serve on $RELREG_SERVER ($BACKEND)"
relreg serve --listen "127.0.0.1:$PORT" >server.log 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -sf "$RELREG_SERVER/healthz" >/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat server.log >&2; echo "runbook-check: the server exited" >&2; exit 1; }
  sleep 0.1
done

# Assertions the check adds after a block (beyond the runbook's own `jq -e` checks).
after_block() {
  case $1 in
    bootstrap)
      cat <<'SH'
[[ $ADMIN_TOKEN == rr_* ]] || { echo "no admin token" >&2; false; }
SH
      ;;
    token-rotation)
      cat <<'SH'
rc=0; relreg --token "$CI_TOKEN" repo get acme >/dev/null 2>&1 || rc=$?
[[ $rc == 4 ]] || { echo "the revoked token answered exit $rc, expected 4" >&2; false; }
relreg --output json audit --action token.revoked | jq -e --arg id "$LEAKED_ID" 'any(.events[]; .target == $id)' >/dev/null
relreg --output json audit --actor "$LEAKED_ID" | jq -e 'any(.events[]; .action == "version.published")' >/dev/null
SH
      ;;
    backup-sqlite)
      cat <<'SH'
[[ $(sqlite3 "$BACKUP/relreg.db" "SELECT count(*) FROM tokens") -ge 3 ]] || { echo "the backup lacks tokens" >&2; false; }
diff -r "$RELREG_BLOB_DIR" "$BACKUP/blobs" >/dev/null
SH
      ;;
    backup-postgres)
      cat <<'SH'
pg_restore --list "$BACKUP/relreg.dump" >"$BACKUP/list.txt"
grep -q 'TABLE DATA public tokens' "$BACKUP/list.txt" || { echo "the dump lacks tokens" >&2; false; }
diff -r "$RELREG_BLOB_DIR" "$BACKUP/blobs" >/dev/null
SH
      ;;
  esac
}

# Turns the runbook's sh blocks into one script; prints "ran|pending|other-backend ID" lines
# to blocks.txt.
SCRIPT=$WORK/runbook.sh
python3 - "$RUNBOOK" "$BACKEND" >"$WORK/blocks.tsv" <<'PY'
import sys
path, backend = sys.argv[1], sys.argv[2]
lines = open(path).read().splitlines()
inside, start, block = False, 0, []
for n, line in enumerate(lines, 1):
    if not inside and line.strip() == "```sh":
        inside, start, block = True, n + 1, []
    elif inside and line.strip() == "```":
        inside = False
        meta = {}
        for l in block:
            if not l.startswith("# "):
                break
            key, _, value = l[2:].partition(":")
            if key in ("runbook", "pending", "backend", "test"):
                meta[key] = value.strip()
        body = "\n".join(block).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
        kind = ("pending" if "pending" in meta else "test" if "test" in meta
                else "run" if "runbook" in meta else "unmarked")
        if kind == "run" and meta.get("backend", backend) != backend:
            kind = "other-backend"
        print("\t".join([kind, str(start), meta.get("runbook") or meta.get("pending") or meta.get("test") or "-", body]))
    elif inside:
        block.append(line)
if inside:
    sys.exit(f"{path}: a ```sh block is not closed")
PY

{
  echo 'set -euo pipefail'
  echo 'trap '\''echo "runbook-check: FAILED in block $BLOCK (docs/runbook.md:$LINE), command: $BASH_COMMAND" >&2'\'' ERR'
} >"$SCRIPT"
RAN=0 PENDING=0 OTHER=0 TESTED=0
PENDING_LIST=()
while IFS=$'\t' read -r kind line id body; do
  case $kind in
    unmarked)
      echo "runbook-check: the sh block at docs/runbook.md:$line has no '# runbook: ID' or '# pending: FEATURE' line" >&2
      exit 1
      ;;
    pending)
      PENDING=$((PENDING + 1))
      PENDING_LIST+=("docs/runbook.md:$line pending: $id")
      ;;
    other-backend)
      OTHER=$((OTHER + 1))
      ;;
    test)
      if ! grep -rqE "fn $id\(" "$ROOT/tests"; then
        echo "runbook-check: the sh block at docs/runbook.md:$line names test $id, which is not under tests/" >&2
        exit 1
      fi
      TESTED=$((TESTED + 1))
      ;;
    run)
      RAN=$((RAN + 1))
      {
        printf 'BLOCK=%q LINE=%q\necho "==> runbook block %s (docs/runbook.md:%s)"\n' "$id" "$line" "$id" "$line"
        printf '%b\n' "$body"
        after_block "$id"
      } >>"$SCRIPT"
      ;;
  esac
done <"$WORK/blocks.tsv"

bash "$SCRIPT" || {
  echo "--- last server log lines ---" >&2
  tail -n 20 server.log >&2
  exit 1
}

if ((PENDING > 0)); then
  echo
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  echo "!!! runbook-check: $PENDING block(s) SKIPPED, their features are not built yet:"
  for p in "${PENDING_LIST[@]}"; do echo "!!!   $p"; done
  echo "!!! When a feature lands, replace its '# pending:' line by '# runbook: ID'."
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
fi
echo "runbook-check: $RAN block(s) ran on $BACKEND, $TESTED run by tests, $PENDING pending, $OTHER for the other backend"
