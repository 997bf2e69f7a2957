#!/usr/bin/env bash
# vifd actions benchmark: what the write endpoints of `vifd serve --enable-actions` cost
# against a real libvirtd (qemu:///system).
#
#   bench/actions.sh
#
# What it does:
#   1. creates two persistent isolated libvirt networks (vabnet0 on bridge vabbr0, DHCP
#      .10-.50; vabnet1 on vabbr1, DHCP .10-.(10+ALLOCS+19)) on free 10.214.X.0/24
#      subnets, a dir storage pool vabpool (in the scratch directory) with one volume,
#      the paused q35 guest vab-guest (64 MiB, no disk, 2*(N+WARMUP)+8 spare
#      pcie-root-ports, defined persistently then `virsh start --paused`) and the
#      shut-off domain vab-many (defined, never started) with ALLOCS NICs on vabnet1,
#      all from tests/fixtures/actions/{domain,interface,network}.xml;
#   2. starts `vifd serve --enable-actions --volume-pool vabpool --listen unix:SOCK
#      --libvirt-uri qemu:///system`, waits for /readyz (60 s);
#   3. (a) N interface attaches end to end through the API (curl --unix-socket, POST
#      /v2.1/servers/UUID/os-interface with {"interfaceAttachment": {"net_id": vabnet0's
#      UUID}}, each a fresh port) interleaved with N `virsh attach-interface vab-guest
#      network vabnet0 --model virtio --live --config`, after WARMUP of each; median and
#      p90 of the wall time of each child process, and their ratio;
#      (b) ALLOCS sequential POST /v1/interfaces/{id}/ip_addresses, one per NIC of
#      vab-many (bench/actions_bench.py, a keep-alive client on the unix socket): total
#      seconds and per-allocation median/p90; then, informative, libvirt's floor for the
#      same write: 5 x `virsh net-update vabnet0 add ip-dhcp-host ... --live --config`.
# Targets: attach API median <= 1.2 x virsh median; ALLOCS=100 allocations <= 5 s.
# Output: key=value lines on stdout (attach_api_median_ms=..., alloc_total_s=...), the
# JSON in $VIFD_BENCH_DIR/actions-results.json, the daemon log in actions-daemon.log.
#
# Environment:
#   VIFD          vifd binary                     [<repo>/target/release/vifd, built
#                                                  with cargo when missing or older
#                                                  than the sources]
#   N             attaches of each kind           [20]
#   WARMUP        uncounted attaches of each kind [1]
#   ALLOCS        sequential allocations          [100]
#   VIFD_BENCH_DIR  results and logs              [/tmp/vifd-bench]
#
# Needs root, a running libvirtd (scripts/start-libvirtd.sh), QEMU (KVM when available,
# else TCG), virsh, curl, python3, iproute2. Everything it creates (vab-* domains,
# vabnet0/vabnet1, vabpool, the scratch directory) is removed on exit, and before the
# run when a killed run left it behind.
# Exit status: 0 when the report was produced (PASS or FAIL), 2 on harness errors.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
WORKDIR=${VIFD_BENCH_DIR:-/tmp/vifd-bench}
N=${N:-20}
WARMUP=${WARMUP:-1}
ALLOCS=${ALLOCS:-100}
READY_TIMEOUT=60
QEMU_URI=qemu:///system
FIX="$ROOT/tests/fixtures/actions"
STARTED=$(date +%s.%N)

die() { echo "actions.sh: ERROR: $*" >&2; exit 2; }
say() { echo "actions.sh: $*" >&2; }

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}
case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    "") ;;
    *) usage >&2; exit 2 ;;
esac
for v in N ALLOCS; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer, got '$WARMUP'"
[ "$ALLOCS" -le 200 ] || die "ALLOCS must be at most 200 (one /24 holds the range)"
[ $((2 * (N + WARMUP))) -le 180 ] || die "N+WARMUP must be at most 90 (root ports of one q35 guest)"

[ "$(id -u)" -eq 0 ] || die "must run as root (libvirt on qemu:///system)"
for t in ip virsh curl python3; do
    command -v "$t" >/dev/null || die "$t not found in PATH"
done
for f in domain.xml interface.xml network.xml; do
    [ -f "$FIX/$f" ] || die "fixture $FIX/$f missing"
