#!/usr/bin/env python3
"""The measuring half of bench/fleet.sh (issue 18): the real fleet publisher of HOSTS
simulated hosts (examples/fleet_sim) against one etcd, read by `vifd fleet serve`.

fleet.sh starts etcd; this script (python3 stdlib only):

  1. load: starts fleet_sim, which builds HOSTS x VIFS records and starts one real
     Publisher per host; the time until every host's first full sync is done, etcd's
     db size and counters after it;
  2. cold start: `vifd fleet serve --fleet-etcd URL --listen 127.0.0.1:0 --ready-file F`,
     the time from spawn to the ready file (written once the first list is indexed and
     served), its VmHWM then and its VmRSS once settled;
  3. latency: `/v1/watch?since=REV` opened on a raw socket (a thread timestamps each
     event when the bytes completing it arrive); background changes at BG_RATE/s on random
     hosts (fleet_sim `bg`), and SAMPLES measured changes (`change H J`, a unique MTU):
     from fleet_sim handing the new view to the host's publisher to (i) the `record`
     event with that host, id and MTU, (ii) `/v1/interfaces?host=sim-H` showing it
     (polled back to back on a keep-alive connection);
  4. burst: background stopped, BURST hosts x VIFS records changed at once (fleet_sim
     `burst`): until the last of their `record` events, then checked on
     `/v1/interfaces?host=` of each host;
  5. steady state: nothing changes for STEADY_S s; etcd's counters (/metrics) and the
     TCP bytes etcd received (`ss -ti`, sockets on its client port) before and after,
     per host and hour.

Exit status: 0 when the report was produced (PASS or FAIL), 2 on harness errors.
"""
import argparse
import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchio import dechunk, sse_frames  # noqa: E402

ETCD_COUNTERS = [
    "etcd_mvcc_put_total", "etcd_mvcc_txn_total", "etcd_mvcc_range_total",
    "etcd_mvcc_delete_total", "etcd_server_proposals_committed_total",
    "etcd_network_client_grpc_received_bytes_total",
    "etcd_network_client_grpc_sent_bytes_total", "etcd_debugging_lease_renewed_total",
    "etcd_disk_wal_fsync_duration_seconds_count", "etcd_mvcc_db_total_size_in_bytes",
]
GRPC_METHODS = ["Range", "Txn", "Put", "LeaseKeepAlive", "LeaseGrant"]


def die(msg):
    print("fleet_bench: error: " + msg, file=sys.stderr)
    sys.exit(2)


def say(msg):
    print("fleet_bench: " + msg, file=sys.stderr, flush=True)


def http_get(url, timeout=30):
    host, _, path = url.partition("//")[2].partition("/")
    c = http.client.HTTPConnection(host, timeout=timeout)
    c.request("GET", "/" + path)
    r = c.getresponse()
    return r.status, r.read()


def etcd_metrics(etcd):
    status, body = http_get(etcd + "/metrics")
    if status != 200:
        die("etcd /metrics: HTTP %d" % status)
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        if name in ETCD_COUNTERS:
            out[name] = float(value)
        m = re.match(r'grpc_server_msg_received_total\{grpc_method="(\w+)"', name)
        if m and m.group(1) in GRPC_METHODS:
            out["grpc_" + m.group(1)] = float(value)
    return out


def tcp_received(port):
    """Bytes etcd received on its client port, summed over every connection (tcp_info
    bytes_received: payload, HTTP/2 framing and PINGs included)."""
    out = subprocess.run(["ss", "-Htin", "state", "established", "( sport = :%d )" % port],
                         capture_output=True, text=True, check=True).stdout
    return sum(int(x) for x in re.findall(r"bytes_received:(\d+)", out))


def proc_status(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sim:
    """fleet_sim, driven line by line."""

    def __init__(self, argv, log):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=log, text=True, bufsize=1)

    def ask(self, line, expect):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self.read(expect)

    def read(self, expect):
        line = self.p.stdout.readline()
        if not line:
            die("fleet_sim exited (see its log)")
        words = line.split()
        if words[0] != expect:
            die("fleet_sim said %r, expected %s" % (line, expect))
        return words[1:]


