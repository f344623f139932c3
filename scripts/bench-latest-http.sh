#!/usr/bin/env bash
# Budget: "GET latest over the JSON bridge, warm: throughput within 2x of nginx serving the
# same bytes as a static file, with wrk (Debian) on loopback, measured in the same run."
#
# Seeds one published release through the JSON bridge, saves the exact bytes of
#   GET /v1/repos/bench/channels/stable/latest?app_version=1.2&platform=ios
# as a static file, serves it with nginx (worker_processes 1 and auto, two instances), and
# runs the same wrk load against relreg and both nginx instances, a warm-up run first each.
#
#   scripts/bench-latest-http.sh
#   RELREG_BIN=target/release/relreg BENCH_DURATION=10s BENCH_LOADS="1:32 2:64" scripts/bench-latest-http.sh
#
# Everything listens on and talks to 127.0.0.1. Prints req/s, latency and server CPU time per
# request for each target, and a PASS/FAIL per load (relreg req/s >= nginx req/s / 2); exits 0
# either way, unless the benchmark itself could not run. On a loaded machine req/s is noisy:
# compare the CPU-per-request column too (`uptime` is printed before and after). Installs wrk and nginx with apt-get when they are missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-3s}
# Loads as THREADS:CONNECTIONS.
LOADS=${BENCH_LOADS:-1:32 2:64}
BUILD_TIMEOUT=${BENCH_BUILD_TIMEOUT_SECS:-1800}

# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"
die() { printf 'bench-latest-http: %s\n' "$*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------------------
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
if ((${#missing[@]})); then
  say "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get install -y wrk nginx >/dev/null ||
    { timeout 300 apt-get update >/dev/null && timeout 600 apt-get install -y wrk nginx >/dev/null; } ||
    die "could not install wrk and nginx"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for tool in wrk curl jq python3 cmp pgrep getconf; do
  command -v "$tool" >/dev/null || die "$tool is not on PATH"
done

# --- relreg ------------------------------------------------------------------------------
if [[ -z ${RELREG_BIN:-} ]]; then
  say "building relreg (release)"
  (cd "$ROOT" && timeout "$BUILD_TIMEOUT" cargo build --release --bin relreg) ||
    die "cargo build --release failed"
  RELREG_BIN=$ROOT/target/release/relreg
fi
[[ -x $RELREG_BIN ]] || die "$RELREG_BIN is not executable"

DIR=$(mktemp -d /tmp/bench-latest-http.XXXXXX)
RELREG_PID=
NGINX_PIDS=()
cleanup() {
  stop_pids "${NGINX_PIDS[@]}" "$RELREG_PID"
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
DB=(--database-url "sqlite://$DIR/relreg.db" --blob-dir "$DIR/blobs")

TOKEN=$("$RELREG_BIN" token bootstrap "${DB[@]}" 2>"$DIR/token.log" | tail -1)
[[ -n $TOKEN ]] || { cat "$DIR/token.log" >&2; die "token bootstrap printed no token"; }

say "starting relreg on 127.0.0.1:$PORT"
"$RELREG_BIN" serve --listen "127.0.0.1:$PORT" "${DB[@]}" >"$DIR/relreg.log" 2>&1 &
RELREG_PID=$!
for _ in $(seq 1 100); do
  curl -sf "$BASE/readyz" >/dev/null && break
  kill -0 "$RELREG_PID" 2>/dev/null || { tail -20 "$DIR/relreg.log" >&2; die "relreg exited"; }
  sleep 0.1
done
curl -sf "$BASE/readyz" >/dev/null || die "relreg did not become ready"

# api METHOD PATH JSON: calls the JSON bridge as admin; prints the answer, dies on non-2xx.
api() {
  local method=$1 path=$2 body=$3 out code
  out=$(curl -sS -X "$method" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data "$body" -w '\n%{http_code}' "$BASE$path") || die "$method $path: curl failed"
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  [[ $code == 2?? ]] || die "$method $path $body answered HTTP $code: $out"
  printf '%s\n' "$out"
}

say "seeding through the JSON bridge"
api POST /v1/repos '{"repo":"bench","public":true}' >/dev/null
api POST /v1/repos/bench/packages '{"package":"app"}' >/dev/null
api POST /v1/repos/bench/packages/app/versions '{"version":"1.0.0"}' >/dev/null
api POST /v1/repos/bench/packages/app/versions/1.0.0:publish '{}' >/dev/null
RELEASE_ID=$(api POST /v1/repos/bench/releases '{"channel":"stable","version":"1.0.0","minAppVersion":"1.0"}' | jq -r '.release.id')
[[ -n $RELEASE_ID && $RELEASE_ID != null ]] || die "CreateRelease answered no release id"
api PUT "/v1/releases/$RELEASE_ID/artifacts/data" '{"package":"app","version":"1.0.0"}' >/dev/null
api POST "/v1/releases/$RELEASE_ID:publish" '{}' >/dev/null

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
# start_nginx NAME WORKER_PROCESSES: starts a private nginx serving $DIR/www; sets NGINX_PORT.
start_nginx() {
  local name=$1 workers=$2 port prefix
  port=$(free_port)
  prefix=$DIR/nginx-$name
  mkdir -p "$prefix/tmp"
  cat >"$prefix/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes $workers;
pid $prefix/nginx.pid;
error_log $prefix/error.log warn;
events { worker_connections 1024; }
http {
    types { application/json json; }
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    server {
        listen 127.0.0.1:$port;
        root $DIR/www;
    }
}
EOF
  "$NGINX" -p "$prefix/" -c "$prefix/nginx.conf" -e "$prefix/error.log" >"$prefix/stdout.log" 2>&1 &
  NGINX_PIDS+=($!)
  for _ in $(seq 1 50); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/latest.json" && break
    sleep 0.1
  done
  curl -sf -o "$DIR/check-$name.json" "http://127.0.0.1:$port/latest.json" ||
    { cat "$prefix/error.log" "$prefix/stdout.log" >&2; die "nginx ($name) is not serving"; }
  cmp -s "$DIR/www/latest.json" "$DIR/check-$name.json" || die "nginx ($name) serves other bytes"
  NGINX_PORT=$port
}
# Both instances run throughout; the idle one costs nothing.
start_nginx w1 1
NGINX1_PORT=$NGINX_PORT
start_nginx auto auto
NGINXA_PORT=$NGINX_PORT
NGINX1_URL=http://127.0.0.1:$NGINX1_PORT/latest.json
NGINXA_URL=http://127.0.0.1:$NGINXA_PORT/latest.json
curl -sS -o "$DIR/again.json" "$RELREG_URL"
cmp -s "$DIR/www/latest.json" "$DIR/again.json" || die "relreg answered other bytes the second time"
say "nginx (worker_processes 1) on :$NGINX1_PORT and (auto = $(nproc) workers) on :$NGINXA_PORT serve identical bytes"
say "nginx response headers:"
curl -sS -o /dev/null -D - "$NGINX1_URL" | tr -d '\r' | sed 's/^/    /' >&2

# --- wrk ---------------------------------------------------------------------------------
# run_wrk THREADS CONNS DURATION URL OUT: one wrk run, output saved.
run_wrk() {
  timeout 120 wrk -t"$1" -c"$2" -d"$3" --timeout 2s --latency "$4" >"$5" 2>&1 ||
    { cat "$5" >&2; die "wrk failed against $4"; }
}
# field OUT NAME: Requests/sec, latency avg/p50/p99, non-2xx and socket errors from wrk output.
rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
lat_avg() { awk '$1 == "Latency" {print $2; exit}' "$1"; }
lat_pct() { awk -v p="$2" '$1 == p {print $2; exit}' "$1"; }
# cpu_ticks PID…: user+system clock ticks the processes (all their threads) have used.
cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do
    [[ -r /proc/$pid/stat ]] && total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}
# server_pids TARGET: the processes serving TARGET (nginx: master and workers).
server_pids() {
  case $1 in
    relreg) echo "$RELREG_PID" ;;
    nginx-w1) echo "${NGINX_PIDS[0]}" $(pgrep -P "${NGINX_PIDS[0]}" || true) ;;
    nginx-auto) echo "${NGINX_PIDS[1]}" $(pgrep -P "${NGINX_PIDS[1]}" || true) ;;
  esac
}
CLK_TCK=$(getconf CLK_TCK)
errors() {
  awk '/Non-2xx/ {n += $NF} /Socket errors/ {for (i = 4; i <= NF; i += 2) {gsub(",", "", $i); n += $i}} END {print n + 0}' "$1"
}

declare -a SUMMARY=()
verdict_all=PASS
say "load before the runs: $(uptime)"
for load in $LOADS; do
  t=${load%%:*} c=${load##*:}
  declare -A R=() C=()
  for target in relreg nginx-w1 nginx-auto; do
    case $target in
      relreg) url=$RELREG_URL ;;
      nginx-w1) url=$NGINX1_URL ;;
      nginx-auto) url=$NGINXA_URL ;;
    esac
    out=$DIR/wrk-$target-t$t-c$c.txt
    run_wrk "$t" "$c" "$WARMUP" "$url" "$out.warmup"
    pids=$(server_pids "$target")
    # shellcheck disable=SC2086
    ticks0=$(cpu_ticks $pids)
    run_wrk "$t" "$c" "$DURATION" "$url" "$out"
    # shellcheck disable=SC2086
    ticks1=$(cpu_ticks $pids)
    R[$target]=$(rps "$out")
    errs=$(errors "$out")
    # Server CPU per request: steadier than req/s when other work shares the cores.
    cpu_us=$(awk -v a="$ticks0" -v b="$ticks1" -v hz="$CLK_TCK" '/ requests in / {n = $1}
      END {printf "%.1f", (n > 0) ? (b - a) / hz * 1e6 / n : 0}' "$out")
    C[$target]=$cpu_us
    line=$(printf '%-10s -t%s -c%-3s %10s req/s  latency avg %-8s p50 %-8s p99 %-8s  server CPU %6s us/req  errors %s' \
      "$target" "$t" "$c" "${R[$target]}" "$(lat_avg "$out")" "$(lat_pct "$out" 50%)" \
      "$(lat_pct "$out" 99%)" "$cpu_us" "$errs")
    say "$line"
    SUMMARY+=("$line")
    ((errs == 0)) || say "WARNING: $target answered $errs non-2xx/socket errors"
  done
  for nginx in nginx-w1 nginx-auto; do
    v=$(awk -v r="${R[relreg]}" -v n="${R[$nginx]}" 'BEGIN {print (r >= n / 2) ? "PASS" : "FAIL"}')
    ratio=$(awk -v r="${R[relreg]}" -v n="${R[$nginx]}" 'BEGIN {printf "%.2f", (r > 0) ? n / r : 0}')
    [[ $v == PASS ]] || verdict_all=FAIL
    cpu_ratio=$(awk -v r="${C[relreg]}" -v n="${C[$nginx]}" 'BEGIN {printf "%.2f", (n > 0) ? r / n : 0}')
    SUMMARY+=("$(printf '  -t%s -c%-3s req/s %-10s / relreg = %5sx  %s (relreg %s >= %s/2 ?)  CPU/req relreg / %s = %sx' \
      "$t" "$c" "$nginx" "$ratio" "$v" "${R[relreg]}" "${R[$nginx]}" "$nginx" "$cpu_ratio")")
  done
  unset R C
done
say "load after the runs: $(uptime)"

echo
echo "== GET latest over the JSON bridge vs nginx static file ($BYTES bytes), wrk ${DURATION} after a ${WARMUP} warm-up, $(nproc) cores"
echo "   load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\n' "${SUMMARY[@]}"
echo "budget (relreg >= nginx/2 for every load and nginx setting): $verdict_all"
exit 0
