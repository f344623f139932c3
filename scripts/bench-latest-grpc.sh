#!/usr/bin/env bash
# Budget: "Warm gRPC: h2load -c64 -m10: GetLatestRelease >= 0.8x grpc.health.v1.Health/Check
# on the same server."
#
# Seeds one published release through the JSON bridge, writes the length-prefixed gRPC request
# bodies (GetLatestRelease for app 1.2 on ios in bench/stable, and an empty HealthCheckRequest),
# checks that each call answers grpc-status 0 with a message, then runs h2load against the two
# RPCs of the same relreg (cache on) in alternating rounds (the order flips every round), a
# warm-up before each.
#
#   scripts/bench-latest-grpc.sh
#   RELREG_BIN=target/release/relreg BENCH_DURATION=10 BENCH_ROUNDS=5 scripts/bench-latest-grpc.sh
#
# Everything listens on and talks to 127.0.0.1. Prints per round req/s, server CPU time per
# request and the load average, then the median ratio and PASS/FAIL; exits 0 either way unless
# the benchmark itself could not run. Installs h2load (nghttp2-client) with apt-get when missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
ROUNDS=${BENCH_ROUNDS:-5}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
STREAMS=${BENCH_STREAMS:-10}
BUDGET=0.8

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

need_tools nghttp2-client:h2load
for tool in h2load curl jq python3 getconf; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH"
done
build_relreg

work_dir bench-latest-grpc

start_relreg "$DIR"
seed_latest

# gRPC frames: a 0 (not compressed), the message length (4 bytes, big-endian), the message.
python3 - "$DIR" <<'EOF'
import struct, sys

def field(number, text):
    data = text.encode()
    assert len(data) < 128
    return bytes([number << 3 | 2, len(data)]) + data

def frame(message):
    return b"\0" + struct.pack(">I", len(message)) + message

latest = field(1, "bench") + field(2, "stable") + field(3, "1.2") + field(4, "ios")
open(sys.argv[1] + "/latest.bin", "wb").write(frame(latest))
open(sys.argv[1] + "/health.bin", "wb").write(frame(b""))
EOF

LATEST_URL=$BASE/relreg.v1.ReleaseCatalog/GetLatestRelease
HEALTH_URL=$BASE/grpc.health.v1.Health/Check
HEADERS=(-H 'content-type: application/grpc' -H 'te: trailers')

# check_call URL BODY NAME: one call with curl; dies unless it answers grpc-status 0 and a
# message; prints the response size.
check_call() {
    local url=$1 body=$2 name=$3 headers
    curl -sS --http2-prior-knowledge "${HEADERS[@]}" --data-binary "@$body" \
        -D "$DIR/$name.headers" -o "$DIR/$name.out" "$url" ||
        die "$name: curl failed"
    headers=$(tr -d '\r' <"$DIR/$name.headers")
    grep -qi '^grpc-status: 0$' <<<"$headers" ||
        die "$name did not answer grpc-status 0: $headers"
    [[ $(wc -c <"$DIR/$name.out") -gt 5 || $name == health ]] ||
        die "$name answered an empty message"
    wc -c <"$DIR/$name.out"
}
latest_bytes=$(check_call "$LATEST_URL" "$DIR/latest.bin" latest)
grep -q "$RELEASE_ID" "$DIR/latest.out" || die "GetLatestRelease did not offer $RELEASE_ID"
health_bytes=$(check_call "$HEALTH_URL" "$DIR/health.bin" health)
say "GetLatestRelease answers $latest_bytes bytes offering $RELEASE_ID; Health/Check $health_bytes bytes; both grpc-status 0"