class Watch(threading.Thread):
    """GET /v1/watch?since=REV: the first arrival of each (host, id, mtu) record, and the
    records per burst MTU. Resumes with since=last id when the server drops it."""

    def __init__(self, addr, since):
        super().__init__(daemon=True)
        self.addr, self.since = addr, since
        self.seen, self.bursts, self.events = {}, {}, 0
        self.lock = threading.Lock()
        self.reconnects, self.stop = 0, False

    def run(self):
        while not self.stop:
            try:
                self.follow()
            except OSError:
                pass  # the server stopped (or dropped us): resumed after `since`
            self.reconnects += 1
            time.sleep(0.05)

    def follow(self):
        host, port = self.addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
        s.sendall(("GET /v1/watch?since=%d HTTP/1.1\r\nHost: x\r\n\r\n" % self.since).encode())
        raw, body, head = bytearray(), bytearray(), None
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                return
            now = time.time()
            raw += chunk
            if head is None:
                end = raw.find(b"\r\n\r\n")
                if end < 0:
                    continue
                head = bytes(raw[:end]).decode().lower()
                del raw[:end + 4]
            if not dechunk(raw, body, "chunked" in head):
                return
            for kind, ev_id, data in sse_frames(body):
                self.event(now, kind, ev_id, data)

    def event(self, now, kind, ev_id, data):
        if ev_id is not None:
            self.since = max(self.since, ev_id)
        self.events += 1
        if kind != "record":
            return
        r = json.loads("\n".join(data))
        key = (r["host"], r["id"], r["mtu"])
        with self.lock:
            self.seen.setdefault(key, now)
            if r["mtu"] >= 200000:
                b = self.bursts.setdefault(r["mtu"], {})
                b.setdefault((r["host"], r["id"]), now)

    def wait(self, key, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if key in self.seen:
                    return self.seen[key]
            time.sleep(0.001)
        return None


def percentiles(xs):
    if not xs:
        return {}
    xs = sorted(xs)
    pick = lambda q: xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]  # noqa: E731
    return {"n": len(xs), "p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": xs[-1]}


def shows(conn, host, rid, mtu):
    conn.request("GET", "/v1/interfaces?host=" + host)
    r = conn.getresponse()
    body = json.loads(r.read())
    recs = body["interfaces"] if isinstance(body, dict) else body
    return any(x["id"] == rid and x["mtu"] == mtu for x in recs)


def load(a, res, log):
    say("load: %d hosts x %d records (fleet_sim, %s, %s)" % (
        a.hosts, a.vifs, a.connections_text, "%d hosts/s" % a.ramp if a.ramp else "all at once"))
    argv = [a.sim, "--etcd", a.etcd, "--hosts", str(a.hosts), "--vifs", str(a.vifs),
            "--connections", str(a.connections), "--ramp", str(a.ramp)]
    t0 = time.time()
    sim = Sim(argv, log)
    secs, rss = sim.read("loaded")
    res["load"] = {"seconds": float(secs), "wall_seconds": time.time() - t0,
                   "sim_rss_mib": float(rss), "etcd": etcd_metrics(a.etcd),
                   "etcd_rss_mib": proc_status(a.etcd_pid, "VmRSS")}
    say("load: %.1f s, db %.0f MiB" % (float(secs), res["load"]["etcd"]["etcd_mvcc_db_total_size_in_bytes"] / 2**20))
    return sim


def cold_start(a, res):
    ready = os.path.join(a.workdir, "fleet-ready.json")
    if os.path.exists(ready):
        os.unlink(ready)
    log = open(os.path.join(a.workdir, "fleet-serve.log"), "w")
    t0 = time.time()
    p = subprocess.Popen([a.vifd, "fleet", "serve", "--fleet-etcd", a.etcd, "--listen",
                          "127.0.0.1:0", "--ready-file", ready], stdout=log, stderr=log)
    hwm = 0.0
    while not os.path.exists(ready):
        if p.poll() is not None:
            die("vifd fleet serve exited (%s)" % log.name)
        if time.time() - t0 > a.ready_timeout:
            p.kill()
            die("vifd fleet serve not ready after %d s" % a.ready_timeout)
        hwm = max(hwm, proc_status(p.pid, "VmHWM"))
        time.sleep(0.005)
    took = time.time() - t0
    time.sleep(0.05)  # the ready file is written, then renamed: read it whole
    addr = [x for x in json.load(open(ready))["listen"] if not x.startswith("unix:")][0]
    res["cold"] = {"seconds": took, "vmhwm_mib": proc_status(p.pid, "VmHWM")}
    say("cold start: %.2f s, VmHWM %.0f MiB" % (took, res["cold"]["vmhwm_mib"]))
    return p, addr


