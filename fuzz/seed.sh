#!/usr/bin/env bash
# Writes fuzz/seeds/<target>/: the starting corpus of every fuzz target, taken from the test
# fixtures where they exist and built here where they do not (netlink payloads, OVSDB
# messages, HTTP requests, fleet keys). Idempotent; `make fuzz` copies the seeds into
# fuzz/corpus/ (not in git), which the engine then grows.
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/seeds
rm -rf "$out"
mkdir -p "$out"

seed() { # seed TARGET NAME < content
    mkdir -p "$out/$1"
    cat >"$out/$1/$2"
}

# Domain XML: every fixture whose root is a <domain>, Nova metadata included.
for f in tests/fixtures/*/*.xml; do
    if grep -q '^<domain' "$f"; then
        seed domain_xml "$(basename "$(dirname "$f")")-$(basename "$f")" <"$f"
    fi
done

# Network (and volume) XML.
seed network_xml actions-network.xml <tests/fixtures/actions/network.xml
seed network_xml qemu-network.xml <tests/fixtures/qemu/network.xml
seed network_xml volume.xml <<'EOF'
<volume type='file'><name>v</name><target><path>/p/v</path><format type='qcow2'/>
<timestamps><btime>1700000000.5</btime></timestamps></target></volume>
EOF

# The TOML config: the shipped example as it is (all commented out) and with every
# setting uncommented, and the README's example.
seed config_toml example.toml <packaging/vifd.toml.example
sed -E 's/^#([a-z_\[])/\1/' packaging/vifd.toml.example | seed config_toml example-set.toml
awk '/^```toml/{on=1; next} /^```/{if(on) exit} on' README.md | sed -E 's/^# ([a-z_]+ =|\[)/\1/' |
    seed config_toml readme.toml

# Binary and JSON seeds, built by Python (struct packing, native byte order as the kernel's).
python3 - "$out" <<'EOF'
import json, os, struct, sys

out = sys.argv[1]

def seed(target, name, data):
    os.makedirs(f"{out}/{target}", exist_ok=True)
    with open(f"{out}/{target}/{name}", "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

def nla(kind, value):
    raw = struct.pack("=HH", 4 + len(value), kind) + value
    return raw + b"\0" * (-len(raw) % 4)

def nlmsg(kind, payload):
    return struct.pack("=IHHII", 16 + len(payload), kind, 0, 0, 0) + payload

u32 = lambda v: struct.pack("=I", v)
stats64 = b"".join(struct.pack("=Q", i * 1000 + 1) for i in range(24))
stats32 = b"".join(struct.pack("=I", i * 10 + 1) for i in range(24))

def link(index, name, kind=None, data=b"", master=None, extra=b""):
    head = struct.pack("=BBHiII", 0, 0, 1, index, 0x1043, 0)
    attrs = nla(3, name.encode() + b"\0") + nla(1, bytes.fromhex("fe163e010203")) + nla(4, u32(1500))
    attrs += nla(16, b"\x06") + nla(33, b"\x01")
    if master is not None:
        attrs += nla(10, u32(master))
    if kind:
        info = nla(1, kind.encode() + b"\0")
        if data:
            info += nla(2, data)
        attrs += nla(18, info)
    return head + attrs + extra

links = {
    "tap": link(21, "tap4e6a8c0e-2f", "tun", nla(3, b"\x02"), master=20, extra=nla(23, stats64)),
    "tun": link(22, "tun0", "tun", nla(3, b"\x01"), extra=nla(7, stats32)),
    "bridge": link(20, "br-phys", "bridge"),
    "macvtap": link(23, "macvtap0", "macvtap", extra=nla(5, u32(2)) + nla(37, struct.pack("=i", 1))),
    "lo": link(1, "lo"),
}
for name, payload in links.items():
    seed("netlink_link", name, payload)
seed("netlink_link", "datagram", nlmsg(16, links["tap"]) + nlmsg(17, links["bridge"]))

def ndmsg(family, ifindex, state, flags, dst, ll):
    m = struct.pack("=BBHiHBB", family, 0, 0, ifindex, state, flags, 1) + nla(1, dst)
    return m + (nla(2, ll) if ll else b"")

mac = bytes.fromhex("fa163e010203")
neighs = {
    "v4-reachable": b"\0" + ndmsg(2, 21, 0x02, 0, bytes([192, 0, 2, 10]), mac),
    "v6-stale": b"\0" + ndmsg(10, 21, 0x04, 0, bytes.fromhex("20010db8" + "0" * 22 + "10"), mac),
    "v4-deleted": b"\1" + ndmsg(2, 21, 0x02, 0, bytes([192, 0, 2, 10]), mac),
    "proxy": b"\0" + ndmsg(2, 21, 0x00, 0x08, bytes([192, 0, 2, 11]), b""),
    "multicast": b"\0" + ndmsg(2, 20, 0x40, 0, bytes([224, 0, 0, 1]), bytes.fromhex("01005e000001")),
}
for name, payload in neighs.items():
    seed("netlink_neigh", name, payload)
seed("netlink_neigh", "datagram", b"\0" + nlmsg(28, neighs["v4-reachable"][1:]))

seed("netlink_stats", "newstats", struct.pack("=BBHII", 0, 0, 0, 21, 1) + nla(1, stats64))
seed("netlink_stats", "struct64", stats64)
seed("netlink_stats", "struct32", stats32)

IF1, P1, B1 = ("cb99b761-479b-468f-87b6-8ca76d1f0625", "6603ef07-deb9-4864-919b-2e461fa24935",
               "8ad4ee9e-e063-4c3d-a80e-bdf3c7eb304b")
updates = {
    "Interface": {IF1: {"new": {"name": "tap1", "type": "", "options": ["map", []], "external_ids":
        ["map", [["iface-id", "4e6a8c0e-2f4b-46d8-9e0a-2c4e6a8c0e2f"], ["vm-uuid", "3f1a2b3c"],
                 ["attached-mac", "fa:16:3e:01:02:03"], ["ovn-installed", "true"]]]}}},
    "Port": {P1: {"new": {"name": "tap1", "interfaces": ["uuid", IF1],
                          "other_config": ["map", [["tag", "7"]]], "tag": ["set", []]}}},
    "Bridge": {B1: {"new": {"name": "br-int", "ports": ["set", [["uuid", P1]]], "datapath_type": "netdev"}}},
    "Open_vSwitch": {B1: {"new": {"external_ids": ["map", [["system-id", "c7"], ["ovn-remote", "tcp:192.0.2.1:6642"]]]}}},
}
reply = json.dumps({"id": 1, "result": updates, "error": None})
update = json.dumps({"method": "update", "params": [None, {"Interface": {IF1: {"new": {"name": "tap2"}}}, "Port": {P1: {}}}], "id": None})
late_method = json.dumps({"params": [None, {"Bridge": {B1: {}}}], "id": None, "method": "update"})
echo = json.dumps({"method": "echo", "params": ["x"], "id": "echo"})
error = json.dumps({"id": 1, "result": None, "error": {"error": "unknown database"}})
seed("ovsdb_messages", "reply", reply)
seed("ovsdb_messages", "stream", reply + "\n" + update + echo + " " + late_method)
seed("ovsdb_messages", "error", error)
for i, d in enumerate([["map", [["a", "b\"c"]]], ["uuid", IF1], ["set", [["uuid", IF1], ["uuid", P1]]],
                       5, ["set", []], ["set", [7]], ["map", []]]):
    seed("ovsdb_datum", f"datum-{i}", json.dumps(d))

record = {"id": "4e6a8c0e-2f4b-46d8-9e0a-2c4e6a8c0e2f", "domain_uuid": "3f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b",
          "domain_name": "instance-0000002a", "mac_address": "fa:16:3e:01:02:03", "host_mac": "fe:16:3e:01:02:03",
          "net_id": "0d4c2b1a-9e8f-4a7b-8c6d-5e4f3a2b1c0d", "port_id": "4e6a8c0e-2f4b-46d8-9e0a-2c4e6a8c0e2f",
          "device": "tap4e6a8c0e-2f", "master": None, "operstate": "up", "carrier": True, "problems": []}
seed("sse", "frames", "event: snapshot\nid: 7\ndata: {\"generation\":7}\n\n: keepalive\n\n"
     "event: added\r\nid: 8\r\ndata: " + json.dumps(record) + "\r\n\r\ndata: a\ndata: b\nretry: 5\n\n")
seed("sse", "roundtrip", "removed|" + json.dumps({"generation": 9, "id": "x"}))

meta = {"instance": "i-1", "generation": 3, "boot_time": None, "started_at": "2026-01-01T00:00:00Z",
        "version": "0.1.0", "stale": {"libvirt": False, "ovn": False, "ovsdb": False, "libvirt-network": False},
        "published_at": "2026-01-01T00:00:01.000Z", "conflict": None}
h = "/vifd/v1/hosts/compute-1/"
ops = [h + "meta=" + json.dumps(meta), h + "vifs/" + record["id"] + "=" + json.dumps(record),
       h + "problems=[]", h + "domains=" + json.dumps([{"uuid": record["domain_uuid"], "name": "i", "volumes": []}]),
       "/vifd/v1/alive/compute-1=", "/vifd/v1/hosts/compute-2/vifs/x=" + json.dumps(dict(record, id="x")),
       "/vifd/v1/hosts/compute-2/vifs/x", h + "other=1"]
seed("fleet_records", "hosts", "\0".join(ops))

server = "3f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
port = "4e6a8c0e-2f4b-46d8-9e0a-2c4e6a8c0e2f"
requests = {
    "healthz": "GET /healthz",
    "interfaces": "GET /v1/interfaces?domain=instance-0000002a&device=tap*\nAccept: application/json",
    "domains": "GET /v1/domains",
    "problems": "GET /v1/problems?kind=orphan_tap",
    "metrics": "GET /metrics",
    "openapi": "GET /openapi.json",
    "watch": "GET /v1/watch?since=3",
    "versions": "GET /",
    "os-interface": f"GET /v2.1/servers/{server}/os-interface\nX-OpenStack-Nova-API-Version: 2.70",
    "os-interface-port": f"GET /v2.1/p1/servers/{server}/os-interface/{port}",
    "os-vifs-xml": f"GET /v2/servers/{server}/os-virtual-interfaces\nAccept: application/xml",
    "volumes": f"GET /v2.1/servers/{server}/os-volume_attachments",
    "attach": f"POST /v2.1/servers/{server}/os-interface\nContent-Type: application/json\n\n"
              + json.dumps({"interfaceAttachment": {"net_id": "n"}}),
    "create": "POST /v1/domains/instance-0000002a/interfaces\nContent-Type: application/json\n\n{\"network\":\"x\"}",
    "token": "GET /v1/interfaces\nAuthorization: Bearer fuzz-token",
    "bad-token": "GET /v1/interfaces\nAuthorization: Bearer nope",
    "delete": f"DELETE /v1/interfaces/{port}/ip_addresses/192.0.2.10",
}
for name, text in requests.items():
    seed("http_router", name, text)

fleet_requests = {
    "interfaces": "GET /v1/interfaces?host=compute-1&mac=fa:16:3e:01:02:03",
    "hosts": "GET /v1/hosts",
    "problems": "GET /v1/problems?host=compute-2",
    "readyz": "GET /readyz",
    "metrics": "GET /metrics\nAccept: application/openmetrics-text; version=1.0.0",
    "watch": "GET /v1/watch?since=41",
    "os-interface": f"GET /v2.1/servers/{server}/os-interface\nX-OpenStack-Nova-API-Version: 2.70",
    "os-vifs-xml": f"GET /v2/servers/{server}/os-virtual-interfaces\nAccept: application/xml",
    "token": "GET /v1/hosts\nAuthorization: Bearer fuzz-token",
    "post": "POST /v1/interfaces\nContent-Type: application/json\n\n{}",
}
for name, text in fleet_requests.items():
    seed("fleet_router", name, text)

# The Southbound's <table-updates2>: the initial rows of a bound port (its datapath, its
# chassis), a modify, a metadata port, a delete. The first byte routes each to a monitor
# (bit i set: the i-th object goes to the metadata one).
dp, ch, pb1, pb2, md = ("8ad4ee9e-e063-4c3d-a80e-bdf3c7eb304b", "cb99b761-479b-468f-87b6-8ca76d1f0625",
                        "6603ef07-deb9-4864-919b-2e461fa24935", "7603ef07-deb9-4864-919b-2e461fa24935",
                        "9703ef07-deb9-4864-919b-2e461fa24935")
initial = {
    "Port_Binding": {
        pb1: {"initial": {"logical_port": "p1", "type": "", "datapath": ["uuid", dp], "chassis": ["uuid", ch],
                          "additional_chassis": ["set", []], "up": ["set", [True]],
                          "options": ["map", [["requested-chassis", "hv1"]]],
                          "external_ids": ["map", [["neutron:device_id", "vm-1"]]]}},
        pb2: {"initial": {"logical_port": "p2", "type": "", "datapath": ["uuid", dp], "chassis": ["set", []],
                          "up": False, "options": ["map", []], "external_ids": ["map", []]}}},
    "Datapath_Binding": {dp: {"initial": {"external_ids": ["map", [
        ["neutron:network_name", "private"], ["name", "neutron-0d7f7e5c-3c5a-4a51-9a8e-4f1c2b3a4d5e"]]]}}},
    "Chassis": {ch: {"initial": {"name": "hv1", "hostname": "compute-1"}}},
}
modify = {"Port_Binding": {pb2: {"modify": {"chassis": ["uuid", ch], "up": ["set", [True]],
                                            "options": ["map", [["requested-chassis", "hv1"]]]}}},
          "Chassis": {ch: {"modify": {"hostname": "compute-1.example"}}}}
metadata = {"Port_Binding": {md: {"insert": {"datapath": ["uuid", dp]}}}}
delete = {"Port_Binding": {pb1: {"delete": None}}, "Datapath_Binding": {dp: {"delete": None}}}
objs = [initial, modify, metadata, delete]
seed("ovn_sb_updates", "bound", b"\x04" + " ".join(json.dumps(o) for o in objs).encode())
seed("ovn_sb_updates", "metadata-first", b"\x01" + (json.dumps(metadata) + json.dumps(initial)).encode())
EOF
echo "seeds: $(find "$out" -type f | wc -l) files in $(ls "$out" | wc -l) targets"
