#!/usr/bin/env bash
# The ovn resolver's cost on the scale fixture (issue: ovn).
#
#   bench/ovn.sh N K          N domains x K interfaces (the scale.sh fixture), each one a
#                             local port of an OVN Southbound that also holds foreign ports
#                             of other chassis; time `vifd list --json` with the ovn
#                             resolver on and off, count Southbound round trips per
#                             inventory, and read the daemon's RSS with few and many
#                             foreign ports (bench/ovn_bench.py)
#
# Then, with the same Southbound, `vifd serve` (--ovn-grace 3600) watched on /v1/watch while
# LATENCY_RUNS single Port_Binding changes (one `transact` each: `up` false, then true again,
# on a random local port) are made: change -> event latency, and the records each changed.
#
# Targets at N=1000 K=4 (4,000 local ports, 36,000 foreign): on <= 1.3x off; one SB round
# trip per inventory; `vifd serve`'s VmRSS with 4,000 and 40,000 foreign ports within 10 MiB;
# SB change -> /v1/watch event p99 <= 100 ms, one record changed per change (the touched one).
#
# The Southbound is written directly over JSON-RPC (no ovn-northd, no Northbound).
#
# Environment:
#   VIFD          vifd binary                       [<repo>/target/release/vifd]
#   RUNS          measured on/off pairs             [15]
#   COUNT_RUNS    inventories through the counting proxy [5]
#   FOREIGN       foreign ports for the timing      [9 x N x K]
#   FOREIGN_LOW / FOREIGN_HIGH  foreign ports for the two RSS readings [N x K / 10 x N x K]
#   LOCAL_NETS / OTHER_NETS     networks with local ports / only foreign ones [400 / 1600]
#   PORTS_PER_CHASSIS           foreign ports per foreign chassis [40]
#   OVN_UP_TIMEOUT    seconds to wait for vifd_source_up{source="ovn"} 1 [30]
#   LATENCY_RUNS      SB changes timed to their /v1/watch event (0: skip) [200]
#   RSS_RUNS          daemon starts per RSS reading (the median is reported) [3]
#   LATENCY_TIMEOUT   seconds to wait for one change's event [5]
#   VIFD_BENCH_DIR    scratch directory             [/tmp/vifd-bench]
#   VIFD_BENCH_NETNS  the fixture's namespace       [vifd-bench]
#
# Needs root, iproute2, python3, openvswitch-switch (ovsdb-tool, ovsdb-server) and
# ovn-common (/usr/share/ovn/ovn-sb.ovsschema). Starts two ovsdb-servers on sockets in the
# scratch directory (the local Open_vSwitch database and the Southbound) and stops them on
# exit. Results go to $VIFD_BENCH_DIR/ovn-results.json. Exit status 1 when a record of an
# ovn-on run did not get its network from the Southbound, or an SB change of the latency
# phase brought no event of its port's record or events of others (the targets are
# reported, not enforced), 2 on a setup error.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
NETNS=${VIFD_BENCH_NETNS:-vifd-bench}
WORKDIR=${VIFD_BENCH_DIR:-/tmp/vifd-bench}
RUNS=${RUNS:-15}
OVS_SCHEMA=/usr/share/openvswitch/vswitch.ovsschema
SB_SCHEMA=/usr/share/ovn/ovn-sb.ovsschema

die() { echo "ovn.sh: ERROR: $*" >&2; exit 2; }
say() { echo "ovn.sh: $*" >&2; }

[ $# -eq 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
N=$1 K=$2
[[ "$N" =~ ^[1-9][0-9]*$ && "$K" =~ ^[1-9][0-9]*$ ]] || die "N and K must be positive integers"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[ "$(id -u)" -eq 0 ] || die "must run as root"
for t in ovsdb-tool ovsdb-server python3 ip; do
    command -v "$t" >/dev/null || die "$t not found (install openvswitch-switch)"
done
[ -f "$OVS_SCHEMA" ] || die "$OVS_SCHEMA missing (install openvswitch-switch)"
[ -f "$SB_SCHEMA" ] || die "$SB_SCHEMA missing (install ovn-common)"
. "$HERE/lib.sh"
vifd_under_test
ensure_fixture

D="$WORKDIR/ovn"
rm -rf "$D" && mkdir -p "$D"
stop_servers() {
    local p
    for p in "$D/ovs.pid" "$D/sb.pid"; do
        [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
    done
}
trap stop_servers EXIT
ovsdb-tool create "$D/ovs.db" "$OVS_SCHEMA"
ovsdb-tool create "$D/sb.db" "$SB_SCHEMA"
ovsdb-server "$D/ovs.db" --remote="punix:$D/ovs.sock" --unixctl="$D/ovs.ctl" \
    --pidfile="$D/ovs.pid" --log-file="$D/ovs.log" --detach
ovsdb-server "$D/sb.db" --remote="punix:$D/sb.sock" --unixctl="$D/sb.ctl" \
    --pidfile="$D/sb.pid" --log-file="$D/sb.log" --detach
# the Open_vSwitch table's one row (what `ovs-vsctl init` makes)
python3 - "$D/ovs.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(json.dumps({"id": 0, "method": "transact", "params": ["Open_vSwitch",
    {"op": "insert", "table": "Open_vSwitch", "row": {}}]}).encode())
reply = json.JSONDecoder().raw_decode(s.recv(65536).decode())[0]
assert not reply.get("error") and "error" not in reply["result"][0], reply
PY

echo "ovn: N=$N K=$K ($((N * K)) local ports), $(nproc) CPUs, $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(ovsdb-server --version | head -1), SB schema $(ovsdb-tool schema-version "$SB_SCHEMA")"
rc=0
python3 "$HERE/ovn_bench.py" "$VIFD" "$URI" "$NETNS" "$DATA/node.xml" "$D/ovs.sock" "$D/sb.sock" \
    "$WORKDIR/ovn-results.json" "$RUNS" "$(cat "$D/sb.pid")" || rc=$?
say "ovsdb-server (Southbound) VmRSS at the end: $(awk '/VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$(cat "$D/sb.pid")/status")"
exit "$rc"
