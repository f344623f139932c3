#!/usr/bin/env bash
# The budgets of "latest", each measured beside its baseline in the same run:
#
#   cold  cold latest at 1,000 and 100,000 releases, the oldest vs the newest release
#         answering (p50 within 1.5x), with the plans of offer_sql(); cold GetLatestRelease
#         vs GetRelease throughput (>= 0.5x); SQLite and Postgres (benches/latest/)
#   memory  the cache with 1,000,000 releases warm: RSS growth <= 100 MiB (benches/latest/)
#   http  warm JSON latest vs nginx serving the same bytes, wrk (scripts/bench-latest-http.sh)
#   grpc  warm GetLatestRelease vs grpc.health.v1.Health/Check, h2load
#         (scripts/bench-latest-grpc.sh)
#
#   scripts/bench-latest.sh                          # everything, full size
#   BENCH_PARTS="cold http" scripts/bench-latest.sh  # some parts
#   RELREG_BENCH_SIZE=reduced scripts/bench-latest.sh  # a tenth of the datasets, for a busy machine
#   RELREG_BENCH_POSTGRES_URL=postgres://user@host:5432/db scripts/bench-latest.sh
#   RELREG_BENCH_POSTGRES_URL= scripts/bench-latest.sh  # SQLite only
#
# Everything runs on 127.0.0.1. On Postgres it creates relreg_bench_* databases (the URL's
# role needs CREATEDB) and drops them at the end. The load average is printed with every
# figure. It prints PASS/FAIL per budget and exits 0 either way unless a benchmark could not run.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

parts=${BENCH_PARTS:-cold memory http grpc}
bench_timeout=${BENCH_TIMEOUT_SECS:-3600}
if [[ -z ${RELREG_BENCH_POSTGRES_URL+set} ]]; then
    export RELREG_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
fi

if [[ -n $RELREG_BENCH_POSTGRES_URL && $parts == *cold* ]] && command -v pg_isready >/dev/null; then
    if ! pg_isready -q -h 127.0.0.1; then
        say "starting Postgres"
        cluster=$(ls /etc/postgresql | sort -V | tail -1)
        pg_ctlcluster --skip-systemctl-redirect "$cluster" main start
        for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 && break; sleep 0.2; done
    fi
    pg_isready -h 127.0.0.1 >&2 || say "Postgres is not answering: the Postgres part will fail"
fi

out=$(mktemp -d /tmp/bench-latest.XXXXXX)
trap 'rm -rf "$out"' EXIT
say "parts: $parts; load $(loadavg); $(nproc) cores"

bench_parts=()
[[ $parts == *cold* ]] && bench_parts+=(cold)
[[ $parts == *memory* ]] && bench_parts+=(memory)
if ((${#bench_parts[@]})); then
    say "building benches/latest (release)"
    built=$(cargo bench --bench latest --no-run 2>&1) || { printf '%s\n' "$built" >&2; exit 1; }
    exe=$(printf '%s\n' "$built" | sed -n 's/^ *Executable .*(\(.*\))$/\1/p' | tail -1)
    [[ -x $exe ]] || { printf '%s\n' "$built" >&2; die "no bench executable found"; }
    say "running benches/latest: ${bench_parts[*]} (load $(loadavg))"
    RELREG_BENCH_PARTS=$(IFS=,; echo "${bench_parts[*]}") timeout "$bench_timeout" "$exe" |
        tee "$out/latest.txt"
fi
if [[ $parts == *http* || $parts == *grpc* ]]; then
    build_relreg
    export RELREG_BIN
fi
if [[ $parts == *http* ]]; then
    scripts/bench-latest-http.sh | tee "$out/http.txt"
fi
if [[ $parts == *grpc* ]]; then
    scripts/bench-latest-grpc.sh | tee "$out/grpc.txt"
fi

echo
echo "=============== budgets ($(date -u +%FT%TZ), load now $(loadavg)) ==============="
cat "$out"/*.txt 2>/dev/null | grep -E '\b(PASS|FAIL)\b' || true
