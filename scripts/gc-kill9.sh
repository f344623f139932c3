#!/usr/bin/env bash
# Staged bytes after kill -9, and blob GC, measured with the relreg binary (the issue's
# reproduction: 12 streamed 200 MB uploads cut off by kill -9 of the server left 352 MB).
#
#   scripts/gc-kill9.sh                          # 12 uploads of 200 MiB, then 2,000 blobs for GC
#   UPLOADS=4 SIZE_MIB=50 BLOBS=500 scripts/gc-kill9.sh
#   RELREG=target/release/relreg scripts/gc-kill9.sh   # another build (default: target/debug)
#
# Prints: staged bytes before and after the restart, how long the startup sweep let the
# server take to answer /healthz, and how long `relreg gc` and `relreg fsck` take on BLOBS
# unreferenced blobs. Everything runs in a temporary directory on 127.0.0.1, removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
relreg=${RELREG:-target/debug/relreg}
uploads=${UPLOADS:-12}
size_mib=${SIZE_MIB:-200}
blobs=${BLOBS:-2000}
[[ -x $relreg ]] || cargo build --bin relreg
work=$(mktemp -d)
server_pid=
cleanup() {
    if [[ -n $server_pid ]]; then kill -9 "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
export RELREG_DATABASE_URL="sqlite://$work/relreg.db" RELREG_BLOB_DIR="$work/blobs" RUST_LOG=warn
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
start() {
    "$relreg" serve --listen "127.0.0.1:$port" 2>>"$work/server.log" &
    server_pid=$!
    local t0; t0=$(date +%s.%N)
    until curl -sf "$base/healthz" >/dev/null; do sleep 0.05; done
    up_secs=$(echo "$(date +%s.%N) - $t0" | bc)
}
staged() {
    { find "$work/blobs/uploads" "$work/blobs/sessions" -type f ! -name '*.lock' -printf '%s\n' 2>/dev/null || true; } \
        | awk '{s+=$1} END {print s+0}'
}

token=$("$relreg" token bootstrap | tail -1)
start
curl -sf -H "authorization: Bearer $token" -d '{"repo":"acme","public":true}' "$base/v1/repos" >/dev/null
head -c $((size_mib * 1024 * 1024)) /dev/urandom >"$work/big.bin"
digest="sha256:$(sha256sum "$work/big.bin" | cut -d' ' -f1)"
for _ in $(seq "$uploads"); do
    # --limit-rate keeps each upload in flight when the server dies (all sent after 40 s).
    curl -s --limit-rate "$((size_mib * 1024 * 1024 / 40))" -T "$work/big.bin" -H "authorization: Bearer $token" \
        "$base/v1/repos/acme/blobs/uploads?digest=$digest" >/dev/null 2>&1 &
done
# Kill once a quarter of every upload is staged (or after 60 s, whatever arrived).
for _ in $(seq 120); do
    (( $(staged) >= uploads * size_mib * 1024 * 1024 / 4 )) && break
    sleep 0.5
done
kill -9 "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
wait || true
before=$(staged)
start
after=$(staged)
echo "kill -9 during $uploads uploads of $size_mib MiB: staged bytes $before before restart, $after after (the restarted server answered /healthz in ${up_secs}s)"

# GC: BLOBS uploads never attached, collected with no grace; then fsck over what is left.
for i in $(seq "$blobs"); do printf 'blob %s\n' "$i" >"$work/b"; \
    curl -sf -T "$work/b" -H "authorization: Bearer $token" \
    "$base/v1/repos/acme/blobs/uploads?digest=sha256:$(sha256sum "$work/b" | cut -d' ' -f1)" >/dev/null; done
t0=$(date +%s.%N)
"$relreg" gc --grace 0
t1=$(date +%s.%N)
"$relreg" fsck | tail -1
t2=$(date +%s.%N)
echo "relreg gc over $blobs unreferenced blobs: $(echo "$t1 - $t0" | bc)s; relreg fsck after: $(echo "$t2 - $t1" | bc)s"
