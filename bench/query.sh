#!/usr/bin/env bash
# vifd fan-out benchmark: `vifd query` over N agents, one of them hanging.
#
#   bench/query.sh [N]        N agents in all (default 100): N-1 `vifd serve` on
#                             127.0.0.1, distinct ports, and one listener that
#                             accepts connections and never answers
#
# What it does:
#   1. gen_node.py DOMAINS IFACES (default 10 x 4) writes a test:/// node file and the
#      matching taps; netns vifd-bench-query holds them. Every agent serves that same
#      host (--libvirt-uri test:///…/node.xml --netns vifd-bench-query --refresh 3600):
#      the fan-out is what is measured, not what each agent holds;
#   2. starts the N-1 daemons and the hanging listener, writes the N URLs to a hosts
#      file, waits until every daemon's /readyz says 200 (60 s);
#   3. bench/query_bench.py runs `vifd query --hosts FILE --json --timeout TIMEOUT
#      --concurrency CONCURRENCY` WARMUP + RUNS times and checks each run: exit status
#      1, every record of the N-1 agents merged, the hanging host and no other failed,
#      with a timeout; then RUNS times over the N-1 live agents alone (exit 0) for
#      comparison; and reads the daemons' RSS.
# Target: every measured run over the N agents completes in <= 2 s (TIMEOUT must be
# below that: the hanging host costs TIMEOUT whatever happens).
#
# Environment:
#   VIFD         vifd binary              [<repo>/target/release/vifd, built when missing]
#   TIMEOUT      --timeout, seconds       [1.0]
#   CONCURRENCY  --concurrency            [32, vifd query's default]
#   RUNS         measured runs            [10]
#   WARMUP       unmeasured runs first    [1]
#   DOMAINS      domains per agent        [10]
#   IFACES       interfaces per domain    [4]
#
# Needs root (the netns, taps), python3, iproute2. Every daemon, the listener, the
# netns and the scratch directory are removed on exit. Results go to
# /tmp/vifd-bench/query-results.json (VIFD_BENCH_DIR).
# Exit status: 0 when the report was produced (PASS or FAIL), 2 on harness errors.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
NETNS=vifd-bench-query
WORKDIR=${VIFD_BENCH_DIR:-/tmp/vifd-bench}
TIMEOUT=${TIMEOUT:-1.0}
CONCURRENCY=${CONCURRENCY:-32}
RUNS=${RUNS:-10}
WARMUP=${WARMUP:-1}
DOMAINS=${DOMAINS:-10}
IFACES=${IFACES:-4}
READY_TIMEOUT=60

die() { echo "query.sh: ERROR: $*" >&2; exit 2; }
say() { echo "query.sh: $*" >&2; }

case "${1:-}" in
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac
[ $# -le 1 ] || die "usage: bench/query.sh [N]"
N=${1:-100}
[[ "$N" =~ ^[1-9][0-9]*$ ]] && [ "$N" -ge 2 ] || die "N must be an integer >= 2, got '$N'"
for v in CONCURRENCY RUNS DOMAINS IFACES; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer"
[[ "$TIMEOUT" =~ ^[0-9]*\.?[0-9]+$ ]] || die "TIMEOUT must be a number of seconds, got '$TIMEOUT'"

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespace $NETNS, tap devices)"
for t in ip python3; do
    command -v "$t" >/dev/null || die "$t not found in PATH"
done

# ---- the binary under test
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
vifd_under_test

mkdir -p "$WORKDIR"
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/vifd-query.XXXXXX")
PIDS=()
HANG_PID=

stop_all() {
    local pid left
    for pid in "${PIDS[@]}" $HANG_PID; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for _ in $(seq 50); do
        left=0
        for pid in "${PIDS[@]}" $HANG_PID; do
            kill -0 "$pid" 2>/dev/null && left=1 && break
        done
        [ "$left" = 0 ] && break
        sleep 0.2
    done
    for pid in "${PIDS[@]}" $HANG_PID; do
        if kill -0 "$pid" 2>/dev/null; then
            say "pid $pid still running 10 s after SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
}

cleanup() {
    stop_all
    ip netns delete "$NETNS" 2>/dev/null || true
    rm -rf -- "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the host every agent serves
python3 "$HERE/gen_node.py" "$DOMAINS" "$IFACES" --out "$SCRATCH/node" >/dev/null \
    || die "gen_node.py failed"
ip netns delete "$NETNS" 2>/dev/null || true
ip netns add "$NETNS" || die "cannot create netns $NETNS"
ip -n "$NETNS" link set lo up
ip -n "$NETNS" -batch "$SCRATCH/node/links.ip" || die "creating the taps failed"
URI="test://$SCRATCH/node/node.xml"

# ---- N free ports (all bound at once, then released: a small race)
mapfile -t PORTS < <(python3 - "$N" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
)
[ "${#PORTS[@]}" -eq "$N" ] || die "could not find $N free ports"

# ---- the agents: N-1 daemons, and the hanging listener on the last port
# no VIFD_* variable of the caller's environment reaches them
unset_vifd=()
for v in $(compgen -e); do
    case "$v" in VIFD_*) unset_vifd+=(-u "$v") ;; esac
done
say "starting $((N - 1)) x vifd serve (--libvirt-uri $URI --netns $NETNS)"
: >"$SCRATCH/hosts"
: >"$SCRATCH/pids"
for ((i = 0; i < N - 1; i++)); do
    port=${PORTS[$i]}
    env "${unset_vifd[@]}" "$VIFD" serve --listen "127.0.0.1:$port" --libvirt-uri "$URI" \
        --netns "$NETNS" --refresh 3600 >"$SCRATCH/daemon-$port.log" 2>&1 &
    PIDS+=($!)
    echo "$!" >>"$SCRATCH/pids"
    echo "http://127.0.0.1:$port" >>"$SCRATCH/hosts"
done
HUNG="http://127.0.0.1:${PORTS[$((N - 1))]}"
python3 - "${PORTS[$((N - 1))]}" <<'EOF' &
# Accepts every connection and never reads or writes: a stuck agent.
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1024)
held = []
while True:
    held.append(s.accept()[0])
EOF
HANG_PID=$!
echo "$HUNG" >>"$SCRATCH/hosts"
grep -v -x -F "$HUNG" "$SCRATCH/hosts" >"$SCRATCH/hosts-live"

mkdir -p "$WORKDIR"
python3 "$HERE/query_bench.py" --vifd "$VIFD" --hosts "$SCRATCH/hosts" \
    --live-hosts "$SCRATCH/hosts-live" --hung "$HUNG" --pids "$SCRATCH/pids" \
    --records $(((N - 1) * DOMAINS * IFACES)) --timeout "$TIMEOUT" \
    --concurrency "$CONCURRENCY" --runs "$RUNS" --warmup "$WARMUP" \
    --ready-timeout "$READY_TIMEOUT" --logs "$SCRATCH" --shape "${DOMAINS}x${IFACES}" \
    --out "$WORKDIR/query-results.json"
