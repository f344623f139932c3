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
