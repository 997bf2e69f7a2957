#!/usr/bin/env bash
# vifd scale benchmark.
#
#   bench/scale.sh N K        build a test:/// node with N domains x K interfaces,
#                             the matching taps in netns "vifd-bench", and time
#                             `vifd list --json` against two baselines
#   bench/scale.sh --setup-only N K
#                             only build the node file and the netns (no
#                             measurement, no vifd binary needed); used by
#                             bench/serve.sh
#   bench/scale.sh --clean    delete the netns and the generated files
#
# Baselines (median of RUNS=5 after WARMUP=1, wall time and peak RSS):
#   (a) virsh -c URI list --name                 (libvirt loading the host)
#   (b) one virsh running `domiflist NAME` for every domain
#       + ip -n vifd-bench -j -d link show        (what an admin runs today)
# Targets at N=1000 K=4: vifd <= 1.25x (a), <= 0.6x (b), RSS <= (a) + 30 MiB.
#
# Environment:
#   VIFD     vifd binary               [<repo>/target/release/vifd]
#   RUNS     measured runs             [5]
#   WARMUP   warm-up runs              [1]
#   B_MODE   auto|stdin|semicolon: how (b) feeds virsh its commands [auto]
#   VIFD_BENCH_DIR  scratch directory  [/tmp/vifd-bench]
#   VIFD_BENCH_NETNS  the namespace    [vifd-bench]
#
# Needs root (network namespaces, taps), virsh, iproute2, python3; a C
# compiler for bench/spawn.c (accurate peak RSS; falls back without it).
# With libvirt headers (libvirt-dev) it also builds bench/libvirt_floor.c, a
# bare C client (open + list + XMLDesc), shown as an [info] row: the least
# any in-process libvirt client can take on this URI.
# Exit status: 0 when the report was produced (PASS or FAIL), non-zero on
# harness errors.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
# The release build, where cargo puts it (CARGO_TARGET_DIR honoured, relative to the repo).
RELEASE_VIFD=$(cd "$ROOT" && realpath -m "${CARGO_TARGET_DIR:-target}/release/vifd")
NETNS=${VIFD_BENCH_NETNS:-vifd-bench}
WORKDIR=${VIFD_BENCH_DIR:-/tmp/vifd-bench}
RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}
B_MODE=${B_MODE:-auto}
MARKER=.vifd-bench-workdir

die() { echo "scale.sh: ERROR: $*" >&2; exit 2; }
say() { echo "scale.sh: $*" >&2; }

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in
    -h|--help) usage; exit 0 ;;
esac

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, tap devices)"
for t in ip virsh python3; do
    command -v "$t" >/dev/null || die "$t not found in PATH"
done
case "$WORKDIR" in /*) ;; *) WORKDIR="$PWD/$WORKDIR" ;; esac

if [ "$1" = "--clean" ]; then
    if ip netns list | awk '{print $1}' | grep -qx "$NETNS"; then
        ip netns del "$NETNS" && say "deleted netns $NETNS (its taps and bridges go with it)"
    fi
    if [ -d "$WORKDIR" ]; then
        [ -e "$WORKDIR/$MARKER" ] || die "$WORKDIR exists but was not made by scale.sh; not removing it"
        rm -rf -- "$WORKDIR" && say "removed $WORKDIR"
    fi
    exit 0
fi

SETUP_ONLY=0
if [ "$1" = "--setup-only" ]; then
    SETUP_ONLY=1
    shift
fi
[ $# -eq 2 ] || { usage >&2; exit 2; }
N=$1 K=$2
[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, got '$N'"
[[ "$K" =~ ^[1-9][0-9]*$ ]] || die "K must be a positive integer, got '$K'"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer"

# ---- the binary under test: check before any expensive setup
if [ "$SETUP_ONLY" -eq 0 ]; then
    VIFD=${VIFD:-$RELEASE_VIFD}
    case "$VIFD" in
        /*) ;;
        */*) VIFD="$PWD/$VIFD" ;;
        *) VIFD=$(command -v "$VIFD") || die "VIFD=$VIFD not found in PATH" ;;
    esac
    [ -x "$VIFD" ] && [ -f "$VIFD" ] || die "vifd binary not found: $VIFD
  build it first:  (cd $ROOT && cargo build --release)
  or point VIFD at a binary:  VIFD=/path/to/vifd $0 $N $K"