# run_h2load SECONDS URL BODY OUT
run_h2load() {
    timeout 300 h2load -t"$THREADS" -c"$CONNS" -m"$STREAMS" -D"$1" "${HEADERS[@]}" -d "$3" "$2" >"$4" 2>&1 ||
        { cat "$4" >&2; die "h2load failed against $2"; }
}
rps() { awk '/^finished in/ {for (i = 1; i <= NF; i++) if ($i ~ /req\/s/) {gsub(",", "", $(i - 1)); print $(i - 1)}}' "$1"; }
# Failed, errored and timed-out requests, and answers with an HTTP status other than 2xx.
failed() {
    awk '/^requests:/ {for (i = 1; i <= NF; i++) if ($i ~ /^(failed|errored|timeout),?$/) n += $(i - 1)}
        /^status codes:/ {for (i = 3; i <= NF; i++) if ($i ~ /^[345]xx,?$/) n += $(i - 1)}
        END {print n + 0}' "$1"
}
done_reqs() { awk '/^requests:/ {for (i = 1; i <= NF; i++) if ($i ~ /^succeeded,?$/) print $(i - 1)}' "$1"; }
CLK_TCK=$(getconf CLK_TCK)

declare -a LINES=() RATIOS=() R_LATEST=() R_HEALTH=() C_LATEST=() C_HEALTH=()
for round in $(seq 1 "$ROUNDS"); do
    if ((round % 2)); then order=(latest health); else order=(health latest); fi
    declare -A R=()
    for rpc in "${order[@]}"; do
        if [[ $rpc == latest ]]; then url=$LATEST_URL; else url=$HEALTH_URL; fi
        out=$DIR/h2load-$rpc-$round.txt
        run_h2load "$WARMUP" "$url" "$DIR/$rpc.bin" "$out.warmup"
        ticks0=$(cpu_ticks "$RELREG_PID")
        run_h2load "$DURATION" "$url" "$DIR/$rpc.bin" "$out"
        ticks1=$(cpu_ticks "$RELREG_PID")
        R[$rpc]=$(rps "$out")
        [[ -n ${R[$rpc]} ]] || { cat "$out" >&2; die "no req/s in the h2load output"; }
        errs=$(failed "$out")
        cpu_us=$(awk -v a="$ticks0" -v b="$ticks1" -v hz="$CLK_TCK" -v n="$(done_reqs "$out")" \
            'BEGIN {printf "%.1f", (n > 0) ? (b - a) / hz * 1e6 / n : 0}')
        if [[ $rpc == latest ]]; then C_LATEST+=("$cpu_us"); else C_HEALTH+=("$cpu_us"); fi
        line=$(printf 'round %s %-7s %10s req/s  server CPU %6s us/req  failed %s  load %s' \
            "$round" "$rpc" "${R[$rpc]}" "$cpu_us" "$errs" "$(loadavg)")
        say "$line"
        LINES+=("$line")
        ((errs == 0)) || say "WARNING: $rpc: $errs requests failed"
    done
    ratio=$(awk -v l="${R[latest]}" -v h="${R[health]}" 'BEGIN {printf "%.2f", (h > 0) ? l / h : 0}')
    RATIOS+=("$ratio")
    R_LATEST+=("${R[latest]}")
    R_HEALTH+=("${R[health]}")
    LINES+=("round $round GetLatestRelease / Health.Check = ${ratio}x")
    unset R
done

read -r med lo hi verdict < <(ratio_verdict "$BUDGET" "${RATIOS[@]}")
echo
echo "== warm gRPC GetLatestRelease vs grpc.health.v1.Health/Check, same relreg, h2load -t$THREADS -c$CONNS -m$STREAMS -D$DURATION, $ROUNDS alternating rounds, $(nproc) cores"
printf '%s\n' "${LINES[@]}"
echo "GetLatestRelease median $(median "${R_LATEST[@]}") req/s, $(median "${C_LATEST[@]}") us server CPU/req;" \
    "Health/Check median $(median "${R_HEALTH[@]}") req/s, $(median "${C_HEALTH[@]}") us server CPU/req"
echo "budget warm gRPC latest >= ${BUDGET}x Health/Check: median ratio ${med}x (rounds ${lo}-${hi}) => $verdict  (load $(loadavg))"
exit 0
