#!/usr/bin/env bash
# Budget: "Under a slowloris of 500 idle / slow-header connections, warm JSON latest
# throughput (wrk -t2 -c64) stays >= 0.8x of its unloaded figure, same server, same run."
#
# Seeds one published release through the JSON bridge (as scripts/bench-latest-http.sh),
# then runs wrk against GET latest in alternating rounds (>= 5; the order flips every round):
# "unloaded", and "loaded" while a python3 asyncio client holds BENCH_SLOW connections open
# (half send nothing, half send a header line every second and never finish), reconnecting
# each one the server closes, as a real slowloris does. A warm-up run precedes each run.
#
#   scripts/bench-slowloris.sh
#   RELREG_BIN=target/release/relreg BENCH_DURATION=10s BENCH_ROUNDS=5 BENCH_SLOW=500 scripts/bench-slowloris.sh
#
# Extra `relreg serve` flags go in BENCH_SERVE_FLAGS (e.g. "--header-read-timeout 10").
# Prints per round req/s, latency, how many slow connections were open (and how many the
# server had closed), then the median ratio and PASS/FAIL; exits 0 either way unless the
# benchmark itself could not run. Installs wrk with apt-get when missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
ROUNDS=${BENCH_ROUNDS:-5}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
SLOW=${BENCH_SLOW:-500}
BUDGET=0.8

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

need_tools wrk:wrk
for tool in wrk curl jq python3; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH"
done
build_relreg

DIR=$(mktemp -d /tmp/bench-slowloris.XXXXXX)
RELREG_PID= SLOW_PID=
cleanup() {
    stop_pids "$SLOW_PID" "$RELREG_PID"
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 500 slow connections plus wrk's need more descriptors than a default soft limit of 1024
# leaves for the connection cap; raise it for both when the hard limit allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# shellcheck disable=SC2086
start_relreg "$DIR" ${BENCH_SERVE_FLAGS:-}
seed_latest
URL="$BASE/v1/repos/bench/channels/stable/latest?app_version=1.2&platform=ios"
code=$(curl -sS -o "$DIR/latest.json" -w '%{http_code}' "$URL")
[[ $code == 200 ]] || die "GET latest answered HTTP $code"
say "GET latest answers $(wc -c <"$DIR/latest.json") bytes"

cat >"$DIR/slowloris.py" <<'PY'
import asyncio, sys, time
host, port, n, status = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
opened = closed = 0
live = 0

async def one(i):
    global opened, closed, live
    while True:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        opened += 1
        live += 1
        try:
            if i % 2:  # slow headers: a line every second, never the blank line
                writer.write(b"GET /v1/repos/bench HTTP/1.1\r\nHost: x\r\n")
                k = 0
                while True:
                    await writer.drain()
                    try:
                        if await asyncio.wait_for(reader.read(1024), 1.0) == b"":
                            break
                    except asyncio.TimeoutError:
                        pass
                    k += 1
                    writer.write(b"x-slow-%d: y\r\n" % k)
            else:  # idle: connect and send nothing
                while await reader.read(1024):
                    pass
        except OSError:
            pass
        finally:
            live -= 1
            closed += 1
            writer.close()

async def report():
    while True:
        with open(status, "w") as f:
            f.write(f"{live} {opened} {closed}\n")
        await asyncio.sleep(0.5)

async def main():
    await asyncio.gather(report(), *(one(i) for i in range(n)))

asyncio.run(main())
PY

start_slow() {
    python3 "$DIR/slowloris.py" 127.0.0.1 "$RELREG_PORT" "$SLOW" "$DIR/slow.status" 2>"$DIR/slow.log" &
    SLOW_PID=$!
    for _ in $(seq 100); do
        read -r live _ _ <"$DIR/slow.status" 2>/dev/null || live=0
        ((live >= SLOW)) && return
        kill -0 "$SLOW_PID" 2>/dev/null || { cat "$DIR/slow.log" >&2; die "the slowloris client exited"; }
        sleep 0.1
    done
    say "only ${live:-0} of $SLOW slow connections open after 10 s"
}
stop_slow() { stop_pids "$SLOW_PID"; SLOW_PID=; }

run_wrk() { # run_wrk DURATION OUT
    timeout 300 wrk -t"$THREADS" -c"$CONNS" -d"$1" --timeout 2s --latency "$URL" >"$2" 2>&1 ||
        { cat "$2" >&2; die "wrk failed"; }
}
rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
lat_pct() { awk -v p="$2" '$1 == p {print $2; exit}' "$1"; }
errors() {
    awk '/Non-2xx/ {n += $NF} /Socket errors/ {for (i = 4; i <= NF; i += 2) {gsub(",", "", $i); n += $i}} END {print n + 0}' "$1"
}

declare -a LINES=() RATIOS=() R_UN=() R_LO=()
for round in $(seq 1 "$ROUNDS"); do
    if ((round % 2)); then order=(unloaded loaded); else order=(loaded unloaded); fi
    declare -A R=()
    for phase in "${order[@]}"; do
        out=$DIR/wrk-$phase-$round.txt
        slow_info=
        [[ $phase == loaded ]] && start_slow
        run_wrk "$WARMUP" "$out.warmup"
        run_wrk "$DURATION" "$out"
        if [[ $phase == loaded ]]; then
            read -r live opened closed <"$DIR/slow.status"
            slow_info="slow conns open $live (opened $opened, closed by server $closed)"
            stop_slow
        fi
        R[$phase]=$(rps "$out")
        [[ -n ${R[$phase]} ]] || { cat "$out" >&2; die "no req/s in the wrk output"; }
        errs=$(errors "$out")
        line=$(printf 'round %s %-8s %10s req/s  p50 %-8s p99 %-8s errors %s  load %s  %s' \
            "$round" "$phase" "${R[$phase]}" "$(lat_pct "$out" 50%)" "$(lat_pct "$out" 99%)" \
            "$errs" "$(loadavg)" "$slow_info")
        say "$line"
        LINES+=("$line")
        ((errs == 0)) || say "WARNING: $errs non-2xx/socket errors in the $phase run"
    done
    ratio=$(awk -v l="${R[loaded]}" -v u="${R[unloaded]}" 'BEGIN {printf "%.2f", (u > 0) ? l / u : 0}')
    RATIOS+=("$ratio")
    R_UN+=("${R[unloaded]}")
    R_LO+=("${R[loaded]}")
    LINES+=("round $round loaded / unloaded = ${ratio}x")
    unset R
done

read -r med lo hi verdict < <(ratio_verdict "$BUDGET" "${RATIOS[@]}")
echo
echo "== warm GET latest over the JSON bridge, unloaded vs under $SLOW slowloris connections, wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS alternating rounds, $(nproc) cores"
printf '%s\n' "${LINES[@]}"
echo "unloaded median $(median "${R_UN[@]}") req/s; loaded median $(median "${R_LO[@]}") req/s"
echo "budget loaded >= ${BUDGET}x unloaded: median ratio ${med}x (rounds ${lo}-${hi}) => $verdict  (load $(loadavg))"
exit 0
