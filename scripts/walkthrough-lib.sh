# Shared set-up of the grpcurl walkthroughs (sourced, not run): finds or builds relreg, checks
# the tools, works in a temporary directory that is removed on exit, picks a free port, and
# defines step/fail/expect/body. The sourcing script sets NAME for its messages.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RELREG_BIN=${RELREG_BIN:-target/debug/relreg}
case $RELREG_BIN in
  /*) ;;
  */*) RELREG_BIN="$ROOT/$RELREG_BIN" ;;
  *) RELREG_BIN=$(command -v "$RELREG_BIN" || echo "$ROOT/$RELREG_BIN") ;;
esac
if [[ ! -x $RELREG_BIN ]]; then
  echo "==> building relreg ($RELREG_BIN is missing)"
  (cd "$ROOT" && cargo build --bin relreg)
fi
for tool in ${WALKTHROUGH_TOOLS:-grpcurl jq curl python3 sha256sum base64}; do
  command -v "$tool" >/dev/null || { echo "$NAME: $tool is not on PATH" >&2; exit 1; }
done

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

STEPS=0
step() {
  STEPS=$((STEPS + 1))
  echo "==> $STEPS. $*"
}
fail() {
  echo "$NAME: FAILED in step $STEPS: $*" >&2
  if [[ -s server.log ]]; then
    echo "--- last server log lines ---" >&2
    tail -n 20 server.log >&2
  fi
  exit 1
}
# expect JQ_FILTER DESCRIPTION [jq args…] <<<"$json": fails unless the filter yields true.
expect() {
  local filter=$1 what=$2 input
  shift 2
  input=$(cat)
  if ! jq -e "$@" "$filter" >/dev/null <<<"$input"; then
    echo "$input" >&2
    fail "expected $what (jq: $filter)"
  fi
}
# body [jq args…] FILTER: builds a request body with jq.
body() { jq -nc "$@"; }

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
ADDR=127.0.0.1:$PORT
BASE=http://$ADDR

# call SERVICE/METHOD JSON [grpcurl flags…]: prints the answer; fails the script on an error.
call() {
  local method=$1 body=$2
  shift 2
  local out
  if ! out=$(grpcurl -plaintext -H "authorization: Bearer $TOKEN" "$@" -d "$body" "$ADDR" "relreg.v1.$method" 2>&1); then
    echo "$out" >&2
    fail "$method $body failed"
  fi
  printf '%s\n' "$out"
}
# call_err SERVICE/METHOD JSON CODE REASON [grpcurl flags…]: the call must fail with the
# given gRPC code (grpcurl's spelling, e.g. FailedPrecondition) and ErrorInfo reason
# (REASON may be empty when the error carries none).
call_err() {
  local method=$1 body=$2 code=$3 reason=$4
  shift 4
  local out
  if out=$(grpcurl -plaintext "$@" -d "$body" "$ADDR" "relreg.v1.$method" 2>&1); then
    echo "$out" >&2
    fail "$method $body succeeded; expected $code $reason"
  fi
  grep -q "Code: $code" <<<"$out" || { echo "$out" >&2; fail "$method: expected code $code"; }
  if [[ -n $reason ]]; then
    grep -q "\"$reason\"" <<<"$out" || { echo "$out" >&2; fail "$method: expected reason $reason"; }
  fi
  echo "    (failed as expected: $code${reason:+ $reason})"
}
ADMIN=ReleaseAdmin
CATALOG=ReleaseCatalog

# start_relreg: bootstraps an admin token offline ($TOKEN, $AUTH), then starts the server and
# waits until it is ready. With RELREG_SMOKE_SERVER (a base URL) and RELREG_SMOKE_TOKEN (an
# admin token) set, it uses that running server instead (scripts/image-check.sh: a container).
start_relreg() {
  if [[ -n ${RELREG_SMOKE_SERVER:-} ]]; then
    step "use the running server $RELREG_SMOKE_SERVER"
    BASE=${RELREG_SMOKE_SERVER%/} ADDR=${BASE#*://} TOKEN=${RELREG_SMOKE_TOKEN:?RELREG_SMOKE_TOKEN is not set}
    AUTH=(-H "authorization: Bearer $TOKEN")
    curl -sf "$BASE/readyz" >/dev/null || fail "$BASE/readyz does not answer 200"
    return
  fi
  step "bootstrap an admin token offline (writes ./data/relreg.db)"
  TOKEN=$("$RELREG_BIN" token bootstrap | tail -1)
  [[ -n $TOKEN ]] || fail "token bootstrap printed no token"
  AUTH=(-H "authorization: Bearer $TOKEN")

  echo "==> starting relreg serve on $ADDR"
  "$RELREG_BIN" serve --listen "$ADDR" >server.log 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    curl -sf "$BASE/readyz" >/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited"
    sleep 0.1
  done
  curl -sf "$BASE/readyz" >/dev/null || fail "the server did not become ready"
}
