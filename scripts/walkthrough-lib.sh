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
for tool in grpcurl jq curl python3 sha256sum base64; do
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

