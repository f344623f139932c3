#!/usr/bin/env bash
# Checks the container image: builds Dockerfile's `prebuilt` stage (the runtime image,
# debian:bookworm-slim + a non-root user + /data + the HEALTHCHECK) around a relreg binary
# built on this host, runs it with podman, and runs the CLI smoke flow
# (scripts/smoke-cli.sh) against the container; then stops it with SIGTERM, starts it again
# and reads the data back from the volume.
#
#   RELREG_BIN=target/debug/relreg bash scripts/image-check.sh
#
# Why `prebuilt` and not the default `runtime` target: no container registry is reachable on
# the CI machines, so neither rust:bookworm nor debian:bookworm-slim can be pulled. The base
# is a Debian bookworm minbase root filesystem made with mmdebstrap from the Debian mirror
# apt already uses (cached as target/image/debian-bookworm-minbase.tar, 20-50 s the first
# time), and the binary comes from the host (bookworm too, so the same glibc). The `builder`
# stage is the path for users elsewhere; this script does not check it.
#
# Needs: podman (+ runc, uidmap), mmdebstrap, curl, jq, python3 (installed with apt-get if
# podman or mmdebstrap is missing and we are root).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RELREG_BIN=${RELREG_BIN:-target/debug/relreg}
[[ $RELREG_BIN == /* ]] || RELREG_BIN=$ROOT/$RELREG_BIN
CACHE=$ROOT/target/image
IMAGE=localhost/relreg:check
BASE_IMAGE=localhost/relreg-debian-base:bookworm
NAME=relreg-image-check-$$
mkdir -p "$CACHE"

say() { echo "==> image-check: $*"; }
fail() {
  echo "image-check: FAILED: $*" >&2
  if podman container exists "$NAME" 2>/dev/null; then
    echo "--- container log ---" >&2
    podman logs --tail 30 "$NAME" >&2 || true
  fi
  exit 1
}

if ! command -v podman >/dev/null || ! command -v mmdebstrap >/dev/null; then
  [[ $(id -u) == 0 ]] || fail "podman and mmdebstrap are needed (apt-get install podman buildah runc mmdebstrap uidmap)"
  say "installing podman and mmdebstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah runc mmdebstrap uidmap >/dev/null
fi
for tool in curl jq python3; do
  command -v "$tool" >/dev/null || fail "$tool is not on PATH"
done
if [[ ! -x $RELREG_BIN ]]; then
  say "building relreg ($RELREG_BIN is missing)"
  cargo build --bin relreg
  RELREG_BIN=$ROOT/target/debug/relreg
fi

# crun (podman's default runtime) fails on this machine's cgroups, and podman's default
# rlimits exceed the hard limits (no CAP_SYS_RESOURCE): a private config fixes both.
export CONTAINERS_CONF=$CACHE/containers.conf
cat >"$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF

cleanup() {
  podman rm -f -v -t 0 "$NAME" >/dev/null 2>&1 || true
  rm -rf "$CACHE/context"
}
trap cleanup EXIT

if ! podman image exists "$BASE_IMAGE"; then
  ROOTFS=$CACHE/debian-bookworm-minbase.tar
  if [[ ! -s $ROOTFS ]]; then
    MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    say "making a bookworm root filesystem with mmdebstrap (${MIRROR:-default mirror})"
    mmdebstrap --variant=minbase --format=tar --quiet bookworm "$ROOTFS.part" ${MIRROR:+"$MIRROR"}
    mv "$ROOTFS.part" "$ROOTFS"
  fi
  say "importing $ROOTFS as $BASE_IMAGE"
  podman import -q "$ROOTFS" "$BASE_IMAGE" >/dev/null
fi

say "building $IMAGE (Dockerfile, --target prebuilt, binary $RELREG_BIN)"
rm -rf "$CACHE/context"
mkdir -p "$CACHE/context"
# Without debug sections: a smaller layer to copy (the debug binary is ~280 MB with them).
objcopy --strip-debug "$RELREG_BIN" "$CACHE/context/relreg" 2>/dev/null || cp "$RELREG_BIN" "$CACHE/context/relreg"
# --format docker keeps HEALTHCHECK (the OCI image format has no field for it).
podman build -q --pull=never --format docker --target prebuilt \
  --build-arg DEBIAN_IMAGE="$BASE_IMAGE" -f Dockerfile -t "$IMAGE" "$CACHE/context" >/dev/null

say "the image's configuration"
INSPECT=$(podman image inspect "$IMAGE")
CONFIG=$(jq '.[0].Config' <<<"$INSPECT")
jq -e '.User == "10001:10001"' <<<"$CONFIG" >/dev/null || fail "the image does not run as 10001:10001"
jq -e '.Volumes | has("/data")' <<<"$CONFIG" >/dev/null || fail "no /data volume"
for env in RELREG_LISTEN=0.0.0.0:8080 RELREG_DATABASE_URL=sqlite:///data/relreg.db RELREG_BLOB_DIR=/data/blobs; do
  jq -e --arg e "$env" '.Env | index($e)' <<<"$CONFIG" >/dev/null || fail "the image does not set $env"
done
jq -e '.[0].Healthcheck.Test | index("relreg") and index("probe")' <<<"$INSPECT" >/dev/null ||
  fail "the HEALTHCHECK does not run relreg probe"
jq -e '.Entrypoint == ["relreg"] and .Cmd == ["serve"]' <<<"$CONFIG" >/dev/null || fail "entrypoint/cmd"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
BASE=http://127.0.0.1:$PORT
say "running $NAME on $BASE"
# No systemd here to time the HEALTHCHECK: its timer is off (podman still complains; quiet()
# drops those lines) and the check runs on demand below.
quiet() { "$@" 2> >(grep -v 'systemd connection' >&2); }
quiet podman run -d -q --health-interval=disable --name "$NAME" -p "127.0.0.1:$PORT:8080" -e RELREG_PUBLIC_URL="$BASE" "$IMAGE" >/dev/null
wait_ready() {
  for _ in $(seq 1 100); do
    curl -sf "$BASE/readyz" >/dev/null && return 0
    [[ $(podman inspect -f '{{.State.Running}}' "$NAME") == true ]] || fail "the container exited"
    sleep 0.2
  done
  fail "$BASE/readyz did not answer 200 within 20 s"
}
wait_ready
[[ $(podman exec "$NAME" id -u) == 10001 ]] || fail "the server does not run as uid 10001"
podman healthcheck run "$NAME" || fail "the HEALTHCHECK (relreg probe) failed on a serving container"
podman exec "$NAME" relreg probe --url http://127.0.0.1:8080/readyz >/dev/null || fail "relreg probe /readyz"
if podman exec "$NAME" relreg probe --url http://127.0.0.1:8080/nothing-here 2>/dev/null; then
  fail "relreg probe passed on a 404"
fi

say "bootstrap a token inside the container, then the CLI smoke flow from the host"
TOKEN=$(podman exec "$NAME" relreg token bootstrap | tail -1)
[[ $TOKEN == rr_* ]] || fail "token bootstrap printed no token"
RELREG_SMOKE_SERVER=$BASE RELREG_SMOKE_TOKEN=$TOKEN RELREG_BIN=$RELREG_BIN bash scripts/smoke-cli.sh

say "SIGTERM stops the server cleanly; the data survives in the /data volume"
quiet podman stop -t 30 "$NAME" >/dev/null
[[ $(podman inspect -f '{{.State.ExitCode}}' "$NAME") == 0 ]] ||
  fail "the server exited $(podman inspect -f '{{.State.ExitCode}}' "$NAME") on SIGTERM"
quiet podman start "$NAME" >/dev/null
wait_ready
curl -sf -H "authorization: Bearer $TOKEN" "$BASE/v1/repos/iqrah" | jq -e '.repo.key == "iqrah"' >/dev/null ||
  fail "repo iqrah is gone after a restart"
podman exec "$NAME" sh -c 'test -s /data/relreg.db && test -d /data/blobs' || fail "no database or blobs under /data"

say "passed ($(podman image inspect "$IMAGE" --format '{{.Size}}' | numfmt --to=iec) image)"