fi

mkdir -p "$WORKDIR"
touch "$WORKDIR/$MARKER"

# ---- spawn helper (accurate wall time and ru_maxrss per child)
SPAWN="$WORKDIR/spawn"
if [ ! -x "$SPAWN" ] || [ "$HERE/spawn.c" -nt "$SPAWN" ]; then
    if command -v cc >/dev/null; then
        cc -O2 -o "$SPAWN.tmp" "$HERE/spawn.c" && mv "$SPAWN.tmp" "$SPAWN" \
            || die "could not compile $HERE/spawn.c"
    else
        say "WARNING: no C compiler; peak RSS will be floored at python's RSS"
        SPAWN=
    fi
fi

# ---- informational floor: a bare libvirt C client (needs libvirt headers)
FLOOR="$WORKDIR/libvirt_floor"
if [ ! -x "$FLOOR" ] || [ "$HERE/libvirt_floor.c" -nt "$FLOOR" ]; then
    if command -v cc >/dev/null && pkg-config --exists libvirt 2>/dev/null; then
        # shellcheck disable=SC2046
        cc -O2 -o "$FLOOR.tmp" "$HERE/libvirt_floor.c" $(pkg-config --cflags --libs libvirt) \
            && mv "$FLOOR.tmp" "$FLOOR" || { say "WARNING: could not build libvirt_floor.c; skipping that row"; FLOOR=; }
    else
        say "note: no libvirt headers (libvirt-dev); skipping the libvirt_floor row"
        FLOOR=
    fi
fi

# ---- node file + link script
DATA="$WORKDIR/n$N-k$K"
say "generating $N domains x $K interfaces in $DATA"
python3 "$HERE/gen_node.py" "$N" "$K" --out "$DATA" || die "gen_node.py failed"
URI="test://$DATA/node.xml"

# ---- network namespace with the taps
say "recreating netns $NETNS with $((N * K)) taps"
if ip netns list | awk '{print $1}' | grep -qx "$NETNS"; then
    ip netns del "$NETNS"
fi
ip netns add "$NETNS"
ip -n "$NETNS" link set lo up
t0=$(date +%s.%N)
ip -n "$NETNS" -batch "$DATA/links.ip" || die "ip -batch failed (see above); netns $NETNS left for inspection"
t1=$(date +%s.%N)
ntaps=$(ip -n "$NETNS" -o link show type tun | wc -l)
[ "$ntaps" -eq $((N * K)) ] || die "netns $NETNS has $ntaps taps, expected $((N * K))"
say "netns ready ($(python3 -c "print('%.1f' % ($t1 - $t0))") s)"
if [ "$SETUP_ONLY" -eq 1 ]; then
    say "setup only: $URI and netns $NETNS ready; not measuring"
    exit 0
fi

REPRO="cd $ROOT && VIFD=$VIFD RUNS=$RUNS WARMUP=$WARMUP B_MODE=$B_MODE bench/scale.sh $N $K"
rc=0
python3 "$HERE/measure.py" bench \
    --uri "$URI" --netns "$NETNS" --vifd "$VIFD" \
    --names "$DATA/names.txt" --taps "$DATA/taps.txt" --expect-ifaces $((N * K)) \
    --runs "$RUNS" --warmup "$WARMUP" --b-mode "$B_MODE" \
    ${SPAWN:+--spawn "$SPAWN"} ${FLOOR:+--floor "$FLOOR"} \
    --title "N=$N domains x K=$K interfaces ($((N * K)) taps), $URI" \
    --repro "$REPRO" \
    --json "$DATA/results.json" || rc=$?
say "netns $NETNS left in place; remove everything with: bench/scale.sh --clean"
exit $rc
