#!/usr/bin/env bash
# vifd fleet benchmark (issue 18): the real publisher of HOSTS simulated hosts x VIFS
# records (examples/fleet_sim) against a local etcd, read by `vifd fleet serve`.
#
#   bench/fleet.sh            10,000 hosts x 40 records (400,000 records)
#   QUICK=1 bench/fleet.sh    500 hosts x 40, shorter phases (a smoke run, ~2 min)
#
# What it does:
#   1. starts a single-member etcd (`etcd` in PATH, 3.4+) with its data dir on tmpfs
#      (/dev/shm: no disk fsync cost) and --quota-backend-bytes 8 GiB, on free ports;
#   2. builds (cargo build --release) vifd and the fleet_sim example when missing or
#      older than the sources;
#   3. bench/fleet_bench.py: load (every host's first full sync), fleet server cold start
#      (spawn -> ready file) and its VmHWM, change -> /v1/watch and /v1/interfaces
#      latency under BG_RATE background changes/s, a burst of BURST hosts x VIFS changes,
#      and STEADY_S s with no change: etcd's counters per host and hour.
# Targets (10,000 x 40): cold start <= 15 s with RSS <= 1.5 GiB; change -> visible p50 <=
# 100 ms, p99 <= 1 s at 100 changes/s; 500 x 40 changes all visible <= 10 s.
#
# Environment:
#   HOSTS, VIFS     simulated hosts, records per host            [10000, 40]
#   CONNECTIONS     etcd connections shared by the simulated hosts, round robin (each
#                   host keeps its own lease, keep-alive stream, reads and guarded
#                   transactions); 0: one per host, as real agents have. 10,000 of them
#                   on these 2 cores do not converge (BENCHMARKS.md)   [100]
#   RAMP            publishers started per second; 0: all at once (on 2 cores, 10,000
#                   connecting in one instant time out and retry in step)   [100]
#   SAMPLES         measured changes                              [200]
#   BG_RATE         background changes per second                 [100]
#   BURST           hosts in the burst (all their records change) [500]
#   STEADY_S        the no-change window, seconds (>= 300 takes in every host's
#                   5-minute repair once)                         [300]
#   VIFD, FLEET_SIM binaries                 [release builds in CARGO_TARGET_DIR or target/]
#   VIFD_BENCH_DIR  scratch directory        [/tmp/vifd-bench]; etcd data: /dev/shm
# Results: $VIFD_BENCH_DIR/fleet-results.json; logs fleet-etcd.log, fleet-sim.log,
# fleet-serve.log there. Exit status: 0 when the report was produced (PASS or FAIL), 2
# on harness errors.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
die() { echo "fleet.sh: error: $*" >&2; exit 2; }
say() { echo "fleet.sh: $*" >&2; }
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

if [ "${QUICK:-0}" = 1 ]; then
    : "${HOSTS:=500}" "${SAMPLES:=50}" "${BURST:=50}" "${STEADY_S:=60}"
fi
HOSTS=${HOSTS:-10000} VIFS=${VIFS:-40} CONNECTIONS=${CONNECTIONS:-100} RAMP=${RAMP:-100}
SAMPLES=${SAMPLES:-200} BG_RATE=${BG_RATE:-100} BURST=${BURST:-500} STEADY_S=${STEADY_S:-300}
WORKDIR=${VIFD_BENCH_DIR:-/tmp/vifd-bench}
mkdir -p "$WORKDIR"
command -v etcd >/dev/null || die "etcd not found in PATH (apt-get install etcd-server)"

vifd_under_test
TARGET=$(cd "$ROOT" && realpath -m "${CARGO_TARGET_DIR:-target}")
FLEET_SIM=${FLEET_SIM:-$TARGET/release/examples/fleet_sim}
if [ ! -x "$FLEET_SIM" ] || [ -n "$(cd "$ROOT" && find src examples Cargo.toml -newer "$FLEET_SIM" -print -quit)" ]; then
    say "building $FLEET_SIM (cargo build --release --example fleet_sim)"
    (cd "$ROOT" && cargo build --release --example fleet_sim) >&2 || die "cargo build failed"
fi

# With a connection per host, fleet_sim and etcd each hold one descriptor per host: far
# above the default 1024. The soft limit goes up to the hard one (raising the hard one
# needs CAP_SYS_RESOURCE, which a container may not have).
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$CONNECTIONS" = 0 ] && [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((HOSTS + 1000)) ]; then
    die "ulimit -n is $(ulimit -n), below HOSTS + 1000 for one connection per host; set CONNECTIONS"
fi

DATA=$(mktemp -d /dev/shm/vifd-fleet-etcd.XXXXXX)
CLIENT_PORT=$(free_port)
PEER_PORT=$(free_port)
ETCD_URL=http://127.0.0.1:$CLIENT_PORT
ETCD_PID=
cleanup() {
    # etcd exits non-zero on SIGTERM: not an error here (set -e would skip the rm).
    if [ -n "$ETCD_PID" ]; then
        kill "$ETCD_PID" 2>/dev/null || true
        wait "$ETCD_PID" 2>/dev/null || true
    fi
    rm -rf "$DATA"
}
trap cleanup EXIT

say "etcd $(etcd --version | head -1 | awk '{print $3}') on $ETCD_URL, data on tmpfs $DATA"
etcd --name fleet-bench --data-dir "$DATA" \
    --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls "http://127.0.0.1:$PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$PEER_PORT" \
    --initial-cluster "fleet-bench=http://127.0.0.1:$PEER_PORT" \
    --quota-backend-bytes $((8 << 30)) >"$WORKDIR/fleet-etcd.log" 2>&1 &
ETCD_PID=$!
for _ in $(seq 100); do
    curl -sf "$ETCD_URL/health" >/dev/null 2>&1 && break
    kill -0 "$ETCD_PID" 2>/dev/null || die "etcd exited; see $WORKDIR/fleet-etcd.log"
    sleep 0.1
done
curl -sf "$ETCD_URL/health" >/dev/null || die "etcd not healthy after 10 s"

python3 "$HERE/fleet_bench.py" --etcd "$ETCD_URL" --etcd-pid "$ETCD_PID" --vifd "$VIFD" \
    --sim "$FLEET_SIM" --workdir "$WORKDIR" --hosts "$HOSTS" --vifs "$VIFS" \
    --connections "$CONNECTIONS" --ramp "$RAMP" --samples "$SAMPLES" --bg-rate "$BG_RATE" --burst "$BURST" \
    --steady-s "$STEADY_S" --json "$WORKDIR/fleet-results.json"

echo
echo "machine: $(nproc) CPUs $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "etcd: $(etcd --version | head -1), single member, data dir on tmpfs (/dev/shm)"
echo "reproduce: HOSTS=$HOSTS VIFS=$VIFS CONNECTIONS=$CONNECTIONS RAMP=$RAMP SAMPLES=$SAMPLES BG_RATE=$BG_RATE BURST=$BURST STEADY_S=$STEADY_S bench/fleet.sh"
