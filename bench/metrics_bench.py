#!/usr/bin/python3
"""GET /metrics on a daemon serving the scale fixture: cold renders and cached answers.

Run by bench/metrics.sh, which builds the fixture and starts the daemon; see there.

  metrics_bench.py --port P --pid PID --netns NS --taps FILE --records R --scrapes S
                   --out JSON --repro CMD

1. Waits for /readyz, scrapes once and parses the exposition with the Prometheus Python
   client's OpenMetrics parser: one vifd_interface_info per record, and (every fixture tap
   has counters) one sample per record in each of the eight counter families.
2. Cold: S times, flips one fixture tap down or up (a change: the daemon publishes a new
   view), waits for the new generation (a filtered long poll), lets the daemon settle
   SETTLE_S, then scrapes /metrics once: the new view's families have never been
   rendered, so this request renders them. The Server-Timing header says which each
   answer was (`render;dur=MS` or `cache;desc=hit`); a hit here is counted, not timed.
3. Cached: S scrapes back to back, same view.
Latency is the client's, on one keep-alive connection: request sent to headers read
("head": the server renders before it answers) and to the last body byte ("full").
"""

import argparse
import http.client
import json
import os
import platform
import subprocess
import sys
import time

from prometheus_client.openmetrics.parser import text_string_to_metric_families

COUNTERS = ["vifd_interface_%s_%s" % (d, w) for d in ("receive", "transmit")
            for w in ("bytes", "packets", "errors", "drops")]
SETTLE_S = float(os.environ.get("SETTLE_S", "0.05"))
TARGET_MS = 20.0


def args():
    ap = argparse.ArgumentParser()
    for name in ("port", "pid", "records", "scrapes"):
        ap.add_argument("--" + name, type=int, required=True)
    for name in ("netns", "taps", "out", "repro"):
        ap.add_argument("--" + name, required=True)
    return ap.parse_args()


class Client:
    def __init__(self, port, pid):
        self.port, self.pid = port, pid
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(self, path):
        """(status, headers, body, head_ms, full_ms)."""
        if not os.path.exists("/proc/%d" % self.pid):
            sys.exit("the daemon (pid %d) exited" % self.pid)
        t0 = time.perf_counter()
        # The OpenMetrics parser reads the answer: ask for that format.
        self.conn.request("GET", path, headers={"Accept": "application/openmetrics-text"})
        resp = self.conn.getresponse()
        t1 = time.perf_counter()
        body = resp.read()
        t2 = time.perf_counter()
        return resp.status, dict(resp.getheaders()), body, (t1 - t0) * 1e3, (t2 - t0) * 1e3


def wait_ready(c):
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if c.get("/readyz")[0] == 200:
                return
        except OSError:
            c.conn.close()
        time.sleep(0.2)
    sys.exit("the daemon was not ready in 60 s")


def check(c, records):
    """Scrapes once; the exposition's figures, after checking it with the real parser."""
    status, headers, body, _, _ = c.get("/metrics")
    if status != 200:
        sys.exit("GET /metrics answered %d: %s" % (status, body[:300]))
    counts, families = {}, 0
    for fam in text_string_to_metric_families(body.decode()):
        families += 1
        counts[fam.name] = len(fam.samples)
    want = {"vifd_interface": records, **{c: records for c in COUNTERS}}
    wrong = {k: counts.get(k) for k, v in want.items() if counts.get(k) != v}
    if wrong:
        sys.exit("unexpected sample counts (want %d each): %s" % (records, wrong))
    return {"bytes": len(body), "families": families, "samples": sum(counts.values()),
            "content_type": headers.get("content-type")}


def generation(headers):
    return int(headers["x-vifd-generation"])


def cold(c, netns, tap, scrapes):
    """Scrapes of views never rendered before: (timed answers, unexpected hits)."""
    timed, hits = [], 0
    g = generation(c.get("/readyz")[1])
    for i in range(scrapes):
        subprocess.run(["ip", "-n", netns, "link", "set", tap, "down" if i % 2 == 0 else "up"],
                       check=True)
        path = "/v1/interfaces?device=%s&wait_for_generation=%d&timeout=5" % (tap, g + 1)
        if generation(c.get(path)[1]) <= g:
            sys.exit("no new generation 5 s after flipping %s" % tap)
        time.sleep(SETTLE_S)
        status, headers, _, head, full = c.get("/metrics")
        if status != 200:
            sys.exit("GET /metrics answered %d" % status)
        g = generation(headers)
        timing = headers.get("server-timing", "")
        if timing.startswith("render;dur="):
            timed.append({"head": head, "full": full, "render": float(timing.split("=", 1)[1])})
        else:
            hits += 1
    subprocess.run(["ip", "-n", netns, "link", "set", tap, "up"], check=True)
    return timed, hits