def latency(a, res, sim, watch, addr):
    sim.ask("bg %d" % a.bg_rate, "bg")
    time.sleep(3)
    conn = http.client.HTTPConnection(addr, timeout=10)
    rng = random.Random(18)
    sse, api, lost, samples = [], [], 0, []
    say("latency: %d measured changes under %d changes/s" % (a.samples, a.bg_rate))
    for _ in range(a.samples):
        h, j = rng.randrange(a.hosts), rng.randrange(a.vifs)
        _, host, rid, mtu, at = sim.ask("change %d %d" % (h, j), "changed")
        mtu, at = int(mtu), float(at)
        seen = None
        while time.time() - at < a.timeout:
            if shows(conn, host, rid, mtu):
                seen = time.time()
                break
        t = watch.wait((host, rid, mtu), max(0.0, at + a.timeout - time.time()))
        if seen is None or t is None:
            lost += 1
        if seen is not None:
            api.append(seen - at)
        if t is not None:
            sse.append(t - at)
        samples.append([at, None if t is None else t - at, None if seen is None else seen - at])
        time.sleep(rng.uniform(0.05, 0.15))
    status = sim.ask("status", "status")
    res["latency"] = {"sse": percentiles(sse), "api": percentiles(api), "lost": lost,
                      "samples": samples,
                      "bg_rate": a.bg_rate, "bg_done": int(status[2])}
    sim.ask("bg 0", "bg")


def burst(a, res, sim, watch, addr):
    time.sleep(3)
    words = sim.ask("burst %d" % a.burst, "burst")
    mtu, count, begin, end, hosts = int(words[0]), int(words[1]), float(words[2]), float(words[3]), words[4:]
    say("burst: %d records on %d hosts" % (count, len(hosts)))
    deadline = begin + a.burst_timeout
    got = 0
    while time.time() < deadline:
        with watch.lock:
            got = len(watch.bursts.get(mtu, {}))
            last = max(watch.bursts.get(mtu, {0: begin}).values())
        if got >= count:
            break
        time.sleep(0.01)
    conn = http.client.HTTPConnection(addr, timeout=30)
    shown = 0
    for host in hosts:
        conn.request("GET", "/v1/interfaces?host=" + host)
        body = json.loads(conn.getresponse().read())
        recs = body["interfaces"] if isinstance(body, dict) else body
        shown += sum(1 for r in recs if r["mtu"] == mtu)
    res["burst"] = {"records": count, "hosts": len(hosts), "seen_sse": got,
                    "seconds": (last - begin) if got >= count else None,
                    "apply_seconds": end - begin, "shown_api": shown}


def steady(a, res, sim, fleet_pid):
    time.sleep(10)
    say("steady state: %d s with no change" % a.steady_s)
    pids = {"etcd": a.etcd_pid, "fleet_sim": sim.p.pid, "fleet_serve": fleet_pid}
    before = (time.time(), etcd_metrics(a.etcd), tcp_received(a.etcd_port),
              {k: cpu_s(p) for k, p in pids.items()})
    time.sleep(a.steady_s)
    after = (time.time(), etcd_metrics(a.etcd), tcp_received(a.etcd_port),
             {k: cpu_s(p) for k, p in pids.items()})
    hours = (after[0] - before[0]) / 3600.0
    per = lambda d: d / a.hosts / hours  # noqa: E731
    counters = {k: per(after[1].get(k, 0) - before[1].get(k, 0)) for k in after[1]
                if k != "etcd_mvcc_db_total_size_in_bytes"}
    counters["tcp_bytes_received"] = per(after[2] - before[2])
    cpu = {k: 100.0 * (after[3][k] - before[3][k]) / (after[0] - before[0]) for k in pids}
    res["steady"] = {"seconds": after[0] - before[0], "per_host_hour": counters,
                     "cpu_percent_of_one_core": cpu,
                     "fleet_serve_rss_mib": proc_status(fleet_pid, "VmRSS"),
                     "fleet_serve_vmhwm_mib": proc_status(fleet_pid, "VmHWM"),
                     "etcd_rss_mib": proc_status(a.etcd_pid, "VmRSS"),
                     "sim_rss_mib": proc_status(sim.p.pid, "VmRSS")}


def main():
    ap = argparse.ArgumentParser()
    for name, default in [("etcd", None), ("vifd", None), ("sim", None), ("workdir", None)]:
        ap.add_argument("--" + name, required=default is None, default=default)
    for name, default in [("hosts", 10000), ("vifs", 40), ("connections", 0), ("ramp", 0), ("samples", 200),
                          ("bg-rate", 100), ("burst", 500), ("steady-s", 300),
                          ("etcd-pid", 0), ("ready-timeout", 120), ("burst-timeout", 60)]:
        ap.add_argument("--" + name, type=int, default=default)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    a.etcd_port = int(a.etcd.rsplit(":", 1)[1])
    a.connections_text = ("one etcd connection per host" if a.connections == 0
                          else "%d shared etcd connections" % a.connections)
    res = {"hosts": a.hosts, "vifs": a.vifs, "connections": a.connections_text, "ramp": a.ramp}
    sim = load(a, res, open(os.path.join(a.workdir, "fleet-sim.log"), "w"))
    fleet, addr, watch = None, None, None
    try:
        fleet, addr = cold_start(a, res)
        _, body = http_get("http://%s/v1/hosts" % addr, timeout=60)
        watch = Watch(addr, json.loads(body)["revision"])
        watch.start()
        time.sleep(2)
        res["cold"]["rss_settled_mib"] = proc_status(fleet.pid, "VmRSS")
        latency(a, res, sim, watch, addr)
        burst(a, res, sim, watch, addr)
        steady(a, res, sim, fleet.pid)
        status = sim.ask("status", "status")
        res["end"] = {"synced": int(status[0]), "conflicts": int(status[1]),
                      "watch_events": watch.events}
    finally:
        if watch is not None:
            watch.stop = True
            res.setdefault("end", {})["watch_reconnects"] = watch.reconnects
        if fleet is not None:
            fleet.terminate()
            fleet.wait()
        sim.p.stdin.close()
        sim.p.terminate()
        sim.p.wait()
    json.dump(res, open(a.json, "w"), indent=2)
    report(res, a)


