# syntax=docker/dockerfile:1
# The relreg image: one static-ish binary (glibc) on debian:bookworm-slim, run as a non-root
# user, data in the /data volume (SQLite by default; set RELREG_DATABASE_URL to postgres://…).
#
#   docker build -t relreg .                    # builds relreg from source (stage `builder`)
#   docker run -p 8080:8080 -v relreg-data:/data relreg
#   docker exec CONTAINER relreg token bootstrap # the first admin token, printed last
#
# Stages, in order: `runtime-base` (the runtime without the binary), `prebuilt` (runtime-base
# plus a relreg binary taken from the build context: `--target prebuilt` with a context that
# holds only `relreg`, which is how scripts/image-check.sh checks the image on machines that
# cannot pull a Rust image), `builder` (compiles relreg), `runtime` (the default target:
# runtime-base plus the builder's binary).

ARG RUST_VERSION=1.95
ARG DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${DEBIAN_IMAGE} AS runtime-base
# A fixed uid/gid so that volumes and Kubernetes securityContext (runAsUser/fsGroup) agree.
RUN groupadd --gid 10001 relreg \
 && useradd --uid 10001 --gid relreg --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin relreg \
 && mkdir -p /data/blobs \
 && chown -R relreg:relreg /data
ENV RELREG_LISTEN=0.0.0.0:8080 \
    RELREG_DATABASE_URL=sqlite:///data/relreg.db \
    RELREG_BLOB_DIR=/data/blobs \
    RELREG_PROBE_URL=http://127.0.0.1:8080/healthz
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
USER 10001:10001
# `relreg probe` GETs RELREG_PROBE_URL and exits 0 on 200, 1 otherwise: no curl needed.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["relreg", "probe", "--timeout", "2"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["relreg"]
CMD ["serve"]

FROM runtime-base AS prebuilt
COPY --chmod=0755 relreg /usr/local/bin/relreg

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
# Only what the build reads (the bench targets are listed in Cargo.toml, so their sources
# must exist); .dockerignore keeps target/ and node_modules/ out of the context.
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto proto
COPY migrations migrations
COPY benches benches
COPY src src
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin relreg \
 && install -m 0755 target/release/relreg /usr/local/bin/relreg

FROM runtime-base AS runtime
COPY --from=builder /usr/local/bin/relreg /usr/local/bin/relreg
