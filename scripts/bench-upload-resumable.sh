#!/usr/bin/env bash
# Resumable-upload memory benchmark: one large random file goes to a release-built relreg
# through an OCI-style HTTP session with curl (POST, a PATCH with Content-Range per chunk,
# each chunk cut with dd and streamed by `curl -T -`, then PUT ?digest=) while the server's
# VmRSS is sampled every 50 ms. Budget: uploading 1 GiB in
# 8 MiB chunks grows the server's RSS by less than 64 MiB.
#
#   scripts/bench-upload-resumable.sh                       # 1 GiB in 8 MiB chunks
#   BENCH_SIZE_MIB=64 scripts/bench-upload-resumable.sh     # quicker
#   BENCH_CHUNK_MIB=16 scripts/bench-upload-resumable.sh    # other chunk size
#
# Needs curl and grpcurl on PATH. Everything runs on 127.0.0.1 in a temporary directory that
# is removed on exit, with the server stopped. It prints the figures and PASS/FAIL against
# the budget, and exits 0 either way unless the benchmark itself could not run (or the
# upload failed).
set -euo pipefail

cd "$(dirname "$0")/.."
size_mib=${BENCH_SIZE_MIB:-1024}
chunk_mib=${BENCH_CHUNK_MIB:-8}
budget_mib=${BENCH_RSS_BUDGET_MIB:-64}
target=${CARGO_TARGET_DIR:-target}

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

for tool in curl grpcurl sha256sum dd awk; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH"
done

