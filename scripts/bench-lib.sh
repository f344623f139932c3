# Shared by the benchmark scripts (source it): messages, free ports, waiting for a server to
# listen, stopping the processes a benchmark started, and timing a command.

say() { printf '==> %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# A port that no TCP socket uses now (each server is listening before the next port is
# picked), below Linux's default ephemeral range (32768 and up).
free_port() {
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 12000))
        if ! grep -qi -- "$(printf ':%04X ' "$port")" /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    return 1
}

# Waits until a process listens on a port, failing if it exits or takes over 10 s.
wait_port() {
    local pid=$1 port=$2 log=$3
    for _ in $(seq 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            say "process $pid exited; its log:"; cat "$log" >&2; return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return; fi
        sleep 0.1
    done
    say "nothing listens on port $port; log:"; cat "$log" >&2; return 1
}

# stop_pids PID...: TERM, up to 5 s to exit, then KILL; empty arguments are skipped.
stop_pids() {
    local pid
    for pid in "$@"; do
        [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "$@"; do
        [[ -n $pid ]] || continue
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

seconds() { # seconds COMMAND...: runs it, prints how long it took
    local start=$EPOCHREALTIME
    "$@"
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f\n", b - a }'
}

# The 1-, 5- and 15-minute load averages, to print beside every figure.
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# need_tools PACKAGE:COMMAND...: installs (apt-get) the Debian packages whose command is
# missing; dies when that fails.
need_tools() {
    local want=() spec
    for spec in "$@"; do
        command -v "${spec#*:}" >/dev/null || [[ -x /usr/sbin/${spec#*:} ]] || want+=("${spec%%:*}")
    done
    ((${#want[@]})) || return 0
    say "installing ${want[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get install -y "${want[@]}" >/dev/null ||
        { timeout 300 apt-get update >/dev/null && timeout 600 apt-get install -y "${want[@]}" >/dev/null; } ||
        die "could not install ${want[*]}"
}

# build_relreg: sets RELREG_BIN, building target/release/relreg unless RELREG_BIN is given.
build_relreg() {
    if [[ -z ${RELREG_BIN:-} ]]; then
        say "building relreg (release)"
        timeout "${BENCH_BUILD_TIMEOUT_SECS:-1800}" cargo build --release --bin relreg ||
            die "cargo build --release failed"
        RELREG_BIN=${CARGO_TARGET_DIR:-target}/release/relreg
    fi
    RELREG_BIN=$(cd "$(dirname "$RELREG_BIN")" && pwd)/$(basename "$RELREG_BIN")
    [[ -x $RELREG_BIN ]] || die "$RELREG_BIN is not executable"
}

# work_dir NAME: makes DIR (/tmp/NAME.XXXXXX); on exit, stops the server start_relreg started
# (RELREG_PID) and removes DIR.
work_dir() {
    DIR=$(mktemp -d "/tmp/$1.XXXXXX")
    RELREG_PID=
    trap 'stop_pids "$RELREG_PID"; rm -rf "$DIR"' EXIT
    trap 'exit 130' INT TERM
}

# start_relreg DIR [FLAG...]: an admin token and `relreg serve` on a free port over SQLite
# in DIR, ready; sets RELREG_PID, RELREG_PORT, BASE and TOKEN (never printed).
start_relreg() {
    local dir=$1
    shift
    local db=(--database-url "sqlite://$dir/relreg.db" --blob-dir "$dir/blobs")
    TOKEN=$("$RELREG_BIN" token bootstrap "${db[@]}" 2>"$dir/token.log" | tail -1)
    [[ -n $TOKEN ]] || { cat "$dir/token.log" >&2; die "token bootstrap printed no token"; }
    RELREG_PORT=$(free_port)
    BASE=http://127.0.0.1:$RELREG_PORT
    say "starting relreg on 127.0.0.1:$RELREG_PORT $*"
    "$RELREG_BIN" serve --listen "127.0.0.1:$RELREG_PORT" "${db[@]}" "$@" >"$dir/relreg.log" 2>&1 &
    RELREG_PID=$!
    for _ in $(seq 1 100); do
        curl -sf "$BASE/readyz" >/dev/null && return
        kill -0 "$RELREG_PID" 2>/dev/null || { tail -20 "$dir/relreg.log" >&2; die "relreg exited"; }
        sleep 0.1
    done
    die "relreg did not become ready"
}

# api METHOD PATH JSON: calls the JSON bridge as admin; prints the answer, dies on non-2xx.
api() {
    local method=$1 path=$2 body=$3 out code
    out=$(curl -sS -X "$method" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --data "$body" -w '\n%{http_code}' "$BASE$path") || die "$method $path: curl failed"
    code=${out##*$'\n'}
    out=${out%$'\n'*}
    [[ $code == 2?? ]] || die "$method $path $body answered HTTP $code: $out"
    printf '%s\n' "$out"
}

# seed_latest: publishes release 1.0.0 (app 1.0 and up) in channel stable of public repo
# bench through the JSON bridge; sets RELEASE_ID.
seed_latest() {
    say "seeding through the JSON bridge"
    api POST /v1/repos '{"repo":"bench","public":true}' >/dev/null
    api POST /v1/repos/bench/packages '{"package":"app"}' >/dev/null
    api POST /v1/repos/bench/packages/app/versions '{"version":"1.0.0"}' >/dev/null
    api POST /v1/repos/bench/packages/app/versions/1.0.0:publish '{}' >/dev/null
    RELEASE_ID=$(api POST /v1/repos/bench/releases \
        '{"channel":"stable","version":"1.0.0","minAppVersion":"1.0"}' | jq -r '.release.id')
    [[ -n $RELEASE_ID && $RELEASE_ID != null ]] || die "CreateRelease answered no release id"
    api PUT "/v1/releases/$RELEASE_ID/artifacts/data" '{"package":"app","version":"1.0.0"}' >/dev/null
    api POST "/v1/releases/$RELEASE_ID:publish" '{}' >/dev/null
}

# cpu_ticks PID...: user+system clock ticks the processes (all their threads) have used.
cpu_ticks() {
    local total=0 pid
    for pid in "$@"; do
        [[ -r /proc/$pid/stat ]] && total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo "$total"
}

# median NUMBER...: the median of the numbers.
median() {
    printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
        if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
        else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio_verdict BUDGET RATIO...: prints the median, lowest and highest ratio and PASS or FAIL
# (the median against the budget, higher is better).
ratio_verdict() {
    local budget=$1 med lo hi
    shift
    med=$(median "$@")
    lo=$(printf '%s\n' "$@" | sort -g | head -1)
    hi=$(printf '%s\n' "$@" | sort -g | tail -1)
    printf '%s %s %s %s\n' "$med" "$lo" "$hi" \
        "$(awk -v m="$med" -v b="$budget" 'BEGIN {print (m >= b) ? "PASS" : "FAIL"}')"
}
