#!/usr/bin/env bash
# Sync budget: `relreg sync` of a release with 1,000 files totalling 100 MiB into a fresh
# directory, against `curl --parallel --parallel-max 4` fetching the same blob URLs from the
# same server, alternating in the same run over several rounds. Budget: sync ≤ 1.5× curl.
#
#   scripts/bench-sync.sh                          # 1,000 files of 100 KiB, 5 rounds
#   BENCH_FILES=200 BENCH_ROUNDS=3 scripts/bench-sync.sh
#   BENCH_JOBS=4 scripts/bench-sync.sh             # relreg sync --jobs (default 8)
#   BENCH_RELREG=target/debug/relreg scripts/bench-sync.sh   # no release build (not a figure)
#
# relreg does more than curl per file (sha256 while streaming, fsync, rename into the object
# store, a hardlinked release tree, an atomic registry and `current` swap); curl writes the
# bytes only. Everything runs on 127.0.0.1 in a temporary directory removed on exit. Prints
# figures and PASS/FAIL, and exits 0 either way unless the benchmark itself could not run.
set -euo pipefail

cd "$(dirname "$0")/.."
files=${BENCH_FILES:-1000}
total_mib=${BENCH_TOTAL_MIB:-100}
rounds=${BENCH_ROUNDS:-5}
jobs=${BENCH_JOBS:-8}
target=${CARGO_TARGET_DIR:-target}

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
for tool in curl jq sha256sum split; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH"
done

if [[ -n ${BENCH_RELREG:-} ]]; then
    relreg=$BENCH_RELREG   # a prebuilt binary, e.g. to check the script with a debug build
else
    say "building (release)"
    cargo build --release --bin relreg
    relreg=$target/release/relreg
