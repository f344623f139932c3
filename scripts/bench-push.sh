#!/usr/bin/env bash
# Push benchmark: `relreg push` of one large random file (resumable HTTP session, chunked
# PATCHes streamed from the file, then PUT ?digest=, binding and publishing) against
# `curl -T` of a file of the same size to the same server's single-PUT upload route, in
# the same run, on a release build. Budgets: relreg's throughput ≥ 0.8× curl's, and the
# relreg client's peak RSS (`/usr/bin/time -v`) < 64 MiB.
#
#   scripts/bench-push.sh                        # 1 GiB, 2 rounds
#   BENCH_SIZE_MIB=256 BENCH_ROUNDS=1 scripts/bench-push.sh
#   BENCH_CHUNK_MIB=64 scripts/bench-push.sh     # relreg --chunk-size
#
# The two files differ (the server deduplicates by digest), are in the page cache before
# timing, and the order alternates between rounds. curl is handed the digest, which it
# cannot compute; relreg's time includes hashing the file. Everything runs on 127.0.0.1 in
# a temporary directory that is removed on exit. It prints the figures side by side and
# PASS/FAIL against the budgets, and exits 0 either way unless the benchmark could not run.
set -euo pipefail

cd "$(dirname "$0")/.."
size_mib=${BENCH_SIZE_MIB:-1024}
rounds=${BENCH_ROUNDS:-2}
chunk_mib=${BENCH_CHUNK_MIB:-16}
rss_budget_mib=${BENCH_RSS_BUDGET_MIB:-64}
target=${CARGO_TARGET_DIR:-target}

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

for tool in curl sha256sum dd awk /usr/bin/time; do
    command -v "$tool" >/dev/null || die "$tool is not available"
done

say "building (release)"
cargo build --release --bin relreg
relreg=$target/release/relreg
relreg=$(cd "$(dirname "$relreg")" && pwd)/$(basename "$relreg")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/relreg-bench-push.XXXXXX")
relreg_pid=
cleanup() {
    stop_pids "$relreg_pid"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp/data" "$tmp/state" "$tmp/config"
export RELREG_DATABASE_URL="sqlite://$tmp/data/relreg.db" RELREG_BLOB_DIR="$tmp/data/blobs"
export RELREG_SHUTDOWN_GRACE=1 RELREG_STATE_DIR=$tmp/state RELREG_CONFIG_DIR=$tmp/config
token=$("$relreg" token bootstrap --name bench | tail -1)
port=$(free_port)
"$relreg" serve --listen "127.0.0.1:$port" 2>"$tmp/relreg.log" &
relreg_pid=$!
wait_port "$relreg_pid" "$port" "$tmp/relreg.log"
export RELREG_SERVER=http://127.0.0.1:$port RELREG_TOKEN=$token
"$relreg" -q repo create bench >/dev/null
"$relreg" -q package create bench/big >/dev/null

# Prints "wall_seconds max_rss_kib" of a command run under /usr/bin/time -v.
timed() {
    local log=$tmp/time.log
    /usr/bin/time -v -o "$log" "$@" >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err" >&2; die "$1 failed"; }
    awk -F': ' '
        /Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i] }
        /Maximum resident set size/ { rss = $2 }
        END { printf "%.3f %d\n", s, rss }' "$log"
}

results=$tmp/results
: >"$results"
for round in $(seq "$rounds"); do
    a=$tmp/curl-$round.bin b=$tmp/push-$round.bin
    say "round $round: writing two files of $size_mib MiB of random data"
    dd if=/dev/urandom of="$a" bs=1M count="$size_mib" iflag=fullblock status=none
    dd if=/dev/urandom of="$b" bs=1M count="$size_mib" iflag=fullblock status=none
    cat "$a" "$b" >/dev/null
    digest=sha256:$(sha256sum "$a" | cut -d' ' -f1)
    sync
    run_curl() {
        read -r secs rss < <(timed curl -sS -f -o /dev/null -H "authorization: Bearer $token" -H 'Expect:' \
            -H 'content-type: application/octet-stream' -T "$a" \
            "$RELREG_SERVER/v1/repos/bench/blobs/uploads?digest=$digest")
        echo "curl $secs $rss" >>"$results"
    }
    run_push() {
        read -r secs rss < <(timed "$relreg" -q --output json push "bench/big@1.0.$round" "$b" \
            --publish --chunk-size $((chunk_mib * 1024 * 1024)))
        grep -q '"VERSION_STATE_PUBLISHED"' "$tmp/out" || die "relreg push did not publish: $(cat "$tmp/out")"
        echo "relreg $secs $rss" >>"$results"
    }
    say "round $round: timing (load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
    if ((round % 2)); then run_curl; run_push; else run_push; run_curl; fi
    rm -f "$a" "$b"
done

awk -v size_mib="$size_mib" -v chunk="$chunk_mib" -v budget="$rss_budget_mib" '
    { secs[$1] += $2; n[$1]++; if ($3 > rss[$1]) rss[$1] = $3; if (!best[$1] || $2 < best[$1]) best[$1] = $2 }
    END {
        printf "file        %d MiB, %d round(s); relreg --chunk-size %d MiB\n", size_mib, n["curl"], chunk
        for (t in secs) {
            avg = secs[t] / n[t]
            printf "%-11s avg %7.2f s %8.1f MiB/s   best %7.2f s   client peak RSS %6.1f MiB\n", t, avg, size_mib / avg, best[t], rss[t] / 1024
        }
        ratio = (secs["curl"] / n["curl"]) / (secs["relreg"] / n["relreg"])
        printf "throughput  relreg / curl = %.2fx (budget >= 0.80x): %s\n", ratio, ratio >= 0.8 ? "PASS" : "FAIL"
        printf "client RSS  relreg peak %.1f MiB (budget < %d MiB): %s\n", rss["relreg"] / 1024, budget, rss["relreg"] / 1024 < budget ? "PASS" : "FAIL"
    }' "$results"
