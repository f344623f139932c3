#!/usr/bin/env bash
# Budget: "Warm JSON latest vs nginx: wrk -t2 -c64 on loopback against nginx serving the same
# bytes as a static file (worker_processes 2; keepalive_requests 100000; access_log off;
# sendfile on), alternating rounds (>= 5): relreg >= 0.8x nginx."
#
# Seeds one published release through the JSON bridge, saves the exact bytes of
#   GET /v1/repos/bench/channels/stable/latest?app_version=1.2&platform=ios
# as a static file, checks that nginx answers 200 with those bytes, then runs wrk against
# relreg (cache on) and nginx in alternating rounds (the order flips every round), a warm-up
# run before each.
#
#   scripts/bench-latest-http.sh
#   RELREG_BIN=target/release/relreg BENCH_DURATION=10s BENCH_ROUNDS=5 scripts/bench-latest-http.sh
#
# Everything listens on and talks to 127.0.0.1. Prints per round req/s, latency, server CPU
# time per request and the load average, then the median ratio and PASS/FAIL; exits 0 either
# way unless the benchmark itself could not run. Installs wrk and nginx with apt-get when missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
ROUNDS=${BENCH_ROUNDS:-5}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
BUDGET=0.8

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

need_tools wrk:wrk nginx:nginx
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for tool in wrk curl jq cmp pgrep getconf; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH"
done
build_relreg

DIR=$(mktemp -d /tmp/bench-latest-http.XXXXXX)
RELREG_PID= NGINX_PID=
cleanup() {
    stop_pids "$NGINX_PID" "$RELREG_PID"
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Like nginx below (`access_log off`), relreg runs without its access log unless RUST_LOG
# says otherwise: RUST_LOG=info scripts/bench-latest-http.sh measures it with the log on.
export RUST_LOG=${RUST_LOG:-info,relreg::access=off}
say "relreg log filter: RUST_LOG=$RUST_LOG"
start_relreg "$DIR"
seed_latest

LATEST_PATH="/v1/repos/bench/channels/stable/latest?app_version=1.2&platform=ios"
RELREG_URL=$BASE$LATEST_PATH
mkdir -p "$DIR/www"
chmod 755 "$DIR" "$DIR/www" # nginx workers run as nobody when started by root
code=$(curl -sS -o "$DIR/www/latest.json" -w '%{http_code}' "$RELREG_URL")
[[ $code == 200 ]] || die "GET latest answered HTTP $code: $(cat "$DIR/www/latest.json")"
jq -e '.update.release.id' "$DIR/www/latest.json" >/dev/null ||
    die "GET latest did not answer an update: $(cat "$DIR/www/latest.json")"
chmod 644 "$DIR/www/latest.json"
BYTES=$(wc -c <"$DIR/www/latest.json")
say "GET latest answers $BYTES bytes: $(cat "$DIR/www/latest.json")"
say "relreg response headers:"
curl -sS -o /dev/null -D - "$RELREG_URL" | tr -d '\r' | sed 's/^/    /' >&2

# --- nginx -------------------------------------------------------------------------------
NGINX_PORT=$(free_port)
PREFIX=$DIR/nginx
mkdir -p "$PREFIX/tmp"
cat >"$PREFIX/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $PREFIX/nginx.pid;
error_log $PREFIX/error.log warn;
events { worker_connections 1024; }
http {
    types { application/json json; }
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log off;
    keepalive_requests 100000;
    client_body_temp_path $PREFIX/tmp/body;
    proxy_temp_path $PREFIX/tmp/proxy;
    fastcgi_temp_path $PREFIX/tmp/fastcgi;
    uwsgi_temp_path $PREFIX/tmp/uwsgi;
    scgi_temp_path $PREFIX/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $DIR/www;
    }
}
EOF
"$NGINX" -p "$PREFIX/" -c "$PREFIX/nginx.conf" -e "$PREFIX/error.log" >"$PREFIX/stdout.log" 2>&1 &
NGINX_PID=$!
NGINX_URL=http://127.0.0.1:$NGINX_PORT/latest.json
wait_port "$NGINX_PID" "$NGINX_PORT" "$PREFIX/error.log"
# A worker that cannot read the directory answers 403 fast: check status and bytes.
code=$(curl -sS -o "$DIR/check.json" -w '%{http_code}' "$NGINX_URL")
[[ $code == 200 ]] || { cat "$PREFIX/error.log" >&2; die "nginx answered HTTP $code"; }
cmp -s "$DIR/www/latest.json" "$DIR/check.json" || die "nginx serves other bytes"
curl -sS -o "$DIR/again.json" "$RELREG_URL"
cmp -s "$DIR/www/latest.json" "$DIR/again.json" || die "relreg answered other bytes the second time"
say "nginx (worker_processes 2) on :$NGINX_PORT serves the identical $BYTES bytes with HTTP 200"
say "nginx response headers:"
curl -sS -o /dev/null -D - "$NGINX_URL" | tr -d '\r' | sed 's/^/    /' >&2

