#!/usr/bin/env python3
"""The measuring half of bench/actions.sh: what the actions of `vifd serve --enable-actions`
cost against a real libvirtd. actions.sh creates the networks, the pool, the guests and
starts the daemon on a unix socket; this script (python3 stdlib only):

  (a) attach: N interface attaches end to end through the API
        curl --unix-socket SOCK -X POST /v2.1/servers/UUID/os-interface
             {"interfaceAttachment": {"net_id": NET_UUID}}      (each a fresh port)
      against N `virsh -c qemu:///system attach-interface DOMAIN network NET --model virtio
      --live --config` on the same paused guest, interleaved (API, virsh, API, ...) after
      WARMUP of each that are not counted. Both are timed the same way: the wall time of
      the child process (curl or virsh), spawn to exit, with time.perf_counter. The API
      answers only once the inventory shows the new device, so its time includes that.
      curl's own time_total is reported too (informative). Target: median ratio <= 1.2.
  (b) allocation: ALLOCS sequential POST /v1/interfaces/{id}/ip_addresses, one for each
      interface of a shut-off domain with ALLOCS NICs on a network whose DHCP range has at
      least ALLOCS addresses, over a persistent unix-socket HTTP/1.1 client written here
      (no process per request). Target: total <= 5 s per 100 (50 ms each). Checked: every answer 201, distinct
      addresses, `virsh net-dumpxml` holding ALLOCS host entries afterwards.
      Informative floor: 5 x `virsh net-update NET add ip-dhcp-host ... --live --config`
      (libvirt's own cost of the write each allocation makes; libvirt 9.0 re-applies the
      network's iptables rules on every live update) and 5 x `--config` only.

Prints `key=value` lines on stdout (for BENCHMARKS.md), writes the JSON to --out.
Exit status: 0 when the report was produced (PASS or FAIL), 2 on harness errors.
"""
import argparse
import json
import math
import platform
import socket
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

QEMU_URI = "qemu:///system"
T_ATTACH_RATIO = 1.2
T_ALLOC_PER_S = 0.05  # 5 s per 100 allocations


def log(msg):
    print("actions_bench: %s" % msg, file=sys.stderr, flush=True)


def die(msg):
    log("ERROR: %s" % msg)
    sys.exit(2)


