#!/usr/bin/env bash
# Blob throughput benchmark: a gRPC upload and an HTTP download of one large random file,
# measured against sha256sum (upload), dd with fsync (the disk's durable write ceiling, for
# reference) and nginx serving the same file with sendfile (download), all in the same run.
#
#   scripts/bench-blobs.sh                    # 1 GiB
#   BENCH_SIZE_MIB=64 scripts/bench-blobs.sh  # quicker
#   BENCH_PERF=1 scripts/bench-blobs.sh       # also profile relreg with perf, if installed
#   BENCH_TIMEOUT_SECS=900                    # bound on the measuring program (default)
#
# Everything runs on 127.0.0.1 in a temporary directory that is removed on exit, with the
# servers stopped. It prints figures and PASS/FAIL per budget, and exits 0 either way unless
# the benchmark itself could not run.
set -euo pipefail

cd "$(dirname "$0")/.."
size_mib=${BENCH_SIZE_MIB:-1024}
target=${CARGO_TARGET_DIR:-target}
bench_timeout=${BENCH_TIMEOUT_SECS:-900}

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

if ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
    say "installing nginx"
    apt-get install -y nginx >/dev/null || { apt-get update >/dev/null && apt-get install -y nginx >/dev/null; }
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

say "building (release)"
cargo build --release --bin relreg
built=$(cargo bench --bench blobs --no-run 2>&1) || { printf '%s\n' "$built" >&2; exit 1; }
bench_exe=$(printf '%s\n' "$built" | sed -n 's/^ *Executable .*(\(.*\))$/\1/p' | tail -1)
[[ -x $bench_exe ]] || { printf '%s\n' "$built" >&2; say "no bench executable found"; exit 1; }
relreg=$target/release/relreg
relreg=$(cd "$(dirname "$relreg")" && pwd)/$(basename "$relreg")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/relreg-bench.XXXXXX")
relreg_pid= nginx_pid= perf_pid=
cleanup() {
    stop_pids "$perf_pid" "$relreg_pid" "$nginx_pid"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp/www" "$tmp/nginx" "$tmp/data"
chmod 755 "$tmp" "$tmp/www"   # nginx's workers run as another user
chmod 700 "$tmp/data"
file=$tmp/www/blob.bin
say "writing $size_mib MiB of random data to $file"
dd if=/dev/urandom of="$file" bs=1M count="$size_mib" iflag=fullblock status=none
chmod 644 "$file"
cat "$file" >/dev/null   # in the page cache for every reader alike

say "timing sha256sum and dd conv=fsync"
sha256_secs=$(seconds sh -c "sha256sum '$file' >'$tmp/sha256'")
sha256_hex=$(cut -d' ' -f1 "$tmp/sha256")
dd_secs=$(seconds dd if="$file" of="$tmp/dd.out" bs=8M conv=fsync status=none)
rm -f "$tmp/dd.out"
sync

nginx_port=$(free_port)
cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        root $tmp/www;
    }
}
EOF
"$nginx_bin" -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" &
nginx_pid=$!
wait_port "$nginx_pid" "$nginx_port" "$tmp/nginx/error.log"

export RELREG_DATABASE_URL="sqlite://$tmp/data/relreg.db" RELREG_BLOB_DIR="$tmp/data/blobs"
export RELREG_SHUTDOWN_GRACE=1
token=$(cd "$tmp/data" && "$relreg" token bootstrap --name bench | tail -1)
relreg_port=$(free_port)
(cd "$tmp/data" && exec "$relreg" serve --listen "127.0.0.1:$relreg_port") 2>"$tmp/relreg.log" &
relreg_pid=$!
wait_port "$relreg_pid" "$relreg_port" "$tmp/relreg.log"

if [[ ${BENCH_PERF:-0} == 1 ]] && command -v perf >/dev/null; then
    perf record -q -g -F 499 -p "$relreg_pid" -o "$tmp/perf.data" 2>"$tmp/perf.log" &
    perf_pid=$!
    sleep 0.5
fi

say "running the benchmark (load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
BENCH_ADDR="127.0.0.1:$relreg_port" BENCH_PID=$relreg_pid BENCH_TOKEN=$token \
    BENCH_FILE=$file BENCH_NGINX_URL="http://127.0.0.1:$nginx_port/blob.bin" \
    BENCH_SHA256_SECS=$sha256_secs BENCH_SHA256_HEX=$sha256_hex BENCH_DD_SECS=$dd_secs \
    BENCH_CLK_TCK=$(getconf CLK_TCK) \
    timeout "$bench_timeout" "$bench_exe"

if [[ -n $perf_pid ]]; then
    kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; perf_pid=
    say "perf: relreg's hottest symbols over the whole run"
    perf report -i "$tmp/perf.data" --stdio --no-children -g none --sort dso,symbol \
        >"$tmp/perf.txt" 2>/dev/null || true
    grep -E '^ +[0-9]' "$tmp/perf.txt" | sed 's/ *$//' | head -40 || true
fi
