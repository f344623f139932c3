#!/usr/bin/env bash
# Budgets of issue 12 (events), on one server over SQLite on 127.0.0.1:
#   - a webhook receiver on loopback gets a publish in <= 1 s p99 (side by side: a
#     WatchReleases stream on the same publishes, and the publish call's own round trip);
#   - 1,000 concurrent WatchReleases streams: RSS growth < 100 MiB (baseline: the RSS before
#     them), and one publish reaches all of them within 1 s.
# The cross-server figure (<= 100 ms p99 over LISTEN/NOTIFY) needs the `multi` branch.
#
#   scripts/bench-events.sh
#   STREAMS=1000 PUBLISHES=200 RELREG_BIN=target/debug/relreg scripts/bench-events.sh
#
# The driver is examples/events_bench.rs (built in the dev profile unless BENCH_PROFILE=release).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
STREAMS=${STREAMS:-1000}
PUBLISHES=${PUBLISHES:-200}
PROFILE=${BENCH_PROFILE:-dev}

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

for tool in curl; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH"
done
if [[ $PROFILE == release ]]; then
    build_relreg
    cargo build --release --example events_bench
    DRIVER=${CARGO_TARGET_DIR:-target}/release/examples/events_bench
else
    cargo build --bin relreg --example events_bench
    RELREG_BIN=${RELREG_BIN:-${CARGO_TARGET_DIR:-target}/debug/relreg}
    RELREG_BIN=$(cd "$(dirname "$RELREG_BIN")" && pwd)/$(basename "$RELREG_BIN")
    DRIVER=${CARGO_TARGET_DIR:-target}/debug/examples/events_bench
fi

DIR=$(mktemp -d /tmp/bench-events.XXXXXX)
RELREG_PID=
cleanup() {
    [[ -n $RELREG_PID ]] && kill "$RELREG_PID" 2>/dev/null && wait "$RELREG_PID" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true

start_relreg "$DIR" --webhook-allow-private --watch-heartbeat 1
say "load average before: $(loadavg)"
"$DRIVER" "$BASE" "$TOKEN" "$RELREG_PID" "$STREAMS" "$PUBLISHES"
say "load average after: $(loadavg)"
