#!/usr/bin/env bash
# GetLatestRelease at scale and the warm-server cache, on SQLite and Postgres: seeds 1,000,
# 16,000 and 1,000,000 published releases over 1,000 channels, measures GetLatestRelease
# latency with the cache off, prints the query plans, and measures the request rate of
# GetLatestRelease and GetReleaseManifest with and without the cache (see benches/latest.rs).
#
#   scripts/bench-latest.sh
#   RELREG_BENCH_POSTGRES_URL=postgres://user@host:5432/db scripts/bench-latest.sh
#   RELREG_BENCH_POSTGRES_URL= scripts/bench-latest.sh     # SQLite only
#
# Everything runs on 127.0.0.1. On Postgres it creates relreg_bench_* databases (the URL's
# role needs CREATEDB) and drops them at the end. It prints figures and PASS/FAIL per budget
# and exits 0 either way unless the benchmark itself could not run.
set -euo pipefail

cd "$(dirname "$0")/.."
bench_timeout=${BENCH_TIMEOUT_SECS:-1800}

say() { printf '==> %s\n' "$*" >&2; }

if [[ -z ${RELREG_BENCH_POSTGRES_URL+set} ]]; then
    export RELREG_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
fi

if [[ -n $RELREG_BENCH_POSTGRES_URL ]] && command -v pg_isready >/dev/null; then
    if ! pg_isready -q -h 127.0.0.1; then
        say "starting Postgres"
        cluster=$(ls /etc/postgresql | sort -V | tail -1)
        pg_ctlcluster --skip-systemctl-redirect "$cluster" main start
        for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 && break; sleep 0.2; done
    fi
    pg_isready -h 127.0.0.1 >&2 || say "Postgres is not answering: the Postgres part will fail"
fi

say "building (release)"
built=$(cargo bench --bench latest --no-run 2>&1) || { printf '%s\n' "$built" >&2; exit 1; }

say "running the benchmark (load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
timeout "$bench_timeout" cargo bench --bench latest
