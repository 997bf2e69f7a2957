#!/usr/bin/env bash
# vifd live-state benchmark (issue 4): change -> event on GET /v1/watch.
#
#   bench/watch.sh [N K]      serve the scale fixture (default N=1000 domains x
#                             K=4 interfaces, built by `bench/scale.sh --setup-only`
#                             when missing) with `vifd serve` and measure how its
#                             watch stream follows the host (bench/watch_bench.py)
#
# What it does:
#   1. starts `vifd serve --listen 127.0.0.1:PORT --libvirt-uri test:///…/node.xml
#      --netns vifd-bench --refresh 300`, waits for /readyz (60 s); with LIBVIRT=1
#      also `vifd serve --listen 127.0.0.1:PORT2 --libvirt-uri qemu:///system
#      --refresh 300` (root namespace);
#   2. link latency: CHANGES changes, one at a time, the next once the previous
#      one's event arrived (LINK_TIMEOUT s, else counted as a failure), alternating
#      `ip -n vifd-bench tuntap add dev tapwbNNNN mode tap` (-> `problem` raised
#      orphan-device) and `ip -n vifd-bench link set TAP down|up` on fixture taps
#      held open by a helper so they have carrier, as a guest's QEMU would
#      (-> `changed`, operstate); latency from `ip` returning (and from its spawn);
#   3. LIBVIRT=1: D=ceil(ATTACHES/4) paused q35 domains from
#      tests/fixtures/qemu/domain.xml on bridge vwbbr0, network vwbnet0 and veth
#      vwblo0, then ATTACHES x `virsh attach-interface DOM bridge vwbbr0 --mac MAC
#      --model virtio --live`: latency from virsh returning to the `added` event;
#   4. idle: the daemon's utime+stime over IDLE_S seconds with nothing changing;
#   5. burst: one `ip -n vifd-bench -b FILE` creating BURST taps tapbbNNNNN,
#      absorbed when the last one's orphan-device event arrived (confirmed with
#      GET /v1/problems), then deleted (tagged with a link group, `ip link del
#      group`: one `link del` per tap costs the kernel ~16 ms); VmHWM against
#      (a) + 60 MiB, (a) = peak RSS of `virsh -c URI list --name` (from
#      nN-kK/results.json, else measured with measure.py); GET /v1/interfaces
#      against a fresh `vifd list --json`.
# Targets (N=1000 K=4): link->event and attach->event p50 <= 10 ms, p99 <= 100 ms;
# idle CPU <= 0.5 % of one core; burst of 5,000 absorbed <= 2 s; VmHWM <= (a) +
# 60 MiB; the served interfaces equal a fresh `vifd list --json`.
#
# Environment:
#   VIFD          vifd binary                     [<repo>/target/release/vifd, built
#                                                  with cargo when missing or older
#                                                  than the sources]
#   CHANGES       link changes                    [200]
#   LINK_TIMEOUT  seconds to wait for one event   [5]
#   LIBVIRT       1: the real-libvirtd section (fails when libvirtd does not
#                 answer on qemu:///system); 0: skip it   [1]
#   ATTACHES      virsh attach-interface count    [50]
#   IDLE_S        idle window, seconds            [60]
#   BURST         taps in the burst               [5000]
#   PORT, PORT2   TCP ports on 127.0.0.1          [free ones]
#   VIFD_BENCH_DIR  scratch directory             [/tmp/vifd-bench]
#
# Needs root (the netns, taps, libvirt), python3, iproute2, virsh. The daemons
# are stopped and everything the bench created (tapwb*/tapbb* taps, vwb* domains,
# network, bridge and veth) is removed on exit. Results go to
# $VIFD_BENCH_DIR/watch-results.json, the daemons' logs to watch-daemon.log and
# watch-daemon-qemu.log.
# Exit status: 0 when the report was produced (PASS or FAIL), 2 on harness
# errors (no binary, setup failed, a daemon died or never became ready, ...).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
NETNS=vifd-bench
WORKDIR=${VIFD_BENCH_DIR:-/tmp/vifd-bench}
CHANGES=${CHANGES:-200}
LINK_TIMEOUT=${LINK_TIMEOUT:-5}
LIBVIRT=${LIBVIRT:-1}
ATTACHES=${ATTACHES:-50}
IDLE_S=${IDLE_S:-60}
BURST=${BURST:-5000}
PORT=${PORT:-}
PORT2=${PORT2:-}
REFRESH=300
READY_TIMEOUT=60
QEMU_URI=qemu:///system
STARTED=$(date +%s.%N)

