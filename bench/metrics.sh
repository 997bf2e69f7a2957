#!/usr/bin/env bash
# The render cost of GET /metrics on the scale fixture (issue 6, item 4).
#
#   bench/metrics.sh N K      serve the scale fixture (N domains x K interfaces, built
#                             by `bench/scale.sh --setup-only` when missing) with
#                             `vifd serve` and scrape GET /metrics (bench/metrics_bench.py)
#
# What it does: starts `vifd serve --listen 127.0.0.1:PORT --libvirt-uri test:///…/node.xml
# --netns vifd-bench --refresh 300`, then metrics_bench.py checks one exposition with
# the Prometheus Python client's OpenMetrics parser and times SCRAPES cold answers (a
# new view each time: one fixture tap flipped down/up before each scrape) and SCRAPES
# cached ones (the same view). A view's families are rendered once and kept, so only
# the cold answers measure a render; the Server-Timing header tells them apart.
# Target at N=1000 K=4: cold p50 (request to last byte) <= 20 ms.
#
# Environment:
#   VIFD      vifd binary                        [<repo>/target/release/vifd, built
#                                                 with cargo when missing]
#   SCRAPES   scrapes per phase                  [200]
#   SETTLE_S  pause between a new view and its scrape, seconds  [0.05]
#   PORT      TCP port on 127.0.0.1              [a free one]
#   VIFD_BENCH_DIR  scratch directory            [/tmp/vifd-bench]
#
# Needs root (the netns), iproute2, virsh (fixture setup), /usr/bin/python3 with
# prometheus_client (Debian: python3-prometheus-client). The daemon is stopped on exit.
# Results go to $VIFD_BENCH_DIR/metrics-results.json, the daemon's log to
# metrics-daemon.log. Exit status: 0 when the report was produced (PASS or FAIL), 2 on
# harness errors.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
# The release build, where cargo puts it (CARGO_TARGET_DIR honoured, relative to the repo).
RELEASE_VIFD=$(cd "$ROOT" && realpath -m "${CARGO_TARGET_DIR:-target}/release/vifd")
NETNS=vifd-bench
WORKDIR=${VIFD_BENCH_DIR:-/tmp/vifd-bench}
SCRAPES=${SCRAPES:-200}
PORT=${PORT:-}
VIFD=${VIFD:-$RELEASE_VIFD}
PY=/usr/bin/python3

die() { echo "metrics.sh: ERROR: $*" >&2; exit 2; }
say() { echo "metrics.sh: $*" >&2; }

[ $# -eq 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
N=$1 K=$2
[[ "$N" =~ ^[1-9][0-9]*$ && "$K" =~ ^[1-9][0-9]*$ ]] || die "N and K must be positive integers"
[[ "$SCRAPES" =~ ^[1-9][0-9]*$ ]] || die "SCRAPES must be a positive integer"
[ "$(id -u)" -eq 0 ] || die "must run as root (network namespace $NETNS)"
for t in ip virsh python3; do
    command -v "$t" >/dev/null || die "$t not found in PATH"
done
"$PY" -c 'import prometheus_client.openmetrics.parser' 2>/dev/null \
    || die "$PY cannot import prometheus_client (apt-get install python3-prometheus-client)"
case "$WORKDIR" in /*) ;; *) WORKDIR="$PWD/$WORKDIR" ;; esac
if [ ! -x "$VIFD" ] && [ "$VIFD" = "$RELEASE_VIFD" ]; then
    say "building $VIFD (cargo build --release)"
    (cd "$ROOT" && cargo build --release) >&2 || die "cargo build --release failed"
fi
[ -x "$VIFD" ] || die "no vifd binary at $VIFD"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
ensure_fixture

[ -n "$PORT" ] || PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LOG="$WORKDIR/metrics-daemon.log"
OUT="$WORKDIR/metrics-results.json"
PID=
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# No VIFD_* variable of the caller's environment reaches the daemon; `env` execs it, so
# $! is the daemon's own pid.
unset_vifd=()
for v in $(compgen -e); do
    case "$v" in VIFD_*) unset_vifd+=(-u "$v") ;; esac
done
say "starting: $VIFD serve --listen 127.0.0.1:$PORT --libvirt-uri $URI --netns $NETNS --refresh 300"
env "${unset_vifd[@]}" "$VIFD" serve --listen "127.0.0.1:$PORT" --libvirt-uri "$URI" \
    --netns "$NETNS" --refresh 300 >"$LOG" 2>&1 &
PID=$!

echo "metrics: N=$N K=$K ($((N * K)) interfaces), $(nproc) CPUs, $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
"$PY" "$HERE/metrics_bench.py" --port "$PORT" --pid "$PID" --netns "$NETNS" \
    --taps "$DATA/taps.txt" --records $((N * K)) --scrapes "$SCRAPES" --out "$OUT" \
    --repro "cd $ROOT && make bench-metrics  (or: SCRAPES=$SCRAPES bash bench/metrics.sh $N $K)" \
    || die "metrics_bench.py failed; daemon log $LOG:
$(tail -20 "$LOG")"