def report(res, a):
    ms = lambda s: "%.0f ms" % (s * 1000) if s is not None else "n/a"  # noqa: E731
    lat, b, st = res["latency"], res["burst"], res["steady"]
    ph = st["per_host_hour"]
    rows = [
        ("load: %d records published (%s, %s)" % (
            a.hosts * a.vifs, res["connections"],
            "started at %d hosts/s" % a.ramp if a.ramp else "all started at once"),
         "%.1f s" % res["load"]["seconds"], ""),
        ("load: etcd txns / puts / raft proposals (whole run so far)", "%d / %d / %d" % tuple(
            res["load"]["etcd"].get(k, 0) for k in ("etcd_mvcc_txn_total", "etcd_mvcc_put_total",
                                                    "etcd_server_proposals_committed_total")), ""),
        ("RSS after load: fleet_sim / etcd", "%.0f / %.0f MiB" % (res["load"]["sim_rss_mib"], res["load"]["etcd_rss_mib"]), ""),
        ("etcd db size after load", "%.0f MiB" % (res["load"]["etcd"]["etcd_mvcc_db_total_size_in_bytes"] / 2**20), ""),
        ("fleet serve cold start (spawn -> ready file)", "%.2f s" % res["cold"]["seconds"],
         verdict(res["cold"]["seconds"] <= 15)),
        ("fleet serve VmHWM after cold start", "%.0f MiB" % res["cold"]["vmhwm_mib"],
         verdict(res["cold"]["vmhwm_mib"] <= 1536)),
        ("fleet serve VmRSS at steady state", "%.0f MiB" % st["fleet_serve_rss_mib"], ""),
    ]
    for name, p in [("/v1/watch", lat["sse"]), ("/v1/interfaces", lat["api"])]:
        if p:
            rows.append(("change -> %s p50 / p90 / p99 / max (n=%d, %d/s background)"
                         % (name, p["n"], lat["bg_rate"]),
                         " / ".join(ms(p[k]) for k in ("p50", "p90", "p99", "max")),
                         verdict(p["p50"] <= 0.1 and p["p99"] <= 1.0)))
    rows.append(("burst %d records on %d hosts: all on /v1/watch" % (b["records"], b["hosts"]),
                 ms(b["seconds"]) + " (%d seen, %d on /v1/interfaces)" % (b["seen_sse"], b["shown_api"]),
                 verdict(b["seconds"] is not None and b["seconds"] <= 10 and b["shown_api"] == b["records"])))
    for k, label in [("etcd_mvcc_put_total", "puts"), ("etcd_mvcc_txn_total", "txns"),
                     ("etcd_mvcc_range_total", "ranges"),
                     ("etcd_server_proposals_committed_total", "raft proposals"),
                     ("grpc_LeaseKeepAlive", "lease keep-alives"),
                     ("etcd_network_client_grpc_received_bytes_total", "gRPC bytes received by etcd"),
                     ("etcd_network_client_grpc_sent_bytes_total", "gRPC bytes sent by etcd"),
                     ("tcp_bytes_received", "TCP bytes received by etcd")]:
        rows.append(("steady, per host per hour: " + label, "%.1f" % ph.get(k, 0), ""))
    cpu = st["cpu_percent_of_one_core"]
    rows.append(("steady CPU, % of one core: etcd / fleet_sim / fleet serve",
                 "%.1f / %.1f / %.1f" % (cpu["etcd"], cpu["fleet_sim"], cpu["fleet_serve"]), ""))
    width = max(len(r[0]) for r in rows)
    print("\n%-*s  %s" % (width, "measure", "value"))
    for name, value, v in rows:
        print("%-*s  %s%s" % (width, name, value, ("  " + v) if v else ""))
    print("\nlost samples: %d; end: %s" % (lat["lost"], json.dumps(res["end"])))


def verdict(ok):
    return "PASS" if ok else "FAIL"


if __name__ == "__main__":
    main()
