#!/usr/bin/env bash
# A grpcurl walkthrough of the mobile bootstrap, run by CI (.ci/run) so that the README's
# "Mobile bootstrap walkthrough" cannot rot: a release engineer builds releases out of published
# package versions under a channel policy, and a mobile app without a token asks what to run,
# fetches the manifest and verifies every byte it downloads. Every step asserts its answer; any
# wrong answer fails the script.
#
#   RELREG_BIN=target/debug/relreg bash scripts/walkthrough-mobile.sh
#
# Needs: grpcurl (1.8+, server reflection), jq, curl, python3, sha256sum, base64.
set -euo pipefail

NAME=walkthrough-mobile
# shellcheck source=scripts/walkthrough-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/walkthrough-lib.sh"

# app SERVICE/METHOD JSON: as the mobile app, with no token at all.
app() {
  local method=$1 body=$2
  local out
  if ! out=$(grpcurl -plaintext -d "$body" "$ADDR" "relreg.v1.$method" 2>&1); then
    echo "$out" >&2
    fail "$method $body (no token) failed"
  fi
  printf '%s\n' "$out"
}

start_relreg

step "create the public repo iqrah; channel stable requires the roles text and translations"
call $ADMIN/CreateRepo '{"repo":"iqrah","public":true}' |
  expect '.repo.key == "iqrah" and .repo.public == true' "repo iqrah, public"
call $ADMIN/UpdateRepoPolicy '{"repo":"iqrah","policy":{"channels":[{"channel":"stable","requiredRoles":["text","translations"]}]}}' |
  expect '.policy.channels == [{channel:"stable", requiredRoles:["text","translations"]}]' \
    "the policy back"

step "upload the content blobs (client streaming: a header, then chunks)"
mkdir -p content
printf '{"surahs":114,"edition":1}\n' >content/quran-1.json
printf '{"surahs":114,"edition":2}\n' >content/quran-2.json
printf '{"lang":"en","1:1":"In the name of God"}\n' >content/en.json
printf '{"lang":"fr","1:1":"Au nom de Dieu"}\n' >content/fr.json
upload() { # upload FILE: prints the UploadBlob answer
  local hex
  hex=$(sha256sum "$1" | cut -d' ' -f1)
  printf '{"header":{"repo":"iqrah","expectedDigest":"sha256:%s"}}\n{"chunk":"%s"}\n' \
    "$hex" "$(base64 -w0 "$1")" |
    call $ADMIN/UploadBlob @
}
declare -A DIGEST
for f in quran-1.json quran-2.json en.json fr.json; do
  hex=$(sha256sum "content/$f" | cut -d' ' -f1)
  DIGEST[$f]=sha256:$hex
  upload "content/$f" | expect ".digest == \"sha256:$hex\" and .size == \"$(wc -c <"content/$f" | tr -d ' ')\"" \
    "digest and size of $f"
done

step "publish package versions for each role: quran-text 1.0.0 and 2.0.0, quran-translations 1.0.0"
call $ADMIN/CreatePackage '{"repo":"iqrah","package":"quran-text"}' |
  expect '.package.name == "quran-text"' "package quran-text"
call $ADMIN/CreatePackage '{"repo":"iqrah","package":"quran-translations"}' |
  expect '.package.name == "quran-translations"' "package quran-translations"
