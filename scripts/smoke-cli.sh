#!/usr/bin/env bash
# The CI smoke run of the relreg client: the whole lifecycle through the `relreg` CLI alone,
# from an empty server to a mobile release and a rollback, with every answer read as
# `--output json` and asserted. Run by CI (.ci/run) before the grpcurl walkthroughs.
#
#   RELREG_BIN=target/debug/relreg bash scripts/smoke-cli.sh
#
# Needs: jq, curl, python3, sha256sum.
set -euo pipefail

NAME=smoke-cli
WALKTHROUGH_TOOLS="jq curl python3 sha256sum"
# shellcheck source=scripts/walkthrough-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/walkthrough-lib.sh"

# The client's profile and upload state stay inside the work directory.
export RELREG_CONFIG_DIR=$WORK/config RELREG_STATE_DIR=$WORK/state
unset RELREG_SERVER RELREG_TOKEN RELREG_PROFILE
OUT=$WORK/client-output.log

# rr ARGS…: runs `relreg --output json ARGS…`; prints the answer, fails the script on an error.
rr() {
  local out
  if ! out=$("$RELREG_BIN" --output json "$@" 2>>"$OUT"); then
    tail -n 5 "$OUT" >&2
    fail "relreg $* failed"
  fi
  printf '%s\n' "$out" | tee -a "$OUT"
}
# rr_err CODE ARGS…: the command must fail with exit code CODE.
rr_err() {
  local code=$1 status=0
  shift
  "$RELREG_BIN" "$@" >>"$OUT" 2>&1 || status=$?
  [[ $status == "$code" ]] || fail "relreg $* exited $status, expected $code"
  echo "    (failed as expected: exit $code)"
}

start_relreg

step "log in: the profile stores server and token, readable by its owner only"
rr login --server "$BASE" --token "$TOKEN" | expect '.profile == "default" and .server == $b' \
  "profile default for $BASE" --arg b "$BASE"
[[ $(stat -c %a "$RELREG_CONFIG_DIR/profiles/default.json") == 600 ]] || fail "profile mode is not 0600"

step "a public repo whose stable channel requires the roles text and translations"
rr repo create iqrah --public | expect '.repo.key == "iqrah" and .repo.public == true' "repo iqrah"
rr repo policy iqrah --require stable=text,translations |
  expect '.policy.channels == [{channel:"stable", requiredRoles:["text","translations"]}]' "the policy"
rr package create iqrah/quran | expect '.package.name == "quran"' "package quran"
rr package create iqrah/translations | expect '.package.name == "translations"' "package translations"

step "push a directory with a manifest and publish it in one command"
mkdir -p quran/pages
printf '{"surahs":114,"edition":1}\n' >quran/quran.json
head -c 3000000 /dev/urandom >quran/pages/all.bin
printf '{"edition":1}' >manifest.json
PUSHED=$(rr push iqrah/quran@1.0.0 quran --manifest manifest.json --publish)
expect '.version.state == "VERSION_STATE_PUBLISHED" and (.version.files | map(.path)) == ["pages/all.bin","quran.json"]' \
  "published with both files" <<<"$PUSHED"
ALL=sha256:$(sha256sum quran/pages/all.bin | cut -d' ' -f1)
expect '.version.files[0].digest == $d' "the digest of pages/all.bin" --arg d "$ALL" <<<"$PUSHED"
curl -sf "$BASE/v1/repos/iqrah/blobs/$ALL" | cmp - quran/pages/all.bin || fail "downloaded bytes differ"

step "the same bytes again: nothing is uploaded"
rr push iqrah/quran@1.0.1 quran --publish |
  expect '.bytesSent == 0 and all(.files[]; .action == "skipped")' "every blob skipped"
printf '{"lang":"en"}' >en.json
rr push iqrah/translations@1.0.0 en.json --publish |
  expect '.version.state == "VERSION_STATE_PUBLISHED"' "translations published"

step "release 1.0.0: validation names the missing role, then it publishes"
R1=$(rr release create iqrah --channel stable --version 1.0.0 --min-app-version 1.0.0 | jq -r .release.id)
rr release attach "$R1" text quran@1.0.0 | expect '.release.artifacts | length == 1' "one artifact"
rr_err 5 release validate "$R1"
rr release attach "$R1" translations translations@1.0.0 | expect '.release.artifacts | length == 2' "two artifacts"
rr release validate "$R1" | expect '.publishable == true' "publishable"
rr release publish "$R1" | expect '.release.state == "RELEASE_STATE_PUBLISHED" and .release.sequence == "1"' "sequence 1"

step "an app of version 1.2.0 is told to update to 1.0.0"
rr channel latest iqrah stable --app-version 1.2.0 | expect '.update.release.id == $r' "update to R1" --arg r "$R1"

step "release 1.1.0, then a rollback to 1.0.0"
R2=$(rr release create iqrah --channel stable --version 1.1.0 --min-app-version 1.0.0 | jq -r .release.id)
rr release attach "$R2" text quran@1.0.1 >/dev/null
rr release attach "$R2" translations translations@1.0.0 >/dev/null
rr release publish "$R2" | expect '.release.sequence == "2"' "sequence 2"
rr channel latest iqrah stable --app-version 1.2.0 --current "$R1" |
  expect '.update.release.id == $r' "update to R2" --arg r "$R2"
rr channel rollback iqrah stable "$R1" |
  expect '.release.id == $r1 and .deprecatedReleaseIds == [$r2]' "R2 deprecated" --arg r1 "$R1" --arg r2 "$R2"
rr channel latest iqrah stable --app-version 1.2.0 --current "$R1" |
  expect '.upToDate.release.id == $r' "up to date on R1" --arg r "$R1"

step "the audit trail and bad input"
rr audit --repo iqrah --action channel.rolled_back | expect '.events | length == 1' "one rollback event"
rr_err 2 push iqrah/quran@not-semver en.json
rr_err 8 push iqrah/quran@2.0.0 missing.json
rr_err 4 --token rr_wrong repo get iqrah
rr_err 7 --server http://127.0.0.1:1 repo get iqrah

step "log out; the token never appeared in any output"
rr logout | expect '.removed == true' "profile removed"
[[ ! -e $RELREG_CONFIG_DIR/profiles/default.json ]] || fail "the profile is still there"
if grep -qF "$TOKEN" "$OUT"; then fail "the token was printed"; fi

echo "$NAME: all $STEPS steps passed"
