#!/usr/bin/env python3
"""The ovn resolver's cost: `vifd list --json` with it on and off, Southbound round trips
per inventory, and the daemon's RSS with few and many foreign ports in the Southbound.

Run by bench/ovn.sh, which builds the scale fixture and starts two ovsdb-servers (the
local Open vSwitch database and an OVN Southbound); see there.

  ovn_bench.py VIFD URI NETNS NODE_XML OVS_SOCK SB_SOCK OUT_JSON RUNS

1. The Southbound is written directly (no ovn-northd): Chassis (+ Encap) rows, one
   Datapath_Binding per Neutron network (external_ids name=neutron-<uuid>, name2) with its
   metadata `localport` (neutron:device_id ovnmeta-<uuid>), the local ports (one per
   fixture interface, bound to this chassis) and foreign ports bound to other chassis,
   spread over the local networks and others, 40 per chassis, in transactions of 4,000
   rows over JSON-RPC.
2. The local Open vSwitch database gets one Interface + Port per fixture tap with
   external_ids iface-id=<its local port>, attached-mac, vm-uuid, and Open_vSwitch
   external_ids system-id, hostname and ovn-remote=unix:<Southbound socket>.
3. Phases, the Southbound growing in between: FOREIGN_LOW foreign ports: daemon RSS;
   FOREIGN foreign ports: `vifd list --json` on/off in RUNS interleaved pairs and the
   round trips (ovn-remote pointed at a counting proxy for COUNT_RUNS more runs);
   then, still with FOREIGN foreign ports, SB change -> API latency in `vifd serve`
   (--ovn-grace 3600, so that no grace timer adds an event): LATENCY_RUNS [200] single
   Port_Binding changes, each one JSON-RPC `transact` setting `up` false on a random local
   port and then true again on the same one, timed from just before the transact is
   sent to the arrival of the `changed` event of that port's record on `GET /v1/watch`;
   every event up to 0.2 s of quiet after it is counted (records changed per SB change);
   FOREIGN_HIGH foreign ports: daemon RSS (ovn on, then ovn off for reference).
"""

import http.client
import json
import math
import os
import queue
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET

from benchio import dechunk, rpc, sse_frames

NS = uuid.UUID("0f3b8c1e-5a2d-4e6f-9c7b-1d2e3f4a5b6c")  # fixed: reproducible rows
RESOLVERS_OFF = "ovsdb,libvirt-network,nova-metadata,linuxbridge,config"
SYSTEM_ID = "vifd-bench-chassis"
HOSTNAME = "vifd-bench-host"
PROJECT = "5c1d0e3f8a2b4c6d9e7f0a1b2c3d4e5f"
SEC_GROUP = "8e2a4c6b-1d3f-4a5b-9c7d-0e1f2a3b4c5d"
BATCH = 4000


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v else default


def say(msg):
    print("ovn: " + msg, flush=True)


def interfaces(node_xml):
    """(tap, guest MAC, domain UUID) of every fixture interface."""
    out = []
    for dom in ET.parse(node_xml).getroot().iter("domain"):
        dom_uuid = dom.findtext("uuid")
        for iface in dom.iter("interface"):
            out.append((iface.find("target").get("dev"), iface.find("mac").get("address"), dom_uuid))
    return out


def local_port_id(tap):
    return str(uuid.uuid5(uuid.NAMESPACE_OID, tap))


def net_id(i):
    return str(uuid.uuid5(NS, "net-%d" % i))


def transact(sock_path, db, ops):
    reply = rpc(sock_path, {"method": "transact", "params": [db] + ops, "id": 1})
    result = reply.get("result") or []
    errors = [r for r in result if isinstance(r, dict) and "error" in r]
    if reply.get("error") or errors or len(result) < len(ops):
        raise SystemExit("transact on %s failed: %s" % (db, reply.get("error") or errors[:3]))
    return result


def omap(d):
    return ["map", [[k, v] for k, v in d.items()]]


