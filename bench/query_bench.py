#!/usr/bin/env python3
"""The measuring half of bench/query.sh (which starts the agents and cleans up).

Waits for every live agent's /readyz, then times `vifd query --hosts FILE --json`
WARMUP + RUNS times over all agents (one of them hanging) and RUNS times over the live
ones alone, checks every run's answer, reads the daemons' RSS, and prints the report
with PASS/FAIL against the 2 s target. Exit status: 0 report produced, 2 harness error
(an agent never ready, a run with the wrong exit status or the wrong hosts failed).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

TARGET_S = 2.0


def die(msg):
    print("query_bench.py: ERROR: %s" % msg, file=sys.stderr)
    sys.exit(2)


def say(msg):
    print("query_bench.py: %s" % msg, file=sys.stderr)


def read_lines(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip()]


def wait_ready(urls, limit, logs):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + limit
    pending = list(urls)
    while pending:
        still = []
        for url in pending:
            try:
                with opener.open(url + "/readyz", timeout=5) as r:
                    if r.status == 200:
                        continue
            except (urllib.error.URLError, OSError):
                pass
            still.append(url)
        pending = still
        if pending and time.monotonic() > deadline:
            port = pending[0].rsplit(":", 1)[1]
            log = os.path.join(logs, "daemon-%s.log" % port)
            tail = open(log).read()[-2000:] if os.path.exists(log) else "(no log)"
            die("%d agents not ready after %d s, e.g. %s; its log:\n%s"
                % (len(pending), limit, pending[0], tail))
        if pending:
            time.sleep(0.2)


def clean_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("VIFD_")}


def run_query(a, hosts_file, want_code):
    cmd = [a.vifd, "query", "--hosts", hosts_file, "--json", "--timeout", a.timeout,
           "--concurrency", str(a.concurrency)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, env=clean_env())
    wall = time.perf_counter() - t0
    if p.returncode != want_code:
        die("%s exited %d, not %d; stderr: %s"
            % (" ".join(cmd), p.returncode, want_code, p.stderr.decode()[-2000:]))
    try:
        doc = json.loads(p.stdout)
    except ValueError as e:
        die("vifd query printed no JSON: %s" % e)
    return wall, doc


def check(doc, records, failed_want):
    got = len(doc["interfaces"])
    if got != records:
        die("merged %d records, expected %d" % (got, records))
    failed = sorted(f["host"] for f in doc["failed"])
    if failed != sorted(failed_want):
        die("failed hosts %s, expected %s" % (failed, failed_want))
    for h in doc["hosts"]:
        if h["host"] in failed_want and h["error_kind"] != "timeout":
            die("%s failed with %s, not a timeout" % (h["host"], h["error"]))
    live = [h["elapsed_ms"] for h in doc["hosts"] if h["ok"]]
    return max(live) if live else 0


def rss_mib(pids):
    total, each = 0.0, []
    for pid in pids:
        try:
            with open("/proc/%s/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        kib = int(line.split()[1])
                        total += kib / 1024
                        each.append(kib / 1024)
        except OSError:
            die("daemon %s is gone" % pid)
    return total, each


def summary(walls):
    ms = [w * 1000 for w in walls]
    return {"median_ms": statistics.median(ms), "min_ms": min(ms), "max_ms": max(ms),
            "runs_ms": [round(m, 1) for m in ms]}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    for opt in ("--vifd", "--hosts", "--live-hosts", "--hung", "--pids", "--timeout",
                "--logs", "--out", "--shape"):
        ap.add_argument(opt, required=True)
    for opt in ("--records", "--concurrency", "--runs", "--warmup", "--ready-timeout"):
        ap.add_argument(opt, type=int, required=True)
    a = ap.parse_args()

    hosts = read_lines(a.hosts)
    live = read_lines(a.live_hosts)
    t0 = time.monotonic()
    wait_ready(live, a.ready_timeout, a.logs)
    say("%d agents ready after %.1f s; %d + %d runs over %d hosts"
        % (len(live), time.monotonic() - t0, a.warmup, a.runs, len(hosts)))

    walls, slowest_live, error = [], [], None
    for i in range(a.warmup + a.runs):
        wall, doc = run_query(a, a.hosts, 1)
        slow = check(doc, a.records, [a.hung])
        error = next(f["error"] for f in doc["failed"])
        if i >= a.warmup:
            walls.append(wall)
            slowest_live.append(slow)
    live_walls = []
    for _ in range(a.runs):
        wall, doc = run_query(a, a.live_hosts, 0)
        check(doc, a.records, [])
        live_walls.append(wall)
    total_rss, each_rss = rss_mib(read_lines(a.pids))

    all_runs, live_runs = summary(walls), summary(live_walls)
    verdict = "PASS" if all_runs["max_ms"] <= TARGET_S * 1000 else "FAIL"
    result = {
        "agents": len(hosts), "live_agents": len(live), "per_agent": a.shape,
        "timeout_s": float(a.timeout), "concurrency": a.concurrency,
        "runs": a.runs, "warmup": a.warmup, "records_merged": a.records,
        "failed": [{"host": a.hung, "error": error}],
        "with_hanging": all_runs, "live_only": live_runs,
        "slowest_live_host_ms": {"median": statistics.median(slowest_live),
                                 "max": max(slowest_live)},
        "daemons_rss_mib": {"total": round(total_rss, 1),
                            "median": round(statistics.median(each_rss), 1)},
        "target_s": TARGET_S, "verdict": verdict,
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
    }
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")

    print("vifd query over %d agents (%d vifd serve of %s domains x interfaces, 1 hanging)"
          % (len(hosts), len(live), a.shape))
    print("  --timeout %s --concurrency %d, %d runs after %d warm-up"
          % (a.timeout, a.concurrency, a.runs, a.warmup))
    print("  all %d hosts:   median %.1f ms  min %.1f  max %.1f"
          % (len(hosts), all_runs["median_ms"], all_runs["min_ms"], all_runs["max_ms"]))
    print("  live %d only:   median %.1f ms  min %.1f  max %.1f"
          % (len(live), live_runs["median_ms"], live_runs["min_ms"], live_runs["max_ms"]))
    print("  slowest live host inside a run: median %d ms, max %d ms"
          % (result["slowest_live_host_ms"]["median"], result["slowest_live_host_ms"]["max"]))
    print("  records merged: %d every run; hosts failed: 1, every run: %s: %s"
          % (a.records, a.hung, error))
    print("  daemons' RSS: %.0f MiB in all, median %.1f MiB each"
          % (total_rss, statistics.median(each_rss)))
    print("  target: every run <= %.1f s: %s (max %.1f ms)"
          % (TARGET_S, verdict, all_runs["max_ms"]))
    print("  machine: %d CPUs, kernel %s; results in %s"
          % (os.cpu_count(), platform.release(), a.out))
    print("  reproduce: make bench-query   (or: TIMEOUT=%s CONCURRENCY=%d bash bench/query.sh %d)"
          % (a.timeout, a.concurrency, len(hosts)))


if __name__ == "__main__":
    main()