def cached(c, scrapes):
    timed, renders = [], 0
    for _ in range(scrapes):
        status, headers, _, head, full = c.get("/metrics")
        if status != 200:
            sys.exit("GET /metrics answered %d" % status)
        if headers.get("server-timing") == "cache;desc=hit":
            timed.append({"head": head, "full": full})
        else:
            renders += 1  # counters moved at a poll: a new view in between
    return timed, renders


def pct(xs, p):
    """Nearest-rank percentile."""
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, int(round(p / 100.0 * len(xs) + 0.5)) - 1))]


def summary(rows, key):
    xs = [r[key] for r in rows]
    return {"p50": pct(xs, 50), "p90": pct(xs, 90), "p99": pct(xs, 99), "max": max(xs), "n": len(xs)}


def proc_status(pid):
    out = {}
    for line in open("/proc/%d/status" % pid):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0]) / 1024.0
    return out


def report(a, expo, cold_rows, cold_hits, hit_rows, hit_renders, mem):
    p = print
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    p()
    p("vifd /metrics benchmark: %d records, %d scrapes per phase" % (a.records, a.scrapes))
    p("machine: nproc=%d, kernel %s, %s; loadavg %s" % (
        os.cpu_count(), platform.release(), cpu, " ".join(open("/proc/loadavg").read().split()[:3])))
    p("exposition: %d bytes, %d families, %d samples; %s" % (
        expo["bytes"], expo["families"], expo["samples"], expo["content_type"]))
    p()
    p("%-34s %6s %9s %9s %9s %9s" % ("", "n", "p50 ms", "p90 ms", "p99 ms", "max ms"))
    rows = [("cold: server render (Server-Timing)", summary(cold_rows, "render")),
            ("cold: request -> headers", summary(cold_rows, "head")),
            ("cold: request -> last byte", summary(cold_rows, "full")),
            ("cached: request -> headers", summary(hit_rows, "head")),
            ("cached: request -> last byte", summary(hit_rows, "full"))]
    for name, s in rows:
        p("%-34s %6d %9.2f %9.2f %9.2f %9.2f" % (name, s["n"], s["p50"], s["p90"], s["p99"], s["max"]))
    p("cold scrapes answered from cache (not timed): %d; cached-phase renders (a poll's"
      " new view, not timed): %d" % (cold_hits, hit_renders))
    p("daemon: VmRSS %.1f MiB, VmHWM %.1f MiB after the scrapes" % (mem["VmRSS"], mem["VmHWM"]))
    full = rows[2][1]["p50"]
    ok = full <= TARGET_MS and len(cold_rows) >= a.scrapes * 0.9
    p()
    p("check: cold /metrics p50, request -> last byte: %.2f ms (target <= %.0f ms): %s"
      % (full, TARGET_MS, "PASS" if ok else "FAIL"))
    p("reproduce: %s" % a.repro)
    with open(a.out, "w") as f:
        json.dump({"records": a.records, "scrapes": a.scrapes, "exposition": expo,
                   "latency_ms": {name: s for name, s in rows}, "cold_hits": cold_hits,
                   "cached_renders": hit_renders, "memory_mib": mem, "target_ms": TARGET_MS,
                   "pass": ok, "reproduce": a.repro}, f, indent=1)
        f.write("\n")
    p("json: %s" % a.out)


def main():
    a = args()
    c = Client(a.port, a.pid)
    wait_ready(c)
    expo = check(c, a.records)
    taps = open(a.taps).read().split()
    tap = taps[len(taps) // 2]
    cold_rows, cold_hits = cold(c, a.netns, tap, a.scrapes)
    hit_rows, hit_renders = cached(c, a.scrapes)
    if not cold_rows or not hit_rows:
        sys.exit("no cold or no cached answer was timed")
    report(a, expo, cold_rows, cold_hits, hit_rows, hit_renders, proc_status(a.pid))


if __name__ == "__main__":
    main()