class Southbound:
    """Writes the rows; remembers datapaths, chassis and tunnel keys between batches."""

    def __init__(self, sock, local_nets, other_nets, per_chassis):
        self.sock, self.per_chassis = sock, per_chassis
        self.local_nets, self.nets = local_nets, local_nets + other_nets
        self.dp = []            # Datapath_Binding uuid, by network index
        self.keys = {}          # next Port_Binding tunnel_key, by network index
        self.chassis = {}       # foreign chassis index -> (uuid, name)
        self.local_chassis = None
        self.foreign = 0        # foreign ports written
        self.rows = 0

    def key(self, net):
        k = self.keys.get(net, 1)
        self.keys[net] = k + 1
        return k

    @staticmethod
    def chassis_ops(name, hostname, ip, tag):
        return [{"op": "insert", "table": "Encap", "uuid-name": "e" + tag,
                 "row": {"type": "geneve", "ip": ip, "chassis_name": name,
                         "options": omap({"csum": "true"})}},
                {"op": "insert", "table": "Chassis", "uuid-name": "c" + tag,
                 "row": {"name": name, "hostname": hostname, "encaps": ["named-uuid", "e" + tag],
                         "external_ids": omap({"datapath-type": "", "is-interconn": "false",
                                               "ovn-bridge-mappings": "physnet1:br-ex"})}}]

    @staticmethod
    def port_row(logical_port, dp, key, net, device_id, owner, mac, ip, chassis=None):
        row = {"logical_port": logical_port, "datapath": dp, "tunnel_key": key,
               "mac": ["set", ["%s %s" % (mac, ip)]],
               "port_security": ["set", ["%s %s" % (mac, ip)]],
               "external_ids": omap({
                   "neutron:cidrs": ip + "/16", "neutron:device_id": device_id,
                   "neutron:device_owner": owner,
                   "neutron:network_name": "neutron-" + net_id(net),
                   "neutron:port_name": "", "neutron:project_id": PROJECT,
                   "neutron:revision_number": "4",
                   "neutron:security_group_ids": SEC_GROUP})}
        if chassis is None:  # the network's metadata port
            row["type"] = "localport"
            del row["port_security"]
        else:
            ch_uuid, ch_name = chassis
            row["chassis"] = ch_uuid
            row["requested_chassis"] = ch_uuid
            row["options"] = omap({"mcast_flood_reports": "true", "requested-chassis": ch_name})
            row["up"] = True
        return row

    def setup(self, local):
        """Local chassis, every network with its metadata port, the local ports."""
        ops = self.chassis_ops(SYSTEM_ID, HOSTNAME, "192.0.2.1", "local")
        for i in range(self.nets):
            ops.append({"op": "insert", "table": "Datapath_Binding", "uuid-name": "d%d" % i,
                        "row": {"tunnel_key": i + 1, "external_ids": omap({
                            "name": "neutron-" + net_id(i), "name2": "bench-net-%d" % i})}})
        for i in range(self.nets):
            mac = "fa:16:3e:%02x:%02x:%02x" % (0xf0, (i >> 8) & 0xff, i & 0xff)
            ops.append({"op": "insert", "table": "Port_Binding", "row": self.port_row(
                str(uuid.uuid5(NS, "meta-%d" % i)), ["named-uuid", "d%d" % i], self.key(i), i,
                "ovnmeta-" + net_id(i), "network:distributed", mac, "10.%d.%d.2" % (i >> 8, i & 0xff))})
        result = transact(self.sock, "OVN_Southbound", ops)
        self.local_chassis = (["uuid", result[1]["uuid"][1]], SYSTEM_ID)
        self.dp = [["uuid", r["uuid"][1]] for r in result[2:2 + self.nets]]
        self.rows += len(ops)
        expected = {}
        for start in range(0, len(local), BATCH):
            ops = []
            for g in range(start, min(start + BATCH, len(local))):
                tap, _mac, dom = local[g]
                net = g % self.local_nets
                pid = local_port_id(tap)
                expected[pid] = net_id(net)
                mac = "fa:16:3e:%02x:%02x:%02x" % ((g >> 16) & 0xff, (g >> 8) & 0xff, g & 0xff)
                ops.append({"op": "insert", "table": "Port_Binding", "row": self.port_row(
                    pid, self.dp[net], self.key(net), net, dom, "compute:nova", mac,
                    "10.%d.%d.%d" % (net >> 8, net & 0xff, 10 + g // self.local_nets),
                    self.local_chassis)})
            transact(self.sock, "OVN_Southbound", ops)
            self.rows += len(ops)
        return expected

    def grow(self, target):
        """Foreign ports up to `target`: on every network in turn, 40 to a chassis."""
        while self.foreign < target:
            end = min(target, self.foreign + BATCH)
            ops, new = [], []
            for f in range(self.foreign, end):
                c = f // self.per_chassis
                if c not in self.chassis and c not in new:
                    new.append(c)
                    ops += self.chassis_ops("chassis-%05d" % c, "compute-%05d" % c,
                                            "198.18.%d.%d" % (c >> 8, c & 0xff), "%d" % c)
            base = len(ops)
            if new:
                result = transact(self.sock, "OVN_Southbound", ops)
                for j, c in enumerate(new):
                    self.chassis[c] = (["uuid", result[2 * j + 1]["uuid"][1]], "chassis-%05d" % c)
                self.rows += base
            ops = []
            for f in range(self.foreign, end):
                net = f % self.nets
                g = 1 << 20 | f
                mac = "fa:16:3e:%02x:%02x:%02x" % ((g >> 16) & 0xff, (g >> 8) & 0xff, g & 0xff)
                ops.append({"op": "insert", "table": "Port_Binding", "row": self.port_row(
                    str(uuid.uuid5(NS, "foreign-%d" % f)), self.dp[net], self.key(net), net,
                    str(uuid.uuid5(NS, "vm-%d" % (f // 3))), "compute:nova", mac,
                    "10.%d.%d.%d" % (128 + (net >> 8), net & 0xff, 10 + f // self.nets),
                    self.chassis[f // self.per_chassis])})
            transact(self.sock, "OVN_Southbound", ops)
            self.rows += len(ops)
            self.foreign = end


def populate_ovs(sock, rows, remote):
    ops = [{"op": "insert", "table": "Bridge", "uuid-name": "br",
            "row": {"name": "br-int", "fail_mode": "secure"}},
           {"op": "mutate", "table": "Open_vSwitch", "where": [],
            "mutations": [["bridges", "insert", ["set", [["named-uuid", "br"]]]]]}]
    ports = []
    for g, (tap, mac, dom) in enumerate(rows):
        ids = omap({"iface-id": local_port_id(tap), "attached-mac": mac,
                    "iface-status": "active", "vm-uuid": dom})
        ops.append({"op": "insert", "table": "Interface", "uuid-name": "i%d" % g,
                    "row": {"name": tap, "external_ids": ids}})
        ops.append({"op": "insert", "table": "Port", "uuid-name": "p%d" % g,
                    "row": {"name": tap, "interfaces": ["named-uuid", "i%d" % g]}})
        ports.append(["named-uuid", "p%d" % g])
    ops.append({"op": "mutate", "table": "Bridge", "where": [["name", "==", "br-int"]],
                "mutations": [["ports", "insert", ["set", ports]]]})
    transact(sock, "Open_vSwitch", ops)
    set_remote(sock, remote)


def set_remote(sock, remote):
    transact(sock, "Open_vSwitch", [{"op": "update", "table": "Open_vSwitch", "where": [],
                                     "row": {"external_ids": omap({
                                         "system-id": SYSTEM_ID, "hostname": HOSTNAME,
                                         "ovn-remote": remote, "ovn-encap-type": "geneve",
                                         "ovn-encap-ip": "192.0.2.1"})}}])


class Proxy:
    """A unix-socket proxy that logs, per connection, every JSON-RPC message each way with
    the time its last byte reached the proxy (taken before it is passed on, so a request
    the client sends in answer to a reply always comes after that reply)."""

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
            log = {"events": [], "closed": threading.Event(), "open": 2}
            with self.lock:
                self.connections.append(log)
            threading.Thread(target=self.pump, args=(client, server, log, "c"), daemon=True).start()
            threading.Thread(target=self.pump, args=(server, client, log, "s"), daemon=True).start()

    def pump(self, src, dst, log, side):
        dec, buf, pending, first = json.JSONDecoder(), "", 0, None
        while True:
            try:
                data = src.recv(1 << 20)
            except OSError:
                data = b""
            t = time.perf_counter()
            if not data:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                with self.lock:
                    log["open"] -= 1
                    if log["open"] == 0:
                        log["closed"].set()
                return
            try:
                dst.sendall(data)
            except OSError:
                pass
            if not buf.strip():
                first = t  # a new message starts in this chunk
            buf += data.decode()
            pending += len(data)
            while buf:
                try:
                    msg, end = dec.raw_decode(buf)
                except ValueError:
                    break
                buf = buf[end:].lstrip()
                size, pending = pending - len(buf.encode()), len(buf.encode())
                # a request counts from its first byte (the client was not waiting when it
                # began it), an answer from its last (the client could act on it only then)
                at = first if side == "c" and first is not None else t
                first = t if buf.strip() else None
                with self.lock:
                    log["events"].append((at, side, summary(msg), size))
                    if side == "c" and "method" in msg and msg.get("id") is not None:
                        log.setdefault("requests", []).append(msg)

    def take(self, timeout=10):
        with self.lock:
            out, self.connections = self.connections, []
        for c in out:
            c["closed"].wait(timeout)
        return [(sorted(c["events"], key=lambda e: e[0]), c.get("requests", [])) for c in out]


def summary(msg):
    """What a message is: (kind, method, id, detail)."""
    if "method" in msg:
        p = msg.get("params") or []
        detail = ""
        if msg["method"] == "monitor_cond" and len(p) >= 3:
            detail = "%s: %s" % (p[0], ", ".join(
                "%s %d clauses" % (t, sum(len(r.get("where", [])) for r in v)) for t, v in p[2].items()))
        elif msg["method"] == "monitor_cond_change" and len(p) >= 3:
            detail = ", ".join("%s %d clauses" % (t, sum(len(r.get("where", [])) for r in v))
                               for t, v in p[2].items())
        elif msg["method"] == "update2" and len(p) >= 2:
            detail = ", ".join("%s %d rows" % (t, len(v)) for t, v in p[1].items())
        return ("request" if msg.get("id") is not None else "notify", msg["method"], msg.get("id"), detail)
    detail = ""
    if isinstance(msg.get("result"), dict):
        detail = ", ".join("%s %d rows" % (t, len(v)) for t, v in msg["result"].items())
    return ("reply", None, msg.get("id"), detail)


def round_trips(events):
    """Groups of client requests: a group starts at a request sent after the server's
    last message (the client waited for something), or at the first request."""
    groups, seen_server = [], True
    for t, side, (kind, method, mid, detail), size in events:
        if side == "s":
            seen_server = True
            if groups:
                groups[-1]["answer_bytes"] += size
                groups[-1]["answer_done"] = t
            continue
        if kind != "request":
            continue
        if seen_server:
            groups.append({"requests": [], "sent": t, "answer_bytes": 0, "answer_done": t})
            seen_server = False
        groups[-1]["requests"].append({"method": method, "id": mid, "detail": detail, "bytes": size})
    for g in groups:
        g["wait_ms"] = round((g.pop("answer_done") - g.pop("sent")) * 1e3, 2)
    return groups


def run(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit("%s failed (exit %d): %s" % (" ".join(cmd), p.returncode, p.stderr.decode()[-2000:]))
    return dt, p.stdout, p.stderr


def check_on(out, expected):
    """Every record's net_id from ovn, the right network and port, with a binding: the
    records, and a description of what is wrong (None when nothing is)."""
    recs = json.loads(out)["interfaces"]
    bad = []
    for r in recs:
        pid = r.get("port_id")
        if (r.get("net_id_source") != "ovn" or pid not in expected or r.get("net_id") != expected[pid]
                or not r.get("binding")):
            bad.append(r)
    if bad or len(recs) != len(expected):
        ex = {k: bad[0].get(k) for k in ("device", "net_id", "net_id_source", "port_id", "binding")} if bad else None
        return recs, ("%d records, %d of them not resolved from the Southbound as expected "
                      "(want %d, all with net_id_source ovn); first: %s" % (len(recs), len(bad), len(expected), ex))
    return recs, None


def pct(xs, p):
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024.0
    return out


def http_get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def start_serve(vifd, args, workdir, label, timeout):
    """Starts `vifd serve --listen 127.0.0.1:0 --ready-file F ARGS` and waits for the ready
    file: (process, TCP port, seconds to ready, log path)."""
    ready = os.path.join(workdir, "ovn-ready-%s.json" % label)
    log_path = os.path.join(workdir, "ovn-daemon-%s.log" % label)
    if os.path.exists(ready):
        os.unlink(ready)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIFD_")}
    args = [vifd, "serve", "--listen", "127.0.0.1:0", "--ready-file", ready] + args
    with open(log_path, "w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=log, env=env)
    try:
        t0 = time.perf_counter()
        deadline = time.monotonic() + timeout
        while not os.path.exists(ready):
            if proc.poll() is not None:
                raise SystemExit("vifd serve exited (%d); log %s" % (proc.returncode, log_path))
            if time.monotonic() > deadline:
                raise SystemExit("vifd serve not ready after %d s; log %s" % (timeout, log_path))
            time.sleep(0.05)
        doc = json.load(open(ready))
        port = int([a for a in doc["listen"] if not a.startswith("unix:")][0].rsplit(":", 1)[1])
        return proc, port, time.perf_counter() - t0, log_path
    except BaseException:
        stop_serve(proc)
        raise


def stop_serve(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


UP_LINE = 'vifd_source_up{source="ovn"} 1'


def wait_ovn_up(proc, port, up_timeout, log_path):
    """Until /metrics has vifd_source_up{source="ovn"} 1: True, or False after up_timeout s."""
    deadline = time.monotonic() + up_timeout
    while True:
        status, body = http_get(port, "/metrics")
        if status == 200 and any(line.strip() == UP_LINE for line in body.decode().splitlines()):
            return True
        if proc.poll() is not None:
            raise SystemExit("vifd serve exited (%d); log %s" % (proc.returncode, log_path))
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def daemon_rss(vifd, base_args, workdir, label, ovn_on, timeout, up_timeout):
    """Starts `vifd serve`, waits for the ready file and (ovn on) for the Southbound source
    to be up, reads VmRSS/VmHWM, stops it."""
    args = base_args + ([] if ovn_on else ["--resolvers", RESOLVERS_OFF])
    t0 = time.perf_counter()
    proc, port, t_ready, log_path = start_serve(vifd, args, workdir, label, timeout)
    try:
        up = None
        if ovn_on:
            up = wait_ovn_up(proc, port, up_timeout, log_path)
            if not up:
                say("WARNING: no %s in /metrics within %d s (log %s); RSS read anyway" % (UP_LINE, up_timeout, log_path))
        t_up = time.perf_counter() - t0
        mem = proc_status(proc.pid)
        status, body = http_get(port, "/v1/interfaces")
        recs = json.loads(body)
        recs = recs.get("interfaces", recs) if isinstance(recs, dict) else recs
        from_ovn = sum(1 for r in recs if r.get("net_id_source") == "ovn")
        return {"rss_mib": round(mem["VmRSS"], 1), "hwm_mib": round(mem["VmHWM"], 1),
                "ready_s": round(t_ready, 2), "ovn_up": up,
                "ovn_up_s": round(t_up, 2) if up else None,
                "records": len(recs), "records_from_ovn": from_ovn, "log": log_path}
    finally:
        stop_serve(proc)


def daemon_rss_median(vifd, base_args, workdir, label, ovn_on, timeout, up_timeout):
    """daemon_rss RSS_RUNS times (default 3): one start's RSS depends on where the
    allocator left the first answer's transient memory, so the median is reported, with
    every sample."""
    runs = [daemon_rss(vifd, base_args, workdir, "%s-%d" % (label, i), ovn_on, timeout, up_timeout)
            for i in range(max(1, env_int("RSS_RUNS", 3)))]
    runs.sort(key=lambda m: m["rss_mib"])
    median = dict(runs[len(runs) // 2])
    median["samples_mib"] = [m["rss_mib"] for m in runs]
    return median


def say_mem(m):
    say("vifd serve, %d foreign ports: VmRSS %.1f MiB (median of %s; VmHWM %.1f) %s; %d/%d records from ovn"
        % (m["foreign"], m["rss_mib"], m.get("samples_mib", [m["rss_mib"]]), m["hwm_mib"],
           "once ovn up (%.2f s)" % m["ovn_up_s"] if m["ovn_up"] else "WITHOUT the ovn source up",
           m["records_from_ovn"], m["records"]))


def wait_idle(pid, timeout=120):
    """Until ovsdb-server's CPU time stops moving (it goes on answering a monitor whose
    client has gone), so that one run's leftover work does not land in the next."""
    def cpu():
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    deadline, last, still = time.monotonic() + timeout, cpu(), 0
    while still < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
        now = cpu()
        still = still + 1 if now == last else 0
        last = now


def replay(sock_path, groups):
    """Sends each group of requests (as vifd sent them), waits for the replies to all of
    them, and times it: what the server takes, with no client timeout."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    dec, buf, out = json.JSONDecoder(), "", []
    try:
        for group in groups:
            ids = {m["id"] for m in group}
            t0 = time.perf_counter()
            s.sendall(b"".join(json.dumps(m).encode() for m in group))
            nbytes = 0
            while ids:
                try:
                    msg, end = dec.raw_decode(buf)
                    nbytes += end
                    buf = buf[end:].lstrip()
                    if msg.get("method") is None:
                        ids.discard(msg.get("id"))
                    continue
                except ValueError:
                    pass
                chunk = s.recv(1 << 22)
                if not chunk:
                    raise SystemExit("replay: the Southbound closed the connection")
                buf += chunk.decode()
            out.append({"methods": [m["method"] for m in group], "seconds": round(time.perf_counter() - t0, 3),
                        "answer_bytes": nbytes})
    finally:
        s.close()
    return out


class Sse:
    """`GET /v1/watch` on a raw socket (as bench/watch_bench.py): a thread decodes the
    chunked SSE stream and queues (time.monotonic() when the bytes completing the event
    arrived, kind, id, data as JSON) per event; (t, None, None, reason) when it ends."""

    def __init__(self, port, path="/v1/watch"):
        self.q = queue.Queue()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
                           % path).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            b = self.sock.recv(65536)
            if not b:
                raise SystemExit("GET %s: connection closed before the response head" % path)
            head += b
        head, rest = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if " 200 " not in lines[0] + " ":
            raise SystemExit("GET %s answered %s" % (path, lines[0]))
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        if not hdrs.get("content-type", "").startswith("text/event-stream"):
            raise SystemExit("GET %s: content-type %r" % (path, hdrs.get("content-type")))
        self.chunked = "chunked" in hdrs.get("transfer-encoding", "").lower()
        self.sock.settimeout(None)
        self.raw, self.body = bytearray(rest), bytearray()
        threading.Thread(target=self._run, daemon=True).start()

    def _dechunk(self):
        return dechunk(self.raw, self.body, self.chunked)

    def _frames(self, t):
        for kind, ev_id, data in sse_frames(self.body):
            self.q.put((t, kind, ev_id, json.loads("\n".join(data)) if data else None))

    def _run(self):
        reason = "eof"
        try:
            more = self._dechunk()
            self._frames(time.monotonic())
            while more:
                b = self.sock.recv(1 << 20)
                t = time.monotonic()
                if not b:
                    break
                self.raw += b
                more = self._dechunk()
                self._frames(t)
            else:
                reason = "last chunk"
        except (OSError, ValueError) as e:
            reason = str(e)
        self.q.put((time.monotonic(), None, None, reason))

    def next(self, timeout):
        """The next event, or None after `timeout` s."""
        try:
            ev = self.q.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
        if ev[1] is None:
            raise SystemExit("the /v1/watch stream ended: %s" % ev[3])
        return ev

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class RpcConn:
    """One JSON-RPC session to an ovsdb-server, kept open: a transact costs one send and
    one reply (answers the server's echo requests, if any, meanwhile)."""

    def __init__(self, sock_path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(sock_path)
        self.dec, self.buf, self.id = json.JSONDecoder(), "", 100

    def send(self, method, params):
        self.id += 1
        self.s.sendall(json.dumps({"method": method, "params": params, "id": self.id}).encode())
        return self.id

    def reply(self, want):
        while True:
            try:
                msg, end = self.dec.raw_decode(self.buf)
                self.buf = self.buf[end:].lstrip()
                if msg.get("method") == "echo":
                    self.s.sendall(json.dumps({"result": msg.get("params"), "error": None,
                                               "id": msg.get("id")}).encode())
                elif msg.get("id") == want:
                    return msg
                continue
            except ValueError:
                pass
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise SystemExit("the Southbound closed the connection")
            self.buf += chunk.decode()

    def close(self):
        self.s.close()


def event_port(ev):
    """The port id of the record an event is about (None when it has none)."""
    d = ev[3] or {}
    return ((d.get("interface") or {}).get("port_id")
            or (d.get("problem") or {}).get("port_id"))


def sb_latency(vifd, base, workdir, sb_sock, local_ports, runs, timeout, up_timeout, event_timeout):
    """SB change -> API: see the module's doc. The samples, and what went wrong."""
    proc, port, _, log_path = start_serve(vifd, base + ["--ovn-grace", "3600"], workdir, "latency", timeout)
    sse, conn, failures, samples = None, None, [], []
    try:
        if not wait_ovn_up(proc, port, up_timeout, log_path):
            raise SystemExit("latency: no %s in /metrics within %d s; log %s" % (UP_LINE, up_timeout, log_path))
        sse = Sse(port)
        ev = sse.next(30)
        if ev is None or ev[1] != "snapshot":
            raise SystemExit("latency: /v1/watch did not start with a snapshot: %r" % (ev,))
        snap = {r.get("port_id"): r for r in ev[3]["interfaces"]}
        missing = [p for p in local_ports if not (snap.get(p) or {}).get("binding")]
        if missing:
            raise SystemExit("latency: %d local ports without a record with a binding in the snapshot; first %s"
                             % (len(missing), missing[0]))
        stray = []
        while True:  # anything still settling after the snapshot
            ev = sse.next(1.0)
            if ev is None:
                break
            stray.append((ev[1], event_port(ev)))
        if stray:
            say("latency: %d events after the snapshot before the first change (ignored): %s"
                % (len(stray), stray[:5]))
        conn = RpcConn(sb_sock)
        rng = random.Random(1)
        cpu0 = cpu_ticks(proc.pid)
        pid = None
        for i in range(runs):
            if i % 2 == 0:
                pid = rng.choice(local_ports)
            up = i % 2 == 1  # down, then up again on the same port
            op = {"op": "update", "table": "Port_Binding", "where": [["logical_port", "==", pid]],
                  "row": {"up": up}}
            t0 = time.monotonic()
            rid = conn.send("transact", ["OVN_Southbound", op])
            reply = conn.reply(rid)
            t_reply = time.monotonic()
            res = reply.get("result") or [{}]
            if reply.get("error") or res[0].get("count") != 1:
                raise SystemExit("latency: transact on %s failed: %s" % (pid, reply))
            events, hit = [], None
            deadline = t0 + event_timeout
            while hit is None:
                ev = sse.next(deadline - time.monotonic())
                if ev is None:
                    break
                events.append(ev)
                b = ((ev[3] or {}).get("interface") or {}).get("binding") or {}
                if ev[1] == "changed" and event_port(ev) == pid and b.get("up") is up:
                    hit = ev
            while True:  # what else this change brought: events until 0.2 s of quiet
                ev = sse.next(0.2)
                if ev is None:
                    break
                events.append(ev)
            s = {"i": i, "port_id": pid, "up": up, "transact_ms": round((t_reply - t0) * 1e3, 3),
                 "events": [[e[1], event_port(e)] for e in events],
                 "records_changed": len({event_port(e) for e in events if e[1] in ("added", "changed", "removed")}),
                 "other_ports": sorted({str(event_port(e)) for e in events if event_port(e) != pid})}
            if hit is None:
                s["timeout"] = True
                failures.append("latency change %d (%s up=%s): no changed event with that binding within %.0f s; "
                                "events: %s" % (i, pid, up, event_timeout, s["events"][:5]))
            else:
                s["ms"] = round((hit[0] - t0) * 1e3, 3)
                s["generation"] = hit[2]
                if s["other_ports"] or s["records_changed"] != 1:
                    failures.append("latency change %d (%s up=%s): events %s" % (i, pid, up, s["events"][:5]))
            samples.append(s)
        cpu_s = (cpu_ticks(proc.pid) - cpu0) / os.sysconf("SC_CLK_TCK")
    finally:
        if conn:
            conn.close()
        if sse:
            sse.close()
        stop_serve(proc)
    return samples, failures, cpu_s, log_path


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def sb_counts(sock):
    reply = rpc(sock, {"method": "transact", "id": 1, "params": ["OVN_Southbound"] + [
        {"op": "select", "table": t, "where": [], "columns": ["_uuid"]}
        for t in ("Port_Binding", "Datapath_Binding", "Chassis")]})
    return [len(r["rows"]) for r in reply["result"]]


def main():
    vifd, uri, netns, node_xml, ovs_sock, sb_sock, out_json, runs, sb_pid = sys.argv[1:10]
    sb_pid = int(sb_pid)
    runs = int(runs)
    workdir = os.path.dirname(out_json)
    local = interfaces(node_xml)
    n_local = len(local)
    local_nets = env_int("LOCAL_NETS", min(400, n_local))
    other_nets = env_int("OTHER_NETS", 4 * local_nets)
    foreign_low = env_int("FOREIGN_LOW", n_local)
    foreign = env_int("FOREIGN", 9 * n_local)
    foreign_high = env_int("FOREIGN_HIGH", 10 * n_local)
    count_runs = env_int("COUNT_RUNS", 5)
    timeout = env_int("READY_TIMEOUT", 120)
    up_timeout = env_int("OVN_UP_TIMEOUT", 30)
    if not foreign_low <= foreign <= foreign_high:
        raise SystemExit("need FOREIGN_LOW <= FOREIGN <= FOREIGN_HIGH")
    results = {"local_ports": n_local, "local_nets": local_nets, "other_nets": other_nets}

    sb = Southbound(sb_sock, local_nets, other_nets, env_int("PORTS_PER_CHASSIS", 40))
    t0 = time.perf_counter()
    expected = sb.setup(local)
    sb.grow(foreign_low)
    say("Southbound written directly: %d local ports, %d foreign, %d networks (each with its "
        "metadata localport), %d foreign chassis: %d rows in %.1f s"
        % (n_local, sb.foreign, sb.nets, len(sb.chassis), sb.rows, time.perf_counter() - t0))
    populate_ovs(ovs_sock, local, "unix:" + sb_sock)
    say("local OVSDB: %d Interface + Port rows (iface-id = the local ports), ovn-remote=unix:%s"
        % (n_local, sb_sock))

    base = ["--libvirt-uri", uri, "--netns", netns, "--ovsdb", "unix:" + ovs_sock]
    mem = {}
    mem["low"] = daemon_rss_median(vifd, base, workdir, "low", True, timeout, up_timeout)
    mem["low"]["foreign"] = sb.foreign
    say_mem(mem["low"])

    t0 = time.perf_counter()
    sb.grow(foreign)
    pb, dp, ch = sb_counts(sb_sock)
    say("Southbound grown to %d foreign ports (%.1f s): Port_Binding %d, Datapath_Binding %d, Chassis %d"
        % (sb.foreign, time.perf_counter() - t0, pb, dp, ch))
    results["timing_sb"] = {"port_binding": pb, "datapath_binding": dp, "chassis": ch, "foreign": sb.foreign}

    on = [vifd, "list", "--json"] + base
    off = on + ["--resolvers", RESOLVERS_OFF]
    wait_idle(sb_pid)
    _, out, err = run(on)  # warm-up pair, and the check
    wait_idle(sb_pid)
    recs, wrong = check_on(out, expected)
    failures = []
    if wrong:
        failures.append("ovn on, warm-up run: " + wrong)
        say("FAIL: ovn on: %s; vifd's stderr: %s" % (wrong, err.decode().strip()[-600:]))
    run(off)
    t_on, t_off = [], []
    for i in range(runs):
        pair = [(on, t_on), (off, t_off)]
        for cmd, acc in (pair if i % 2 == 0 else pair[::-1]):
            dt, out, _ = run(cmd)
            wait_idle(sb_pid)
            if cmd is on:
                _, wrong = check_on(out, expected)
                if wrong:
                    failures.append("ovn on, pair %d: %s" % (i + 1, wrong))
            acc.append(dt)

    # round trips: the same command, ovn-remote pointed at a counting proxy
    proxy_path = sb_sock + ".proxy"
    proxy = Proxy(proxy_path, sb_sock)
    set_remote(ovs_sock, "unix:" + proxy_path)
    trips, sent = [], []
    try:
        for i in range(count_runs):
            _, out, _ = run(on)
            wait_idle(sb_pid)
            _, wrong = check_on(out, expected)
            if wrong:
                failures.append("ovn on, counted run %d: %s" % (i + 1, wrong))
            conns = proxy.take()
            trips.append([round_trips(events) for events, _ in conns])
            sent.append([reqs for _, reqs in conns])
    finally:
        set_remote(ovs_sock, "unix:" + sb_sock)
    # vifd's own requests of the last counted inventory, replayed with no client timeout:
    # what the Southbound takes to answer each round trip
    replayed = []
    runs_seen = [(len(s[0]), i) for i, s in enumerate(sent) if s and s[0]]
    if runs_seen:
        i = max(runs_seen)[1]  # the counted run that got furthest
        reqs, groups = {m["id"]: m for m in sent[i][0]}, []
        for g in trips[i][0]:
            groups.append([reqs[r["id"]] for r in g["requests"] if r["id"] in reqs])
        wait_idle(sb_pid)
        replayed = replay(sb_sock, groups)
        for i, r in enumerate(replayed, 1):
            say("replay of vifd's round trip %d (%s) against the Southbound, no timeout: %.3f s, %d B"
                % (i, ", ".join(r["methods"]), r["seconds"], r["answer_bytes"]))

    # SB change -> API latency in `vifd serve`, the same Southbound (FOREIGN foreign ports)
    lat_runs = env_int("LATENCY_RUNS", 200)
    lat, lat_failures, lat_cpu = [], [], 0.0
    if lat_runs > 0:
        wait_idle(sb_pid)
        lat, lat_failures, lat_cpu, lat_log = sb_latency(
            vifd, base, workdir, sb_sock, sorted(expected), lat_runs, timeout, up_timeout,
            env_int("LATENCY_TIMEOUT", 5))

    sb.grow(foreign_high)
    wait_idle(sb_pid)
    mem["high"] = daemon_rss_median(vifd, base, workdir, "high", True, timeout, up_timeout)
    mem["high"]["foreign"] = sb.foreign
    mem["high_ovn_off"] = daemon_rss(vifd, base, workdir, "off", False, timeout, up_timeout)
    mem["high_ovn_off"]["foreign"] = sb.foreign
    say_mem(mem["high"])
    say("vifd serve, ovn resolver off (reference): VmRSS %.1f MiB (VmHWM %.1f)"
        % (mem["high_ovn_off"]["rss_mib"], mem["high_ovn_off"]["hwm_mib"]))

    # ---- report
    def fig(xs):
        return {"median_ms": round(statistics.median(xs) * 1e3, 1), "p90_ms": round(pct(xs, 90) * 1e3, 1),
                "min_ms": round(min(xs) * 1e3, 1), "max_ms": round(max(xs) * 1e3, 1), "n": len(xs)}

    f_on, f_off = fig(t_on), fig(t_off)
    ratio = f_on["median_ms"] / f_off["median_ms"]
    ratio90 = f_on["p90_ms"] / f_off["p90_ms"]
    pair_ratios = [a / b for a, b in zip(t_on, t_off)]
    conns = [len(t) for t in trips]
    rounds = [len(c) for t in trips for c in t]
    requests = [sum(len(g["requests"]) for g in c) for t in trips for c in t]
    diff = mem["high"]["rss_mib"] - mem["low"]["rss_mib"]
    results.update({"on": f_on, "off": f_off, "ratio_median": round(ratio, 3), "ratio_p90": round(ratio90, 3),
                    "pair_ratio_median": round(statistics.median(pair_ratios), 3),
                    "records": len(recs), "round_trips": trips, "replayed": replayed, "memory": mem,
                    "failures": failures,
                    "rss_diff_mib": round(diff, 1)})
    if failures:
        say("FAIL: records not resolved from the Southbound in %d of %d ovn-on runs; first: %s"
            % (len(failures), runs + 1 + count_runs, failures[0]))
    else:
        say("records %d, every one with net_id_source ovn, the expected net_id and port_id, and a binding, "
            "in all %d ovn-on runs" % (len(recs), runs + 1 + count_runs))
    say("vifd list --json, ovn on : median %.1f ms  p90 %.1f  (min %.1f, max %.1f, n=%d)"
        % (f_on["median_ms"], f_on["p90_ms"], f_on["min_ms"], f_on["max_ms"], runs))
    say("vifd list --json, ovn off: median %.1f ms  p90 %.1f  (min %.1f, max %.1f, n=%d)"
        % (f_off["median_ms"], f_off["p90_ms"], f_off["min_ms"], f_off["max_ms"], runs))
    say("on / off: median %.2fx, p90 %.2fx, median of pair ratios %.2fx (target <= 1.30x): %s"
        % (ratio, ratio90, statistics.median(pair_ratios), "PASS" if ratio <= 1.3 else "FAIL"))
    say("Southbound connections per inventory: %s; requests per inventory: %s; round trips: %s"
        % (sorted(set(conns)), sorted(set(requests)), sorted(set(rounds))))
    example = trips[max(runs_seen)[1]][0] if runs_seen else []
    for i, g in enumerate(example, 1):
        reqs = "; ".join("%s id=%s (%s, %d B)" % (r["method"], r["id"], r["detail"], r["bytes"]) for r in g["requests"])
        say("  round trip %d: %s -> %d B answered in %.1f ms" % (i, reqs, g["answer_bytes"], g["wait_ms"]))
    one = all(r == 1 for r in rounds)
    say("one SB round trip per inventory (target): %s" % ("PASS" if one else "FAIL (%s round trips)" % sorted(set(rounds))))
    say("daemon VmRSS: %d foreign %.1f MiB, %d foreign %.1f MiB: difference %+.1f MiB (target within 10): %s"
        % (mem["low"]["foreign"], mem["low"]["rss_mib"], mem["high"]["foreign"], mem["high"]["rss_mib"], diff,
           "PASS" if abs(diff) <= 10 else "FAIL"))
    if lat:
        ok = [x["ms"] for x in lat if "ms" in x]
        batches = [x["records_changed"] for x in lat if "ms" in x]
        right = sum(1 for x in lat if "ms" in x and not x["other_ports"])
        tx = [x["transact_ms"] for x in lat]
        lf = {"n": len(lat), "events": len(ok), "timeouts": len(lat) - len(ok),
              "right_port_only": right, "records_changed_per_change": sorted(set(batches)),
              "transact_ms_median": round(statistics.median(tx), 2),
              "daemon_cpu_s": round(lat_cpu, 2), "log": lat_log, "failures": lat_failures,
              "foreign": results["timing_sb"]["foreign"], "samples": lat}
        if ok:
            lf.update({"p50_ms": round(pct(ok, 50), 2), "p90_ms": round(pct(ok, 90), 2),
                       "p99_ms": round(pct(ok, 99), 2), "max_ms": round(max(ok), 2),
                       "min_ms": round(min(ok), 2)})
        results["sb_latency"] = lf
        say("vifd serve, SB change -> /v1/watch event (Port_Binding up false/true on a random local "
            "port, one transact; %d foreign ports): p50 %.1f ms  p90 %.1f  p99 %.1f  max %.1f  (min %.1f, n=%d, "
            "%d without an event within %d s) (target p99 <= 100 ms): %s"
            % (lf["foreign"], lf.get("p50_ms", 0), lf.get("p90_ms", 0), lf.get("p99_ms", 0), lf.get("max_ms", 0),
               lf.get("min_ms", 0), len(lat), lf["timeouts"], env_int("LATENCY_TIMEOUT", 5),
               "PASS" if ok and lf["p99_ms"] <= 100 and not lf["timeouts"] else "FAIL"))
        say("  each event the touched port's record, no other event within 0.2 s of quiet: %d of %d; "
            "records changed per SB change: %s (target 1): %s; the transact's own reply: median %.2f ms; "
            "daemon CPU %.2f s over the %d changes"
            % (right, len(ok), lf["records_changed_per_change"],
               "PASS" if batches and set(batches) == {1} and right == len(lat) else "FAIL",
               lf["transact_ms_median"], lat_cpu, len(lat)))
        if lat_failures:
            say("  FAIL: %d changes wrong; first: %s" % (len(lat_failures), lat_failures[0]))
    with open(out_json, "w") as f:
        json.dump(results, f, indent=1)
    say("results in %s" % out_json)
    if failures or lat_failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
