#!/usr/bin/env python3
"""The ovsdb resolver's cost: `vifd list --json` with it on (every interface in OVSDB)
against the same run with it off, and how many OVSDB requests one inventory makes.

Run by bench/identity.sh, which builds the scale fixture and starts ovsdb-server; see there.

  identity_bench.py VIFD URI NETNS NODE_XML OVSDB_SOCK RUNS

1. Writes one Interface + Port per fixture interface into OVSDB in a single transaction:
   iface-id, attached-mac (the guest MAC), vm-uuid (the domain), Port net_uuid and tag, as
   os-vif and the Neutron OVS agent write them.
2. Puts a counting proxy in front of ovsdb-server: every JSON-RPC request vifd sends is
   counted (a request is a message with a "method"), per connection.
3. Times RUNS alternating pairs of `vifd list --json` (on: --ovsdb PROXY; off: --resolvers
   without ovsdb) after one warm-up pair, and checks the "on" output resolved every record
   from OVSDB.
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET

from benchio import rpc

NET = "3c0a5b7e-8f21-4d6a-9b3c-2e1f0a9d8c7b"
RESOLVERS_OFF = "libvirt-network,nova-metadata,linuxbridge,config"


def interfaces(node_xml):
    """(tap, guest MAC, domain UUID) of every fixture interface."""
    out = []
    for dom in ET.parse(node_xml).getroot().iter("domain"):
        dom_uuid = dom.findtext("uuid")
        for iface in dom.iter("interface"):
            out.append((iface.find("target").get("dev"), iface.find("mac").get("address"), dom_uuid))
    return out


def populate(sock_path, rows):
    ops = [{"op": "insert", "table": "Bridge", "uuid-name": "br", "row": {"name": "br-int"}},
           {"op": "mutate", "table": "Open_vSwitch", "where": [],
            "mutations": [["bridges", "insert", ["set", [["named-uuid", "br"]]]]]}]
    ports = []
    for g, (tap, mac, dom) in enumerate(rows):
        ids = ["map", [["iface-id", str(uuid.uuid5(uuid.NAMESPACE_OID, tap))],
                       ["attached-mac", mac], ["vm-uuid", dom]]]
        ops.append({"op": "insert", "table": "Interface", "uuid-name": "i%d" % g,
                    "row": {"name": tap, "external_ids": ids}})
        ops.append({"op": "insert", "table": "Port", "uuid-name": "p%d" % g,
                    "row": {"name": tap, "interfaces": ["named-uuid", "i%d" % g],
                            "other_config": ["map", [["net_uuid", NET]]], "tag": 1 + g % 4000}})
        ports.append(["named-uuid", "p%d" % g])
    ops.append({"op": "mutate", "table": "Bridge", "where": [["name", "==", "br-int"]],
                "mutations": [["ports", "insert", ["set", ports]]]})
    reply = rpc(sock_path, {"method": "transact", "params": ["Open_vSwitch"] + ops, "id": 1})
    errors = [r for r in reply.get("result") or [] if isinstance(r, dict) and "error" in r]
    if reply.get("error") or errors:
        raise SystemExit("transact failed: %s" % (reply.get("error") or errors[:3]))


class Proxy:
    """A unix-socket proxy that counts the requests clients send, per connection."""

    def __init__(self, listen, upstream):
        self.upstream, self.connections = upstream, []
        self.lock = threading.Lock()
        if os.path.exists(listen):
            os.unlink(listen)
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(listen)
        self.sock.listen(16)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.sock.accept()
            server = socket.socket(socket.AF_UNIX)
            server.connect(self.upstream)
            counter = [0]
            with self.lock:
                self.connections.append(counter)
            threading.Thread(target=self.pump, args=(client, server, counter), daemon=True).start()
            threading.Thread(target=self.pump, args=(server, client, None), daemon=True).start()

    @staticmethod
    def pump(src, dst, counter):
        dec, buf = json.JSONDecoder(), ""
        while True:
            try:
                data = src.recv(1 << 20)
            except OSError:
                data = b""
            if not data:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return
            if counter is not None:
                buf += data.decode()
                while buf:
                    try:
                        msg, end = dec.raw_decode(buf)
                    except ValueError:
                        break
                    buf = buf[end:].lstrip()
                    if "method" in msg:
                        counter[0] += 1
            dst.sendall(data)

    def take(self):
        with self.lock:
            out, self.connections = [c[0] for c in self.connections], []
        return out


def run(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit("%s failed: %s" % (" ".join(cmd), p.stderr.decode()[-2000:]))
    return dt, p.stdout


def main():
    vifd, uri, netns, node_xml, sock, runs = sys.argv[1:7]
    runs = int(runs)
    rows = interfaces(node_xml)
    t0 = time.perf_counter()
    populate(sock, rows)
    print("identity: wrote %d Interface + Port rows in one transaction (%.2f s)"
          % (len(rows), time.perf_counter() - t0), flush=True)
    proxy_path = sock + ".proxy"
    proxy = Proxy(proxy_path, sock)
    base = [vifd, "list", "--json", "--libvirt-uri", uri, "--netns", netns]
    on = base + ["--ovsdb", "unix:" + proxy_path]
    off = base + ["--resolvers", RESOLVERS_OFF]

    _, out = run(on)
    recs = json.loads(out)["interfaces"]
    resolved = sum(1 for r in recs if r["net_id_source"] == "ovsdb" and r["port_id_source"] == "ovsdb")
    if resolved != len(rows) or len(recs) != len(rows):
        raise SystemExit("only %d of %d records resolved from OVSDB" % (resolved, len(rows)))
    run(off)
    proxy.take()

    t_on, t_off, requests = [], [], []
    for _ in range(runs):
        dt, _ = run(on)
        t_on.append(dt)
        time.sleep(0.2)  # let the proxy see the connection close
        requests.append(proxy.take())
        dt, _ = run(off)
        t_off.append(dt)

    def ms(xs):
        return "median %.1f ms  min %.1f  max %.1f" % (
            statistics.median(xs) * 1e3, min(xs) * 1e3, max(xs) * 1e3)

    ratio = statistics.median(t_on) / statistics.median(t_off)
    per_run = sorted(set(tuple(r) for r in requests))
    one_trip = all(r == [1] for r in requests)
    print("identity: records %d, every one resolved from OVSDB (net_id and port_id)" % len(recs))
    print("identity: vifd list --json, ovsdb on : %s (n=%d)" % (ms(t_on), runs))
    print("identity: vifd list --json, ovsdb off: %s (n=%d)" % (ms(t_off), runs))
    print("identity: on / off = %.2fx (target <= 1.30x): %s" % (ratio, "PASS" if ratio <= 1.3 else "FAIL"))
    print("identity: OVSDB requests per inventory (per connection): %s: %s"
          % (per_run, "PASS (one round trip)" if one_trip else "FAIL"))


if __name__ == "__main__":
    main()
