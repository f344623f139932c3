#!/usr/bin/env bash
# A grpcurl walkthrough of the whole package-version lifecycle, run by CI (.ci/run) so that
# the README's walkthrough cannot rot. Every step asserts its answer; any wrong answer fails
# the script.
#
#   RELREG_BIN=target/debug/relreg bash scripts/walkthrough.sh
#
# Needs: grpcurl (1.8+, server reflection), jq, curl, python3, sha256sum, base64.
set -euo pipefail

NAME=walkthrough
# shellcheck source=scripts/walkthrough-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/walkthrough-lib.sh"

start_relreg

step "create a public repo and two packages"
call $ADMIN/CreateRepo '{"repo":"acme","public":true}' |
  expect '.repo.key == "acme" and .repo.public == true' "repo acme, public"
call $ADMIN/CreatePackage '{"repo":"acme","package":"app-config","kind":"config"}' |
  expect '.package.name == "app-config" and .package.kind == "config"' "a config package"
call $ADMIN/CreatePackage '{"repo":"acme","package":"notes"}' |
  expect '.package.kind == "generic"' "kind generic by default"

step "create draft 1.0.0 (idempotent)"
V=$(call $ADMIN/CreateVersion '{"repo":"acme","package":"app-config","version":"1.0.0"}')
expect '.version.state == "VERSION_STATE_DRAFT" and .created == true' "a new draft" <<<"$V"
ETAG=$(jq -r .version.etag <<<"$V")
call $ADMIN/CreateVersion '{"repo":"acme","package":"app-config","version":"1.0.0"}' |
  expect '.version.state == "VERSION_STATE_DRAFT" and (.created // false) == false and .version.etag == $etag' \
    "the same draft again, created=false" --arg etag "$ETAG"

step "upload blobs (client streaming: a header, then chunks)"
printf 'id,a\n1,alpha\n2,beta\n' >a.csv
printf 'id,b\n1,10\n2,20\n' >b.csv
printf 'id,a\n1,alpha\n2,beta\n3,gamma\n' >a2.csv
printf 'id,c\n1,true\n' >c.csv
upload() { # upload FILE: prints the UploadBlob answer
  local hex
  hex=$(sha256sum "$1" | cut -d' ' -f1)
  printf '{"header":{"repo":"acme","expectedDigest":"sha256:%s"}}\n{"chunk":"%s"}\n' \
    "$hex" "$(base64 -w0 "$1")" |
    call $ADMIN/UploadBlob @
}
declare -A DIGEST
for f in a.csv b.csv a2.csv c.csv; do
  hex=$(sha256sum "$f" | cut -d' ' -f1)
  DIGEST[$f]=sha256:$hex
  upload "$f" | expect ".digest == \"sha256:$hex\" and .size == \"$(wc -c <"$f" | tr -d ' ')\"" \
    "digest and size of $f"
done
printf '{"header":{"repo":"acme","expectedDigest":"sha256:%064d"}}\n{"chunk":"%s"}\n' 0 "$(base64 -w0 a.csv)" |
  call_err $ADMIN/UploadBlob @ InvalidArgument DIGEST_MISMATCH "${AUTH[@]}"

step "put files into the draft, each edit with the etag of the previous answer"
# put_file VERSION PATH DIGEST ETAG: the PutVersionFile request body.
put_file() {
  body --arg v "$1" --arg p "$2" --arg d "$3" --arg e "$4" \
    '{repo:"acme", package:"app-config", version:$v, path:$p, digest:$d, mediaType:"text/csv", etag:$e}'
}
V=$(call $ADMIN/PutVersionFile "$(put_file 1.0.0 columns/a.csv "${DIGEST[a.csv]}" "$ETAG")")
expect '.version.files == [{path:"columns/a.csv", digest:$d, size:$s, mediaType:"text/csv"}]' "one file" \
  --arg d "${DIGEST[a.csv]}" --arg s "$(wc -c <a.csv | tr -d ' ')" <<<"$V"
STALE=$ETAG
ETAG=$(jq -r .version.etag <<<"$V")
[[ $ETAG != "$STALE" ]] || fail "the etag did not change after an edit"
V=$(call $ADMIN/PutVersionFile "$(put_file 1.0.0 columns/b.csv "${DIGEST[b.csv]}" "$ETAG")")
expect '.version.files | map(.path) | sort == ["columns/a.csv","columns/b.csv"]' "two files" <<<"$V"
ETAG=$(jq -r .version.etag <<<"$V")
call_err $ADMIN/PutVersionFile "$(put_file 1.0.0 columns/x.csv "${DIGEST[b.csv]}" "$STALE")" \
  FailedPrecondition ETAG_MISMATCH "${AUTH[@]}"