die() { echo "watch.sh: ERROR: $*" >&2; exit 2; }
say() { echo "watch.sh: $*" >&2; }
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

case "${1:-}" in
    -h|--help) usage; exit 0 ;;
esac
case $# in
    0) N=1000 K=4 ;;
    2) N=$1 K=$2 ;;
    *) usage >&2; exit 2 ;;
esac
[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, got '$N'"
[[ "$K" =~ ^[1-9][0-9]*$ ]] || die "K must be a positive integer, got '$K'"
for v in CHANGES LINK_TIMEOUT ATTACHES IDLE_S BURST; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[ "$CHANGES" -le 20000 ] || die "CHANGES must be at most 20000 (tapwbNNNN names)"
[ "$BURST" -le 100000 ] || die "BURST must be at most 100000 (tapbbNNNNN names)"
case "$LIBVIRT" in 0|1) ;; *) die "LIBVIRT must be 0 or 1, got '$LIBVIRT'" ;; esac
for v in PORT PORT2; do
    [ -z "${!v}" ] || [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a port number"
done

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespace vifd-bench, tap devices, libvirt)"
for t in ip virsh python3; do
    command -v "$t" >/dev/null || die "$t not found in PATH"
done
case "$WORKDIR" in /*) ;; *) WORKDIR="$PWD/$WORKDIR" ;; esac
if [ "$LIBVIRT" = 1 ] && ! timeout 10 virsh -q -c "$QEMU_URI" version >/dev/null 2>&1; then
    die "LIBVIRT=1 (the default) but libvirtd does not answer on $QEMU_URI
  start it (scripts/start-libvirtd.sh, or make services), or skip that section with LIBVIRT=0"
fi

# ---- the binary under test: built when missing or older than the sources
vifd_under_test

# ---- what the bench creates, removed before (leftovers of a killed run) and after
netns_exists() { ip netns list | awk '{print $1}' | grep -qx "$NETNS"; }
# tapwb*/tapbb* in the netns, and fixture taps left down by a killed run
clean_netns() {
    # the burst's control namespace (watch_bench.py deletes it itself)
    ! ip netns list | awk '{print $1}' | grep -qx vifd-wb-ctl || ip netns del vifd-wb-ctl || true
    netns_exists || return 0
    local f
    f=$(mktemp "${TMPDIR:-/tmp}/vifd-watch-clean.XXXXXX")
    ip -n "$NETNS" -o link show type tun | awk -F': ' '{sub(/@.*/, "", $2); print $2}' \
        | grep -E '^tap(wb|bb)[0-9]+$' | sed 's/^/link del /' >"$f" || true
    if [ -f "$DATA/taps.txt" ]; then
        ip -n "$NETNS" -o link show type tun | awk -F': ' '$3 !~ /[<,]UP[,>]/ {sub(/@.*/, "", $2); print $2}' \
            | grep -Fxf "$DATA/taps.txt" | sed 's/^/link set /; s/$/ up/' >>"$f" || true
    fi
    if [ -s "$f" ]; then
        say "netns $NETNS: removing $(grep -c '^link del' "$f" || true) leftover bench taps, bringing up $(grep -c ' up$' "$f" || true) fixture taps"
        ip -n "$NETNS" -force -b "$f" >/dev/null 2>&1 || true
    fi
    rm -f -- "$f"
}
# libvirtd may be restarted under us (the repo's libvirtd-restart test does that): retry
# until nothing of ours is left, or give up after 3 rounds saying what is left
vwb_left() {
    local doms net
    doms=$(timeout 30 virsh -q -c "$QEMU_URI" list --name 2>/dev/null) || return 2
    net=$(timeout 30 virsh -q -c "$QEMU_URI" net-list --all --name 2>/dev/null) || return 2
    printf '%s\n' "$doms" | grep -E '^vwb-dom-[0-9]+$' || true
    printf '%s\n' "$net" | grep -x vwbnet0 || true
}
clean_libvirt() {
    [ "$LIBVIRT" = 1 ] || return 0
    local round left x err
    for round in 1 2 3; do
        left=$(vwb_left) || { say "libvirtd not answering (clean-up round $round)"; sleep 3; continue; }
        for x in $left; do
            case "$x" in
                vwbnet0)
                    timeout 30 virsh -q -c "$QEMU_URI" net-destroy vwbnet0 >/dev/null 2>&1 || true
                    err=$(timeout 30 virsh -q -c "$QEMU_URI" net-undefine vwbnet0 2>&1 >/dev/null) \
                        || say "virsh net-undefine vwbnet0 failed: $err" ;;
                *)
                    err=$(timeout 30 virsh -q -c "$QEMU_URI" destroy "$x" 2>&1 >/dev/null) \
                        || say "virsh destroy $x failed: $err" ;;
            esac
        done
        left=$(vwb_left) || left="(libvirtd not answering)"
        [ -n "$left" ] || break
        [ "$round" = 3 ] && say "left behind in libvirt: $(echo $left); remove by hand"
        sleep 3
    done
    for x in vwbbr0 vwblo0; do
        ! ip link show "$x" >/dev/null 2>&1 || ip link del "$x" || say "ip link del $x failed"
    done
}