def pct(values, p):
    """The p-th percentile, nearest rank."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))
    return s[k]


class UnixHTTP:
    """A keep-alive HTTP/1.1 client on a unix socket (Content-Length bodies only)."""

    def __init__(self, path):
        self.path = path
        self.sock = None
        self.buf = b""

    def _connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(self.path)
        self.buf = b""

    def _read_until(self, marker):
        while marker not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the daemon closed the connection")
            self.buf += chunk

    def request(self, method, target, body=None):
        if self.sock is None:
            self._connect()
        data = b"" if body is None else json.dumps(body).encode()
        head = "%s %s HTTP/1.1\r\nHost: vifd\r\n" % (method, target)
        if body is not None:
            head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
        self.sock.sendall(head.encode() + b"\r\n" + data)
        self._read_until(b"\r\n\r\n")
        raw_head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if "chunked" in headers.get("transfer-encoding", ""):
            die("chunked responses are not handled here (%s %s)" % (method, target))
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the daemon closed the connection mid-body")
            self.buf += chunk
        payload, self.buf = self.buf[:n], self.buf[n:]
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, (json.loads(payload) if payload.strip() else None)

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None


def run_timed(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return (time.perf_counter() - t0) * 1000.0, p


def api_attach(args, url):
    body = json.dumps({"interfaceAttachment": {"net_id": args.net_uuid}})
    ms, p = run_timed([
        "curl", "-sS", "--unix-socket", args.sock, "-X", "POST",
        "-H", "Content-Type: application/json", "--data", body,
        "-w", "\n%{http_code} %{time_total}", url,
    ])
    if p.returncode != 0:
        die("curl failed (%d): %s" % (p.returncode, p.stderr.strip()))
    text, _, tail = p.stdout.rpartition("\n")
    code, total = tail.split()
    if code != "200":
        die("POST os-interface answered %s: %s" % (code, text))
    att = json.loads(text)["interfaceAttachment"]
    return ms, float(total) * 1000.0, att


def virsh_attach(args):
    ms, p = run_timed([
        "virsh", "-q", "-c", QEMU_URI, "attach-interface", args.domain, "network",
        args.net, "--model", "virtio", "--live", "--config",
    ])
    if p.returncode != 0:
        die("virsh attach-interface failed: %s" % p.stderr.strip())
    return ms


def host_entries(net):
    xml = subprocess.run(["virsh", "-q", "-c", QEMU_URI, "net-dumpxml", net],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    root = ET.fromstring(xml)
    return [(h.get("mac"), h.get("ip")) for h in root.iter("host")]


def bench_floor(args, runs=5):
    """libvirt's own cost of one allocation's write: `virsh net-update NET add
    ip-dhcp-host --live --config` (what the API does through virNetworkUpdate), timed
    like the attaches (child wall time), on the attach network (addresses .200+ of its
    /24, outside its DHCP range, deleted again). Also --config alone, for comparison."""
    xml = subprocess.run(["virsh", "-q", "-c", QEMU_URI, "net-dumpxml", args.net],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    gw = ET.fromstring(xml).find("ip").get("address")
    prefix = gw.rsplit(".", 1)[0]
    out = {}
    for label, flags in (("live_config", ["--live", "--config"]), ("config", ["--config"])):
        times = []
        for i in range(runs):
            host = "<host mac='52:54:00:af:%02x:%02x' ip='%s.%d'/>" % (
                len(out), i, prefix, 200 + 10 * len(out) + i)
            ms, p = run_timed(["virsh", "-q", "-c", QEMU_URI, "net-update", args.net, "add",
                               "ip-dhcp-host", host] + flags)
            if p.returncode != 0:
                die("virsh net-update add failed: %s" % p.stderr.strip())
            times.append(ms)
            p = subprocess.run(["virsh", "-q", "-c", QEMU_URI, "net-update", args.net, "delete",
                                "ip-dhcp-host", host] + flags,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if p.returncode != 0:
                die("virsh net-update delete failed: %s" % p.stderr.strip())
        out[label] = summary(times)
    return out


def summary(values):
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 2),
        "p90_ms": round(pct(values, 90), 2),
        "min_ms": round(min(values), 2),
        "max_ms": round(max(values), 2),
    }


def bench_attach(args):
    url = "http://vifd/v2.1/servers/%s/os-interface" % args.domain_uuid
    api, api_curl, virsh = [], [], []
    for i in range(args.warmup + args.n):
        a_ms, a_curl, att = api_attach(args, url)
        v_ms = virsh_attach(args)
        tap = "tap" + att["port_id"][:11]
        if i < args.warmup:
            log("warm-up %d: API %.1f ms (tap %s), virsh %.1f ms" % (i + 1, a_ms, tap, v_ms))
            continue
        api.append(a_ms)
        api_curl.append(a_curl)
        virsh.append(v_ms)
    # What the API attached is on the guest under the Nova tap names.
    out = subprocess.run(["virsh", "-q", "-c", QEMU_URI, "domiflist", args.domain],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    taps = [l.split()[0] for l in out.splitlines() if l.strip()]
    n_tap = sum(1 for t in taps if t.startswith("tap"))
    if n_tap != args.warmup + args.n:
        die("domiflist shows %d tap* devices, not %d: %s" % (n_tap, args.warmup + args.n, taps))
    return {
        "api": summary(api),
        "api_curl_time_total": summary(api_curl),
        "virsh": summary(virsh),
        "ratio_median": round(statistics.median(api) / statistics.median(virsh), 3),
        "ratio_p90": round(pct(api, 90) / pct(virsh, 90), 3),
        "samples": {"api_ms": api, "virsh_ms": virsh},
    }


def bench_alloc(args):
    c = UnixHTTP(args.sock)
    deadline = time.monotonic() + 60
    while True:
        status, body = c.request("GET", "/v1/domains/%s/interfaces" % args.many_uuid)
        recs = (body or {}).get("interfaces", []) if status == 200 else []
        if len(recs) == args.allocs and all(r.get("net_id") == args.alloc_net_uuid for r in recs):
            break
        if time.monotonic() > deadline:
            die("the daemon lists %d records (want %d on net %s) for %s after 60 s"
                % (len(recs), args.allocs, args.alloc_net_uuid, args.many_uuid))
        time.sleep(0.2)
    ids = [r["id"] for r in recs]
    per, addrs = [], set()
    t0 = time.perf_counter()
    for i in ids:
        t = time.perf_counter()
        status, body = c.request("POST", "/v1/interfaces/%s/ip_addresses" % i)
        per.append((time.perf_counter() - t) * 1000.0)
        if status != 201:
            die("allocation %d for %s answered %d: %s" % (len(per), i, status, body))
        addrs.add(body["ip_address"]["address"])
    total = time.perf_counter() - t0
    c.close()
    if len(addrs) != args.allocs:
        die("%d distinct addresses for %d allocations" % (len(addrs), args.allocs))
    hosts = host_entries(args.alloc_net)
    if len(hosts) != args.allocs:
        die("net-dumpxml %s has %d host entries, not %d" % (args.alloc_net, len(hosts), args.allocs))
    return {"total_s": round(total, 3), **summary(per)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sock", required=True)
    ap.add_argument("--domain", required=True)
    ap.add_argument("--domain-uuid", required=True)
    ap.add_argument("--net", required=True)
    ap.add_argument("--net-uuid", required=True)
    ap.add_argument("--many-uuid", required=True)
    ap.add_argument("--alloc-net", required=True)
    ap.add_argument("--alloc-net-uuid", required=True)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--allocs", type=int, default=100)
    ap.add_argument("--vifd", default="")
    ap.add_argument("--repro", default="")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    log("(a) %d+%d interface attaches each way on %s" % (args.warmup, args.n, args.domain))
    a = bench_attach(args)
    log("(b) %d sequential allocations" % args.allocs)
    b = bench_alloc(args)
    log("(b) floor: virsh net-update ip-dhcp-host, 5 runs each way")
    floor = bench_floor(args)

    ok_a = a["ratio_median"] <= T_ATTACH_RATIO
    t_alloc = T_ALLOC_PER_S * args.allocs
    ok_b = b["total_s"] <= t_alloc
    res = {
        "attach": a,
        "alloc": b,
        "alloc_floor_virsh_net_update": floor,
        "targets": {"attach_ratio_median_max": T_ATTACH_RATIO, "alloc_total_s_max": t_alloc},
        "pass": {"attach": ok_a, "alloc": ok_b},
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "vifd": args.vifd,
        "repro": args.repro,
    }
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)

    lines = [
        ("attach_n", args.n),
        ("attach_api_median_ms", "%.1f" % a["api"]["median_ms"]),
        ("attach_api_p90_ms", "%.1f" % a["api"]["p90_ms"]),
        ("attach_api_curl_time_total_median_ms", "%.1f" % a["api_curl_time_total"]["median_ms"]),
        ("attach_virsh_median_ms", "%.1f" % a["virsh"]["median_ms"]),
        ("attach_virsh_p90_ms", "%.1f" % a["virsh"]["p90_ms"]),
        ("attach_ratio_median", "%.2f" % a["ratio_median"]),
        ("attach_ratio_p90", "%.2f" % a["ratio_p90"]),
        ("attach_target", "ratio_median<=%.1f %s" % (T_ATTACH_RATIO, "PASS" if ok_a else "FAIL")),
        ("alloc_n", args.allocs),
        ("alloc_total_s", "%.2f" % b["total_s"]),
        ("alloc_median_ms", "%.1f" % b["median_ms"]),
        ("alloc_p90_ms", "%.1f" % b["p90_ms"]),
        ("alloc_target", "total<=%.2gs %s" % (t_alloc, "PASS" if ok_b else "FAIL")),
        ("alloc_floor_net_update_live_config_median_ms", "%.1f" % floor["live_config"]["median_ms"]),
        ("alloc_floor_net_update_config_only_median_ms", "%.1f" % floor["config"]["median_ms"]),
        ("alloc_floor_total_s", "%.2f" % (floor["live_config"]["median_ms"] * args.allocs / 1000.0)),
    ]
    for k, v in lines:
        print("%s=%s" % (k, v))
    print("results_json=%s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