step "set the config manifest"
MANIFEST='{"columns":[{"name":"a","file":"columns/a.csv","ordinal":1},{"name":"b","file":"columns/b.csv","ordinal":2}]}'
V=$(call $ADMIN/SetVersionManifest "$(body --argjson m "$MANIFEST" --arg e "$ETAG" \
  '{repo:"acme", package:"app-config", version:"1.0.0", manifest:$m, etag:$e}')")
expect '.version.manifest == $m' "the manifest back" --argjson m "$MANIFEST" <<<"$V"
ETAG=$(jq -r .version.etag <<<"$V")
# Ordinals must be unique: checked when the manifest is set.
call_err $ADMIN/SetVersionManifest '{"repo":"acme","package":"app-config","version":"1.0.0","manifest":{"columns":[{"file":"columns/a.csv","ordinal":1},{"file":"columns/b.csv","ordinal":1}]}}' \
  InvalidArgument "" "${AUTH[@]}"

step "publish 1.0.0 (idempotent; published versions are immutable)"
V=$(call $ADMIN/PublishVersion "$(body --arg e "$ETAG" '{repo:"acme", package:"app-config", version:"1.0.0", etag:$e}')")
expect '.version.state == "VERSION_STATE_PUBLISHED" and (.version.contentDigest | startswith("sha256:"))' \
  "a published version with a content digest" <<<"$V"
CONTENT_DIGEST=$(jq -r .version.contentDigest <<<"$V")
call $ADMIN/PublishVersion '{"repo":"acme","package":"app-config","version":"1.0.0"}' |
  expect '.version.state == "VERSION_STATE_PUBLISHED" and .version.contentDigest == $c' \
    "the same published version on retry" --arg c "$CONTENT_DIGEST"
call_err $ADMIN/PutVersionFile "$(put_file 1.0.0 columns/c.csv "${DIGEST[c.csv]}" "")" \
  FailedPrecondition VERSION_IMMUTABLE "${AUTH[@]}"

step "draft 1.1.0 with different content and diff it against 1.0.0"
V=$(call $ADMIN/CreateVersion '{"repo":"acme","package":"app-config","version":"1.1.0"}')
V=$(call $ADMIN/PutVersionFile "$(put_file 1.1.0 columns/a.csv "${DIGEST[a2.csv]}" "$(jq -r .version.etag <<<"$V")")")
V=$(call $ADMIN/PutVersionFile "$(put_file 1.1.0 columns/c.csv "${DIGEST[c.csv]}" "$(jq -r .version.etag <<<"$V")")")
MANIFEST2='{"columns":[{"name":"a","file":"columns/a.csv","ordinal":1},{"name":"c","file":"columns/c.csv","ordinal":2}]}'
call $ADMIN/SetVersionManifest "$(body --argjson m "$MANIFEST2" '{repo:"acme", package:"app-config", version:"1.1.0", manifest:$m}')" >/dev/null
call $ADMIN/DiffVersion '{"repo":"acme","package":"app-config","version":"1.1.0","baseVersion":"1.0.0"}' |
  expect '(.added | map(.path)) == ["columns/c.csv"]
      and (.removed | map(.path)) == ["columns/b.csv"]
      and (.changed | map(.path)) == ["columns/a.csv"]
      and .changed[0].baseDigest == $old and .changed[0].digest == $new
      and .manifestChanged == true
      and .baseContentDigest == $c' \
    "c.csv added, b.csv removed, a.csv changed, manifest changed" \
    --arg old "${DIGEST[a.csv]}" --arg new "${DIGEST[a2.csv]}" --arg c "$CONTENT_DIGEST"