fi
relreg=$(cd "$(dirname "$relreg")" && pwd)/$(basename "$relreg")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/relreg-bench-sync.XXXXXX")
relreg_pid=
cleanup() {
    stop_pids "$relreg_pid"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp/data" "$tmp/files"
size=$((total_mib * 1024 * 1024 / files))
say "writing $files files of $size bytes"
head -c $((size * files)) /dev/urandom | split -b "$size" -d -a 5 - "$tmp/files/f"

export RELREG_DATABASE_URL="sqlite://$tmp/data/relreg.db" RELREG_BLOB_DIR="$tmp/data/blobs"
export RELREG_SHUTDOWN_GRACE=1
token=$(cd "$tmp/data" && "$relreg" token bootstrap --name bench | tail -1)
port=$(free_port)
base=http://127.0.0.1:$port
(cd "$tmp/data" && exec "$relreg" serve --listen "127.0.0.1:$port") 2>"$tmp/relreg.log" &
relreg_pid=$!
wait_port "$relreg_pid" "$port" "$tmp/relreg.log"

# api METHOD PATH JSON: one JSON bridge call as admin; prints the answer.
api() {
    curl -sS --no-progress-meter --fail-with-body -X "$1" -H "authorization: Bearer $token" --json "$3" "$base$2"
}

say "publishing the release (uploads and file bindings through the HTTP routes)"
api POST /v1/repos '{"repo":"bench","public":true}' >/dev/null
api POST /v1/repos/bench/packages '{"package":"data","kind":"generic"}' >/dev/null
api POST /v1/repos/bench/packages/data/versions '{"version":"1.0.0"}' >/dev/null
(cd "$tmp/files" && sha256sum f*) >"$tmp/sums"
: >"$tmp/upload.cfg"; : >"$tmp/bind.cfg"; : >"$tmp/fetch.cfg"
while read -r hex name; do
    printf 'url = "%s/v1/repos/bench/blobs/uploads?digest=sha256:%s"\nupload-file = "%s"\noutput = "/dev/null"\n' \
        "$base" "$hex" "$tmp/files/$name" >>"$tmp/upload.cfg"
    # `next` resets per-transfer options, the header included.
    [[ -s $tmp/bind.cfg ]] && echo next >>"$tmp/bind.cfg"
    printf 'url = "%s/v1/repos/bench/packages/data/versions/1.0.0/files/%s"\nrequest = "PUT"\nheader = "authorization: Bearer %s"\njson = "{\\"digest\\":\\"sha256:%s\\"}"\noutput = "/dev/null"\n' \
        "$base" "$name" "$token" "$hex" >>"$tmp/bind.cfg"
    printf 'url = "%s/v1/repos/bench/blobs/sha256:%s"\noutput = "%s"\n' \
        "$base" "$hex" "$name" >>"$tmp/fetch.cfg"
done <"$tmp/sums"
curl -sS --no-progress-meter --fail --parallel --parallel-max 4 -H "authorization: Bearer $token" -K "$tmp/upload.cfg"
curl -sS --no-progress-meter --fail -K "$tmp/bind.cfg"
api POST /v1/repos/bench/packages/data/versions/1.0.0:publish '{}' >/dev/null
release=$(api POST /v1/repos/bench/releases '{"channel":"stable","version":"1.0.0","minAppVersion":"1.0"}' | jq -r .release.id)
api PUT "/v1/releases/$release/artifacts/data" '{"package":"data","version":"1.0.0"}' >/dev/null
api POST "/v1/releases/$release:publish" '{}' >/dev/null

run_curl() { # a fresh directory each time
    rm -rf "$tmp/curl" && mkdir "$tmp/curl"
    (cd "$tmp/curl" && curl -sS --no-progress-meter --fail --parallel --parallel-max 4 -K "$tmp/fetch.cfg")
}
run_sync() {
    rm -rf "$tmp/device"
    "$relreg" sync --server "$base" --repo bench --channel stable --app-version 1.0 \
        --dir "$tmp/device" --jobs "$jobs" --output json >"$tmp/sync.json"
}

say "checking both fetch everything right"
run_curl
run_sync
(cd "$tmp/curl" && sha256sum -c --quiet "$tmp/sums") || die "curl fetched wrong bytes"
(cd "$tmp/device/current/data" && sha256sum -c --quiet "$tmp/sums") || die "sync placed wrong bytes"
[[ $(jq .files_downloaded "$tmp/sync.json") == "$files" ]] || die "sync did not download $files files"

say "timing $rounds rounds (load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
curl_times=() sync_times=()
for r in $(seq "$rounds"); do
    sync  # each round starts with the dirty pages of the previous one written out
    c=$(seconds run_curl)
    sync
    s=$(seconds run_sync)
    curl_times+=("$c") sync_times+=("$s")
    printf '  round %d: curl %.3f s   relreg sync %.3f s   ratio %.2f\n' "$r" "$c" "$s" \
        "$(awk -v a="$s" -v b="$c" 'BEGIN { print a / b }')" >&2
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mc=$(median "${curl_times[@]}")
ms=$(median "${sync_times[@]}")
ratio=$(awk -v a="$ms" -v b="$mc" 'BEGIN { printf "%.2f", a / b }')
mib=$((size * files / 1024 / 1024))
printf '\n%-46s %10s %12s\n' "fetch of $files files, $mib MiB (median of $rounds)" "seconds" "MiB/s"
printf '%-46s %10.3f %12.1f\n' "curl --parallel --parallel-max 4" "$mc" "$(awk -v m="$mib" -v t="$mc" 'BEGIN { print m / t }')"
printf '%-46s %10.3f %12.1f\n' "relreg sync --jobs $jobs (fresh directory)" "$ms" "$(awk -v m="$mib" -v t="$ms" 'BEGIN { print m / t }')"
if awk -v r="$ratio" 'BEGIN { exit !(r <= 1.5) }'; then verdict=PASS; else verdict=FAIL; fi
printf 'budget: sync ≤ 1.5× curl: %sx  %s\n' "$ratio" "$verdict"