# ---- the scale fixture: node file + netns with exactly its taps
DATA="$WORKDIR/n$N-k$K" # clean_netns needs it before ensure_fixture sets it again
clean_netns
clean_libvirt
ensure_fixture

# ---- start the daemons
[ -n "$PORT" ] || PORT=$(free_port)
if [ "$LIBVIRT" = 1 ]; then
    [ -n "$PORT2" ] || PORT2=$(free_port)
    [ "$PORT2" != "$PORT" ] || die "PORT and PORT2 are the same"
fi
LOG="$WORKDIR/watch-daemon.log"
LOG2="$WORKDIR/watch-daemon-qemu.log"
OUT="$WORKDIR/watch-results.json"
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/vifd-watch.XXXXXX")
PID=
PID2=

CLEANED=0
cleanup() {
    [ "$CLEANED" = 1 ] && return 0
    CLEANED=1
    stop_daemon "$PID"
    stop_daemon "$PID2"
    clean_netns
    clean_libvirt
    rm -rf -- "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_daemon "$LOG" serve --listen "127.0.0.1:$PORT" --libvirt-uri "$URI" --netns "$NETNS" --refresh "$REFRESH"
PID=$DAEMON_PID
if [ "$LIBVIRT" = 1 ]; then
    start_daemon "$LOG2" serve --listen "127.0.0.1:$PORT2" --libvirt-uri "$QEMU_URI" --refresh "$REFRESH"
    PID2=$DAEMON_PID
fi
wait_ready "$PID" "$PORT" "$LOG"
[ "$LIBVIRT" = 1 ] && wait_ready "$PID2" "$PORT2" "$LOG2"

# ---- (a): peak RSS of `virsh list --name` on this URI
baseline_a_rss

# ---- measure
REPRO="cd $ROOT && VIFD=$VIFD CHANGES=$CHANGES LIBVIRT=$LIBVIRT ATTACHES=$ATTACHES IDLE_S=$IDLE_S BURST=$BURST bench/watch.sh $N $K"
qemu_args=()
[ "$LIBVIRT" = 1 ] && qemu_args=(--qemu-port "$PORT2" --qemu-pid "$PID2" --attaches "$ATTACHES")
rc=0
python3 "$HERE/watch_bench.py" --port "$PORT" --pid "$PID" --uri "$URI" --netns "$NETNS" \
    --data "$DATA" --vifd "$VIFD" --root "$ROOT" --out "$OUT" --a-rss "$A_RSS" --a-source "$A_SRC" \
    --changes "$CHANGES" --link-timeout "$LINK_TIMEOUT" --idle "$IDLE_S" --burst "$BURST" \
    "${qemu_args[@]}" --title "N=$N x K=$K, $URI, netns $NETNS" --repro "$REPRO" --started "$STARTED" \
    || rc=$?
for p in "$PID" "$PID2"; do
    [ -z "$p" ] || kill -0 "$p" 2>/dev/null || { say "daemon $p died during the bench; see $LOG $LOG2"; rc=2; }
done
[ "$rc" = 0 ] || die "watch_bench.py failed (exit $rc); daemon log $LOG"

cleanup
WALL=$(python3 -c "print('%.1f' % ($(date +%s.%N) - $STARTED))")
python3 - "$OUT" "$WALL" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["wall_s"] = float(sys.argv[2])
json.dump(d, open(sys.argv[1], "w"), indent=1)
EOF
echo "wall time of the whole bench (build check, setup, measuring, clean-up): $WALL s"
echo "daemon log: $LOG${PID2:+, $LOG2}"
