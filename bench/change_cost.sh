#!/usr/bin/env bash
# vifd per-change cost benchmark: the daemon CPU one single-tap change costs
# `vifd serve`, on a large and a small host.
#
#   bench/change_cost.sh      1000 x 4 (netns vifd-bench) and 10 x 4 (netns
#                             vifd-bench-small), both scale fixtures built by
#                             `bench/scale.sh --setup-only` when missing or stale
#
# For each size, one after the other (ROUNDS times):
#   1. starts `vifd serve --listen 127.0.0.1:PORT --libvirt-uri test:///…/node.xml
#      --netns NS --refresh 300` (no periodic full read during the run), waits for
#      /readyz (60 s);
#   2. bench/change_cost_bench.py opens GET /v1/watch, holds HELD fixture taps open
#      (carrier on, as a guest's QEMU would), makes WARMUP then CHANGES changes one at
#      a time, `ip -n NS link set TAP down|up` round robin over those taps, each waited
#      on by its `changed` event, and reads the daemon's utime+stime (/proc/PID/stat)
#      right before the first change and right after the last event; then the same
#      over an idle window of the same wall time (nothing changing);
#   3. stops the daemon.
# Then prints per size: changes, wall time, daemon CPU ms, CPU ms per change (raw and
# idle-corrected), p50/p99 change -> event latency; the ratio 1000x4 / 10x4 and
# PASS/FAIL against the targets.
# Targets: <= 1.0 ms of daemon CPU per change at 1000 x 4 (idle-corrected), and the
# 1000 x 4 figure <= 2 x the 10 x 4 one.
#
# Environment:
#   VIFD          vifd binary                     [<repo>/target/release/vifd, built
#                                                  with cargo when missing or older
#                                                  than the sources]
#   CHANGES       measured changes per size       [200]
#   WARMUP        changes before measuring        [10]
#   HELD          fixture taps held and changed   [8]
#   LINK_TIMEOUT  seconds to wait for one event   [5]
#   ROUNDS        rounds of both sizes; with more than one, the figures checked
#                 are the medians over the rounds (a loaded host is noisy)  [1]
#   PORT          TCP port on 127.0.0.1           [a free one per daemon]
#   VIFD_BENCH_DIR  scratch directory             [/tmp/vifd-bench]
#
# Needs root (the netns, taps), python3, iproute2, virsh (fixture set-up). The
# changed taps are left up and released; the daemons are stopped on exit. Results
# go to $VIFD_BENCH_DIR/change-cost-results.json (each size's samples in
# change-cost-NxK-rROUND.json), the daemons' logs to change-cost-daemon-NxK.log.
# Exit status: 0 when the report was produced (PASS or FAIL), 2 on harness errors
# (no binary, setup failed, a missing event, a daemon died or never became ready).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
WORKDIR=${VIFD_BENCH_DIR:-/tmp/vifd-bench}
CHANGES=${CHANGES:-200}
WARMUP=${WARMUP:-10}
HELD=${HELD:-8}
LINK_TIMEOUT=${LINK_TIMEOUT:-5}
ROUNDS=${ROUNDS:-1}
PORT=${PORT:-}
REFRESH=300
READY_TIMEOUT=60
# N K NETNS: the large size first; the large one shares the other benches' netns
SIZES=("1000 4 vifd-bench" "10 4 vifd-bench-small")

die() { echo "change_cost.sh: ERROR: $*" >&2; exit 2; }
say() { echo "change_cost.sh: $*" >&2; }
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

case "${1:-}" in
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) die "no arguments expected (see --help)" ;;
esac
for v in CHANGES HELD LINK_TIMEOUT ROUNDS; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer, got '$WARMUP'"
[ -z "$PORT" ] || [[ "$PORT" =~ ^[1-9][0-9]*$ ]] || die "PORT must be a port number"
[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, tap devices)"
for t in ip virsh python3; do
    command -v "$t" >/dev/null || die "$t not found in PATH"
done
case "$WORKDIR" in /*) ;; *) WORKDIR="$PWD/$WORKDIR" ;; esac

# ---- the binary under test: built when missing or older than the sources
vifd_under_test

PID=
trap 'stop_daemon "$PID"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$WORKDIR"
LOADAVG0=$(cut -d' ' -f1-3 /proc/loadavg)
LARGE=()
SMALL=()
for round in $(seq "$ROUNDS"); do
    for size in "${SIZES[@]}"; do
        read -r N K NETNS <<<"$size"
        ensure_fixture
        port=${PORT:-$(free_port)}
        LOG="$WORKDIR/change-cost-daemon-${N}x$K.log"
        start_daemon "$LOG" serve --listen "127.0.0.1:$port" --libvirt-uri "$URI" --netns "$NETNS" --refresh "$REFRESH"
        PID=$DAEMON_PID
        wait_ready "$PID" "$port" "$LOG"
        out="$WORKDIR/change-cost-${N}x$K-r$round.json"
        rc=0
        python3 "$HERE/change_cost_bench.py" measure --port "$port" --pid "$PID" --netns "$NETNS" \
            --data "$DATA" --n "$N" --k "$K" --label "${N}x$K round $round" --changes "$CHANGES" \
            --warmup "$WARMUP" --held "$HELD" --timeout "$LINK_TIMEOUT" --out "$out" || rc=$?
        kill -0 "$PID" 2>/dev/null || die "the daemon (pid $PID) died during the bench; log $LOG:
$(tail -20 "$LOG")"
        [ "$rc" = 0 ] || die "change_cost_bench.py failed on ${N}x$K (exit $rc); daemon log $LOG"
        stop_daemon "$PID"
        PID=
        if [ "$size" = "${SIZES[0]}" ]; then LARGE+=("$out"); else SMALL+=("$out"); fi
    done
done

python3 "$HERE/change_cost_bench.py" report --large "${LARGE[@]}" --small "${SMALL[@]}" \
    --vifd "$VIFD" --loadavg0 "$LOADAVG0" --out "$WORKDIR/change-cost-results.json" \
    --repro "cd $ROOT && VIFD=$VIFD CHANGES=$CHANGES WARMUP=$WARMUP HELD=$HELD ROUNDS=$ROUNDS bench/change_cost.sh" \
    || die "change_cost_bench.py report failed"
