#!/usr/bin/env bash
# Installs the Debian packages vifd builds and tests against. Idempotent: does nothing
# when everything is already present.
set -euo pipefail

# ovn-central and ovn-host (the OVN chassis test bed, tests/common/ovn): their postinst only
# touches systemd when /run/systemd/system exists, so they install without systemd as PID 1.
# prometheus (promtool and a real Prometheus for tests/prometheus.rs): its postinst starts
# the service through invoke-rc.d, which without systemd as PID 1 (and under a policy-rc.d
# that refuses) starts nothing; a Prometheus left on :9090 would not matter either, the test
# runs its own on a port of its own.
# protobuf-compiler and libprotobuf-dev build the etcd-client crate (its build script runs
# protoc, which needs google/protobuf/*.proto); etcd-server and etcd-client are the real
# etcd the fleet tests start (each its own, on ports of its own; the package's service is
# never started without systemd).
PKGS=(libvirt-dev libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
      qemu-system-x86 openvswitch-switch ovn-central ovn-host dnsmasq-base iptables iproute2
      pkg-config curl openssl ca-certificates systemd man-db python3-prometheus-client dpkg-dev rpm
      prometheus protobuf-compiler libprotobuf-dev etcd-server etcd-client)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq

# The image may ship a backported qemu-utils that conflicts with Debian's qemu-system-x86:
# pin qemu-utils to the version the qemu-system-x86 candidate wants.
extra=()
if dpkg-query -W qemu-utils >/dev/null 2>&1; then
    want=$(apt-cache policy qemu-system-x86 | awk '/Candidate:/ {print $2}')
    have=$(dpkg-query -W -f='${Version}' qemu-utils)
    if [ -n "$want" ] && [ "$want" != "(none)" ] && [ "$have" != "$want" ]; then
        extra+=(--allow-downgrades "qemu-utils=$want")
    fi
fi
apt-get install -y -qq --no-install-recommends "${extra[@]}" "${missing[@]}"
