#!/usr/bin/env bash
# The ovsdb resolver's cost on the scale fixture (issue: identity).
#
#   bench/identity.sh N K     N domains x K interfaces (the scale.sh fixture), every
#                             interface in OVSDB; time `vifd list --json` with the ovsdb
#                             resolver on and off, and count OVSDB requests per inventory
#
# Target at N=1000 K=4: on <= 1.3x off; one OVSDB round trip per inventory.
#
# Environment:
#   VIFD     vifd binary               [<repo>/target/release/vifd]
#   RUNS     measured pairs            [11]
#   VIFD_BENCH_DIR  scratch directory  [/tmp/vifd-bench]
#
# Needs root, iproute2, python3, openvswitch-switch (ovsdb-tool, ovsdb-server, ovs-vsctl).
# Starts its own ovsdb-server on a socket in the scratch directory and stops it on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
# The release build, where cargo puts it (CARGO_TARGET_DIR honoured, relative to the repo).
RELEASE_VIFD=$(cd "$ROOT" && realpath -m "${CARGO_TARGET_DIR:-target}/release/vifd")
NETNS=vifd-bench
WORKDIR=${VIFD_BENCH_DIR:-/tmp/vifd-bench}
RUNS=${RUNS:-11}
VIFD=${VIFD:-$RELEASE_VIFD}
SCHEMA=/usr/share/openvswitch/vswitch.ovsschema

die() { echo "identity.sh: ERROR: $*" >&2; exit 2; }
say() { echo "identity.sh: $*" >&2; }

[ $# -eq 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
N=$1 K=$2
[ "$(id -u)" -eq 0 ] || die "must run as root"
for t in ovsdb-tool ovsdb-server ovs-vsctl python3 ip; do
    command -v "$t" >/dev/null || die "$t not found (install openvswitch-switch)"
done
[ -f "$SCHEMA" ] || die "$SCHEMA missing (install openvswitch-switch)"
[ -x "$VIFD" ] || die "no vifd binary at $VIFD (cargo build --release)"
. "$HERE/lib.sh"
ensure_fixture

OVS="$WORKDIR/ovsdb"
rm -rf "$OVS" && mkdir -p "$OVS"
ovsdb-tool create "$OVS/conf.db" "$SCHEMA"
ovsdb-server "$OVS/conf.db" --remote="punix:$OVS/db.sock" --unixctl="$OVS/ctl" \
    --pidfile="$OVS/pid" --log-file="$OVS/log" --detach
trap 'kill "$(cat "$OVS/pid" 2>/dev/null)" 2>/dev/null || true' EXIT
ovs-vsctl --db="unix:$OVS/db.sock" --no-wait init

echo "identity: N=$N K=$K ($((N * K)) interfaces), $(nproc) CPUs, $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
python3 "$HERE/identity_bench.py" "$VIFD" "$URI" "$NETNS" "$DATA/node.xml" "$OVS/db.sock" "$RUNS"
