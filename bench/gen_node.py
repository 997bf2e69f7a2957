#!/usr/bin/env python3
"""Generate a libvirt test:/// node file with N domains x K interfaces, plus
the matching `ip -batch` script that creates the host-side taps and bridges.

Outputs (in --out DIR):
  node.xml   <node> document for test:///DIR/node.xml
  links.ip   commands for `ip -n NETNS -batch links.ip`
  names.txt  one domain name per line (in node order)
  taps.txt   one tap name per line
  meta.json  counts, bridges, paused domains

Conventions (see bench/README.md):
  * domain i (0-based) is named bench-%05d % (i+1), uuid = uuid5(NS, name)
  * interface j of domain i has global index g = i*K + j
      guest MAC  52:54:00:GG:GG:GG  (g+1 as 24-bit), host tap MAC fe:54:00:GG:GG:GG
      tap name   "tap" + 11 hex chars of uuid5(NS, "port-g")  (Nova style, 14 chars)
      bridge     brbench{g // PORTS_PER_BRIDGE}
  * every --paused-every'th domain gets <test:runstate>3</test:runstate>
    (VIR_DOMAIN_PAUSED); the rest default to running.
  * tap names must NOT start with "vnet": the test driver renames those to
    testnetN (like the qemu driver does for auto-generated names).
"""
import argparse
import json
import os
import sys
import uuid

NS = uuid.UUID("6a1c3e8e-2f0b-4c39-9a59-7d6b5a0f1b2e")  # fixed: reproducible output
TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"
PORTS_PER_BRIDGE = 1000  # Linux bridges cap at 1024 ports (BR_MAX_PORTS)
MAX_IFACES = (1 << 24) - 1  # MAC space we use: 52:54:00:xx:xx:xx (index + 1)


def mac(prefix, g):
    return "%s:%02x:%02x:%02x" % (prefix, (g >> 16) & 0xFF, (g >> 8) & 0xFF, g & 0xFF)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int, help="number of domains")
    ap.add_argument("k", type=int, help="interfaces per domain")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--paused-every", type=int, default=10,
                    help="make every Nth domain paused (0: all running) [10]")
    ap.add_argument("--ports-per-bridge", type=int, default=PORTS_PER_BRIDGE)
    args = ap.parse_args()

    n, k = args.n, args.k
    if n < 1 or k < 0:
        ap.error("need N >= 1 and K >= 0")
    if n * k > MAX_IFACES:
        ap.error("N*K must be <= %d" % MAX_IFACES)
    if n > 99999:
        ap.error("N must be <= 99999 (domain names are bench-%05d)")
    if not 1 <= args.ports_per_bridge <= 1024:
        ap.error("--ports-per-bridge must be in 1..1024")

    os.makedirs(args.out, exist_ok=True)
    total = n * k
    nbridges = (total + args.ports_per_bridge - 1) // args.ports_per_bridge
    bridges = ["brbench%d" % b for b in range(nbridges)]

    xml = ["<node>\n"]
    ip = []
    names = []
    taps = []
    paused = []
    seen_taps = set()
    for b in bridges:
        ip.append("link add %s type bridge" % b)
        ip.append("link set %s up" % b)

    for i in range(n):
        name = "bench-%05d" % (i + 1)
        names.append(name)
        dom_uuid = uuid.uuid5(NS, name)
        is_paused = args.paused_every > 0 and (i % args.paused_every) == args.paused_every - 1
        if is_paused:
            paused.append(name)
        x = ["  <domain type='test' xmlns:test='%s'>\n" % TEST_NS,
             "    <name>%s</name>\n" % name,
             "    <uuid>%s</uuid>\n" % dom_uuid,
             "    <memory unit='KiB'>1048576</memory>\n",
             "    <vcpu>1</vcpu>\n",
             "    <os><type arch='x86_64'>hvm</type></os>\n",
             "    <devices>\n"]
        for j in range(k):
            g = i * k + j
            tap = "tap" + uuid.uuid5(NS, "port-%d" % g).hex[:11]
            if tap in seen_taps:  # 44 bits: astronomically unlikely, but be sure
                sys.exit("tap name collision: %s" % tap)
            seen_taps.add(tap)
            taps.append(tap)
            br = bridges[g // args.ports_per_bridge]
            x.append("      <interface type='bridge'>\n"
                     "        <mac address='%s'/>\n"
                     "        <source bridge='%s'/>\n"
                     "        <target dev='%s'/>\n"
                     "        <model type='virtio'/>\n"
                     "      </interface>\n" % (mac("52:54:00", g + 1), br, tap))
            ip.append("tuntap add dev %s mode tap" % tap)
            ip.append("link set dev %s address %s master %s up" % (tap, mac("fe:54:00", g + 1), br))
        x.append("    </devices>\n")
        if is_paused:
            x.append("    <test:runstate>3</test:runstate>\n")
        x.append("  </domain>\n")
        xml.append("".join(x))
    xml.append("</node>\n")

    def write(fname, text):
        path = os.path.join(args.out, fname)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)

    write("node.xml", "".join(xml))
    write("links.ip", "\n".join(ip) + "\n")
    write("names.txt", "\n".join(names) + "\n")
    write("taps.txt", "".join(t + "\n" for t in taps))
    write("meta.json", json.dumps({
        "domains": n, "ifaces_per_domain": k, "ifaces": total,
        "bridges": bridges, "ports_per_bridge": args.ports_per_bridge,
        "paused": len(paused), "paused_every": args.paused_every,
    }, indent=1) + "\n")


if __name__ == "__main__":
    main()