# --- wrk ---------------------------------------------------------------------------------
run_wrk() { # run_wrk DURATION URL OUT
    timeout 300 wrk -t"$THREADS" -c"$CONNS" -d"$1" --timeout 2s --latency "$2" >"$3" 2>&1 ||
        { cat "$3" >&2; die "wrk failed against $2"; }
}
rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
lat_pct() { awk -v p="$2" '$1 == p {print $2; exit}' "$1"; }
errors() {
    awk '/Non-2xx/ {n += $NF} /Socket errors/ {for (i = 4; i <= NF; i += 2) {gsub(",", "", $i); n += $i}} END {print n + 0}' "$1"
}
server_pids() {
    case $1 in
        relreg) echo "$RELREG_PID" ;;
        nginx) echo "$NGINX_PID" $(pgrep -P "$NGINX_PID" || true) ;;
    esac
}
CLK_TCK=$(getconf CLK_TCK)

declare -a LINES=() RATIOS=() R_RELREG=() R_NGINX=() C_RELREG=() C_NGINX=()
for round in $(seq 1 "$ROUNDS"); do
    if ((round % 2)); then order=(relreg nginx); else order=(nginx relreg); fi
    declare -A R=()
    for target in "${order[@]}"; do
        if [[ $target == relreg ]]; then url=$RELREG_URL; else url=$NGINX_URL; fi
        out=$DIR/wrk-$target-$round.txt
        run_wrk "$WARMUP" "$url" "$out.warmup"
        pids=$(server_pids "$target")
        # shellcheck disable=SC2086
        ticks0=$(cpu_ticks $pids)
        run_wrk "$DURATION" "$url" "$out"
        # shellcheck disable=SC2086
        ticks1=$(cpu_ticks $pids)
        R[$target]=$(rps "$out")
        [[ -n ${R[$target]} ]] || { cat "$out" >&2; die "no req/s in the wrk output"; }
        errs=$(errors "$out")
        cpu_us=$(awk -v a="$ticks0" -v b="$ticks1" -v hz="$CLK_TCK" '/ requests in / {n = $1}
            END {printf "%.1f", (n > 0) ? (b - a) / hz * 1e6 / n : 0}' "$out")
        if [[ $target == relreg ]]; then C_RELREG+=("$cpu_us"); else C_NGINX+=("$cpu_us"); fi
        line=$(printf 'round %s %-6s %10s req/s  p50 %-8s p99 %-8s  server CPU %6s us/req  errors %s  load %s' \
            "$round" "$target" "${R[$target]}" "$(lat_pct "$out" 50%)" "$(lat_pct "$out" 99%)" \
            "$cpu_us" "$errs" "$(loadavg)")
        say "$line"
        LINES+=("$line")
        ((errs == 0)) || say "WARNING: $target answered $errs non-2xx/socket errors"
    done
    ratio=$(awk -v r="${R[relreg]}" -v n="${R[nginx]}" 'BEGIN {printf "%.2f", (n > 0) ? r / n : 0}')
    RATIOS+=("$ratio")
    R_RELREG+=("${R[relreg]}")
    R_NGINX+=("${R[nginx]}")
    LINES+=("round $round relreg / nginx = ${ratio}x")
    unset R
done

read -r med lo hi verdict < <(ratio_verdict "$BUDGET" "${RATIOS[@]}")
echo
echo "== warm GET latest over the JSON bridge vs nginx static file ($BYTES bytes), wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS alternating rounds, $(nproc) cores"
printf '%s\n' "${LINES[@]}"
echo "relreg median $(median "${R_RELREG[@]}") req/s, $(median "${C_RELREG[@]}") us server CPU/req;" \
    "nginx median $(median "${R_NGINX[@]}") req/s, $(median "${C_NGINX[@]}") us server CPU/req"
echo "budget warm JSON latest >= ${BUDGET}x nginx: median ratio ${med}x (rounds ${lo}-${hi}) => $verdict  (load $(loadavg))"
exit 0