say "building (release)"
cargo build --release --bin relreg
relreg=$target/release/relreg
relreg=$(cd "$(dirname "$relreg")" && pwd)/$(basename "$relreg")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/relreg-bench-upload.XXXXXX")
relreg_pid= sampler_pid=
cleanup() {
    stop_pids "$sampler_pid" "$relreg_pid"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prints a field of /proc/PID/status in KiB (VmRSS, VmHWM).
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# Prints the CPU seconds (user + system) a process used so far.
cpu_secs() { awk -v tck="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / tck }' "/proc/$1/stat"; }

# Prints the header NAME of a curl header dump (case-insensitive), without the CR.
header() { awk -v k="$(tr '[:upper:]' '[:lower:]' <<<"$2"):" 'tolower($1) == k { sub(/\r$/, ""); print $2 }' "$1" | tail -1; }

mkdir -p "$tmp/data"
chmod 700 "$tmp/data"
file=$tmp/blob.bin
say "writing $size_mib MiB of random data to $file"
dd if=/dev/urandom of="$file" bs=1M count="$size_mib" iflag=fullblock status=none
size=$(stat -c %s "$file")
cat "$file" >/dev/null   # in the page cache, so that reading it costs the client little

say "timing sha256sum and dd conv=fsync, for reference"
sha256_secs=$(seconds sh -c "sha256sum '$file' >'$tmp/sha256'")
digest=sha256:$(cut -d' ' -f1 "$tmp/sha256")
dd_secs=$(seconds dd if="$file" of="$tmp/dd.out" bs=8M conv=fsync status=none)
rm -f "$tmp/dd.out"
sync

export RELREG_DATABASE_URL="sqlite://$tmp/data/relreg.db" RELREG_BLOB_DIR="$tmp/data/blobs"
export RELREG_SHUTDOWN_GRACE=1
token=$(cd "$tmp/data" && "$relreg" token bootstrap --name bench | tail -1)
port=$(free_port)
(cd "$tmp/data" && exec "$relreg" serve --listen "127.0.0.1:$port") 2>"$tmp/relreg.log" &
relreg_pid=$!
wait_port "$relreg_pid" "$port" "$tmp/relreg.log"
base=http://127.0.0.1:$port

grpcurl -plaintext -H "authorization: Bearer $token" \
    -d '{"repo": "bench", "public": true, "display_name": "Upload benchmark"}' \
    "127.0.0.1:$port" relreg.v1.ReleaseAdmin/CreateRepo >/dev/null

# Samples the server's VmRSS every 50 ms, one KiB figure per line.
sleep 0.5
rss_before=$(status_kib "$relreg_pid" VmRSS)
hwm_before=$(status_kib "$relreg_pid" VmHWM)
(
    while kill -0 "$relreg_pid" 2>/dev/null; do
        status_kib "$relreg_pid" VmRSS 2>/dev/null || true
        sleep 0.05
    done
) >"$tmp/rss.samples" &
sampler_pid=$!

curl_common=(-sS -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -H "authorization: Bearer $token" -H 'Expect:')
chunk=$((chunk_mib * 1024 * 1024))
say "uploading $size bytes in $(( (size + chunk - 1) / chunk )) chunks of $chunk_mib MiB (load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
cpu_before=$(cpu_secs "$relreg_pid")
start=$EPOCHREALTIME

code=$(curl "${curl_common[@]}" -X POST "$base/v1/repos/bench/blobs/uploads")
[[ $code == 202 ]] || die "POST answered $code: $(cat "$tmp/body")"
location=$(header "$tmp/headers" location)
[[ $location == /v1/repos/bench/blobs/uploads/* ]] || die "no Location in the POST answer"

offset=0
while ((offset < size)); do
    len=$((size - offset < chunk ? size - offset : chunk))
    code=$(dd if="$file" bs=1M iflag=skip_bytes,count_bytes,fullblock skip="$offset" count="$len" status=none |
        curl "${curl_common[@]}" -X PATCH -H 'content-type: application/octet-stream' \
            -H "content-range: $offset-$((offset + len - 1))" -T - "$base$location")
    [[ $code == 202 ]] || die "PATCH at $offset answered $code: $(cat "$tmp/body")"
    offset=$((offset + len))
    reported=$(header "$tmp/headers" upload-offset)
    [[ $reported == "$offset" ]] || die "after the chunk ending at $offset the server reports $reported"
done
uploaded=$EPOCHREALTIME

code=$(curl "${curl_common[@]}" -X GET "$base$location")
[[ $code == 204 && $(header "$tmp/headers" upload-offset) == "$size" ]] ||
    die "GET of the session answered $code, offset $(header "$tmp/headers" upload-offset)"
code=$(curl "${curl_common[@]}" -X PUT "$base$location?digest=$digest")
[[ $code == 201 ]] || die "the completing PUT answered $code: $(cat "$tmp/body")"
done_at=$EPOCHREALTIME
cpu_after=$(cpu_secs "$relreg_pid")

sleep 0.2
kill -TERM "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=
rss_after=$(status_kib "$relreg_pid" VmRSS)
hwm_after=$(status_kib "$relreg_pid" VmHWM)

# The blob is visible with the right size.
code=$(curl "${curl_common[@]}" -I "$base/v1/repos/bench/blobs/$digest")
[[ $code == 200 && $(header "$tmp/headers" content-length) == "$size" ]] ||
    die "HEAD of the blob answered $code, length $(header "$tmp/headers" content-length)"

rss_peak=$(sort -n "$tmp/rss.samples" | tail -1)
samples=$(wc -l <"$tmp/rss.samples")
awk -v size="$size" -v start="$start" -v uploaded="$uploaded" -v done_at="$done_at" \
    -v before="$rss_before" -v peak="$rss_peak" -v after="$rss_after" \
    -v hwm0="$hwm_before" -v hwm1="$hwm_after" -v samples="$samples" \
    -v budget="$budget_mib" -v chunk="$chunk_mib" -v cpu="$(awk -v a="$cpu_before" -v b="$cpu_after" 'BEGIN { print b - a }')" \
    -v sha="$sha256_secs" -v dd="$dd_secs" 'BEGIN {
    mib = size / 1048576
    printf "upload     %8.1f MiB in %d MiB chunks\n", mib, chunk
    printf "chunks     %8.2f s  %8.1f MiB/s   (POST + PATCHes)\n", uploaded - start, mib / (uploaded - start)
    printf "complete   %8.2f s               (PUT ?digest=: hash + commit)\n", done_at - uploaded
    printf "total      %8.2f s  %8.1f MiB/s   (server CPU: %.2f s)\n", done_at - start, mib / (done_at - start), cpu
    printf "reference  sha256sum %.2f s (%.1f MiB/s), dd bs=8M conv=fsync %.2f s (%.1f MiB/s)\n", sha, mib / sha, dd, mib / dd
    printf "VmRSS      before %7.1f MiB, peak %7.1f MiB (%d samples, 50 ms), after %7.1f MiB\n", before / 1024, peak / 1024, samples, after / 1024
    printf "VmHWM      before %7.1f MiB, after %7.1f MiB\n", hwm0 / 1024, hwm1 / 1024
    growth = peak - before
    if (hwm1 - before > growth) growth = hwm1 - before
    printf "RSS growth %8.1f MiB (the larger of peak VmRSS and VmHWM over VmRSS before); budget < %d MiB: %s\n", growth / 1024, budget, (growth / 1024 < budget) ? "PASS" : "FAIL"
}'
