#!/usr/bin/env bash
# Budget (issue 11): "Warm GetLatestRelease with a client_id and an active rollout >= 0.9x the
# same call without a rollout, measured side by side."
#
# Seeds two channels of public repo bench through the JSON bridge: `stable` with release
# 1.0.0 only (no rollout), and `canary` with 1.0.0 and 2.0.0, 2.0.0 under an active 50%
# rollout. Both requests carry the same client_id (app 1.2 on ios), so the only difference is
# the cohort decision (sha256 of salt and client id, a comparison) on the cached plan. Checks
# each answers grpc-status 0 with a release, then runs h2load against the two in alternating
# rounds (the order flips every round), a warm-up before each.
#
#   scripts/bench-rollout-grpc.sh
#   RELREG_BIN=target/release/relreg BENCH_DURATION=10 BENCH_ROUNDS=5 scripts/bench-rollout-grpc.sh
#
# Prints per round req/s and server CPU time per request, then the median ratio and
# PASS/FAIL; exits 0 either way unless the benchmark itself could not run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
ROUNDS=${BENCH_ROUNDS:-5}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
STREAMS=${BENCH_STREAMS:-10}
BUDGET=0.9

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

need_tools nghttp2-client:h2load
for tool in h2load curl jq python3 getconf; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH"
done
build_relreg

work_dir bench-rollout-grpc

start_relreg "$DIR"
seed_latest
# canary: 1.0.0 for everyone, 2.0.0 rolled out to 50%.
release_in() { # release_in CHANNEL VERSION: creates, attaches, publishes; prints the id
    local id
    id=$(api POST /v1/repos/bench/releases \
        "{\"channel\":\"$1\",\"version\":\"$2\",\"minAppVersion\":\"1.0\"}" | jq -r '.release.id')
    api PUT "/v1/releases/$id/artifacts/data" '{"package":"app","version":"1.0.0"}' >/dev/null
    api POST "/v1/releases/$id:publish" '{}' >/dev/null
    echo "$id"
}
release_in canary 1.0.0 >/dev/null
ROLLED=$(release_in canary 2.0.0)
api POST "/v1/releases/$ROLLED/rollout" '{"bps":5000}' | jq -e '.rollout.state == "active"' >/dev/null ||
    die "SetRollout did not start an active rollout"

python3 - "$DIR" <<'EOF'
import struct, sys

def field(number, text):
    data = text.encode()
    assert len(data) < 128
    return bytes([number << 3 | 2, len(data)]) + data

def frame(message):
    return b"\0" + struct.pack(">I", len(message)) + message

for channel in ("stable", "canary"):
    m = (field(1, "bench") + field(2, channel) + field(3, "1.2") + field(4, "ios")
         + field(6, "bench-device-0001"))
    open(f"{sys.argv[1]}/{channel}.bin", "wb").write(frame(m))
EOF

URL=$BASE/relreg.v1.ReleaseCatalog/GetLatestRelease
HEADERS=(-H 'content-type: application/grpc' -H 'te: trailers')
check_call() { # check_call NAME: one call with curl; dies unless grpc-status 0 and a message
    local name=$1 headers
    curl -sS --http2-prior-knowledge "${HEADERS[@]}" --data-binary "@$DIR/$name.bin" \
        -D "$DIR/$name.headers" -o "$DIR/$name.out" "$URL" || die "$name: curl failed"
    headers=$(tr -d '\r' <"$DIR/$name.headers")
    grep -qi '^grpc-status: 0$' <<<"$headers" || die "$name did not answer grpc-status 0: $headers"
    [[ $(wc -c <"$DIR/$name.out") -gt 5 ]] || die "$name answered an empty message"
}
check_call stable
check_call canary
say "both channels answer grpc-status 0 with a release; canary's rollout is active at 50%"

run_h2load() {
    timeout 300 h2load -t"$THREADS" -c"$CONNS" -m"$STREAMS" -D"$1" "${HEADERS[@]}" -d "$2" "$URL" >"$3" 2>&1 ||
        { cat "$3" >&2; die "h2load failed"; }
}
rps() { awk '/^finished in/ {for (i = 1; i <= NF; i++) if ($i ~ /req\/s/) {gsub(",", "", $(i - 1)); print $(i - 1)}}' "$1"; }
failed() {
    awk '/^requests:/ {for (i = 1; i <= NF; i++) if ($i ~ /^(failed|errored|timeout),?$/) n += $(i - 1)}
        /^status codes:/ {for (i = 3; i <= NF; i++) if ($i ~ /^[345]xx,?$/) n += $(i - 1)}
        END {print n + 0}' "$1"
}
done_reqs() { awk '/^requests:/ {for (i = 1; i <= NF; i++) if ($i ~ /^succeeded,?$/) print $(i - 1)}' "$1"; }
CLK_TCK=$(getconf CLK_TCK)

declare -a LINES=() RATIOS=() R_ROLL=() R_BASE=() C_ROLL=() C_BASE=()
for round in $(seq 1 "$ROUNDS"); do
    if ((round % 2)); then order=(canary stable); else order=(stable canary); fi
    declare -A R=()
    for ch in "${order[@]}"; do
        out=$DIR/h2load-$ch-$round.txt
        run_h2load "$WARMUP" "$DIR/$ch.bin" "$out.warmup"
        ticks0=$(cpu_ticks "$RELREG_PID")
        run_h2load "$DURATION" "$DIR/$ch.bin" "$out"
        ticks1=$(cpu_ticks "$RELREG_PID")
        R[$ch]=$(rps "$out")
        [[ -n ${R[$ch]} ]] || { cat "$out" >&2; die "no req/s in the h2load output"; }
        errs=$(failed "$out")
        cpu_us=$(awk -v a="$ticks0" -v b="$ticks1" -v hz="$CLK_TCK" -v n="$(done_reqs "$out")" \
            'BEGIN {printf "%.1f", (n > 0) ? (b - a) / hz * 1e6 / n : 0}')
        if [[ $ch == canary ]]; then C_ROLL+=("$cpu_us"); else C_BASE+=("$cpu_us"); fi
        line=$(printf 'round %s %-7s %10s req/s  server CPU %6s us/req  failed %s  load %s' \
            "$round" "$ch" "${R[$ch]}" "$cpu_us" "$errs" "$(loadavg)")
        say "$line"
        LINES+=("$line")
    done
    ratio=$(awk -v r="${R[canary]}" -v b="${R[stable]}" 'BEGIN {printf "%.2f", (b > 0) ? r / b : 0}')
    RATIOS+=("$ratio")
    R_ROLL+=("${R[canary]}")
    R_BASE+=("${R[stable]}")
    LINES+=("round $round rollout / no rollout = ${ratio}x")
    unset R
done

read -r med lo hi verdict < <(ratio_verdict "$BUDGET" "${RATIOS[@]}")
echo
echo "== warm gRPC GetLatestRelease with client_id: canary (active 50% rollout) vs stable (none), h2load -t$THREADS -c$CONNS -m$STREAMS -D$DURATION, $ROUNDS alternating rounds, $(nproc) cores, $RELREG_BIN"
printf '%s\n' "${LINES[@]}"
echo "with rollout median $(median "${R_ROLL[@]}") req/s, $(median "${C_ROLL[@]}") us server CPU/req;" \
    "without median $(median "${R_BASE[@]}") req/s, $(median "${C_BASE[@]}") us server CPU/req"
echo "budget rollout >= ${BUDGET}x no rollout: median ratio ${med}x (rounds ${lo}-${hi}) => $verdict  (load $(loadavg))"
exit 0