done
case "$WORKDIR" in /*) ;; *) WORKDIR="$PWD/$WORKDIR" ;; esac
mkdir -p "$WORKDIR"
timeout 10 virsh -q -c "$QEMU_URI" version >/dev/null 2>&1 \
    || die "libvirtd does not answer on $QEMU_URI; start it (scripts/start-libvirtd.sh)"

# ---- the binary under test: built when missing or older than the sources
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
vifd_under_test
"$VIFD" serve --help | grep -q -- --enable-actions \
    || die "$VIFD serve has no --enable-actions: it predates the actions"

virsh_() { timeout 60 virsh -q -c "$QEMU_URI" "$@"; }

# ---- what the bench creates, removed before (leftovers of a killed run) and after
DOMAINS="vab-guest vab-many"
NETS="vabnet0 vabnet1"
POOL=vabpool
clean_libvirt() {
    local d n v
    for d in $DOMAINS; do
        virsh_ dominfo "$d" >/dev/null 2>&1 || continue
        virsh_ destroy "$d" >/dev/null 2>&1 || true
        virsh_ undefine "$d" >/dev/null 2>&1 || say "virsh undefine $d failed"
    done
    for n in $NETS; do
        virsh_ net-info "$n" >/dev/null 2>&1 || continue
        virsh_ net-destroy "$n" >/dev/null 2>&1 || true
        virsh_ net-undefine "$n" >/dev/null 2>&1 || say "virsh net-undefine $n failed"
    done
    if virsh_ pool-info "$POOL" >/dev/null 2>&1; then
        for v in $(virsh_ vol-list "$POOL" --name 2>/dev/null); do
            virsh_ vol-delete "$v" --pool "$POOL" >/dev/null 2>&1 || true
        done
        virsh_ pool-destroy "$POOL" >/dev/null 2>&1 || true
        virsh_ pool-undefine "$POOL" >/dev/null 2>&1 || say "virsh pool-undefine $POOL failed"
    fi
}

SCRATCH=
PID=
CLEANED=0
cleanup() {
    [ "$CLEANED" = 1 ] && return 0
    CLEANED=1
    stop_daemon "$PID"
    clean_libvirt
    [ -z "$SCRATCH" ] || rm -rf -- "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

clean_libvirt
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/vifd-actions.XXXXXX")

# ---- fixtures
# A 10.214.X /24 that no route or address uses yet.
free_prefix() {
    local used x
    used="$(ip -4 route show table all) $(ip -4 -o addr)"
    for x in $(seq 0 250); do
        case "$used" in *"10.214.$x."*) continue ;; esac
        echo "10.214.$x"
        return 0
    done
    die "no free 10.214.X.0/24"
}
# render TEMPLATE KEY=VALUE...: every @KEY@ replaced (values may span lines)
render() {
    python3 - "$@" <<'EOF'
import sys
text = open(sys.argv[1]).read()
for kv in sys.argv[2:]:
    k, _, v = kv.partition("=")
    text = text.replace("@%s@" % k, v)
sys.stdout.write(text)
EOF
}
make_network() { # NAME BRIDGE LAST
    local prefix
    prefix=$(free_prefix)
    render "$FIX/network.xml" NETNAME="$1" NETBRIDGE="$2" NETPREFIX="$prefix" FIRST=10 LAST="$3" \
        >"$SCRATCH/$1.xml"
    virsh_ net-define "$SCRATCH/$1.xml" >/dev/null || die "virsh net-define $1 failed"
    virsh_ net-start "$1" >/dev/null || die "virsh net-start $1 failed"
    say "network $1: bridge $2, $prefix.0/24, DHCP $prefix.10-$prefix.$3"
}
EMU=qemu
virsh_ domcapabilities --virttype kvm >/dev/null 2>&1 && EMU=kvm
root_ports() {
    local i
    for i in $(seq "$1"); do printf "<controller type='pci' model='pcie-root-port'/>\n    "; done
}
nics() { # NETWORK COUNT
    local i tmpl one
    tmpl=$(<"$FIX/interface.xml")
    tmpl=${tmpl//@NETWORK@/$1}
    for i in $(seq 0 $(($2 - 1))); do
        one=${tmpl//@MAC@/$(printf '52:54:00:ab:%02x:%02x' $((i / 256)) $((i % 256)))}
        printf '%s\n' "$one"
    done
}

make_network vabnet0 vabbr0 50
make_network vabnet1 vabbr1 $((10 + ALLOCS + 19))
NET_UUID=$(virsh_ net-uuid vabnet0 | tr -d '[:space:]')
ALLOC_NET_UUID=$(virsh_ net-uuid vabnet1 | tr -d '[:space:]')

virsh_ pool-define-as "$POOL" dir --target "$SCRATCH/pool" >/dev/null || die "pool-define-as failed"
virsh_ pool-build "$POOL" >/dev/null || die "pool-build failed"
virsh_ pool-start "$POOL" >/dev/null || die "pool-start failed"
virsh_ vol-create-as "$POOL" "$(cat /proc/sys/kernel/random/uuid)" 8M --format raw >/dev/null \
    || die "vol-create-as failed"

PORTS=$((2 * (N + WARMUP) + 8))
render "$FIX/domain.xml" NAME=vab-guest EMULATOR_TYPE="$EMU" ROOT_PORTS="$(root_ports "$PORTS")" \
    INTERFACES= >"$SCRATCH/vab-guest.xml"
virsh_ define "$SCRATCH/vab-guest.xml" >/dev/null || die "virsh define vab-guest failed"
t0=$(date +%s.%N)
virsh_ start vab-guest --paused >/dev/null || die "virsh start vab-guest --paused failed"
say "vab-guest ($EMU, $PORTS spare root ports) started paused in $(python3 -c "print('%.2f' % ($(date +%s.%N) - $t0))") s"
GUEST_UUID=$(virsh_ domuuid vab-guest | tr -d '[:space:]')

render "$FIX/domain.xml" NAME=vab-many EMULATOR_TYPE="$EMU" ROOT_PORTS= \
    INTERFACES="$(nics vabnet1 "$ALLOCS")" >"$SCRATCH/vab-many.xml"
virsh_ define "$SCRATCH/vab-many.xml" >/dev/null || die "virsh define vab-many failed"
MANY_UUID=$(virsh_ domuuid vab-many | tr -d '[:space:]')
say "vab-many: shut off, $ALLOCS NICs on vabnet1"

# ---- the daemon
SOCK="$SCRATCH/vifd.sock"
LOG="$WORKDIR/actions-daemon.log"
OUT="$WORKDIR/actions-results.json"
: >"$SCRATCH/vifd.toml"
unset_vifd=()
for v in $(compgen -e); do
    case "$v" in VIFD_*) unset_vifd+=(-u "$v") ;; esac
done
say "starting: $VIFD serve --enable-actions --volume-pool $POOL --listen unix:$SOCK --libvirt-uri $QEMU_URI"
env "${unset_vifd[@]}" "$VIFD" serve --config "$SCRATCH/vifd.toml" --enable-actions --volume-pool "$POOL" \
    --listen "unix:$SOCK" --libvirt-uri "$QEMU_URI" --log-level info >"$LOG" 2>&1 &
PID=$!
deadline=$((SECONDS + READY_TIMEOUT))
while :; do
    kill -0 "$PID" 2>/dev/null || die "vifd serve exited; log $LOG:
$(tail -20 "$LOG")"
    status=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://vifd/readyz 2>/dev/null || true)
    [ "$status" = 200 ] && break
    [ "$SECONDS" -lt "$deadline" ] || die "not ready after $READY_TIMEOUT s (last /readyz: $status); log $LOG"
    sleep 0.2
done
say "daemon ready (pid $PID)"

# ---- measure
REPRO="cd $ROOT && VIFD=$VIFD N=$N WARMUP=$WARMUP ALLOCS=$ALLOCS bench/actions.sh"
rc=0
python3 "$HERE/actions_bench.py" --sock "$SOCK" --domain vab-guest --domain-uuid "$GUEST_UUID" \
    --net vabnet0 --net-uuid "$NET_UUID" --many-uuid "$MANY_UUID" --alloc-net vabnet1 \
    --alloc-net-uuid "$ALLOC_NET_UUID" --n "$N" --warmup "$WARMUP" --allocs "$ALLOCS" \
    --vifd "$VIFD" --repro "$REPRO" --out "$OUT" || rc=$?
kill -0 "$PID" 2>/dev/null || { say "the daemon died during the bench; log $LOG"; rc=2; }
[ "$rc" = 0 ] || die "actions_bench.py failed (exit $rc); daemon log $LOG"

cleanup
echo "wall_s=$(python3 -c "print('%.1f' % ($(date +%s.%N) - $STARTED))")"
echo "daemon_log=$LOG"