# version PACKAGE VERSION PATH=FILE…: creates a draft, binds each path to a blob, publishes.
version() {
  local package=$1 version=$2 spec
  shift 2
  call $ADMIN/CreateVersion "$(body --arg p "$package" --arg v "$version" '{repo:"iqrah", package:$p, version:$v}')" |
    expect '.version.state == "VERSION_STATE_DRAFT"' "a draft $package@$version"
  for spec in "$@"; do
    call $ADMIN/PutVersionFile "$(body --arg p "$package" --arg v "$version" --arg path "${spec%%=*}" \
      --arg d "${DIGEST[${spec#*=}]}" '{repo:"iqrah", package:$p, version:$v, path:$path, digest:$d, mediaType:"application/json"}')" >/dev/null
  done
  call $ADMIN/PublishVersion "$(body --arg p "$package" --arg v "$version" '{repo:"iqrah", package:$p, version:$v}')" |
    expect '.version.state == "VERSION_STATE_PUBLISHED" and (.version.files | length) == $n' \
      "$package@$version published with its files" --argjson n $#
}
version quran-text 1.0.0 text/quran.json=quran-1.json
version quran-text 2.0.0 text/quran.json=quran-2.json
version quran-translations 1.0.0 translations/en.json=en.json translations/fr.json=fr.json

step "create release 1.0.0 in stable: a draft for app versions 1.0 and up, on iOS and Android"
R=$(call $ADMIN/CreateRelease '{"repo":"iqrah","channel":"stable","version":"1.0.0","minAppVersion":"1.0","platforms":["ios","android"],"notes":"First release","mandatory":false}')
expect '.release.state == "RELEASE_STATE_DRAFT" and .release.version == "1.0.0" and .release.minAppVersion == "1.0"
    and .release.platforms == ["ios","android"] and (.release.id | startswith("rel_"))' "a draft release" <<<"$R"
R1=$(jq -r .release.id <<<"$R")

step "validate it: the channel policy's required roles are missing, so publishing is refused"
call $ADMIN/ValidateRelease "{\"releaseId\":\"$R1\"}" |
  expect 'any(.findings[]; .severity == "SEVERITY_ERROR" and .rule == "required_roles") and (.publishable // false) == false' \
    "an ERROR finding required_roles, not publishable"
call_err $ADMIN/PublishRelease "{\"releaseId\":\"$R1\"}" FailedPrecondition VALIDATION_FAILED "${AUTH[@]}"

step "attach both roles; the release validates and publishes with channel sequence 1"
# attach RELEASE_ID ROLE PACKAGE VERSION: the AttachArtifact request body.
attach() {
  body --arg r "$1" --arg role "$2" --arg p "$3" --arg v "$4" '{releaseId:$r, role:$role, package:$p, version:$v}'
}
call $ADMIN/AttachArtifact "$(attach "$R1" text quran-text 1.0.0)" |
  expect '.release.artifacts == [{role:"text", package:"quran-text", version:"1.0.0"}]' "one artifact"
call $ADMIN/AttachArtifact "$(attach "$R1" translations quran-translations 1.0.0)" |
  expect '.release.artifacts | map(.role) | sort == ["text","translations"]' "two artifacts"
call $ADMIN/ValidateRelease "{\"releaseId\":\"$R1\"}" |
  expect '.publishable == true and ([.findings[]? | select(.severity == "SEVERITY_ERROR")] | length) == 0' \
    "publishable, no ERROR finding"
call $ADMIN/PublishRelease "{\"releaseId\":\"$R1\"}" |
  expect '.release.state == "RELEASE_STATE_PUBLISHED" and .release.sequence == "1" and .release.publishTime != null' \
    "published with sequence 1"

step "create and publish release 2.0.0 for app versions 2.0 and up (sequence 2)"
R=$(call $ADMIN/CreateRelease '{"repo":"iqrah","channel":"stable","version":"2.0.0","minAppVersion":"2.0","platforms":["ios","android"],"notes":"Second edition of the text"}')
R2=$(jq -r .release.id <<<"$R")
call $ADMIN/AttachArtifact "$(attach "$R2" text quran-text 2.0.0)" >/dev/null
call $ADMIN/AttachArtifact "$(attach "$R2" translations quran-translations 1.0.0)" >/dev/null
call $ADMIN/PublishRelease "{\"releaseId\":\"$R2\"}" |
  expect '.release.state == "RELEASE_STATE_PUBLISHED" and .release.sequence == "2" and .release.version == "2.0.0"' \
    "2.0.0 published with sequence 2"

# latest APP_VERSION [CURRENT_RELEASE_ID]: the GetLatestRelease body of an iOS app.
latest() {
  body --arg a "$1" --arg c "${2:-}" '{repo:"iqrah", channel:"stable", appVersion:$a, platform:"ios"} + (if $c == "" then {} else {currentReleaseId:$c} end)'
}
step "as the app (no token): ask what to run, per app version"
L=$(app $CATALOG/GetLatestRelease "$(latest 2.1)")
expect '.update.release.version == "2.0.0" and .update.release.id == $r2 and .update.manifestPath == "/v1/releases/\($r2)/manifest"' \
  "app 2.1: update to 2.0.0 with its manifest path" --arg r2 "$R2" <<<"$L"
app $CATALOG/GetLatestRelease "$(latest 1.4)" |
  expect '.update.release.version == "1.0.0" and .update.release.id == $r1' "app 1.4: update to 1.0.0" --arg r1 "$R1"
app $CATALOG/GetLatestRelease "$(latest 0.9)" |
  expect '.appUpdateRequired.minAppVersion == "1.0.0" and (has("update") | not)' "app 0.9: an app update to 1.0.0 is required"
app $CATALOG/GetLatestRelease "$(latest 2.1 "$R2")" |
  expect '.upToDate.release.id == $r2 and (has("update") | not)' "app 2.1 running 2.0.0: up to date" --arg r2 "$R2"

step "as the app (no token): fetch the manifest of 2.0.0 and verify every byte it lists"
M=$(app $CATALOG/GetReleaseManifest "{\"releaseId\":\"$R2\"}")
expect '.manifest.releaseId == $r2 and .manifest.version == "2.0.0" and .manifest.sequence == "2" and .manifest.minAppVersion == "2.0"
    and (.manifest.artifacts | map("\(.role)=\(.package)@\(.version)") | sort) == ["text=quran-text@2.0.0","translations=quran-translations@1.0.0"]
    and ([.manifest.artifacts[].files[].path] | sort) == ["text/quran.json","translations/en.json","translations/fr.json"]
    and all(.manifest.artifacts[].files[]; (.sha256 | test("^[0-9a-f]{64}$")) and (.url | startswith($base + "/v1/repos/iqrah/blobs/sha256:")) and (.size | tonumber) > 0)' \
  "both artifacts with every file: path, size, sha256 and url" --arg r2 "$R2" --arg base "$BASE" <<<"$M"
FILES=0
while IFS=$'\t' read -r path size sha url; do
  curl -sf -o download.bin "$url" || fail "GET $url (for $path) failed"
  got=$(sha256sum download.bin | cut -d' ' -f1)
  [[ $got == "$sha" ]] || fail "$path: downloaded bytes hash to $got, the manifest says $sha"
  [[ $(wc -c <download.bin | tr -d ' ') == "$size" ]] || fail "$path: downloaded size differs from $size"
  echo "    $path: $size bytes, sha256 $sha verified"
  FILES=$((FILES + 1))
done < <(jq -r '.manifest.artifacts[].files[] | [.path, .size, .sha256, .url] | @tsv' <<<"$M")
[[ $FILES == 3 ]] || fail "verified $FILES files, expected 3"

step "roll the channel back to 1.0.0: 2.0.0 is deprecated and apps on 2.1 get 1.0.0"
call $ADMIN/RollbackChannel "$(body --arg r "$R1" '{repo:"iqrah", channel:"stable", releaseId:$r}')" |
  expect '.release.id == $r1 and .deprecatedReleaseIds == [$r2] and .sequence == "3"' \
    "2.0.0 deprecated by the rollback, sequence 3" --arg r1 "$R1" --arg r2 "$R2"
app $CATALOG/GetLatestRelease "$(latest 2.1)" |
  expect '.update.release.version == "1.0.0" and .update.release.id == $r1' "app 2.1: update to 1.0.0" --arg r1 "$R1"
app $CATALOG/GetRelease "{\"releaseId\":\"$R2\"}" |
  expect '.release.state == "RELEASE_STATE_DEPRECATED" and .release.deprecationReason == "rolled back to 1.0.0"' \
    "2.0.0 deprecated, with the reason"
# Deprecating again answers the deprecated release unchanged; a channel rolls back only to a
# published release.
call $ADMIN/DeprecateRelease "$(body --arg r "$R2" --arg r1 "$R1" '{releaseId:$r, reason:"text errata", replacement:$r1}')" |
  expect '.release.state == "RELEASE_STATE_DEPRECATED"' "still deprecated"
call_err $ADMIN/RollbackChannel "$(body --arg r "$R2" '{repo:"iqrah", channel:"stable", releaseId:$r}')" \
  FailedPrecondition FAILED_PRECONDITION "${AUTH[@]}"

step "list releases: the catalog (no token) shows published ones, the admin list drafts too"
call $ADMIN/CreateRelease '{"repo":"iqrah","channel":"stable","version":"2.1.0","minAppVersion":"2.0","platforms":["ios","android"]}' |
  expect '.release.state == "RELEASE_STATE_DRAFT"' "a draft 2.1.0"
app $CATALOG/ListReleases '{"repo":"iqrah","channel":"stable"}' |
  expect '[.releases[] | "\(.version) \(.state)"] == ["1.0.0 RELEASE_STATE_PUBLISHED","2.0.0 RELEASE_STATE_DEPRECATED"]' \
    "1.0.0 and 2.0.0, no draft"
call $ADMIN/ListReleases '{"repo":"iqrah","channel":"stable"}' |
  expect '[.releases[] | "\(.version) \(.state)"] == ["1.0.0 RELEASE_STATE_PUBLISHED","2.0.0 RELEASE_STATE_DEPRECATED","2.1.0 RELEASE_STATE_DRAFT"]' \
    "1.0.0, 2.0.0 and the draft 2.1.0"

step "read the audit trail"
call $ADMIN/ListAuditEvents '{"repo":"iqrah","pageSize":1000}' |
  expect '[.events[].action] as $a | ["repo.policy_updated","release.created","release.artifact_attached","release.published","channel.rolled_back"] | all(. as $x | $a | index($x))' \
    "every release mutation in the audit trail"

echo "walkthrough-mobile: $STEPS steps passed"
