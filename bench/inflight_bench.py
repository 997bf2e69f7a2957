#!/usr/bin/env python3
"""Memory in flight of one `vifd serve` on the 1000 x 4 fixture, under the soak's churn
for B (bench/inflight.sh runs it once per binary; see there).

measure: loads the daemon at --port (pid --pid) for --seconds: a SIGHUP reload every
  10 s (the configuration file's refresh changed, so the refresher restarts and reads
  everything again), GETs of the soak's paths one after the other (20 ms apart), a
  watch client every 0.5 s (a whole snapshot or the events since generation 1, read
  for 3 s), a tap deleted and made again every 0.3 s. Samples VmRSS every 0.5 s and,
  every 2 s, the heap in use (/metrics) with RssAnon. Writes the samples and their
  summary after --skip seconds (mean, standard deviation, min, max) to --out.
report: prints one line per result file and the ratios to the first (the baseline).
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import threading
import time
import urllib.request

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(port, path, timeout=30):
    with OPENER.open("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return r.read()


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise SystemExit("no %s in /proc/%d/status (the daemon died?)" % (key, pid))


def load_paths(port):
    recs = json.loads(get(port, "/v1/interfaces"))["interfaces"]
    mac, dom = recs[0]["mac_address"], recs[0]["domain_uuid"]
    return ["/v1/interfaces", "/v1/interfaces?mac=" + mac, "/v1/problems", "/v1/domains",
            "/v2.1/servers/%s/os-virtual-interfaces" % dom,
            "/v2.1/servers/%s/os-interface" % dom, "/metrics", "/healthz", "/readyz"]


class Churn:
    def __init__(self, a):
        self.a, self.stop, self.errors, self.counts = a, threading.Event(), [], {}
        lines = open(a.data + "/links.ip").read().splitlines()
        self.taps = [(lines[i], lines[i + 1]) for i in range(len(lines) - 1)
                     if lines[i].startswith("tuntap add")]

    def bump(self, what):
        self.counts[what] = self.counts.get(what, 0) + 1

    def loader(self, paths):
        i = 0
        while not self.stop.wait(0.02):
            try:
                get(self.a.port, paths[i % len(paths)])
                self.bump("requests")
            except OSError as e:
                if "503" not in str(e):
                    self.errors.append("GET %s: %s" % (paths[i % len(paths)], e))
            i += 1

    def reloader(self):
        k = 0
        while not self.stop.wait(10):
            k += 1
            with open(self.a.config, "w") as f:
                f.write("refresh = %d\n" % (30 + k % 2))
            os.kill(self.a.pid, signal.SIGHUP)
            self.bump("reloads")

    def taps_churn(self):
        k = 0
        while not self.stop.wait(0.3):
            add, rest = self.taps[(k * 7919) % len(self.taps)]
            ns = ["ip", "-n", self.a.netns]
            subprocess.run(ns + ["link", "del", add.split()[3]], check=True)
            subprocess.run(ns + ["-batch", "-"], input=(add + "\n" + rest + "\n").encode(), check=True)
            k += 1
            self.bump("taps")

    def watcher(self):
        k = 0
        while not self.stop.wait(0.5):
            path = "/v1/watch" if k % 2 == 0 else "/v1/watch?since=1"
            k += 1
            try:
                with OPENER.open("http://127.0.0.1:%d%s" % (self.a.port, path), timeout=5) as r:
                    end = time.monotonic() + 3
                    while time.monotonic() < end and r.read(65536):
                        pass
                self.bump("watchers")
            except OSError as e:
                if "timed out" not in str(e):
                    self.errors.append("watch: %s" % e)


def heap_sample(port, pid):
    text = get(port, "/metrics").decode()
    v = {l.split()[0]: float(l.split()[1]) for l in text.splitlines() if l.startswith("vifd_heap")}
    return {"in_use_mib": v.get("vifd_heap_in_use_bytes", 0) / 2**20,
            "anon_mib": status_kib(pid, "RssAnon") / 1024}


def measure(a):
    c = Churn(a)
    paths = load_paths(a.port)
    threads = [threading.Thread(target=c.loader, args=(paths,), daemon=True)]
    threads += [threading.Thread(target=f, daemon=True) for f in (c.reloader, c.taps_churn, c.watcher)]
    for t in threads:
        t.start()
    t0, rss, heap, next_heap = time.monotonic(), [], [], 0.0
    while (t := time.monotonic() - t0) < a.seconds:
        rss.append((round(t, 2), status_kib(a.pid, "VmRSS") / 1024))
        if t >= next_heap:
            heap.append(dict(t=round(t, 2), **heap_sample(a.port, a.pid)))
            next_heap += 2
        time.sleep(0.5)  # the sampling period, not a wait for something
    c.stop.set()
    kept = [v for t, v in rss if t >= a.skip]
    summary = {"label": a.label, "seconds": a.seconds, "skip": a.skip, "samples": len(kept),
               "rss_mean": statistics.mean(kept), "rss_sd": statistics.pstdev(kept),
               "rss_min": min(kept), "rss_max": max(kept),
               "heap_in_use_mean": statistics.mean(h["in_use_mib"] for h in heap if h["t"] >= a.skip),
               "anon_mean": statistics.mean(h["anon_mib"] for h in heap if h["t"] >= a.skip),
               "churn": c.counts, "errors": c.errors[:20]}
    with open(a.out, "w") as f:
        json.dump({"summary": summary, "rss": rss, "heap": heap}, f)
    if c.errors:
        raise SystemExit("%d requests failed, first: %s" % (len(c.errors), c.errors[0]))


def report(a):
    rows = [json.load(open(p))["summary"] for p in a.results]
    print("%-28s %8s %8s %8s %8s %10s %10s  %s" % ("binary / settings", "RSS mean", "sd", "min", "max",
                                                   "anon mean", "heap used", "churn"))
    for r in rows:
        print("%-28s %8.1f %8.1f %8.1f %8.1f %10.1f %10.1f  %s" % (
            r["label"][:28], r["rss_mean"], r["rss_sd"], r["rss_min"], r["rss_max"], r["anon_mean"],
            r["heap_in_use_mean"], " ".join("%s=%d" % kv for kv in sorted(r["churn"].items()))))
    base = rows[0]
    for r in rows[1:]:
        print("%s against %s: RSS mean x%.2f, sd x%.2f" % (
            r["label"], base["label"], r["rss_mean"] / base["rss_mean"], r["rss_sd"] / base["rss_sd"]))
    print("MiB; RSS = VmRSS every 0.5 s after the first %.0f s of %.0f s" % (base["skip"], base["seconds"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    for name, kind in (("port", int), ("pid", int), ("netns", str), ("data", str), ("config", str),
                       ("label", str), ("out", str), ("seconds", float), ("skip", float)):
        m.add_argument("--" + name, type=kind, required=True)
    r = sub.add_parser("report")
    r.add_argument("results", nargs="+")
    a = ap.parse_args()
    measure(a) if a.cmd == "measure" else report(a)


if __name__ == "__main__":
    main()
