#!/usr/bin/env bash
# vifd memory-in-flight benchmark: how far one `vifd serve`'s RSS swings, on the 1000 x 4
# host, under the churn the soak puts on its daemon B.
#
#   bench/inflight.sh         the scale fixture (netns vifd-bench, built by
#                             `bench/scale.sh --setup-only` when missing)
#
# For BASELINE (when set), then VIFD, one after the other:
#   1. starts `vifd serve --listen 127.0.0.1:PORT --config FILE --libvirt-uri
#      test:///…/node.xml --netns vifd-bench --resolvers libvirt-network,nova-metadata,
#      linuxbridge,config`, waits for /readyz (60 s);
#   2. bench/inflight_bench.py measure: SECONDS of reloads (every 10 s), sequential GETs
#      of the soak's paths, watch clients and tap churn, VmRSS sampled every 0.5 s;
#   3. stops the daemon.
# Then prints each binary's RSS mean, standard deviation, min and max after the first
# SKIP s, and the ratios to the baseline. The soak's linear fit of RSS can resolve its
# slope only as finely as this scatter allows (its standard error is proportional to
# the standard deviation here).
#
# Environment:
#   VIFD          vifd binary                     [<repo>/target/release/vifd, built
#                                                  when missing or older than the sources]
#   BASELINE      a vifd binary to compare with, measured first in the same run   [none]
#   SECONDS_EACH  seconds of churn per binary     [240]
#   SKIP          seconds left out of the figures (warm-up)   [60]
#   VIFD_BENCH_DIR  scratch directory             [/tmp/vifd-bench]
#
# Needs root (the netns, taps), python3, iproute2, virsh (fixture set-up). The deleted
# taps are made again as the fixture has them. Results go to
# $VIFD_BENCH_DIR/inflight-LABEL.json (every sample), the daemons' logs next to them.
# Exit status: 0 when the report was produced, 2 on harness errors.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
WORKDIR=${VIFD_BENCH_DIR:-/tmp/vifd-bench}
SECONDS_EACH=${SECONDS_EACH:-240}
SKIP=${SKIP:-60}
BASELINE=${BASELINE:-}
N=1000 K=4 NETNS=vifd-bench
READY_TIMEOUT=60

die() { echo "inflight.sh: ERROR: $*" >&2; exit 2; }
say() { echo "inflight.sh: $*" >&2; }
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

case "${1:-}" in
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) die "no arguments expected (see --help)" ;;
esac
for v in SECONDS_EACH SKIP; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number of seconds, got '${!v}'"
done
[ "$SKIP" -lt "$SECONDS_EACH" ] || die "SKIP ($SKIP) must be less than SECONDS_EACH ($SECONDS_EACH)"
[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, tap devices)"
for t in ip virsh python3; do
    command -v "$t" >/dev/null || die "$t not found in PATH"
done
case "$WORKDIR" in /*) ;; *) WORKDIR="$PWD/$WORKDIR" ;; esac
if [ -n "$BASELINE" ]; then
    [ -x "$BASELINE" ] && [ -f "$BASELINE" ] || die "BASELINE=$BASELINE is not an executable file"
    BASELINE=$(realpath "$BASELINE")
fi
vifd_under_test

PID=
trap 'stop_daemon "$PID"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$WORKDIR"
LOADAVG0=$(cut -d' ' -f1-3 /proc/loadavg)
ensure_fixture
RESULTS=()
UNDER_TEST=$VIFD
for label in ${BASELINE:+baseline} vifd; do
    if [ "$label" = baseline ]; then VIFD=$BASELINE; else VIFD=$UNDER_TEST; fi
    port=$(free_port)
    config="$WORKDIR/inflight-$label.toml"
    echo "refresh = 30" >"$config"
    LOG="$WORKDIR/inflight-$label.log"
    start_daemon "$LOG" serve --listen "127.0.0.1:$port" --config "$config" --libvirt-uri "$URI" \
        --netns "$NETNS" --resolvers libvirt-network,nova-metadata,linuxbridge,config
    PID=$DAEMON_PID
    wait_ready "$PID" "$port" "$LOG"
    out="$WORKDIR/inflight-$label.json"
    python3 "$HERE/inflight_bench.py" measure --port "$port" --pid "$PID" --netns "$NETNS" \
        --data "$DATA" --config "$config" --label "$label $VIFD" --out "$out" \
        --seconds "$SECONDS_EACH" --skip "$SKIP" || die "inflight_bench.py failed on $label; daemon log $LOG"
    kill -0 "$PID" 2>/dev/null || die "the daemon (pid $PID) died during the bench; log $LOG"
    stop_daemon "$PID"
    PID=
    RESULTS+=("$out")
done
fixture_ok || die "the fixture's taps are not all back in netns $NETNS"
python3 "$HERE/inflight_bench.py" report "${RESULTS[@]}"
echo "load average before / after: $LOADAVG0 / $(cut -d' ' -f1-3 /proc/loadavg)"
echo "reproduce: cd $ROOT && ${BASELINE:+BASELINE=$BASELINE }VIFD=$UNDER_TEST SECONDS_EACH=$SECONDS_EACH SKIP=$SKIP bench/inflight.sh"