step "download a blob: gRPC stream from an offset, and HTTP with Range"
HEX=${DIGEST[a.csv]#sha256:}
call $CATALOG/DownloadBlob "{\"repo\":\"acme\",\"digest\":\"${DIGEST[a.csv]}\",\"offset\":\"3\"}" >download.json
jq -r .chunk download.json | while read -r chunk; do printf '%s' "$chunk" | base64 -d; done >download.bin
cmp -s download.bin <(tail -c +4 a.csv) || fail "DownloadBlob from offset 3 returned other bytes"
jq -s -e '.[0].offset == "3" and .[0].size == "'"$(wc -c <a.csv | tr -d ' ')"'"' download.json >/dev/null ||
  fail "DownloadBlob: offset and size of the first chunk"
STATUS=$(curl -s -o range.bin -D range.headers -w '%{http_code}' -H 'Range: bytes=0-3' "$BASE/v1/repos/acme/blobs/sha256:$HEX")
[[ $STATUS == 206 ]] || fail "Range GET answered $STATUS, expected 206"
cmp -s range.bin <(head -c 4 a.csv) || fail "Range GET returned other bytes"
grep -qi "^etag: \"sha256:$HEX\"" range.headers || fail "ETag header is not the digest"
grep -qi '^cache-control: .*immutable' range.headers || fail "Cache-Control is not immutable"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: \"sha256:$HEX\"" "$BASE/v1/repos/acme/blobs/sha256:$HEX")
[[ $STATUS == 304 ]] || fail "If-None-Match GET answered $STATUS, expected 304"

step "publish 1.1.0, deprecate 1.0.0, resolve, yank 1.1.0, resolve again"
call $ADMIN/PublishVersion '{"repo":"acme","package":"app-config","version":"1.1.0"}' |
  expect '.version.state == "VERSION_STATE_PUBLISHED"' "1.1.0 published"
call $ADMIN/DeprecateVersion '{"repo":"acme","package":"app-config","version":"1.0.0","reason":"bad column","replacement":"1.1.0"}' |
  expect '.version.state == "VERSION_STATE_DEPRECATED" and .version.deprecationReason == "bad column" and .version.replacement == "1.1.0"' \
    "1.0.0 deprecated"
call $CATALOG/ResolveVersion '{"repo":"acme","package":"app-config","requirement":"^1"}' |
  expect '.version.version == "1.1.0"' "^1 resolves to 1.1.0"
call $ADMIN/YankVersion '{"repo":"acme","package":"app-config","version":"1.1.0","reason":"broken"}' |
  expect '.version.state == "VERSION_STATE_YANKED"' "1.1.0 yanked"
call $CATALOG/ResolveVersion '{"repo":"acme","package":"app-config","requirement":"^1"}' |
  expect '.version.version == "1.0.0" and .version.state == "VERSION_STATE_DEPRECATED"' \
    "^1 falls back to the deprecated 1.0.0"
call_err $CATALOG/ResolveVersion '{"repo":"acme","package":"app-config","requirement":"^1.1"}' NotFound ""

step "read the audit trail"
call $ADMIN/ListAuditEvents '{"repo":"acme","pageSize":1000}' |
  expect '[.events[].action] as $a | ["repo.created","package.created","version.created","blob.uploaded","version.file_put","version.manifest_set","version.published","version.deprecated","version.yanked"] | all(. as $x | $a | index($x))' \
    "every mutation in the audit trail"

step "manage tokens: create a reader, list, revoke"
T=$(call $ADMIN/CreateToken '{"repo":"acme","role":"ROLE_READER","name":"ci"}')
expect '(.secret | length) > 0 and .token.role == "ROLE_READER" and .token.repo == "acme"' "a reader token with its secret" <<<"$T"
READER_ID=$(jq -r .token.id <<<"$T")
READER=$(jq -r .secret <<<"$T")
call $ADMIN/ListTokens '{}' | expect "any(.tokens[]; .id == \"$READER_ID\" and .name == \"ci\")" "the new token listed"
grpcurl -plaintext -H "authorization: Bearer $READER" -d '{"repo":"acme","package":"app-config","version":"1.1.0"}' \
  "$ADDR" relreg.v1.$CATALOG/GetVersion >/dev/null || fail "the reader token does not read"
call_err $ADMIN/CreatePackage '{"repo":"acme","package":"nope"}' PermissionDenied "" -H "authorization: Bearer $READER"
call $ADMIN/RevokeToken "{\"id\":\"$READER_ID\"}" | expect '.token.revokeTime != null' "a revoke time"
call_err $CATALOG/GetVersion '{"repo":"acme","package":"app-config","version":"1.1.0"}' Unauthenticated "" \
  -H "authorization: Bearer $READER"

echo "walkthrough: $STEPS steps passed"
