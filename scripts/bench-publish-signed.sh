#!/usr/bin/env bash
# What signing costs a publish (issue 11: "heads and manifests are signed at change time"):
# PublishRelease latency in a repo that trusts a key (the manifest signed, the channel head
# and the repo's TUF targets, snapshot and timestamp re-signed before the call answers)
# beside the same publish in a repo that trusts none, as each repo grows to N releases.
#
# Per step i (1..N), in both repos, alternating which goes first: `relreg push` of version
# 1.0.i with F small files (published), a release 1.0.i in channel stable with it attached,
# then PublishRelease through the JSON bridge, timed by curl. Prints the p50/p90 publish
# latency of the first and the last 50 steps per repo, the ratio signed/unsigned, and the
# size of the TUF targets.json at the end.
#
#   scripts/bench-publish-signed.sh
#   RELREG_BIN=target/release/relreg BENCH_RELEASES=2000 BENCH_FILES=5 scripts/bench-publish-signed.sh
#
# No budget is set for publish latency; the figures say how re-signing grows with a repo.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
N=${BENCH_RELEASES:-1000}
F=${BENCH_FILES:-3}
WINDOW=50

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

for tool in curl jq awk; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH"
done
((N >= 2 * WINDOW)) || die "BENCH_RELEASES must be at least $((2 * WINDOW))"
build_relreg

work_dir bench-publish-signed

KEY_ID=$("$RELREG_BIN" key generate --out "$DIR/keys" | awk '/^key / {print $2}')
[[ -n $KEY_ID ]] || die "relreg key generate printed no key id"
start_relreg "$DIR" --signing-key "$DIR/keys/relreg-signing.key"
export RELREG_SERVER=$BASE RELREG_TOKEN=$TOKEN
for repo in signed plain; do
    api POST /v1/repos "{\"repo\":\"$repo\",\"public\":true}" >/dev/null
    api POST "/v1/repos/$repo/packages" '{"package":"app"}' >/dev/null
done
"$RELREG_BIN" key trust signed "$KEY_ID" >/dev/null || die "relreg key trust failed"

# step REPO I: pushes and publishes version 1.0.I, creates and publishes release 1.0.I;
# appends the publish's seconds to $DIR/REPO.times.
step() {
    local repo=$1 i=$2 files=$DIR/files/$1-$2 id
    mkdir -p "$files"
    for f in $(seq 1 "$F"); do printf '%s %s %s\n' "$repo" "$i" "$f" >"$files/file-$f.txt"; done
    "$RELREG_BIN" push "$repo/app@1.0.$i" "$files" --publish >/dev/null 2>"$DIR/push.log" ||
        { cat "$DIR/push.log" >&2; die "relreg push $repo/app@1.0.$i failed"; }
    id=$(api POST "/v1/repos/$repo/releases" \
        "{\"channel\":\"stable\",\"version\":\"1.0.$i\",\"minAppVersion\":\"1.0\"}" | jq -r '.release.id')
    api PUT "/v1/releases/$id/artifacts/data" "{\"package\":\"app\",\"version\":\"1.0.$i\"}" >/dev/null
    curl -sS -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' --data '{}' -w '%{http_code} %{time_total}\n' \
        "$BASE/v1/releases/$id:publish" >"$DIR/publish.out" || die "publish $id: curl failed"
    read -r code secs <"$DIR/publish.out"
    [[ $code == 200 ]] || die "publish $id answered HTTP $code"
    echo "$secs" >>"$DIR/$repo.times"
    rm -rf "$files"
}

say "publishing $N releases with $F files each in repo signed and repo plain"
for i in $(seq 1 "$N"); do
    if ((i % 2)); then step signed "$i"; step plain "$i"; else step plain "$i"; step signed "$i"; fi
    ((i % 200)) || say "step $i of $N (load $(loadavg))"
done

# pct FILE FROM TO P: the P-th percentile (ms) of lines FROM..TO.
pct() {
    sed -n "$2,$3p" "$1" | sort -g | awk -v p="$4" '{v[NR] = $1} END {
        i = int((NR - 1) * p / 100) + 1; printf "%.1f", v[i] * 1000 }'
}
echo
echo "== PublishRelease latency (ms), JSON bridge, $F files per release, $(nproc) cores, $RELREG_BIN"
for range in "1 $WINDOW" "$((N - WINDOW + 1)) $N"; do
    read -r from to <<<"$range"
    s50=$(pct "$DIR/signed.times" "$from" "$to" 50)
    p50=$(pct "$DIR/plain.times" "$from" "$to" 50)
    printf 'releases %5s-%-5s signed p50 %7s p90 %7s | unsigned p50 %7s p90 %7s | signed/unsigned p50 %sx\n' \
        "$from" "$to" "$s50" "$(pct "$DIR/signed.times" "$from" "$to" 90)" \
        "$p50" "$(pct "$DIR/plain.times" "$from" "$to" 90)" \
        "$(awk -v a="$s50" -v b="$p50" 'BEGIN {printf "%.2f", a / b}')"
done
size=$(curl -sS "$BASE/v1/repos/signed/tuf/targets.json" | wc -c)
targets=$(curl -sS "$BASE/v1/repos/signed/tuf/targets.json" | jq '.signed.targets | length')
echo "TUF targets.json of repo signed: $targets targets, $size bytes  (load $(loadavg))"
